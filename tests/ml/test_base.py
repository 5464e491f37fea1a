"""shendu.ml.base: get/set_params, repr, input checks, NotFittedError, output kinds."""
import numpy as np
import pytest

import shendu as sd
from shendu.ml import BaseEstimator, NotFittedError, check_array, check_is_fitted, check_X_y
from shendu.ml.base import like_input, r2_score
from shendu.ml.linear import LinearRegression, LogisticRegression, Ridge


class Toy(BaseEstimator):
    def __init__(self, a=1, *, b="x", sub=None):
        self.a, self.b, self.sub = a, b, sub


def test_get_set_params_and_repr():
    t = Toy(a=3, sub=Toy(b="y"))
    assert t.get_params(deep=False) == {"a": 3, "b": "x", "sub": t.sub}
    deep = t.get_params()
    assert deep["sub__b"] == "y" and deep["sub__a"] == 1
    assert t.set_params(a=5, sub__a=7) is t and t.a == 5 and t.sub.a == 7
    assert repr(Toy(a=2)) == "Toy(a=2)" and repr(Toy()) == "Toy()"
    with pytest.raises(ValueError, match="Invalid parameter 'zz' for estimator Toy"):
        t.set_params(zz=1)
    assert repr(Ridge(alpha=0.5)) == "Ridge(alpha=0.5)"
    assert set(LogisticRegression().get_params()) == {"penalty", "tol", "C", "fit_intercept", "solver", "max_iter"}


def test_check_array_dtypes_and_kinds():
    assert check_array(np.ones((2, 3), np.float32)).dtype == np.float32
    assert check_array(sd.ones(2, 3)).dtype == np.float32
    assert check_array(sd.ones(2, 3, dtype=sd.float64)).dtype == np.float64
    assert check_array([[1, 2]]).dtype == np.float64
    assert check_array(np.array([[True, False]])).dtype == np.float64


def test_check_errors():
    with pytest.raises(ValueError, match=r"expected 2-D X .* got shape \(3,\).*reshape"):
        check_array(np.ones(3))
    with pytest.raises(ValueError, match="X contains NaN"):
        check_array(np.array([[1.0, np.nan]]))
    with pytest.raises(ValueError, match="inconsistent numbers of samples: X has 3"):
        check_X_y(np.ones((3, 2)), np.ones(2))
    with pytest.raises(ValueError, match="Ridge: X and y have inconsistent"):
        Ridge().fit(np.ones((4, 2)), np.ones(5))
    with pytest.raises(ValueError, match="y must be 1-D"):
        check_X_y(np.ones((3, 2)), np.ones((3, 2, 1)))
    with pytest.raises(TypeError, match="must be numeric"):
        check_array(np.array([["a", "b"]]))


def test_not_fitted_error():
    assert issubclass(NotFittedError, ValueError) and issubclass(NotFittedError, AttributeError)
    with pytest.raises(NotFittedError, match="This LinearRegression instance is not fitted yet"):
        LinearRegression().predict(np.ones((2, 2)))
    with pytest.raises(NotFittedError, match="Toy"):
        check_is_fitted(Toy())


def test_output_follows_input_kind():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(20, 3)), rng.normal(size=20)
    m = LinearRegression().fit(X, y)
    out_np, out_t = m.predict(X), m.predict(sd.tensor(X))
    assert isinstance(out_np, np.ndarray) and isinstance(out_t, sd.Tensor)
    np.testing.assert_allclose(out_t.numpy(), out_np)
    assert m.predict(X.astype(np.float32)).dtype == np.float32
    assert like_input(np.array(["a"]), sd.tensor([1.0]))[0] == "a"       # strings cannot be tensors
    assert m.score(sd.tensor(X), sd.tensor(y)) == pytest.approx(r2_score(y, out_np))


def test_scikit_learn_model_selection_accepts_shendu_estimators():
    from sklearn import linear_model
    from sklearn.base import clone
    from sklearn.datasets import load_iris
    from sklearn.model_selection import GridSearchCV, cross_val_score

    X, y = load_iris(return_X_y=True)
    c = clone(Ridge(alpha=0.25))
    assert isinstance(c, Ridge) and c.alpha == 0.25 and not hasattr(c, "coef_")
    mine = cross_val_score(LogisticRegression(solver="newton-cholesky", tol=1e-10), X, y, cv=3)
    ref = cross_val_score(linear_model.LogisticRegression(tol=1e-10, max_iter=5000), X, y, cv=3)
    np.testing.assert_allclose(mine, ref)
    grid = GridSearchCV(Ridge(), {"alpha": [0.1, 10.0]}, cv=3).fit(X, y.astype(float))
    assert grid.best_params_["alpha"] in (0.1, 10.0) and isinstance(grid.best_estimator_, Ridge)
