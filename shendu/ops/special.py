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


# -- the gamma family: lgamma, digamma, polygamma, mvlgamma ---------------------------------------
# Without SciPy: shift x up by the recurrences Γ(x+1) = xΓ(x), ψ⁽ⁿ⁾(x+1) = ψ⁽ⁿ⁾(x) + (-1)ⁿ n!/x^(n+1)
# until x >= _SHIFT, then sum the asymptotic (Stirling) series; negative x goes through reflection
# for lgamma and digamma. Accurate to ~1e-13 relative in float64.
_SHIFT = 10.0
_STIRLING = (1 / 12, -1 / 360, 1 / 1260, -1 / 1680, 1 / 1188, -691 / 360360, 1 / 156)
_BERNOULLI = (1 / 6, -1 / 30, 1 / 42, -1 / 30, 5 / 66, -691 / 2730, 7 / 6, -3617 / 510)  # B_2, B_4, ...


def _shifted(x, step):
    """Add ``step(x)`` while x < _SHIFT (elementwise); returns (x shifted, the summed corrections)."""
    xp = array_module(x)
    acc = xp.zeros_like(x)
    low = x < _SHIFT
    while low.any():
        acc = acc + xp.where(low, step(xp.where(low, x, 1.0)), 0.0)
        x = xp.where(low, x + 1.0, x)
        low = x < _SHIFT
    return x, acc


def _lgamma_approx(x):
    xp = array_module(x)
    x = x.astype(np.float64)
    bad = (x <= 0) & (x == xp.floor(x))
    neg = x < 0.5
    z = xp.where(neg, 1.0 - x, x)  # reflection: Γ(x)Γ(1-x) = π / sin(πx)
    z, acc = _shifted(z, lambda v: -xp.log(v))
    inv, inv2 = 1.0 / z, 1.0 / (z * z)
    series = sum(c * inv * inv2 ** k for k, c in enumerate(_STIRLING))
    pos = (z - 0.5) * xp.log(z) - z + 0.5 * math.log(2 * math.pi) + series + acc
    with np.errstate(divide="ignore", invalid="ignore"):
        refl = math.log(math.pi) - xp.log(xp.abs(xp.sin(math.pi * x))) - pos
    return xp.where(bad, xp.inf, xp.where(neg, refl, pos))


def _digamma_approx(x):
    xp = array_module(x)
    x = x.astype(np.float64)
    neg = x < 0.5
    z = xp.where(neg, 1.0 - x, x)  # reflection: ψ(1-x) - ψ(x) = π cot(πx)
    z, acc = _shifted(z, lambda v: -1.0 / v)
    inv2 = 1.0 / (z * z)
    series = sum(b / (2 * (k + 1)) * inv2 ** (k + 1) for k, b in enumerate(_BERNOULLI))
    pos = xp.log(z) - 0.5 / z - series + acc
    with np.errstate(divide="ignore", invalid="ignore"):
        refl = pos - math.pi / xp.tan(math.pi * x)
    out = xp.where(neg, refl, pos)
    out = xp.where((x < 0) & (x == xp.floor(x)), xp.nan, out)
    return xp.where(x == 0, -xp.inf, out)


def _polygamma_approx(n: int, x):
    """ψ⁽ⁿ⁾(x) for n >= 1: the recurrence up to _SHIFT, then the asymptotic series."""
    xp = array_module(x)
    x = x.astype(np.float64)
    sign, fact = (-1.0) ** (n + 1), math.factorial(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        z, acc = _shifted(x, lambda v: sign * fact / v ** (n + 1))
    # ψ⁽ⁿ⁾(z) ~ (-1)^(n+1) [ (n-1)!/z^n + n!/(2 z^(n+1)) + Σ_k B_2k (2k+n-1)!/((2k)! z^(2k+n)) ]
    series = math.factorial(n - 1) / z ** n + fact / (2 * z ** (n + 1))
    for k, b in enumerate(_BERNOULLI, 1):
        series = series + b * math.factorial(2 * k + n - 1) / math.factorial(2 * k) / z ** (2 * k + n)
    out = sign * series + acc
    return xp.where((x <= 0) & (x == xp.floor(x)), xp.inf, out)


def lgamma_array(x):
    return _special("gammaln", x, _lgamma_approx)


def digamma_array(x):
    with np.errstate(divide="ignore", invalid="ignore"):
        out = _special("psi", x, _digamma_approx)
    return array_module(out).where(x == 0, -np.inf, out).astype(out.dtype, copy=False)  # SciPy: ψ(0) = nan


def polygamma_array(n: int, x):
    if n == 0:
        return digamma_array(x)
    exact = _scipy("polygamma") if array_module(x) is np else None
    x = as_float(x)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = exact(n, x) if exact is not None else _polygamma_approx(n, x)
    return out.astype(x.dtype, copy=False)


class Lgamma(Function):
    def forward(ctx, x):
        return lgamma_array(x)

    def backward(ctx, grad):
        return grad * digamma(ctx.inputs[0])


def lgamma(input: Tensor) -> Tensor:
    """Elementwise ``log|Γ(x)|`` (``inf`` at 0 and the negative integers).

    Shape: the output has the shape of ``input``.
    """
    return Lgamma.apply(input)


class Polygamma(Function):
    """ψ⁽ⁿ⁾(x), the n-th derivative of the digamma function ψ = Γ'/Γ; d/dx = ψ⁽ⁿ⁺¹⁾(x)."""

    def forward(ctx, x, *, n):
        ctx.n = n
        return polygamma_array(n, x)

    def backward(ctx, grad):
        return grad * polygamma(ctx.n + 1, ctx.inputs[0])


def digamma(input: Tensor) -> Tensor:
    """Elementwise ``ψ(x) = d/dx log Γ(x)`` (``-inf`` at 0, ``nan`` at the negative integers).

    Shape: the output has the shape of ``input``.
    """
    return Polygamma.apply(input, n=0)


def polygamma(n: int, input: Tensor) -> Tensor:
    """Elementwise ``ψ⁽ⁿ⁾(x)``, the n-th derivative of the digamma function (``n >= 0``).

    Shape: the output has the shape of ``input``.
    """
    if isinstance(n, Tensor) or int(n) != n:
        raise TypeError(f"polygamma(): n must be a non-negative int, got {n!r}")
    if n < 0:
        raise RuntimeError(f"polygamma(n, x) does not support negative n (got n={n})")
    return Polygamma.apply(input, n=int(n))


def _polygamma_method(self: Tensor, n: int) -> Tensor:
    """``self.polygamma(n)``: ``polygamma(n, self)``."""
    return polygamma(n, self)


def mvlgamma(input: Tensor, p: int) -> Tensor:
    """The multivariate log-gamma function of dimension ``p``:
    ``log Γ_p(x) = p(p-1)/4 log π + Σ_{i=0}^{p-1} log Γ(x - i/2)``, elementwise.

    Shape: the output has the shape of ``input``.
    """
    if isinstance(p, bool) or int(p) != p or p < 1:
        raise RuntimeError(f"mvlgamma(): p has to be greater than or equal to 1, got p={p!r}")
    from shendu.ops.reduce import sum as _sum
    x = input if input.dtype.kind == "f" else input.to(dtypes.float_type(input.dtype))
    halves = Tensor._wrap(array_module(x._data).arange(int(p), dtype=x.dtype) * -0.5)  # 0, -1/2, ...
    terms = lgamma(x.unsqueeze(-1) + halves)  # (*x.shape, p)
    return _sum(terms, -1) + p * (p - 1) / 4 * math.log(math.pi)
