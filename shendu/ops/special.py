"""Special functions: erf, erfc, erfinv, logit, xlogy, logaddexp, logaddexp2.

SciPy's exact kernels are used when SciPy is installed (imported on first use: it costs ~0.4 s);
otherwise short approximations accurate to float32 (Numerical Recipes' erfc fit, Giles' erfinv
polished by Newton steps). Gradients are Tensor formulas, differentiable again.
"""
from __future__ import annotations

import math

import numpy as np

from shendu import dtypes
from shendu.autograd.function import Function
from shendu.backend import array_module
from shendu.dtypes import promote
from shendu.ops.binary import _broadcast_error, _xp_of
from shendu.ops.elementwise import as_float, where
from shendu.tensor import Tensor

_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
_LN2 = math.log(2.0)
_scipy_special = None  # the module, False when SciPy is missing, None before the first look


def _scipy(name: str):
    """scipy.special's function ``name`` for NumPy arrays, or None without SciPy."""
    global _scipy_special
    if _scipy_special is None:
        try:
            import scipy.special as special
        except Exception:  # pragma: no cover - depends on the environment
            special = False
        _scipy_special = special
    return getattr(_scipy_special, name) if _scipy_special else None


def _erfc_nonneg(z):
    """Numerical Recipes' erfc Chebyshev fit for z >= 0 (fractional error < 1.2e-7)."""
    xp = array_module(z)
    t = 1.0 / (1.0 + 0.5 * z)
    poly = -z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (
        -0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (
            -0.82215223 + t * 0.17087277))))))))
    return t * xp.exp(poly)


def _special(name: str, x, fallback):
    x = as_float(x)
    exact = _scipy(name) if array_module(x) is np else None
    out = exact(x) if exact is not None else fallback(x)
    return out.astype(x.dtype, copy=False)


def erf_array(x):
    def approx(x):
        erfc = _erfc_nonneg(array_module(x).abs(x))
        return array_module(x).where(x >= 0, 1.0 - erfc, erfc - 1.0)
    return _special("erf", x, approx)


def erfc_array(x):
    def approx(x):
        erfc = _erfc_nonneg(array_module(x).abs(x))
        return array_module(x).where(x >= 0, erfc, 2.0 - erfc)
    return _special("erfc", x, approx)


def erfinv_array(x):
    def approx(x):
        # Giles (2010), "Approximating the erfinv function", then two Newton steps on erf in float64.
        xp = array_module(x)
        x64 = x.astype(np.float64)
        w = -xp.log((1.0 - x64) * (1.0 + x64))
        central, tail = w - 2.5, xp.sqrt(xp.maximum(w, 5.0)) - 3.0
        p1 = 2.81022636e-08
        for c in (3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087, -0.00125372503,
                  -0.00417768164, 0.246640727, 1.50140941):
            p1 = c + p1 * central
        p2 = -0.000200214257
        for c in (0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773, -0.0076224613,
                  0.00943887047, 1.00167406, 2.83297682):
            p2 = c + p2 * tail
        y = xp.where(w < 5.0, p1, p2) * x64
        finite = xp.abs(x64) < 1.0
        for _ in range(2):
            step = (erf_array(y) - x64) / (_TWO_OVER_SQRT_PI * xp.exp(-y * y))
            y = xp.where(finite, y - step, y)
        return y
    return _special("erfinv", x, approx)


class Erf(Function):
    def forward(ctx, x):
        return erf_array(x)

    def backward(ctx, grad):
        x = ctx.inputs[0]
        return grad * _TWO_OVER_SQRT_PI * (-(x * x)).exp()


def erf(input: Tensor) -> Tensor:
    """Elementwise error function, ``erf(x) = 2/√π ∫_0^x e^(-t²) dt``.

    Shape: the output has the shape of ``input``.
    """
    return Erf.apply(input)


class Erfc(Function):
    def forward(ctx, x):
        return erfc_array(x)

    def backward(ctx, grad):
        x = ctx.inputs[0]
        return grad * -_TWO_OVER_SQRT_PI * (-(x * x)).exp()


def erfc(input: Tensor) -> Tensor:
    """``1 - erf(x)``, accurate where erf(x) is close to 1."""
    return Erfc.apply(input)


class Erfinv(Function):
    saved_inputs = ()

    def forward(ctx, x):
        return erfinv_array(x)

    def backward(ctx, grad):
        out = ctx.output
        return grad * (math.sqrt(math.pi) / 2.0) * (out * out).exp()


def erfinv(input: Tensor) -> Tensor:
    """The inverse of erf on (-1, 1); ±inf at ±1."""
    return Erfinv.apply(input)


class Logit(Function):
    """``log(x / (1 - x))``, x first clamped to [eps, 1 - eps] when eps is given (then the gradient
    is 0 outside that interval, as in PyTorch)."""

    def forward(ctx, x, *, eps=None):
        ctx.eps = eps
        xp = array_module(x)
        x = as_float(x)
        if eps is not None:
            x = xp.clip(x, eps, 1.0 - eps)
        return xp.log(x / (1.0 - x))

    def backward(ctx, grad):
        x = ctx.inputs[0]
        slope = grad / (x * (1.0 - x))
        if ctx.eps is None:
            return slope
        outside = (x._data < ctx.eps) | (x._data > 1.0 - ctx.eps)
        return where(Tensor._wrap(outside), 0.0, slope)


def logit(input: Tensor, eps: float | None = None) -> Tensor:
    """Elementwise log-odds, ``log(p / (1 - p))``; with ``eps``, ``p`` is first clamped to [eps, 1 - eps].

    Shape: the output has the shape of ``input``.
    """
    return Logit.apply(input, eps=eps)


def _xlogy_array(a, b, dtype):
    xp = _xp_of(a, b)
    a, b = xp.asarray(a, dtype=dtype), xp.asarray(b, dtype=dtype)  # log of a Python scalar is float64
    with np.errstate(divide="ignore", invalid="ignore"):
        out = a * xp.log(b)
    return xp.where((a == 0) & ~xp.isnan(b), xp.asarray(0, dtype=dtype), out)


class Xlogy(Function):
    """``a * log(b)``, 0 where a == 0 (unless b is NaN); d/da = log(b) (PyTorch's: 0 where a == 0
    and b <= 0), d/db = a / b."""

    def forward(ctx, a, b):
        dtype = dtypes.float_type(dtypes.result_type(a, b))
        a, b = promote(a, b, dtype=dtype)
        try:
            return _xlogy_array(a, b, dtype)
        except ValueError:
            raise _broadcast_error("xlogy", a, b) from None

    def backward(ctx, grad):
        a, b = ctx.inputs
        need_a, need_b = ctx.needs_input_grad
        grad_a = grad_b = None
        if need_a:
            bd = b._data if isinstance(b, Tensor) else b
            masked = Tensor._wrap((a._data == 0) & (bd <= 0))
            grad_a = where(masked, 0.0, xlogy(grad, b))
        if need_b:
            grad_b = grad * a / b
        return grad_a, grad_b


def xlogy(input, other) -> Tensor:
    """Elementwise ``input * log(other)``, defined as 0 where ``input`` is 0 (even if ``other`` is 0).

    Shape: ``input`` and ``other`` broadcast; the output has their broadcast shape.
    """
    return Xlogy.apply(input, other)


class LogAddExp(Function):
    """``log(e^a + e^b)`` without overflow; d/da = e^(a - out). ``base2``: ``log2(2^a + 2^b)``."""

    def forward(ctx, a, b, *, base2=False):
        ctx.base2 = base2
        a, b = promote(a, b, dtype=dtypes.float_type(dtypes.result_type(a, b)))
        xp = _xp_of(a, b)
        try:
            with np.errstate(invalid="ignore"):  # inf - inf where both are infinite: fixed below
                gap = -xp.abs(a - b)
        except ValueError:
            raise _broadcast_error("logaddexp2" if base2 else "logaddexp", a, b) from None
        m = xp.maximum(a, b)
        out = m + (xp.log1p(xp.exp2(gap)) / _LN2 if base2 else xp.log1p(xp.exp(gap)))
        # equal arguments (also both -inf or both +inf): exactly a + log(2)
        return xp.where(a == b, m + (1.0 if base2 else _LN2), out)

    def backward(ctx, grad):
        a, b = ctx.inputs
        out = ctx.output
        need_a, need_b = ctx.needs_input_grad

        def share(v):
            return grad * ((v - out).exp2() if ctx.base2 else (v - out).exp())
        return (share(a) if need_a else None), (share(b) if need_b else None)


def logaddexp(input, other) -> Tensor:
    """Elementwise ``log(exp(input) + exp(other))``, computed without overflow.

    Shape: ``input`` and ``other`` broadcast; the output has their broadcast shape.
    """
    return LogAddExp.apply(input, other)


def logaddexp2(input, other) -> Tensor:
    """Elementwise ``log2(2**input + 2**other)``, computed without overflow.

    Shape: ``input`` and ``other`` broadcast; the output has their broadcast shape.
    """
    return LogAddExp.apply(input, other, base2=True)
