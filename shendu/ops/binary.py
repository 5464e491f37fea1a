"""Binary arithmetic with broadcasting, comparisons, rounding division, and pointwise compositions.

Operands are Tensors or Python/NumPy scalars; ``shendu.dtypes.promote`` brings them to PyTorch's
result type (a float scalar keeps a float32 tensor float32, an int tensor meeting a float becomes
float). The engine sums each gradient back to its input's broadcast shape, so the backward
formulas below ignore broadcasting.
"""
from __future__ import annotations

import numpy as np

from shendu import dtypes
from shendu.autograd.function import Function
from shendu.backend import array_module
from shendu.dtypes import promote
from shendu.tensor import Tensor


def _broadcast_error(op: str, *operands) -> RuntimeError:
    shapes = " and ".join(str(tuple(getattr(o, "shape", ()))) for o in operands)
    return RuntimeError(f"{op}: operands of shapes {shapes} do not broadcast (each dim, aligned from the "
                        "right, must be equal or 1)")


_ndarray = np.ndarray


def _raw(x):
    return x._data if isinstance(x, Tensor) else x


def _xp_of(*operands):
    for o in operands:
        if hasattr(o, "dtype") and hasattr(o, "ndim"):
            return array_module(o)
    return array_module(operands[0])


def _is_float_array(x) -> bool:
    return x.__class__ is _ndarray and x.dtype.kind == "f"


def _wrap_mask(mask, like: Tensor) -> Tensor:
    """A raw (piecewise-constant) factor as a Tensor in ``like``'s dtype: no gradient flows through it."""
    return Tensor._wrap(mask.astype(like.dtype, copy=False))


class Add(Function):
    saved_inputs = ()

    def forward(ctx, a, b):
        a, b = promote(a, b)
        try:
            return a + b
        except ValueError:
            raise _broadcast_error("add", a, b) from None

    def backward(ctx, grad):
        return grad, grad

    def grad_arrays(ctx, grad):
        return grad, grad


def add(input, other, *, alpha: float = 1) -> Tensor:
    """``input + alpha * other`` (broadcast)."""
    if alpha != 1:
        other = other * alpha
    return Add.apply(input, other)


class Sub(Function):
    saved_inputs = ()

    def forward(ctx, a, b):
        a, b = promote(a, b)
        try:
            return a - b
        except ValueError:
            raise _broadcast_error("sub", a, b) from None

    def backward(ctx, grad):
        return grad, (-grad if ctx.needs_input_grad[1] else None)

    def grad_arrays(ctx, grad):
        return grad, (-grad if ctx.needs_input_grad[1] else None)


def sub(input, other, *, alpha: float = 1) -> Tensor:
    """``input - alpha * other`` (broadcast)."""
    if isinstance(input, Tensor) and input.dtype.kind == "b" and isinstance(other, Tensor) \
            and other.dtype.kind == "b":
        raise RuntimeError("sub: subtraction of two bool tensors is not supported; use logical_xor")
    if alpha != 1:
        other = other * alpha
    return Sub.apply(input, other)


class Mul(Function):
    def forward(ctx, a, b):
        a, b = promote(a, b)
        try:
            return a * b
        except ValueError:
            raise _broadcast_error("mul", a, b) from None

    def backward(ctx, grad):
        a, b = ctx.inputs
        need_a, need_b = ctx.needs_input_grad
        return (grad * b if need_a else None), (grad * a if need_b else None)

    def grad_arrays(ctx, grad):
        a, b = ctx.inputs
        need_a, need_b = ctx.needs_input_grad
        return (grad * (b._data if isinstance(b, Tensor) else b) if need_a else None), (
            grad * (a._data if isinstance(a, Tensor) else a) if need_b else None)


def mul(input, other) -> Tensor:
    """``input * other`` elementwise. Alias: ``multiply``.

    Shape: ``input`` and ``other`` (a tensor or a number) broadcast; the output has their broadcast shape.
    """
    return Mul.apply(input, other)


class Div(Function):
    saved_inputs = (1,)

    def forward(ctx, a, b):
        if not (_is_float_array(a) and (b.__class__ is float or _is_float_array(b) and b.dtype == a.dtype)):
            dtype = dtypes.float_type(dtypes.result_type(a, b))  # int / int is float, as in PyTorch
            a, b = promote(a, b, dtype=dtype)
        try:
            return a / b
        except ValueError:
            raise _broadcast_error("div", a, b) from None

    def backward(ctx, grad):
        b = ctx.inputs[1]
        need_a, need_b = ctx.needs_input_grad
        grad_a = grad / b if need_a else None
        grad_b = -grad * ctx.output / b if need_b else None
        return grad_a, grad_b


class FloatFloorDivide(Function):
    """Float ``floor(a / b)`` (Python's ``//``) or ``trunc(a / b)``: piecewise constant, so the
    gradient is zero, as in PyTorch."""

    saved_inputs = ()

    def forward(ctx, a, b, *, mode):
        a, b = promote(a, b)
        try:
            return a // b if mode == "floor" else _xp_of(a, b).trunc(a / b)
        except ValueError:
            raise _broadcast_error("div", a, b) from None

    def backward(ctx, grad):
        zero = grad * 0.0
        need_a, need_b = ctx.needs_input_grad
        return (zero if need_a else None), (zero if need_b else None)


def div(input, other, *, rounding_mode: str | None = None) -> Tensor:
    """``input / other``; ``rounding_mode='floor'`` or ``'trunc'`` rounds the quotient."""
    if rounding_mode is None:
        return Div.apply(input, other)
    if rounding_mode not in ("floor", "trunc"):
        raise ValueError(f"div: rounding_mode must be None, 'floor' or 'trunc', got {rounding_mode!r}")
    if dtypes.is_floating(dtypes.result_type(_raw(input), _raw(other))):
        return FloatFloorDivide.apply(input, other, mode=rounding_mode)
    return (FloorDivide if rounding_mode == "floor" else TruncDivide).apply(input, other)


true_divide = divide = div


class Pow(Function):
    """``a ** b`` with a Tensor exponent."""

    def forward(ctx, a, b):
        a, b = promote(a, b)
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
            grad_a = grad * b * a ** (b - 1)
            b_zero = _raw(b) == 0
            if b_zero.any():
                grad_a = where(Tensor._wrap(b_zero), 0.0, grad_a)
        if need_b:
            base = a if isinstance(a, Tensor) else Tensor._wrap(b._xp().asarray(a, dtype=b.dtype))
            grad_b = grad * ctx.output * base.log()
            at_zero = (base._data == 0) & (b._data >= 0)
            if at_zero.any():
                grad_b = where(Tensor._wrap(at_zero), 0.0, grad_b)
        return grad_a, grad_b


class PowScalar(Function):
    """``x ** exponent`` for a Python-number exponent."""

    def forward(ctx, x, *, exponent):
        ctx.exponent = exponent
        if not _is_float_array(x):
            (x,) = promote(x, dtype=dtypes.result_type(x, exponent))
        xp = array_module(x)
        if exponent == 2:
            return x * x
        if exponent == 0.5 and x.dtype.kind == "f":
            return xp.sqrt(x)
        return x ** exponent

    def backward(ctx, grad):
        e, x = ctx.exponent, ctx.inputs[0]
        if e == 0:
            return grad * 0.0
        if e == 2:
            return grad * x * 2.0
        if e == 1:
            return grad * 1.0
        return grad * e * x ** (e - 1)


class ScalarPow(Function):
    """``base ** x`` for a Python-number base; d/dx = out log(base), 0 where base == 0 and x >= 0."""

    def forward(ctx, x, *, base):
        ctx.base = base
        dtype = dtypes.result_type(base, x)
        (x,) = promote(x, dtype=dtype)
        b = array_module(x).asarray(base, dtype=dtype)
        return b ** x

    def backward(ctx, grad):
        import math
        base = ctx.base
        if base == 0:  # 0 ** x: 0 for x > 0, 1 at 0, inf below; PyTorch masks the first two to 0
            x = ctx.inputs[0]._data
            return grad * _wrap_mask(grad._xp().where(x < 0, float("-inf"), 0.0), grad)
        return grad * ctx.output * math.log(base)


def pow(input, exponent) -> Tensor:  # noqa: A001 - PyTorch's name
    """``input ** exponent``; either may be a Python number."""
    if not isinstance(input, Tensor):
        return ScalarPow.apply(exponent, base=input.item() if hasattr(input, "item") else input)
    if isinstance(exponent, Tensor):
        return Pow.apply(input, exponent)
    return PowScalar.apply(input, exponent=exponent.item() if hasattr(exponent, "item") else exponent)


def float_power(input, exponent) -> Tensor:
    """``input ** exponent`` computed in float64, as PyTorch's ``float_power``."""
    def f64(v):
        return v.to(dtypes.float64) if isinstance(v, Tensor) else v
    return pow(f64(input), f64(exponent))


class Maximum(Function):
    def forward(ctx, a, b):
        a, b = promote(a, b)
        try:
            return _xp_of(a, b).maximum(a, b)
        except ValueError:
            raise _broadcast_error("maximum", a, b) from None

    def backward(ctx, grad):
        return _tie_split(ctx, grad, lambda a, b: a > b)


class Minimum(Function):
    def forward(ctx, a, b):
        a, b = promote(a, b)
        try:
            return _xp_of(a, b).minimum(a, b)
        except ValueError:
            raise _broadcast_error("minimum", a, b) from None

    def backward(ctx, grad):
        return _tie_split(ctx, grad, lambda a, b: a < b)


def _tie_split(ctx, grad, wins):
    """The gradient goes to the winning side; ties send half to each side, as in PyTorch."""
    a, b = (_raw(v) for v in ctx.inputs)
    w = wins(a, b) + (a == b) * 0.5
    w = Tensor._wrap(grad._xp().asarray(w, dtype=grad.dtype))
    need_a, need_b = ctx.needs_input_grad
    return (grad * w if need_a else None), (grad * (1.0 - w) if need_b else None)


def maximum(input, other) -> Tensor:
    """The elementwise larger of ``input`` and ``other`` (NaN if either is NaN); a tie splits the gradient
    equally.

    Shape: ``input`` and ``other`` (a tensor or a number) broadcast; the output has their broadcast shape.
    """
    return Maximum.apply(input, other)


def minimum(input, other) -> Tensor:
    """The elementwise smaller of ``input`` and ``other`` (NaN if either is NaN); a tie splits the gradient
    equally.

    Shape: ``input`` and ``other`` (a tensor or a number) broadcast; the output has their broadcast shape.
    """
    return Minimum.apply(input, other)


def _rsub(self, other):
    return Sub.apply(other, self)


def _rtruediv(self, other):
    return Div.apply(other, self)


def _rpow(self, other):
    return pow(other, self)


# -- integer-valued and comparison ops: no gradient -------------------------------------------
class _NoGrad(Function):
    differentiable = False
    fn = None

    def forward(ctx, a, b):
        a, b = promote(a, b)
        try:
            return type(ctx).fn(a, b)
        except ValueError:
            raise _broadcast_error(type(ctx).__name__.lower(), a, b) from None


def _nograd(name, fn):
    return type(name, (_NoGrad,), {"fn": staticmethod(fn)})


def _trunc_divide(a, b):
    """Integer division rounded toward zero (``//`` rounds toward -inf)."""
    xp = _xp_of(a, b)
    return xp.sign(a) * xp.sign(b) * (xp.abs(a) // xp.abs(b))


def _heaviside(a, b):
    xp = _xp_of(a, b)
    return xp.heaviside(a, b) if a.dtype.kind == "f" else xp.where(a == 0, b, a > 0).astype(a.dtype)


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
TruncDivide = _nograd("TruncDivide", _trunc_divide)
Heaviside = _nograd("Heaviside", _heaviside)  # PyTorch defines no derivative for it either


def eq(input, other) -> Tensor:
    """``input == other`` elementwise.

    Shape: ``input`` and ``other`` (a tensor or a number) broadcast; the output has their broadcast shape. The result
    is bool (no gradient).
    """
    return Eq.apply(input, other)


def ne(input, other) -> Tensor:
    """``input != other`` elementwise. Alias: ``not_equal``.

    Shape: ``input`` and ``other`` (a tensor or a number) broadcast; the output has their broadcast shape. The result
    is bool (no gradient).
    """
    return Ne.apply(input, other)


def lt(input, other) -> Tensor:
    """``input < other`` elementwise. Alias: ``less``.

    Shape: ``input`` and ``other`` (a tensor or a number) broadcast; the output has their broadcast shape. The result
    is bool (no gradient).
    """
    return Lt.apply(input, other)


def le(input, other) -> Tensor:
    """``input <= other`` elementwise. Alias: ``less_equal``.

    Shape: ``input`` and ``other`` (a tensor or a number) broadcast; the output has their broadcast shape. The result
    is bool (no gradient).
    """
    return Le.apply(input, other)


def gt(input, other) -> Tensor:
    """``input > other`` elementwise. Alias: ``greater``.

    Shape: ``input`` and ``other`` (a tensor or a number) broadcast; the output has their broadcast shape. The result
    is bool (no gradient).
    """
    return Gt.apply(input, other)


def ge(input, other) -> Tensor:
    """``input >= other`` elementwise. Alias: ``greater_equal``.

    Shape: ``input`` and ``other`` (a tensor or a number) broadcast; the output has their broadcast shape. The result
    is bool (no gradient).
    """
    return Ge.apply(input, other)


greater, greater_equal, less, less_equal, not_equal = gt, ge, lt, le, ne


def _bool(x):
    return x.bool() if isinstance(x, Tensor) else bool(x)


def logical_and(input, other) -> Tensor:
    """Elementwise logical AND of the truth values (nonzero is True).

    Shape: ``input`` and ``other`` (a tensor or a number) broadcast; the output has their broadcast shape. The result
    is bool (no gradient).
    """
    return And.apply(_bool(input), _bool(other))


def logical_or(input, other) -> Tensor:
    """Elementwise logical OR of the truth values (nonzero is True).

    Shape: ``input`` and ``other`` (a tensor or a number) broadcast; the output has their broadcast shape. The result
    is bool (no gradient).
    """
    return Or.apply(_bool(input), _bool(other))


def logical_xor(input, other) -> Tensor:
    """Elementwise logical XOR of the truth values (nonzero is True).

    Shape: ``input`` and ``other`` (a tensor or a number) broadcast; the output has their broadcast shape. The result
    is bool (no gradient).
    """
    return Xor.apply(_bool(input), _bool(other))


def heaviside(input: Tensor, values) -> Tensor:
    """0 where ``input < 0``, 1 where ``input > 0``, ``values`` where ``input == 0``. No gradient."""
    if not isinstance(values, Tensor):
        raise TypeError(f"heaviside: values must be a Tensor, got {type(values).__name__}")
    if input.dtype != values.dtype:
        raise RuntimeError(f"heaviside: input ({input.dtype}) and values ({values.dtype}) must have "
                           "the same dtype")
    return Heaviside.apply(input, values)


# -- rounding division and remainders -------------------------------------------------------------
class Remainder(Function):
    """``a % b`` with the sign of ``b`` (Python's and PyTorch's remainder); d/da = 1, d/db = -floor(a / b)."""

    fn = "remainder"

    def forward(ctx, a, b):
        a, b = promote(a, b)
        xp = _xp_of(a, b)
        try:
            return getattr(xp, type(ctx).fn)(a, b)
        except ValueError:
            raise _broadcast_error(type(ctx).fn, a, b) from None

    def backward(ctx, grad):
        a, b = ctx.inputs
        need_a, need_b = ctx.needs_input_grad
        grad_b = None
        if need_b:
            xp = b._xp()
            q = xp.asarray(_raw(a) / b._data)
            q = xp.floor(q) if type(ctx).fn == "remainder" else xp.trunc(q)
            grad_b = -grad * _wrap_mask(q, grad)
        return (grad if need_a else None), grad_b


class Fmod(Remainder):
    """C's ``fmod``: the remainder with the sign of ``a``; d/da = 1, d/db = -trunc(a / b)."""

    fn = "fmod"


def floor_divide(input, other) -> Tensor:
    """``floor(input / other)`` elementwise (rounds toward -inf, as Python's ``//``); gradient 0.

    Shape: ``input`` and ``other`` (a tensor or a number) broadcast; the output has their broadcast shape.
    """
    return div(input, other, rounding_mode="floor")


def remainder(input, other) -> Tensor:
    """Python's ``input % other`` elementwise: the remainder has the sign of ``other``.

    Shape: ``input`` and ``other`` (a tensor or a number) broadcast; the output has their broadcast shape.
    """
    return Remainder.apply(input, other)


def fmod(input, other) -> Tensor:
    """C's ``fmod(input, other)`` elementwise: the remainder has the sign of ``input``.

    Shape: ``input`` and ``other`` (a tensor or a number) broadcast; the output has their broadcast shape.
    """
    return Fmod.apply(input, other)


# -- sign copying and compositions ------------------------------------------------------------
class Copysign(Function):
    """``|a|`` with the sign of ``b``; d/da = sign(a) * sign(out) (0 at a == 0), d/db = 0 (PyTorch's)."""

    def forward(ctx, a, b):
        dtype = dtypes.float_type(dtypes.result_type(a, b))
        a, b = promote(a, b, dtype=dtype)
        try:
            return _xp_of(a, b).copysign(a, b)
        except ValueError:
            raise _broadcast_error("copysign", a, b) from None

    def backward(ctx, grad):
        a, b = (_raw(v) for v in ctx.inputs)
        need_a, need_b = ctx.needs_input_grad
        grad_a = grad_b = None
        if need_a:
            xp = grad._xp()
            grad_a = grad * _wrap_mask(xp.sign(a) * xp.copysign(1.0, b), grad)
        if need_b:
            grad_b = grad * 0.0
        return grad_a, grad_b


def copysign(input, other) -> Tensor:
    """``|input|`` with the sign of ``other``, elementwise.

    Shape: ``input`` and ``other`` (a tensor or a number) broadcast; the output has their broadcast shape.
    """
    return Copysign.apply(input, other)


def lerp(input: Tensor, end: Tensor, weight) -> Tensor:
    """``input + weight * (end - input)``; ``weight`` is a number or a Tensor (all broadcast)."""
    if isinstance(end, Tensor) and input.dtype != end.dtype:
        raise RuntimeError(f"lerp: expected input and end of the same dtype, got {input.dtype} and {end.dtype}")
    return input + weight * (end - input)


def addcmul(input: Tensor, tensor1: Tensor, tensor2: Tensor, *, value: float = 1) -> Tensor:
    """``input + value * tensor1 * tensor2`` (broadcast)."""
    prod = tensor1 * tensor2
    return input + (prod * value if value != 1 else prod)


def addcdiv(input: Tensor, tensor1: Tensor, tensor2: Tensor, *, value: float = 1) -> Tensor:
    """``input + value * tensor1 / tensor2`` (broadcast); integer tensor1 / tensor2 are rejected as in PyTorch."""
    if all(isinstance(t, Tensor) and t.dtype.kind in "biu" for t in (tensor1, tensor2)):
        raise RuntimeError("addcdiv: integer division of tensors is no longer supported; "
                           f"got tensor1 {tensor1.dtype} and tensor2 {tensor2.dtype}, use addcmul or floats")
    quot = tensor1 / tensor2
    return input + (quot * value if value != 1 else quot)


# -- whole-tensor comparisons ---------------------------------------------------------------------
def equal(input: Tensor, other: Tensor) -> bool:
    """True when both tensors have the same shape and elements."""
    return input.shape == other.shape and bool((input._data == other._data).all())


def allclose(input: Tensor, other: Tensor, rtol: float = 1e-5, atol: float = 1e-8,
             equal_nan: bool = False) -> bool:
    """True when every element of ``input`` is close to ``other``'s: ``isclose(...).all()`` as a Python bool."""
    return bool(input._xp().allclose(input._data, _raw(other), rtol=rtol, atol=atol, equal_nan=equal_nan))


def isclose(input: Tensor, other, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False) -> Tensor:
    """``|input - other| <= atol + rtol * |other|`` elementwise (bool); ``equal_nan`` counts NaN == NaN.

    Shape: ``input`` and ``other`` (a tensor or a number) broadcast; the output has their broadcast shape.
    """
    return Tensor._wrap(input._xp().isclose(input._data, _raw(other), rtol=rtol, atol=atol, equal_nan=equal_nan))
