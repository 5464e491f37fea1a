"""Unary elementwise math: exponentials and logs, powers, rounding, signs, casts, ``where``, and the
two hot activations (relu, sigmoid). Clamping and the NaN/inf tests live in ``clamp.py``,
trigonometric and hyperbolic functions in ``trig.py``, special functions (erf, logit, xlogy,
logaddexp) in ``special.py``, the other activations in ``activation.py``.

Backward formulas are written with Tensor ops, so they are differentiable again under
``create_graph=True``; an op whose derivative is its own output uses ``ctx.output``. Float-valued
ops compute integer inputs in the default float dtype, as PyTorch does.
"""
from __future__ import annotations

import builtins
import math

from shendu import backend, dtypes
from shendu.autograd.function import Function
from shendu.autograd.inplace import apply_inplace
from shendu.backend import array_module, zeros_like_array
from shendu.dtypes import promote
from shendu.tensor import Tensor

_LN2, _LN10 = math.log(2.0), math.log(10.0)


def as_float(x):
    """``x`` (an array) in the dtype a float-valued op computes it in: ints become the default float."""
    return x if x.dtype.kind == "f" else x.astype(dtypes.float_type(x.dtype))


def _mask(mask, like: Tensor) -> Tensor:
    """A raw piecewise-constant factor as a Tensor of ``like``'s dtype (no gradient flows through it)."""
    return Tensor._wrap(mask.astype(like.dtype, copy=False))


class Neg(Function):
    saved_inputs = ()

    def forward(ctx, x):
        if x.dtype.kind == "b":
            raise RuntimeError("neg: negation of a bool tensor is not supported; use logical_not")
        return -x

    def backward(ctx, grad):
        return -grad

    def grad_arrays(ctx, grad):
        return -grad


def neg(input: Tensor) -> Tensor:
    """Elementwise ``-input``. Alias: ``negative``.

    Shape: the output has the shape of ``input``.
    """
    return Neg.apply(input)


negative = neg


class Exp(Function):
    saved_inputs = ()

    def forward(ctx, x):
        return array_module(x).exp(as_float(x))

    def backward(ctx, grad):
        return grad * ctx.output

    def grad_arrays(ctx, grad):
        return grad * ctx.output._data


def exp(input: Tensor) -> Tensor:
    """Elementwise ``e ** input``.

    Shape: the output has the shape of ``input``.
    """
    return Exp.apply(input)


class Exp2(Function):
    saved_inputs = ()

    def forward(ctx, x):
        return array_module(x).exp2(as_float(x))

    def backward(ctx, grad):
        return grad * ctx.output * _LN2


def exp2(input: Tensor) -> Tensor:
    """``2 ** input``."""
    return Exp2.apply(input)


class Expm1(Function):
    saved_inputs = ()

    def forward(ctx, x):
        return array_module(x).expm1(as_float(x))

    def backward(ctx, grad):
        return grad * (ctx.output + 1.0)


def expm1(input: Tensor) -> Tensor:
    """Elementwise ``exp(input) - 1``, accurate for small ``input``.

    Shape: the output has the shape of ``input``.
    """
    return Expm1.apply(input)


class Log(Function):
    def forward(ctx, x):
        return array_module(x).log(as_float(x))

    def backward(ctx, grad):
        return grad / ctx.inputs[0]


def log(input: Tensor) -> Tensor:
    """Elementwise natural logarithm; ``-inf`` at 0, NaN below 0.

    Shape: the output has the shape of ``input``.
    """
    return Log.apply(input)


class Log2(Function):
    def forward(ctx, x):
        return array_module(x).log2(as_float(x))

    def backward(ctx, grad):
        return grad / (ctx.inputs[0] * _LN2)


def log2(input: Tensor) -> Tensor:
    """Elementwise base-2 logarithm; ``-inf`` at 0, NaN below 0.

    Shape: the output has the shape of ``input``.
    """
    return Log2.apply(input)


class Log10(Function):
    def forward(ctx, x):
        return array_module(x).log10(as_float(x))

    def backward(ctx, grad):
        return grad / (ctx.inputs[0] * _LN10)


def log10(input: Tensor) -> Tensor:
    """Elementwise base-10 logarithm; ``-inf`` at 0, NaN below 0.

    Shape: the output has the shape of ``input``.
    """
    return Log10.apply(input)


class Log1p(Function):
    def forward(ctx, x):
        return array_module(x).log1p(as_float(x))

    def backward(ctx, grad):
        return grad / (ctx.inputs[0] + 1.0)


def log1p(input: Tensor) -> Tensor:
    """Elementwise ``log(1 + input)``, accurate for small ``input``.

    Shape: the output has the shape of ``input``.
    """
    return Log1p.apply(input)


class Sqrt(Function):
    saved_inputs = ()

    def forward(ctx, x):
        return array_module(x).sqrt(as_float(x))

    def backward(ctx, grad):
        return grad * 0.5 / ctx.output


def sqrt(input: Tensor) -> Tensor:
    """Elementwise square root; NaN below 0.

    Shape: the output has the shape of ``input``.
    """
    return Sqrt.apply(input)


class Rsqrt(Function):
    saved_inputs = ()

    def forward(ctx, x):
        xp = array_module(x)
        out = xp.sqrt(as_float(x))
        return xp.reciprocal(out, out=out)

    def backward(ctx, grad):
        out = ctx.output
        return grad * (out * out * out) * -0.5


def rsqrt(input: Tensor) -> Tensor:
    """Elementwise ``1 / sqrt(input)``.

    Shape: the output has the shape of ``input``.
    """
    return Rsqrt.apply(input)


class Reciprocal(Function):
    saved_inputs = ()

    def forward(ctx, x):
        return array_module(x).reciprocal(as_float(x))

    def backward(ctx, grad):
        out = ctx.output
        return -grad * out * out


def reciprocal(input: Tensor) -> Tensor:
    """Elementwise ``1 / input`` (integers give floats).

    Shape: the output has the shape of ``input``.
    """
    return Reciprocal.apply(input)


def square(input: Tensor) -> Tensor:
    """Elementwise ``input * input``.

    Shape: the output has the shape of ``input``.
    """
    from shendu.ops.binary import pow
    return pow(input, 2)


class Abs(Function):
    """``|x|``; the gradient is sign(x), so 0 at 0 (PyTorch's choice)."""

    def forward(ctx, x):
        return array_module(x).abs(x)

    def backward(ctx, grad):
        x = ctx.inputs[0]._data
        return grad * _mask(grad._xp().sign(x), grad)


def abs(input: Tensor) -> Tensor:  # noqa: A001 - PyTorch's name
    """Elementwise absolute value ``|input|`` (gradient 0 at 0, as PyTorch's). Alias: ``absolute``.

    Shape: the output has the shape of ``input``.
    """
    return Abs.apply(input)


absolute = abs


# -- piecewise-constant ops: defined gradient zero, as in PyTorch ------------------------------
class _ZeroGrad(Function):
    saved_inputs = ()

    def backward(ctx, grad):
        return grad * 0.0


class Sign(_ZeroGrad):
    def forward(ctx, x):
        xp = array_module(x)
        return x.copy() if x.dtype.kind == "b" else xp.sign(x)


def sign(input: Tensor) -> Tensor:
    """Elementwise sign: -1, 0 or 1 (gradient 0).

    Shape: the output has the shape of ``input``.
    """
    return Sign.apply(input)


def sgn(input: Tensor) -> Tensor:
    """``sign`` (for real tensors PyTorch's ``sgn`` is the same)."""
    return Sign.apply(input)


class _Rounding(_ZeroGrad):
    """floor/ceil/trunc/round: integers pass through unchanged (a copy), as in PyTorch."""

    fn = None

    def forward(ctx, x):
        if x.dtype.kind in "biu":
            return x.copy()
        return getattr(array_module(x), type(ctx).fn)(x)


Floor = type("Floor", (_Rounding,), {"fn": "floor"})
Ceil = type("Ceil", (_Rounding,), {"fn": "ceil"})
Trunc = type("Trunc", (_Rounding,), {"fn": "trunc"})


class Round(_ZeroGrad):
    """Round half to even, at ``decimals`` decimal places (negative: to tens, hundreds...)."""

    def forward(ctx, x, *, decimals=0):
        xp = array_module(x)
        if x.dtype.kind in "biu":
            if decimals:
                raise RuntimeError(f"round: decimals is only supported for floating inputs, got {x.dtype}")
            return x.copy()
        if decimals == 0:
            return xp.rint(x)
        # PyTorch's formula, in the input's precision: nearbyint(x * 10^d) / 10^d
        ten_pow = xp.asarray(10.0 ** builtins.abs(decimals), dtype=x.dtype)
        return xp.rint(x * ten_pow) / ten_pow if decimals > 0 else xp.rint(x / ten_pow) * ten_pow


def floor(input: Tensor) -> Tensor:
    """Elementwise largest integer <= ``input`` (gradient 0).

    Shape: the output has the shape of ``input``.
    """
    return Floor.apply(input)


def ceil(input: Tensor) -> Tensor:
    """Elementwise smallest integer >= ``input`` (gradient 0).

    Shape: the output has the shape of ``input``.
    """
    return Ceil.apply(input)


def trunc(input: Tensor) -> Tensor:
    """Elementwise rounding toward zero (gradient 0). Alias: ``fix``.

    Shape: the output has the shape of ``input``.
    """
    return Trunc.apply(input)


fix = trunc


def round(input: Tensor, *, decimals: int = 0) -> Tensor:  # noqa: A001 - PyTorch's name
    """Elementwise rounding to ``decimals`` decimal places, halves to even (gradient 0).

    Shape: the output has the shape of ``input``.
    """
    return Round.apply(input, decimals=int(decimals))


class Frac(Function):
    """``x - trunc(x)``: the gradient is 1 (trunc's is zero)."""

    saved_inputs = ()

    def forward(ctx, x):
        if x.dtype.kind not in "f":
            raise RuntimeError(f"frac: expected a floating tensor, got {x.dtype}")
        return x - array_module(x).trunc(x)

    def backward(ctx, grad):
        return grad


def frac(input: Tensor) -> Tensor:
    """Elementwise fractional part, ``input - trunc(input)`` (keeps the sign).

    Shape: the output has the shape of ``input``.
    """
    return Frac.apply(input)


class Signbit(Function):
    differentiable = False

    def forward(ctx, x):
        return array_module(x).signbit(x)


def signbit(input: Tensor) -> Tensor:
    """True where the sign bit is set (negative numbers and -0.0)."""
    return Signbit.apply(input)


def positive(input: Tensor) -> Tensor:
    """``input`` itself, as PyTorch's ``positive`` (bool tensors are rejected)."""
    if input.dtype.kind == "b":
        raise RuntimeError("positive: not supported for bool tensors")
    return input


# -- the two hot activations that are also torch.* functions ------------------------------------
def sigmoid_array(x):
    """1 / (1 + exp(-x)) without overflow for any x: exp(-|x|) is never above 1."""
    x = as_float(x)
    xp = array_module(x)
    e = xp.abs(x)
    xp.negative(e, out=e)
    xp.exp(e, out=e)
    out = xp.where(x >= 0, xp.asarray(1.0, dtype=x.dtype), e)
    e += 1.0
    out /= e
    return out


class Sigmoid(Function):
    saved_inputs = ()

    def forward(ctx, x):
        return sigmoid_array(x)

    def backward(ctx, grad):
        out = ctx.output
        return grad * out * (1.0 - out)

    def grad_arrays(ctx, grad):
        out = ctx.output._data
        return grad * out * (1.0 - out)


def sigmoid(input: Tensor) -> Tensor:
    """Elementwise logistic sigmoid ``1 / (1 + exp(-input))``, in (0, 1).

    Shape: the output has the shape of ``input``.
    """
    return Sigmoid.apply(input)


class Relu(Function):
    """``max(x, 0)``; relu'(0) = 0, as in PyTorch (read from the output: out > 0 exactly when x > 0)."""

    saved_inputs = ()

    def forward(ctx, x):
        # zeros first: NumPy then keeps x's -0.0 as PyTorch does; an array, not the scalar 0 (see zeros_like_array)
        return array_module(x).maximum(zeros_like_array(x), x)

    def backward(ctx, grad):
        return grad * _mask(ctx.output._data > 0, grad)

    def grad_arrays(ctx, grad):
        return grad * (ctx.output._data > 0)


def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """Elementwise ``max(0, input)`` (gradient 0 at 0); ``inplace=True`` writes into ``input``.

    Shape: the output has the shape of ``input``.
    """
    if inplace:  # written into input's storage, recorded like any in-place op
        return apply_inplace(input, "relu_", relu)
    return Relu.apply(input)


# -- casts, copies, selection -----------------------------------------------------------------
class Cast(Function):
    saved_inputs = ()

    def forward(ctx, x, *, dtype):
        ctx.in_dtype = x.dtype
        return x.astype(dtype)

    def backward(ctx, grad):
        return grad.to(ctx.in_dtype)


def cast(input: Tensor, dtype) -> Tensor:
    return Cast.apply(input, dtype=dtype)


class ToDevice(Function):
    saved_inputs = ()

    def forward(ctx, x, *, device):
        ctx.in_device = backend.device_of(x)
        return backend.to_device(x, device)

    def backward(ctx, grad):
        return grad.to(ctx.in_device)


def to_device(input: Tensor, device) -> Tensor:
    return ToDevice.apply(input, device=device)


class Clone(Function):
    saved_inputs = ()

    def forward(ctx, x):
        return x.copy()

    def backward(ctx, grad):
        return grad


def clone(input: Tensor, *, memory_format=None) -> Tensor:
    """A copy of ``input`` with its own memory; gradients flow back to ``input``.

    Shape: the output has the shape of ``input``.
    """
    return Clone.apply(input)


class Where(Function):
    saved_inputs = (0,)

    def forward(ctx, cond, a, b):
        a, b = promote(a, b)
        try:
            return array_module(cond).where(cond, a, b)
        except ValueError:
            shapes = ", ".join(str(tuple(getattr(v, "shape", ()))) for v in (cond, a, b))
            raise RuntimeError(f"where: condition, input and other of shapes {shapes} do not broadcast") from None

    def backward(ctx, grad):
        cond = ctx.inputs[0]
        c = Tensor._wrap(cond._data if isinstance(cond, Tensor) else cond)
        need_a, need_b = ctx.needs_input_grad[1:]
        zero = grad * 0.0 if (need_a or need_b) else None
        return (None,
                where(c, grad, zero) if need_a else None,
                where(c, zero, grad) if need_b else None)


def where(condition, input=None, other=None) -> Tensor:
    """Elements of ``input`` where ``condition`` holds, else of ``other`` (all broadcast).

    With only ``condition``, the indices of its nonzero elements (``nonzero(as_tuple=True)``).
    """
    if input is None and other is None:
        from shendu.ops.index import nonzero
        return nonzero(condition, as_tuple=True)
    return Where.apply(condition, input, other)
