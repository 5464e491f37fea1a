"""Binary arithmetic with broadcasting, and comparisons.

Operands are Tensors or Python/NumPy scalars. Type promotion follows PyTorch: a float scalar
keeps a float32 tensor float32, an int tensor meeting a float becomes float. The engine sums each
gradient back to its input's broadcast shape, so the backward formulas below ignore broadcasting.
"""
from __future__ import annotations

import numpy as np

from shendu import dtypes
from shendu.autograd.function import Function
from shendu.backend import array_module
from shendu.tensor import Tensor

_ndarray = np.ndarray


def coerce(a, b):
    """Bring two raw operands (arrays or scalars) to the dtypes PyTorch would compute in.

    NumPy already agrees with PyTorch for equal dtypes, float/float, and bool with anything, so
    only integer-meets-float pairs and NumPy scalars (which NumPy 2 treats as strongly typed) change.
    """
    ta, tb = type(a), type(b)
    if ta is _ndarray:
        if tb is _ndarray:
            if a.dtype is b.dtype:
                return a, b
        elif tb is float and a.dtype.kind == "f":
            return a, b
    elif ta is float and tb is _ndarray and b.dtype.kind == "f":
        return a, b
    da = getattr(a, "dtype", None)
    db = getattr(b, "dtype", None)
    if da is not None and db is not None:
        if da == db or (da.kind == db.kind) or "b" in (da.kind, db.kind):
            if not (isinstance(a, np.generic) or isinstance(b, np.generic)):
                return a, b
    if isinstance(a, np.generic):
        a, da = a.item(), None
    if isinstance(b, np.generic):
        b, db = b.item(), None
    if da is None or db is None:  # one side is a Python scalar
        if da is None and db is None:
            return a, b
        arr_dtype, scalar = (db, a) if da is None else (da, b)
        if isinstance(scalar, float) and arr_dtype.kind in "biu":
            f = dtypes.get_default_dtype()
            return (a, b.astype(f)) if da is None else (a.astype(f), b)
        return a, b
    fa, fb = da.kind == "f", db.kind == "f"
    if fa and not fb:
        return a, b.astype(da)
    if fb and not fa:
        return a.astype(db), b
    return a, b


def _broadcast_error(op: str, a, b) -> RuntimeError:
    return RuntimeError(f"{op}: operands of shapes {tuple(getattr(a, 'shape', ()))} and "
                        f"{tuple(getattr(b, 'shape', ()))} do not broadcast (each dim, aligned from the "
                        "right, must be equal or 1)")


def _as_tensor_like(x, like: Tensor) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor._wrap(like._xp().asarray(x, dtype=like.dtype))


class Add(Function):
    raw = True

    def forward(ctx, a, b):
        a, b = coerce(a, b)
        try:
            return a + b
        except ValueError:
            raise _broadcast_error("add", a, b) from None

    def backward(ctx, grad):
        return grad, grad


class Sub(Function):
    raw = True

    def forward(ctx, a, b):
        a, b = coerce(a, b)
        try:
            return a - b
        except ValueError:
            raise _broadcast_error("sub", a, b) from None

    def backward(ctx, grad):
        return grad, (-grad if ctx.needs_input_grad[1] else None)


class Mul(Function):
    raw = True

    def forward(ctx, a, b):
        a, b = coerce(a, b)
        try:
            return a * b
        except ValueError:
            raise _broadcast_error("mul", a, b) from None

    def backward(ctx, grad):
        a, b = ctx.inputs
        need_a, need_b = ctx.needs_input_grad
        return (grad * b if need_a else None), (grad * a if need_b else None)


class Div(Function):
    raw = True

    def forward(ctx, a, b):
        a, b = coerce(a, b)
        try:
            out = a / b
        except ValueError:
            raise _broadcast_error("div", a, b) from None
        if out.dtype == np.float64 and getattr(a, "dtype", None) != np.float64 \
                and getattr(b, "dtype", None) != np.float64:
            out = out.astype(dtypes.get_default_dtype())  # int / int gives float32, as in PyTorch
        return out

    def backward(ctx, grad):
        a, b = ctx.inputs
        need_a, need_b = ctx.needs_input_grad
        grad_a = grad / b if need_a else None
        grad_b = -grad * ctx.output / b if need_b else None
        return grad_a, grad_b


class Pow(Function):
    """``a ** b`` for a Tensor base; the exponent may be a Tensor or a scalar."""

    raw = True

    def forward(ctx, a, b):
        a, b = coerce(a, b)
        if isinstance(b, (int, float)) and not isinstance(b, bool):
            if b == 2:
                return a * a
            if b == 0.5:
                return array_module(a).sqrt(a)
        try:
            return a ** b
        except ValueError:
            raise _broadcast_error("pow", a, b) from None

    def backward(ctx, grad):
        # As PyTorch: d/da is 0 where b == 0 and d/db is 0 where a == 0 and b >= 0 (not 0 * inf = nan).
        from shendu.ops.elementwise import where
        a, b = ctx.inputs
        need_a, need_b = ctx.needs_input_grad
        grad_a = grad_b = None
        if need_a:
            if isinstance(b, Tensor):
                grad_a = grad * b * a ** (b - 1)
                b_zero = b._data == 0
                if b_zero.any():
                    grad_a = where(Tensor._wrap(b_zero), 0.0, grad_a)
            elif b == 2:
                grad_a = grad * a * 2.0
            elif b == 0:
                grad_a = grad * 0.0
            else:
                grad_a = grad * b * a ** (b - 1)
        if need_b:
            base = _as_tensor_like(a, b)
            grad_b = grad * ctx.output * base.log()
            at_zero = (base._data == 0) & (b._data >= 0)
            if at_zero.any():
                grad_b = where(Tensor._wrap(at_zero), 0.0, grad_b)
        return grad_a, grad_b


class Maximum(Function):
    raw = True

    def forward(ctx, a, b):
        a, b = coerce(a, b)
        try:
            ctx.a_wins = a >= b if not (np.isscalar(a) and np.isscalar(b)) else None
        except ValueError:
            raise _broadcast_error("maximum", a, b) from None
        return array_module(ctx.a_wins).maximum(a, b)

    def backward(ctx, grad):
        # Ties send the gradient half to each side, as PyTorch does.
        a, b = ctx.inputs
        xp = grad._xp()
        ad, bd = (a._data if isinstance(a, Tensor) else a), (b._data if isinstance(b, Tensor) else b)
        w = xp.where(ad == bd, 0.5, ctx.a_wins).astype(grad.dtype)
        return grad * w, grad * (1 - w)


class Minimum(Function):
    raw = True

    def forward(ctx, a, b):
        a, b = coerce(a, b)
        try:
            ctx.a_wins = a <= b
        except ValueError:
            raise _broadcast_error("minimum", a, b) from None
        return array_module(ctx.a_wins).minimum(a, b)

    backward = Maximum.backward


def add(input, other, alpha: float = 1) -> Tensor:
    if alpha != 1:
        other = other * alpha
    return Add.apply(input, other)


def sub(input, other, alpha: float = 1) -> Tensor:
    if alpha != 1:
        other = other * alpha
    return Sub.apply(input, other)


def mul(input, other) -> Tensor:
    return Mul.apply(input, other)


def div(input, other, rounding_mode: str | None = None) -> Tensor:
    if rounding_mode is None:
        return Div.apply(input, other)
    if rounding_mode not in ("floor", "trunc"):
        raise ValueError(f"div: rounding_mode must be None, 'floor' or 'trunc', got {rounding_mode!r}")
    if _is_float(input) or _is_float(other):
        return RoundedDiv.apply(input, other, rounding_mode)
    return (FloorDivide if rounding_mode == "floor" else TruncDivide).apply(input, other)


def pow(input, exponent) -> Tensor:  # noqa: A001 - PyTorch's name
    if not isinstance(input, Tensor):  # scalar ** tensor
        return Pow.apply(_as_tensor_like(input, exponent), exponent)
    return Pow.apply(input, exponent)


def maximum(input, other) -> Tensor:
    return Maximum.apply(input, other)


def minimum(input, other) -> Tensor:
    return Minimum.apply(input, other)


def _rsub(self, other):
    return Sub.apply(other, self)


def _rtruediv(self, other):
    return Div.apply(other, self)


def _rpow(self, other):
    return pow(other, self)


# -- integer-valued and comparison ops: no gradient -------------------------------------------
class _NoGrad(Function):
    raw = True
    differentiable = False
    fn = None

    def forward(ctx, a, b):
        a, b = coerce(a, b)
        try:
            return type(ctx).fn(a, b)
        except ValueError:
            raise _broadcast_error(type(ctx).__name__.lower(), a, b) from None


def _nograd(name, fn):
    return type(name, (_NoGrad,), {"fn": staticmethod(fn)})


Eq = _nograd("Eq", lambda a, b: a == b)
Ne = _nograd("Ne", lambda a, b: a != b)
Lt = _nograd("Lt", lambda a, b: a < b)
Le = _nograd("Le", lambda a, b: a <= b)
Gt = _nograd("Gt", lambda a, b: a > b)
Ge = _nograd("Ge", lambda a, b: a >= b)
And = _nograd("And", lambda a, b: a & b)
Or = _nograd("Or", lambda a, b: a | b)
Xor = _nograd("Xor", lambda a, b: a ^ b)
FloorDivide = _nograd("FloorDivide", lambda a, b: a // b)


def _trunc_divide(a, b):
    """Integer division rounded toward zero (``//`` rounds toward -inf)."""
    xp = array_module(a if hasattr(a, "dtype") else b)
    return xp.sign(a) * xp.sign(b) * (xp.abs(a) // xp.abs(b))


TruncDivide = _nograd("TruncDivide", _trunc_divide)


class Remainder(Function):
    """``a % b`` with the sign of ``b`` (Python's and PyTorch's remainder); d/da = 1, d/db = -floor(a / b)."""

    raw = True

    def forward(ctx, a, b):
        a, b = coerce(a, b)
        try:
            return a % b
        except ValueError:
            raise _broadcast_error("remainder", a, b) from None

    def backward(ctx, grad):
        a, b = ctx.inputs
        need_a, need_b = ctx.needs_input_grad
        grad_b = None
        if need_b:
            ad = a._data if isinstance(a, Tensor) else a
            quotient = b._xp().floor(ad / b._data).astype(b.dtype, copy=False)
            grad_b = -grad * Tensor._wrap(quotient)
        return (grad if need_a else None), grad_b


class RoundedDiv(Function):
    """Float ``a // b`` ('floor', Python's rounding) or trunc(a / b) ('trunc'): piecewise constant, so
    the gradient is zero, as in PyTorch."""

    raw = True

    def forward(ctx, a, b, mode):
        a, b = coerce(a, b)
        try:
            return a // b if mode == "floor" else array_module(a if hasattr(a, "dtype") else b).trunc(a / b)
        except ValueError:
            raise _broadcast_error("div", a, b) from None

    def backward(ctx, grad):
        zero = grad * 0.0
        need_a, need_b = ctx.needs_input_grad[:2]
        return (zero if need_a else None), (zero if need_b else None), None


def _is_float(x) -> bool:
    return x.dtype.kind == "f" if isinstance(x, Tensor) else isinstance(x, float)


def eq(input, other) -> Tensor:
    return Eq.apply(input, other)


def ne(input, other) -> Tensor:
    return Ne.apply(input, other)


def lt(input, other) -> Tensor:
    return Lt.apply(input, other)


def le(input, other) -> Tensor:
    return Le.apply(input, other)


def gt(input, other) -> Tensor:
    return Gt.apply(input, other)


def ge(input, other) -> Tensor:
    return Ge.apply(input, other)


def logical_and(input, other) -> Tensor:
    return And.apply(_bool(input), _bool(other))


def logical_or(input, other) -> Tensor:
    return Or.apply(_bool(input), _bool(other))


def logical_xor(input, other) -> Tensor:
    return Xor.apply(_bool(input), _bool(other))


def _bool(x):
    return x.bool() if isinstance(x, Tensor) else bool(x)


def floor_divide(input, other) -> Tensor:
    if _is_float(input) or _is_float(other):
        return RoundedDiv.apply(input, other, "floor")
    return FloorDivide.apply(input, other)


def remainder(input, other) -> Tensor:
    return Remainder.apply(input, other)


def equal(input: Tensor, other: Tensor) -> bool:
    """True when both tensors have the same shape and elements."""
    return input.shape == other.shape and bool((input._data == other._data).all())


def allclose(input: Tensor, other: Tensor, rtol: float = 1e-5, atol: float = 1e-8,
             equal_nan: bool = False) -> bool:
    return bool(input._xp().allclose(input._data, other._data if isinstance(other, Tensor) else other,
                                     rtol=rtol, atol=atol, equal_nan=equal_nan))


def isclose(input: Tensor, other, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False) -> Tensor:
    od = other._data if isinstance(other, Tensor) else other
    return Tensor._wrap(input._xp().isclose(input._data, od, rtol=rtol, atol=atol, equal_nan=equal_nan))
