"""Unary elementwise ops and activations, each forward beside its gradient.

Backward formulas are written with Tensor ops, so they are differentiable again under
``create_graph=True``; an op whose derivative is its own output uses ``ctx.output``.
"""
from __future__ import annotations

import math

import numpy as np

from shendu import backend
from shendu.autograd.function import Function
from shendu.backend import array_module
from shendu.tensor import Tensor

_scipy_erf = None  # loaded on first use: importing scipy.special costs ~0.4 s


def _exact_erf():
    """scipy's erf (exact to double precision) when SciPy is installed, else None."""
    global _scipy_erf
    if _scipy_erf is None:
        try:
            from scipy.special import erf
        except Exception:  # pragma: no cover - depends on the environment
            erf = False
        _scipy_erf = erf
    return _scipy_erf or None


def _erf_array(x):
    xp = array_module(x)
    exact = _exact_erf() if xp is np else None
    if exact is not None:
        return exact(x).astype(x.dtype, copy=False)
    # Numerical Recipes' erfc Chebyshev fit (fractional error < 1.2e-7 everywhere).
    z = xp.abs(x)
    t = 1.0 / (1.0 + 0.5 * z)
    poly = -z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (
        -0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (
            -0.82215223 + t * 0.17087277))))))))
    erfc = t * xp.exp(poly)
    return xp.where(x >= 0, 1.0 - erfc, erfc - 1.0).astype(x.dtype, copy=False)


class Neg(Function):
    raw = True

    def forward(ctx, x):
        return -x

    def backward(ctx, grad):
        return -grad


class Exp(Function):
    raw = True

    def forward(ctx, x):
        return array_module(x).exp(x)

    def backward(ctx, grad):
        return grad * ctx.output


class Log(Function):
    raw = True

    def forward(ctx, x):
        return array_module(x).log(x)

    def backward(ctx, grad):
        return grad / ctx.inputs[0]


class Log1p(Function):
    raw = True

    def forward(ctx, x):
        return array_module(x).log1p(x)

    def backward(ctx, grad):
        return grad / (ctx.inputs[0] + 1.0)


class Expm1(Function):
    raw = True

    def forward(ctx, x):
        return array_module(x).expm1(x)

    def backward(ctx, grad):
        return grad * (ctx.output + 1.0)


class Sqrt(Function):
    raw = True

    def forward(ctx, x):
        return array_module(x).sqrt(x)

    def backward(ctx, grad):
        return grad * 0.5 / ctx.output


class Rsqrt(Function):
    raw = True

    def forward(ctx, x):
        out = array_module(x).sqrt(x)
        return np.reciprocal(out, out=out) if array_module(x) is np else 1.0 / out

    def backward(ctx, grad):
        out = ctx.output
        return grad * (out * out * out) * -0.5


class Abs(Function):
    raw = True

    def forward(ctx, x):
        return array_module(x).abs(x)

    def backward(ctx, grad):
        x = ctx.inputs[0]
        return grad * Tensor._wrap(x._xp().sign(x._data))


class Sin(Function):
    raw = True

    def forward(ctx, x):
        return array_module(x).sin(x)

    def backward(ctx, grad):
        return grad * ctx.inputs[0].cos()


class Cos(Function):
    raw = True

    def forward(ctx, x):
        return array_module(x).cos(x)

    def backward(ctx, grad):
        return grad * -ctx.inputs[0].sin()


class Tanh(Function):
    raw = True

    def forward(ctx, x):
        return array_module(x).tanh(x)

    def backward(ctx, grad):
        out = ctx.output
        return grad * (1.0 - out * out)


def sigmoid_array(x):
    """1 / (1 + exp(-x)) without overflow for any x: exp(-|x|) is never above 1."""
    xp = array_module(x)
    e = xp.abs(x)
    xp.negative(e, out=e)
    xp.exp(e, out=e)
    out = xp.where(x >= 0, xp.asarray(1.0, dtype=x.dtype), e)
    e += 1.0
    out /= e
    return out


class Sigmoid(Function):
    raw = True

    def forward(ctx, x):
        return sigmoid_array(x)

    def backward(ctx, grad):
        out = ctx.output
        return grad * out * (1.0 - out)


class Erf(Function):
    raw = True

    def forward(ctx, x):
        return _erf_array(x)

    def backward(ctx, grad):
        x = ctx.inputs[0]
        return grad * (2.0 / math.sqrt(math.pi)) * (-(x * x)).exp()


class Relu(Function):
    raw = True

    def forward(ctx, x):
        return array_module(x).maximum(x, 0)

    def backward(ctx, grad):
        return grad * Tensor._wrap(ctx.inputs[0]._data > 0)


class LeakyRelu(Function):
    raw = True

    def forward(ctx, x, negative_slope):
        xp = array_module(x)
        return xp.where(x > 0, x, x * xp.asarray(negative_slope, dtype=x.dtype))

    def backward(ctx, grad):
        x, slope = ctx.inputs
        xp = x._xp()
        return grad * Tensor._wrap(xp.where(x._data > 0, 1.0, slope).astype(x.dtype)), None


class Elu(Function):
    raw = True

    def forward(ctx, x, alpha):
        xp = array_module(x)
        return xp.where(x > 0, x, alpha * xp.expm1(xp.minimum(x, 0)))

    def backward(ctx, grad):
        x, alpha = ctx.inputs
        positive = Tensor._wrap(x._data > 0)
        return grad * where(positive, 1.0, ctx.output + alpha), None


class Softplus(Function):
    raw = True

    def forward(ctx, x, beta, threshold):
        xp = array_module(x)
        bx = x * beta if beta != 1 else x
        # log(1 + e^z) = max(z, 0) + log1p(e^-|z|): no overflow for large |z|
        soft = (xp.maximum(bx, 0) + xp.log1p(xp.exp(-xp.abs(bx))))
        if beta != 1:
            soft /= beta
        return xp.where(bx > threshold, x, soft)

    def backward(ctx, grad):
        x, beta, threshold = ctx.inputs
        bx = x * beta if beta != 1 else x
        linear = Tensor._wrap(bx._data > threshold)
        return grad * where(linear, 1.0, sigmoid(bx)), None, None


class Clamp(Function):
    raw = True

    def forward(ctx, x, lo, hi):
        return array_module(x).clip(x, lo, hi)

    def backward(ctx, grad):
        x, lo, hi = ctx.inputs
        xd = x._data
        inside = x._xp().ones(xd.shape, dtype=bool)
        if lo is not None:
            inside &= xd >= (lo._data if isinstance(lo, Tensor) else lo)
        if hi is not None:
            inside &= xd <= (hi._data if isinstance(hi, Tensor) else hi)
        return grad * Tensor._wrap(inside), None, None


class Cast(Function):
    raw = True

    def forward(ctx, x, dtype):
        return x.astype(dtype)

    def backward(ctx, grad):
        return grad.to(ctx.inputs[0].dtype), None


class ToDevice(Function):
    raw = True

    def forward(ctx, x, device):
        return backend.to_device(x, device)

    def backward(ctx, grad):
        return grad.to(ctx.inputs[0].device), None


class Clone(Function):
    raw = True

    def forward(ctx, x):
        return x.copy()

    def backward(ctx, grad):
        return grad


class _ZeroGrad(Function):
    """Piecewise-constant ops: defined gradient zero, as in PyTorch."""

    raw = True
    fn = None

    def forward(ctx, x):
        return getattr(array_module(x), type(ctx).fn)(x)

    def backward(ctx, grad):
        return grad * 0.0


Sign = type("Sign", (_ZeroGrad,), {"fn": "sign"})
Floor = type("Floor", (_ZeroGrad,), {"fn": "floor"})
Ceil = type("Ceil", (_ZeroGrad,), {"fn": "ceil"})
Round = type("Round", (_ZeroGrad,), {"fn": "round"})
Trunc = type("Trunc", (_ZeroGrad,), {"fn": "trunc"})


class Where(Function):
    raw = True

    def forward(ctx, cond, a, b):
        from shendu.ops.binary import coerce
        a, b = coerce(a, b)
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


# -- the functions ------------------------------------------------------------------------------
def neg(input: Tensor) -> Tensor:
    return Neg.apply(input)


def exp(input: Tensor) -> Tensor:
    return Exp.apply(input)


def log(input: Tensor) -> Tensor:
    return Log.apply(input)


def log1p(input: Tensor) -> Tensor:
    return Log1p.apply(input)


def expm1(input: Tensor) -> Tensor:
    return Expm1.apply(input)


def sqrt(input: Tensor) -> Tensor:
    return Sqrt.apply(input)


def rsqrt(input: Tensor) -> Tensor:
    return Rsqrt.apply(input)


def abs(input: Tensor) -> Tensor:  # noqa: A001 - PyTorch's name
    return Abs.apply(input)


def sign(input: Tensor) -> Tensor:
    return Sign.apply(input)


def floor(input: Tensor) -> Tensor:
    return Floor.apply(input)


def ceil(input: Tensor) -> Tensor:
    return Ceil.apply(input)


def round(input: Tensor) -> Tensor:  # noqa: A001 - PyTorch's name
    return Round.apply(input)


def trunc(input: Tensor) -> Tensor:
    return Trunc.apply(input)


def sin(input: Tensor) -> Tensor:
    return Sin.apply(input)


def cos(input: Tensor) -> Tensor:
    return Cos.apply(input)


def tanh(input: Tensor) -> Tensor:
    return Tanh.apply(input)


def sigmoid(input: Tensor) -> Tensor:
    return Sigmoid.apply(input)


def erf(input: Tensor) -> Tensor:
    return Erf.apply(input)


def relu(input: Tensor, inplace: bool = False) -> Tensor:
    return Relu.apply(input)


def relu6(input: Tensor, inplace: bool = False) -> Tensor:
    return clamp(input, 0.0, 6.0)


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    return LeakyRelu.apply(input, negative_slope)


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    return Elu.apply(input, alpha)


def selu(input: Tensor, inplace: bool = False) -> Tensor:
    return 1.0507009873554804934193349852946 * elu(input, 1.6732632423543772848170429916717)


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """GELU: x Φ(x) exactly (``approximate='none'``) or with the tanh approximation ('tanh')."""
    if approximate == "none":
        return input * (erf(input * (1.0 / math.sqrt(2.0))) + 1.0) * 0.5
    if approximate == "tanh":
        inner = (input + input * input * input * 0.044715) * math.sqrt(2.0 / math.pi)
        return input * (tanh(inner) + 1.0) * 0.5
    raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    return input * sigmoid(input)


def mish(input: Tensor, inplace: bool = False) -> Tensor:
    return input * tanh(softplus(input))


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    return Softplus.apply(input, beta, threshold)


def logsigmoid(input: Tensor) -> Tensor:
    return -softplus(-input)


def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:
    return clamp(input, min_val, max_val)


def clamp(input: Tensor, min=None, max=None) -> Tensor:  # noqa: A002 - PyTorch's names
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    return Clamp.apply(input, min, max)


clip = clamp


def cast(input: Tensor, dtype) -> Tensor:
    return Cast.apply(input, dtype)


def to_device(input: Tensor, device) -> Tensor:
    return ToDevice.apply(input, device)


def clone(input: Tensor) -> Tensor:
    return Clone.apply(input)


def where(condition, input=None, other=None) -> Tensor:
    """Elements of ``input`` where ``condition`` holds, else of ``other`` (both broadcast)."""
    if input is None and other is None:
        from shendu.ops.index import nonzero
        return nonzero(condition, as_tuple=True)
    if not isinstance(input, Tensor) and not isinstance(other, Tensor):
        cond = condition._data if isinstance(condition, Tensor) else condition
        from shendu.ops.binary import coerce
        a, b = coerce(input, other)
        return Tensor._wrap(array_module(cond).where(cond, a, b))
    return Where.apply(condition, input, other)


def isnan(input: Tensor) -> Tensor:
    return Tensor._wrap(input._xp().isnan(input._data))


def isinf(input: Tensor) -> Tensor:
    return Tensor._wrap(input._xp().isinf(input._data))


def isfinite(input: Tensor) -> Tensor:
    return Tensor._wrap(input._xp().isfinite(input._data))


def logical_not(input: Tensor) -> Tensor:
    return Tensor._wrap(input._xp().logical_not(input._data))
