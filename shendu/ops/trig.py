"""Trigonometric and hyperbolic functions, their inverses, atan2, hypot, sinc and angle units.

Each forward beside its gradient; backward formulas are Tensor ops (differentiable again). Integer
inputs compute in the default float dtype, as in PyTorch. The ``arc*`` names are PyTorch's aliases.
"""
from __future__ import annotations

import math

from shendu import dtypes
from shendu.autograd.function import Function
from shendu.backend import array_module
from shendu.dtypes import promote
from shendu.ops.binary import _broadcast_error, _xp_of
from shendu.ops.elementwise import as_float, where
from shendu.tensor import Tensor


class Sin(Function):
    def forward(ctx, x):
        return array_module(x).sin(as_float(x))

    def backward(ctx, grad):
        return grad * ctx.inputs[0].cos()


class Cos(Function):
    def forward(ctx, x):
        return array_module(x).cos(as_float(x))

    def backward(ctx, grad):
        return grad * -ctx.inputs[0].sin()


class Tan(Function):
    saved_inputs = ()

    def forward(ctx, x):
        return array_module(x).tan(as_float(x))

    def backward(ctx, grad):
        out = ctx.output
        return grad * (out * out + 1.0)


class Asin(Function):
    def forward(ctx, x):
        return array_module(x).arcsin(as_float(x))

    def backward(ctx, grad):
        x = ctx.inputs[0]
        return grad * (1.0 - x * x).rsqrt()


class Acos(Function):
    def forward(ctx, x):
        return array_module(x).arccos(as_float(x))

    def backward(ctx, grad):
        x = ctx.inputs[0]
        return -grad * (1.0 - x * x).rsqrt()


class Atan(Function):
    def forward(ctx, x):
        return array_module(x).arctan(as_float(x))

    def backward(ctx, grad):
        x = ctx.inputs[0]
        return grad / (x * x + 1.0)


class Sinh(Function):
    def forward(ctx, x):
        return array_module(x).sinh(as_float(x))

    def backward(ctx, grad):
        return grad * ctx.inputs[0].cosh()


class Cosh(Function):
    def forward(ctx, x):
        return array_module(x).cosh(as_float(x))

    def backward(ctx, grad):
        return grad * ctx.inputs[0].sinh()


class Tanh(Function):
    saved_inputs = ()

    def forward(ctx, x):
        return array_module(x).tanh(as_float(x))

    def backward(ctx, grad):
        out = ctx.output
        return grad * (1.0 - out * out)

    def grad_arrays(ctx, grad):
        out = ctx.output._data
        return grad * (1.0 - out * out)


class Asinh(Function):
    def forward(ctx, x):
        return array_module(x).arcsinh(as_float(x))

    def backward(ctx, grad):
        x = ctx.inputs[0]
        return grad * (x * x + 1.0).rsqrt()


class Acosh(Function):
    def forward(ctx, x):
        return array_module(x).arccosh(as_float(x))

    def backward(ctx, grad):
        x = ctx.inputs[0]
        return grad * (x * x - 1.0).rsqrt()


class Atanh(Function):
    def forward(ctx, x):
        return array_module(x).arctanh(as_float(x))

    def backward(ctx, grad):
        x = ctx.inputs[0]
        return grad / (1.0 - x * x)


def sin(input: Tensor) -> Tensor:
    """Elementwise sine of ``input`` (radians).

    Shape: the output has the shape of ``input``.
    """
    return Sin.apply(input)


def cos(input: Tensor) -> Tensor:
    """Elementwise cosine of ``input`` (radians).

    Shape: the output has the shape of ``input``.
    """
    return Cos.apply(input)


def tan(input: Tensor) -> Tensor:
    """Elementwise tangent of ``input`` (radians).

    Shape: the output has the shape of ``input``.
    """
    return Tan.apply(input)


def asin(input: Tensor) -> Tensor:
    """Elementwise arcsine, in radians in [-π/2, π/2]; NaN outside [-1, 1]. Alias: ``arcsin``.

    Shape: the output has the shape of ``input``.
    """
    return Asin.apply(input)


def acos(input: Tensor) -> Tensor:
    """Elementwise arccosine, in radians in [0, π]; NaN outside [-1, 1]. Alias: ``arccos``.

    Shape: the output has the shape of ``input``.
    """
    return Acos.apply(input)


def atan(input: Tensor) -> Tensor:
    """Elementwise arctangent, in radians in (-π/2, π/2). Alias: ``arctan``.

    Shape: the output has the shape of ``input``.
    """
    return Atan.apply(input)


def sinh(input: Tensor) -> Tensor:
    """Elementwise hyperbolic sine, ``(e^x - e^-x) / 2``.

    Shape: the output has the shape of ``input``.
    """
    return Sinh.apply(input)


def cosh(input: Tensor) -> Tensor:
    """Elementwise hyperbolic cosine, ``(e^x + e^-x) / 2``.

    Shape: the output has the shape of ``input``.
    """
    return Cosh.apply(input)


def tanh(input: Tensor) -> Tensor:
    """Elementwise hyperbolic tangent, ``(e^x - e^-x) / (e^x + e^-x)``, in (-1, 1).

    Shape: the output has the shape of ``input``.
    """
    return Tanh.apply(input)


def asinh(input: Tensor) -> Tensor:
    """Elementwise inverse hyperbolic sine. Alias: ``arcsinh``.

    Shape: the output has the shape of ``input``.
    """
    return Asinh.apply(input)


def acosh(input: Tensor) -> Tensor:
    """Elementwise inverse hyperbolic cosine; NaN below 1. Alias: ``arccosh``.

    Shape: the output has the shape of ``input``.
    """
    return Acosh.apply(input)


def atanh(input: Tensor) -> Tensor:
    """Elementwise inverse hyperbolic tangent; ±inf at ±1, NaN outside [-1, 1]. Alias: ``arctanh``.

    Shape: the output has the shape of ``input``.
    """
    return Atanh.apply(input)


arcsin, arccos, arctan, arcsinh, arccosh, arctanh = asin, acos, atan, asinh, acosh, atanh


class Atan2(Function):
    """The angle of the point (b, a), in (-pi, pi]; d/da = b / r², d/db = -a / r² (0 at the origin,
    as in PyTorch)."""

    def forward(ctx, a, b):
        a, b = promote(a, b, dtype=dtypes.float_type(dtypes.result_type(a, b)))
        try:
            return _xp_of(a, b).arctan2(a, b)
        except ValueError:
            raise _broadcast_error("atan2", a, b) from None

    def backward(ctx, grad):
        a, b = ctx.inputs
        need_a, need_b = ctx.needs_input_grad
        r2 = a * a + b * b
        recip = where(r2 == 0, 0.0, 1.0 / where(r2 == 0, 1.0, r2))
        return (grad * b * recip if need_a else None), (-grad * a * recip if need_b else None)


def atan2(input, other) -> Tensor:
    """Elementwise angle of the point ``(other, input)``: ``atan(input / other)`` in the right quadrant,
    in radians in [-π, π]. Alias: ``arctan2``.

    Shape: ``input`` and ``other`` broadcast; the output has their broadcast shape.
    """
    return Atan2.apply(input, other)


arctan2 = atan2


class Hypot(Function):
    """``sqrt(a² + b²)`` without overflow; d/da = a / out (NaN at the origin, as in PyTorch)."""

    def forward(ctx, a, b):
        a, b = promote(a, b, dtype=dtypes.float_type(dtypes.result_type(a, b)))
        try:
            return _xp_of(a, b).hypot(a, b)
        except ValueError:
            raise _broadcast_error("hypot", a, b) from None

    def backward(ctx, grad):
        a, b = ctx.inputs
        need_a, need_b = ctx.needs_input_grad
        scale = grad / ctx.output
        return (scale * a if need_a else None), (scale * b if need_b else None)


def hypot(input, other) -> Tensor:
    """Elementwise ``sqrt(input**2 + other**2)``, without overflow for large values.

    Shape: ``input`` and ``other`` broadcast; the output has their broadcast shape.
    """
    return Hypot.apply(input, other)


class Sinc(Function):
    """``sin(pi x) / (pi x)``, 1 at 0; the gradient (cos(pi x) - sinc(x)) / x is 0 at 0."""

    def forward(ctx, x):
        return array_module(x).sinc(as_float(x))

    def backward(ctx, grad):
        x = ctx.inputs[0]
        zero = Tensor._wrap(x._data == 0)
        safe_x = where(zero, 1.0, x)  # keeps 0/0 out of the graph, also for the second derivative
        slope = ((x * math.pi).cos() - ctx.output) / safe_x
        return grad * where(zero, 0.0, slope)


def sinc(input: Tensor) -> Tensor:
    """The normalized sinc function ``sin(pi x) / (pi x)``."""
    return Sinc.apply(input)


def deg2rad(input: Tensor) -> Tensor:
    """Elementwise degrees to radians, ``input * π / 180``.

    Shape: the output has the shape of ``input``.
    """
    return input * (math.pi / 180.0)


def rad2deg(input: Tensor) -> Tensor:
    """Elementwise radians to degrees, ``input * 180 / π``.

    Shape: the output has the shape of ``input``.
    """
    return input * (180.0 / math.pi)

