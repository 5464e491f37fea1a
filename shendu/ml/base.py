"""The estimator API of shendu.ml, after scikit-learn's: BaseEstimator, the mixins, input checks.

Conventions every estimator follows:
- Constructor arguments are stored unchanged as attributes of the same name (no validation in
  ``__init__``); ``get_params``/``set_params`` read them from the ``__init__`` signature, so
  ``clone``-style copies and grid searches work as in scikit-learn.
- ``fit`` validates its input with :func:`check_X_y` / :func:`check_array`, which accept shendu
  tensors, NumPy arrays and nested lists and return NumPy arrays: float32 input stays float32,
  float64 stays float64, anything else (ints, bools, lists) becomes float64. Fitting is done in
  NumPy (and shendu's autograd where an estimator says so); fitted attributes (names ending in
  ``_``, scikit-learn's names) are NumPy arrays.
- Outputs take the kind of the input: a shendu Tensor in gives a shendu Tensor out (on the CPU),
  an ndarray or a list in gives an ndarray out (:func:`like_input`). Scores are Python floats.
- Anything read from a fitted model before ``fit`` raises :class:`NotFittedError` naming the
  estimator (:func:`check_is_fitted`).
- scikit-learn's ``clone``, ``cross_val_score``, ``GridSearchCV`` and pipelines accept these
  estimators (``get_params``/``set_params`` and ``__sklearn_tags__``; scikit-learn is imported only
  when it asks for the tags, it is no runtime dependency).
"""
from __future__ import annotations

import inspect
from typing import Any

import numpy as np

from shendu import threads
from shendu.backend import to_numpy

__all__ = [
    "BaseEstimator", "ClassifierMixin", "RegressorMixin", "TransformerMixin", "NotFittedError",
    "check_array", "check_X_y", "check_is_fitted", "like_input", "accuracy_score", "r2_score", "tdot",
]


def tdot(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """``A.T @ B``, with A's transpose made contiguous first: OpenBLAS's transposed-operand GEMM path
    is up to several hundred times slower for tall-and-thin A (e.g. a one-hot (n, K) matrix)."""
    return np.ascontiguousarray(A.T) @ B


class NotFittedError(ValueError, AttributeError):
    """Raised when a fitted attribute or a prediction is asked of an estimator before ``fit``."""


def _is_tensor(x: Any) -> bool:
    from shendu.tensor import Tensor
    return isinstance(x, Tensor)


def _to_numpy(x: Any) -> np.ndarray:
    if _is_tensor(x):
        return to_numpy(x._data)
    return np.asarray(x)


def check_array(X: Any, *, ensure_2d: bool = True, dtype: Any = "numeric", name: str = "X",
                allow_nan: bool = False, estimator: Any = None) -> np.ndarray:
    """X as a NumPy array: float32 stays float32, float64 stays float64, other numbers become float64.

    Args:
        X: a shendu Tensor, an ndarray or a (nested) list.
        ensure_2d: require ``X.ndim == 2`` (a 1-D X is an error naming the fix, like scikit-learn).
        dtype: ``"numeric"`` (the float rule above), ``None`` (keep as is) or a NumPy dtype.
        name: the argument's name in error messages.
        allow_nan: accept NaN/inf entries.
        estimator: named in error messages.
    """
    # the estimators' products run on NumPy's BLAS directly: hold it at one thread as shendu's own products
    # do (a multithreaded OpenBLAS spinning against busy cores runs many times slower)
    threads.own_blas()
    where = f"{type(estimator).__name__}: " if estimator is not None else ""
    arr = _to_numpy(X)
    if dtype == "numeric":
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"{where}{name} must be numeric, got dtype {arr.dtype}")
        if arr.dtype not in (np.float32, np.float64):
            arr = arr.astype(np.float64)
    elif dtype is not None:
        arr = arr.astype(dtype)
    if ensure_2d and arr.ndim != 2:
        hint = " (reshape a single feature with X.reshape(-1, 1), a single sample with X.reshape(1, -1))" \
            if arr.ndim == 1 else ""
        raise ValueError(f"{where}expected 2-D {name} of shape (n_samples, n_features), got shape "
                         f"{tuple(arr.shape)}{hint}")
    if arr.ndim >= 1 and arr.shape[0] == 0:
        raise ValueError(f"{where}{name} has 0 samples (shape {tuple(arr.shape)}); at least 1 is required")
    if not allow_nan and arr.dtype.kind == "f" and not np.isfinite(arr).all():
        bad = "NaN" if np.isnan(arr).any() else "infinity"
        raise ValueError(f"{where}{name} contains {bad}; shendu.ml estimators need finite input")
    return np.ascontiguousarray(arr)


def check_X_y(X: Any, y: Any, *, y_numeric: bool = False, multi_output: bool = False,
              estimator: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """(X, y) as NumPy arrays with matching lengths; y is 1-D (2-D allowed with ``multi_output``).

    ``y_numeric`` turns y into floats (regression targets, same float rule as X); otherwise class
    labels keep their dtype.
    """
    where = f"{type(estimator).__name__}: " if estimator is not None else ""
    X = check_array(X, estimator=estimator)
    y = _to_numpy(y)
    if y.ndim == 2 and y.shape[1] == 1 and not multi_output:
        y = y[:, 0]
    if y.ndim != 1 and not (multi_output and y.ndim == 2):
        raise ValueError(f"{where}y must be 1-D of shape (n_samples,), got shape {tuple(y.shape)}")
    if y.shape[0] != X.shape[0]:
        raise ValueError(f"{where}X and y have inconsistent numbers of samples: X has {X.shape[0]} "
                         f"(shape {tuple(X.shape)}), y has {y.shape[0]} (shape {tuple(y.shape)})")
    if y_numeric:
        y = check_array(y, ensure_2d=False, name="y", estimator=estimator)
    elif y.dtype.kind == "f" and not np.isfinite(y).all():
        raise ValueError(f"{where}y contains NaN or infinity")
    return X, np.ascontiguousarray(y)


def like_input(result: np.ndarray, X: Any):
    """``result`` in the kind of the input ``X``: a shendu Tensor if X was one, else the ndarray.

    Float results take X's float32 when X is float32 (a model fitted in float64 predicts float32
    for float32 input); labels keep their own dtype. Non-numeric labels (strings) stay an ndarray.
    """
    result = np.asarray(result)
    x_dtype = X.dtype if _is_tensor(X) or isinstance(X, np.ndarray) else None
    if result.dtype.kind == "f" and x_dtype is not None and str(x_dtype).endswith("float32"):
        result = result.astype(np.float32)
    if _is_tensor(X) and result.dtype.kind in "biuf":
        import shendu
        return shendu.tensor(np.ascontiguousarray(result))
    return result


def check_is_fitted(estimator: Any, attributes: str | tuple[str, ...] | None = None) -> None:
    """Raise NotFittedError unless ``estimator`` has the fitted attributes (by default: any name
    ending in ``_`` set by ``fit``)."""
    if attributes is None:
        fitted = any(k.endswith("_") and not k.startswith("__") for k in vars(estimator))
    else:
        names = (attributes,) if isinstance(attributes, str) else tuple(attributes)
        fitted = all(hasattr(estimator, a) for a in names)
    if not fitted:
        raise NotFittedError(f"This {type(estimator).__name__} instance is not fitted yet. Call 'fit' "
                             "with appropriate arguments before using this estimator.")


class BaseEstimator:
    """Parameters from the ``__init__`` signature: ``get_params``, ``set_params`` and ``__repr__``."""

    @classmethod
    def _get_param_names(cls) -> list[str]:
        init = cls.__init__
        if init is object.__init__:
            return []
        params = [p for p in inspect.signature(init).parameters.values() if p.name != "self"]
        for p in params:
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                raise RuntimeError(f"{cls.__name__}.__init__ must not take *args or **kwargs "
                                   "(get_params reads its parameters from the signature)")
        return sorted(p.name for p in params)

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor arguments as a dict; ``deep`` adds ``<name>__<param>`` of sub-estimators."""
        out = {}
        for name in self._get_param_names():
            value = getattr(self, name)
            if deep and hasattr(value, "get_params") and not isinstance(value, type):
                out.update((f"{name}__{k}", v) for k, v in value.get_params().items())
            out[name] = value
        return out

    def set_params(self, **params: Any) -> BaseEstimator:
        """Set constructor arguments (``name=value`` or ``sub__name=value``); returns self."""
        valid = self._get_param_names()
        nested: dict[str, dict[str, Any]] = {}
        for key, value in params.items():
            name, _, sub = key.partition("__")
            if name not in valid:
                raise ValueError(f"Invalid parameter {name!r} for estimator {type(self).__name__}; "
                                 f"valid parameters are {valid}")
            if sub:
                nested.setdefault(name, {})[sub] = value
            else:
                setattr(self, name, value)
        for name, sub_params in nested.items():
            getattr(self, name).set_params(**sub_params)
        return self

    def __sklearn_tags__(self):
        """scikit-learn's estimator tags, so that its model-selection tools (``cross_val_score``,
        ``GridSearchCV``, ``clone``) accept shendu estimators. Imports scikit-learn only when it asks."""
        from sklearn.utils import ClassifierTags, RegressorTags, Tags, TargetTags, TransformerTags
        kind = getattr(self, "_estimator_type", None)
        return Tags(estimator_type=kind, target_tags=TargetTags(required=kind in ("classifier", "regressor")),
                    transformer_tags=TransformerTags() if hasattr(self, "transform") else None,
                    classifier_tags=ClassifierTags() if kind == "classifier" else None,
                    regressor_tags=RegressorTags() if kind == "regressor" else None)

    def __repr__(self) -> str:
        # Only the arguments that differ from their defaults, like scikit-learn.
        sig = inspect.signature(type(self).__init__).parameters
        shown = []
        for name in self._get_param_names():
            value, default = getattr(self, name), sig[name].default
            same = value is default
            if not same:
                try:
                    same = bool(value == default)
                except Exception:
                    same = False
            if not same:
                shown.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(shown)})"


def accuracy_score(y_true: Any, y_pred: Any) -> float:
    """Fraction of exactly matching labels."""
    return float(np.mean(_to_numpy(y_true) == _to_numpy(y_pred)))


def r2_score(y_true: Any, y_pred: Any) -> float:
    """Coefficient of determination 1 - SS_res / SS_tot (averaged uniformly over outputs)."""
    y_true = _to_numpy(y_true).astype(np.float64)
    y_pred = _to_numpy(y_pred).astype(np.float64).reshape(y_true.shape)
    ss_res = ((y_true - y_pred) ** 2).sum(axis=0)
    ss_tot = ((y_true - y_true.mean(axis=0)) ** 2).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(ss_tot > 0, 1.0 - ss_res / np.where(ss_tot > 0, ss_tot, 1.0),
                      np.where(ss_res == 0, 1.0, 0.0))
    return float(np.mean(r2))


class ClassifierMixin:
    """``score(X, y)``: mean accuracy of ``predict(X)``."""
    _estimator_type = "classifier"

    def score(self, X: Any, y: Any) -> float:
        """The fraction of samples whose ``predict(X)`` equals y."""
        return accuracy_score(y, self.predict(X))


class RegressorMixin:
    """``score(X, y)``: the R² of ``predict(X)``."""
    _estimator_type = "regressor"

    def score(self, X: Any, y: Any) -> float:
        """The coefficient of determination R² of ``predict(X)`` against y."""
        return r2_score(y, self.predict(X))


class TransformerMixin:
    """``fit_transform(X, y=None)``: ``fit(X, y).transform(X)``."""

    def fit_transform(self, X: Any, y: Any = None, **fit_params: Any):
        """``fit(X, y)`` then ``transform(X)``."""
        if y is None:
            return self.fit(X, **fit_params).transform(X)
        return self.fit(X, y, **fit_params).transform(X)
