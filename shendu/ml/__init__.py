"""Classic machine learning with scikit-learn's estimator API (fit / predict / score / get_params).

See shendu/ml/base.py for the conventions (input kinds, dtypes, fitted attributes, errors).
"""
from shendu.ml.base import (
    BaseEstimator,
    ClassifierMixin,
    NotFittedError,
    RegressorMixin,
    TransformerMixin,
    check_array,
    check_is_fitted,
    check_X_y,
)
from shendu.ml.bayesian import BayesianLinearRegression
from shendu.ml.cluster import KMeans, kmeans_plusplus
from shendu.ml.decomposition import PCA
from shendu.ml.ensemble import BaggingClassifier, RandomForestClassifier, RandomForestRegressor
from shendu.ml.linear import Lasso, LinearRegression, LogisticRegression, Ridge, SoftmaxRegression
from shendu.ml.mixture import GaussianMixture
from shendu.ml.naive_bayes import GaussianNB, MultinomialNB
from shendu.ml.neighbors import KNeighborsClassifier, KNeighborsRegressor
from shendu.ml.svm import SVC, LinearSVC
from shendu.ml.tree import DecisionTreeClassifier, DecisionTreeRegressor

__all__ = [
    "BaseEstimator", "ClassifierMixin", "RegressorMixin", "TransformerMixin", "NotFittedError",
    "check_array", "check_X_y", "check_is_fitted",
    "LinearRegression", "Ridge", "Lasso", "LogisticRegression", "SoftmaxRegression", "BayesianLinearRegression",
    "GaussianNB", "MultinomialNB", "KNeighborsClassifier", "KNeighborsRegressor", "LinearSVC", "SVC",
    "DecisionTreeClassifier", "DecisionTreeRegressor", "RandomForestClassifier", "RandomForestRegressor",
    "BaggingClassifier", "KMeans", "kmeans_plusplus", "GaussianMixture", "PCA",
]
