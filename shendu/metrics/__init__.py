"""Metrics: scikit-learn's functions (``accuracy``, ``f1_score``, ``roc_auc_score``, ``r2_score``...)
with its argument order ``(y_true, y_pred)``, and stateful metrics for training loops
(``Accuracy``, ``Mean``...: ``update(preds, target)`` / ``compute()`` / ``reset()``)."""
from shendu.metrics.base import Mean, Metric, Sum
from shendu.metrics.classification import (
    Accuracy,
    UndefinedMetricWarning,
    accuracy,
    accuracy_score,
    confusion_matrix,
    f1,
    f1_score,
    fbeta_score,
    log_loss,
    precision,
    precision_recall_fscore_support,
    precision_score,
    recall,
    recall_score,
    top_k_accuracy,
    top_k_accuracy_score,
)
from shendu.metrics.curves import auc, average_precision_score, precision_recall_curve, roc_auc_score, roc_curve
from shendu.metrics.language import Perplexity, bits_per_character, cross_entropy, perplexity
from shendu.metrics.regression import (
    MeanAbsoluteError,
    MeanSquaredError,
    explained_variance_score,
    mean_absolute_error,
    mean_squared_error,
    r2_score,
    root_mean_squared_error,
)

__all__ = [
    "Accuracy", "Mean", "MeanAbsoluteError", "MeanSquaredError", "Metric", "Perplexity", "Sum",
    "UndefinedMetricWarning", "accuracy", "accuracy_score", "auc", "average_precision_score", "bits_per_character",
    "confusion_matrix", "cross_entropy", "explained_variance_score", "f1", "f1_score", "fbeta_score", "log_loss",
    "mean_absolute_error", "mean_squared_error", "perplexity", "precision", "precision_recall_curve",
    "precision_recall_fscore_support", "precision_score", "r2_score", "recall", "recall_score", "roc_auc_score",
    "roc_curve", "root_mean_squared_error", "top_k_accuracy", "top_k_accuracy_score",
]
