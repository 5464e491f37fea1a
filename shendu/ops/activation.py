"""Activation functions (``torch.nn.functional``'s), each forward beside its gradient.

The piecewise ones take PyTorch's side at every kink, checked against PyTorch: leaky_relu'(0) is
the slope, elu/selu/celu use their negative branch at 0, hardtanh/relu6, threshold, hardshrink,
softshrink and hardsigmoid pass no gradient exactly at their bounds, hardswish's gradient is 0 at
-3 and 1 at 3. GELU is one fused node (the transformer MLP's activation); the other smooth ones (silu, mish,
softsign) are compositions of other ops.
``inplace=True`` writes the result into the input's storage (``shendu.autograd.inplace``), as PyTorch does.
"""
from __future__ import annotations

import math

import numpy as np

from shendu import threads
from shendu.amp import autocast_mode as _amp
from shendu.autograd.function import Function
from shendu.autograd.inplace import apply_inplace
from shendu.backend import array_module
from shendu.ops.elementwise import _mask, as_float, sigmoid, where
from shendu.ops.fused import composite_backward
from shendu.ops.special import erf, erf_array
from shendu.ops.trig import tanh
from shendu.tensor import Tensor

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


class LeakyRelu(Function):
    """``x`` for x > 0, else ``slope * x``; the gradient at 0 is the slope (PyTorch's)."""

    def forward(ctx, x, *, negative_slope):
        ctx.slope = negative_slope
        xp = array_module(x)
        return xp.where(x > 0, x, x * xp.asarray(negative_slope, dtype=x.dtype))

    def backward(ctx, grad):
        x = ctx.inputs[0]._data
        return grad * _mask(grad._xp().where(x > 0, 1.0, ctx.slope), grad)


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """Leaky ReLU: ``x`` for x >= 0, ``negative_slope * x`` otherwise.

    Shape: the output has the shape of ``input``. ``inplace=True`` writes the result into ``input``.
    """
    if inplace:  # written into input's storage, recorded like any in-place op
        return apply_inplace(input, "leaky_relu_", leaky_relu, negative_slope=negative_slope)
    return LeakyRelu.apply(input, negative_slope=negative_slope)


class Elu(Function):
    """PyTorch's one kernel for ELU, SELU and CELU: ``scale * x`` for x > 0, else
    ``scale * alpha * (exp(input_scale * x) - 1)``; x = 0 takes the negative branch's slope."""

    def forward(ctx, x, *, alpha, scale=1.0, input_scale=1.0):
        ctx.alpha, ctx.scale, ctx.input_scale = alpha, scale, input_scale
        xp = array_module(x)
        x = as_float(x)
        neg = xp.expm1(xp.minimum(x, 0) * input_scale) * (scale * alpha)
        return xp.where(x > 0, x * scale if scale != 1.0 else x, neg.astype(x.dtype, copy=False))

    def backward(ctx, grad):
        # on the negative branch d/dx = input_scale * (out + scale * alpha)
        positive = Tensor._wrap(ctx.inputs[0]._data > 0)
        negative_slope = (ctx.output + ctx.scale * ctx.alpha) * ctx.input_scale
        return grad * where(positive, ctx.scale, negative_slope)


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """ELU: ``x`` for x > 0, ``alpha * (exp(x) - 1)`` otherwise.

    Shape: the output has the shape of ``input``. ``inplace=True`` writes the result into ``input``.
    """
    if inplace:  # written into input's storage, recorded like any in-place op
        return apply_inplace(input, "elu_", elu, alpha=alpha)
    return Elu.apply(input, alpha=alpha)


def selu(input: Tensor, inplace: bool = False) -> Tensor:
    """SELU: ``scale * (max(0, x) + min(0, alpha * (exp(x) - 1)))`` with alpha ≈ 1.6733, scale ≈ 1.0507
    (self-normalising for standard-normal inputs).

    Shape: the output has the shape of ``input``. ``inplace=True`` writes the result into ``input``.
    """
    if inplace:  # written into input's storage, recorded like any in-place op
        return apply_inplace(input, "selu_", selu)
    return Elu.apply(input, alpha=_SELU_ALPHA, scale=_SELU_SCALE)


def celu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """CELU: ``max(0, x) + min(0, alpha * (exp(x / alpha) - 1))``.

    Shape: the output has the shape of ``input``. ``inplace=True`` writes the result into ``input``.
    """
    if inplace:  # written into input's storage, recorded like any in-place op
        return apply_inplace(input, "celu_", celu, alpha=alpha)
    if alpha == 0:
        raise ValueError("celu: alpha must not be 0 (it divides the input)")
    return Elu.apply(input, alpha=alpha, input_scale=1.0 / alpha)


class Softplus(Function):
    """``log(1 + e^(beta x)) / beta``, linear where ``beta x > threshold``."""

    def forward(ctx, x, *, beta, threshold):
        ctx.beta, ctx.threshold = beta, threshold
        xp = array_module(x)
        x = as_float(x)
        bx = x * beta if beta != 1 else x
        # log(1 + e^z) = max(z, 0) + log1p(e^-|z|): no overflow for large |z|
        soft = xp.maximum(bx, 0) + xp.log1p(xp.exp(-xp.abs(bx)))
        if beta != 1:
            soft /= beta
        return xp.where(bx > threshold, x, soft)

    def backward(ctx, grad):
        x = ctx.inputs[0]
        bx = x * ctx.beta if ctx.beta != 1 else x
        linear = Tensor._wrap(bx._data > ctx.threshold)
        return grad * where(linear, 1.0, sigmoid(bx))


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """Softplus: ``log(1 + exp(beta * x)) / beta``; linear (``x``) where ``beta * x > threshold``, for stability.

    Shape: the output has the shape of ``input``.
    """
    return Softplus.apply(input, beta=beta, threshold=threshold)


class _Masked(Function):
    """An activation whose gradient is ``grad * mask(x)`` (0 or a constant, piecewise)."""

    def backward(ctx, grad):
        return grad * _mask(ctx.mask_of(ctx.inputs[0]._data), grad)


class Hardtanh(_Masked):
    """``x`` clamped to [min_val, max_val]; no gradient at the bounds (unlike clamp, as in PyTorch)."""

    def forward(ctx, x, *, min_val, max_val):
        ctx.lo, ctx.hi = min_val, max_val
        return array_module(x).clip(x, min_val, max_val)

    def mask_of(ctx, x):
        return (x > ctx.lo) & (x < ctx.hi)


def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> Tensor:
    """``clamp(x, min_val, max_val)``, a piecewise-linear tanh.

    Shape: the output has the shape of ``input``. ``inplace=True`` writes the result into ``input``.
    """
    if inplace:  # written into input's storage, recorded like any in-place op
        return apply_inplace(input, "hardtanh_", hardtanh, min_val=min_val, max_val=max_val)
    if max_val < min_val:
        raise ValueError(f"hardtanh: max_val ({max_val}) must not be less than min_val ({min_val})")
    return Hardtanh.apply(input, min_val=min_val, max_val=max_val)


def relu6(input: Tensor, inplace: bool = False) -> Tensor:
    """``min(max(0, x), 6)``: hardtanh(0, 6), so no gradient at 0 or 6."""
    if inplace:  # written into input's storage, recorded like any in-place op
        return apply_inplace(input, "relu6_", relu6)
    return Hardtanh.apply(input, min_val=0.0, max_val=6.0)


class Threshold(_Masked):
    """``x`` where x > threshold, else ``value``."""

    def forward(ctx, x, *, threshold, value):
        ctx.threshold = threshold
        xp = array_module(x)
        return xp.where(x > threshold, x, xp.asarray(value, dtype=x.dtype))

    def mask_of(ctx, x):
        return x > ctx.threshold


def threshold(input: Tensor, threshold: float, value: float, inplace: bool = False) -> Tensor:
    """``x`` where ``x > threshold``, ``value`` elsewhere.

    Shape: the output has the shape of ``input``. ``inplace=True`` writes the result into ``input``.
    """
    if inplace:  # written into input's storage, recorded like any in-place op
        return apply_inplace(input, "threshold_", threshold, threshold=threshold, value=value)
    return Threshold.apply(input, threshold=threshold, value=value)


class Hardshrink(_Masked):
    """``x`` where |x| > lambd, else 0."""

    def forward(ctx, x, *, lambd):
        ctx.lambd = lambd
        xp = array_module(x)
        return xp.where(xp.abs(x) > lambd, x, xp.asarray(0, dtype=x.dtype))

    def mask_of(ctx, x):
        return array_module(x).abs(x) > ctx.lambd


def hardshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    """Hard shrinkage: ``x`` where ``|x| > lambd``, 0 elsewhere.

    Shape: the output has the shape of ``input``.
    """
    return Hardshrink.apply(input, lambd=lambd)


class Softshrink(Hardshrink):
    """``x - lambd`` above lambd, ``x + lambd`` below -lambd, else 0."""

    def forward(ctx, x, *, lambd):
        ctx.lambd = lambd
        return x - array_module(x).clip(x, -lambd, lambd)


def softshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    """Soft shrinkage: ``x - lambd`` above ``lambd``, ``x + lambd`` below ``-lambd``, 0 between.

    Shape: the output has the shape of ``input``.
    """
    if lambd < 0:
        raise ValueError(f"softshrink: lambd must be non-negative, got {lambd}")
    return Softshrink.apply(input, lambd=lambd)


class Hardsigmoid(_Masked):
    """``relu6(x + 3) / 6``; the gradient 1/6 on -3 < x < 3 only."""

    def forward(ctx, x):
        return array_module(x).clip(as_float(x) / 6.0 + 0.5, 0.0, 1.0)

    def mask_of(ctx, x):
        return ((x > -3.0) & (x < 3.0)) * (1.0 / 6.0)


def hardsigmoid(input: Tensor, inplace: bool = False) -> Tensor:
    """Hard sigmoid: ``clamp(x / 6 + 1/2, 0, 1)``, a piecewise-linear sigmoid.

    Shape: the output has the shape of ``input``. ``inplace=True`` writes the result into ``input``.
    """
    if inplace:  # written into input's storage, recorded like any in-place op
        return apply_inplace(input, "hardsigmoid_", hardsigmoid)
    return Hardsigmoid.apply(input)


class Hardswish(Function):
    """``x * relu6(x + 3) / 6``; the gradient is 0 up to -3, x/3 + 1/2 on (-3, 3), 1 from 3 on."""

    def forward(ctx, x):
        x = as_float(x)
        return x * array_module(x).clip(x + 3.0, 0.0, 6.0) * (1.0 / 6.0)

    def backward(ctx, grad):
        x = ctx.inputs[0]
        xd = x._data
        middle = (xd > -3.0) & (xd < 3.0)
        # slope = middle * (x / 3 + 1/2) + (x >= 3), written on the Tensor x for create_graph
        return grad * (x * _mask(middle * (1.0 / 3.0), grad) + _mask(middle * 0.5 + (xd >= 3.0), grad))


def hardswish(input: Tensor, inplace: bool = False) -> Tensor:
    """Hard swish: ``x * hardsigmoid(x)`` (MobileNetV3's activation).

    Shape: the output has the shape of ``input``. ``inplace=True`` writes the result into ``input``.
    """
    if inplace:  # written into input's storage, recorded like any in-place op
        return apply_inplace(input, "hardswish_", hardswish)
    return Hardswish.apply(input)


def prelu(input: Tensor, weight: Tensor) -> Tensor:
    """``x`` for x > 0, else ``weight * x``; ``weight`` has 1 element or one per channel (dim 1).
    At 0 the input's gradient is the slope and the slope's is 0, as in PyTorch."""
    if _amp.active:
        input, weight = _amp.cast("prelu", input, weight)
    if weight.ndim != 1 and weight.numel() != 1:
        raise RuntimeError(f"prelu: weight must be 1-D, got shape {tuple(weight.shape)}")
    n = weight.numel()
    if n > 1:
        if input.ndim < 2 or input.shape[1] != n:
            raise RuntimeError(f"prelu: a weight of {n} slopes needs {n} channels at dim 1, "
                               f"got input of shape {tuple(input.shape)}")
        weight = weight.reshape((n,) + (1,) * (input.ndim - 2))  # (C, 1, ..., 1)
    return where(input > 0, input, weight * input)


def rrelu(input: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False,
          inplace: bool = False) -> Tensor:
    """Randomized leaky ReLU; in evaluation (``training=False``) the slope is (lower + upper) / 2."""
    if not training:
        return leaky_relu(input, (lower + upper) / 2.0)
    from shendu.random import _generator
    slopes = _generator(None).uniform(lower, upper, input.shape).astype(input.dtype)
    return where(input >= 0, input, input * Tensor._wrap(slopes))


_SQRT_HALF, _SQRT_2_OVER_PI, _INV_SQRT_2PI = math.sqrt(0.5), math.sqrt(2.0 / math.pi), 1.0 / math.sqrt(2.0 * math.pi)
_GELU_CUBIC = 0.044715


_PARALLEL_ELEMENTS = 1 << 17  # arrays at least this large run their erf/tanh in pieces on shendu's pool


def _gelu_cdf(x, approximate: str):
    """Φ(x) on a raw array: (1 + erf(x/√2))/2, or (1 + tanh(√(2/π)(x + 0.044715 x³)))/2.

    erf is the costly part (SciPy's runs ~20 ns an element, releasing the GIL): a large array is cut
    into contiguous pieces computed on the pool's threads.
    """
    xp = array_module(x)
    if approximate == "none":
        def piece(a):
            return erf_array(a * _SQRT_HALF)
    else:
        def piece(a):
            return xp.tanh((a + _GELU_CUBIC * (a * a * a)) * _SQRT_2_OVER_PI)
    if xp is not np or x.size < _PARALLEL_ELEMENTS or not x.flags.c_contiguous:
        phi = piece(x)
    else:
        flat, phi = x.reshape(-1), np.empty_like(x)
        out = phi.reshape(-1)

        def block(start: int, stop: int) -> None:
            out[start:stop] = piece(flat[start:stop])
        threads.parallel_for(block, flat.size, min_chunk=_PARALLEL_ELEMENTS // 2)
    phi += 1.0
    phi *= 0.5
    return phi


def _gelu_slope(x, phi, approximate: str):
    """``Φ(x) + x Φ'(x)`` from x and Φ: Φ' = e^{-x²/2}/√(2π) exactly; for the tanh form, with
    tanh u = 2Φ - 1, Φ' = (1 - tanh²u)/2 · √(2/π)(1 + 3·0.044715 x²)."""
    xp = array_module(x)
    if approximate == "none":
        slope = xp.exp(x * x * -0.5)
        slope *= x * _INV_SQRT_2PI
    else:
        t = 2.0 * phi - 1.0
        slope = (1.0 - t * t) * (x * (0.5 * _SQRT_2_OVER_PI)) * (1.0 + (3.0 * _GELU_CUBIC) * (x * x))
    slope += phi
    return slope


class Gelu(Function):
    """``x Φ(x)`` in one node (a transformer MLP's hot path); ``d/dx = Φ(x) + x Φ'(x)``.

    Forward keeps Φ (one array the size of x) so the first-order backward needs no second erf; the
    Tensor ``backward`` (for ``create_graph``) differentiates the composite definition instead, the
    same one the tests compare against.
    """

    def forward(ctx, x, *, approximate):
        ctx.approximate = approximate
        x = as_float(x)
        ctx.phi = _gelu_cdf(x, approximate)
        return x * ctx.phi

    def grad_arrays(ctx, grad):
        slope = _gelu_slope(ctx.inputs[0]._data, ctx.phi, ctx.approximate)
        slope *= grad
        return (slope,)

    def backward(ctx, grad):
        return composite_backward(ctx, lambda x: _gelu_composite(x, ctx.approximate), (grad,))


def _gelu_composite(input: Tensor, approximate: str) -> Tensor:
    if approximate == "none":
        return input * (erf(input * _SQRT_HALF) + 1.0) * 0.5
    inner = (input + input * input * input * _GELU_CUBIC) * _SQRT_2_OVER_PI
    return input * (tanh(inner) + 1.0) * 0.5


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """GELU: x Φ(x) exactly (``approximate='none'``) or with the tanh approximation ('tanh').

    Shape: the output has the shape of ``input``.
    """
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return Gelu.apply(input, approximate=approximate)


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    """SiLU (swish): ``x * sigmoid(x)``.

    Shape: the output has the shape of ``input``. ``inplace=True`` writes the result into ``input``.
    """
    if inplace:  # written into input's storage, recorded like any in-place op
        return apply_inplace(input, "silu_", silu)
    return input * sigmoid(input)


def mish(input: Tensor, inplace: bool = False) -> Tensor:
    """Mish: ``x * tanh(softplus(x))``.

    Shape: the output has the shape of ``input``. ``inplace=True`` writes the result into ``input``.
    """
    if inplace:  # written into input's storage, recorded like any in-place op
        return apply_inplace(input, "mish_", mish)
    return input * tanh(softplus(input))


def logsigmoid(input: Tensor) -> Tensor:
    """``log(sigmoid(x)) = -softplus(-x)``, computed without overflow.

    Shape: the output has the shape of ``input``.
    """
    return -softplus(-input)


def softsign(input: Tensor) -> Tensor:
    """``x / (1 + |x|)``."""
    return input / (input.abs() + 1.0)


def tanhshrink(input: Tensor) -> Tensor:
    """``x - tanh(x)``."""
    return input - tanh(input)


def glu(input: Tensor, dim: int = -1) -> Tensor:
    """Gated linear unit: halves a, b of ``dim`` give ``a * sigmoid(b)``. Shape (*, 2N, *) -> (*, N, *)."""
    from shendu.ops.dims import wrap_dim
    axis = wrap_dim(dim, input.ndim, "glu")
    if input.shape[axis] % 2:
        raise RuntimeError(f"glu: halving dim {dim} needs an even size, got shape {tuple(input.shape)}")
    a, b = input.chunk(2, axis)
    return a * sigmoid(b)
