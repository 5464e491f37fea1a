"""Clamping and the non-finite values: ``clamp`` (number or Tensor bounds), ``clamp_min``/``clamp_max``,
``nan_to_num``, and the boolean tests ``isnan``, ``isinf``, ``isfinite``, ``isposinf``, ``isneginf``,
``logical_not``.

Gradients as PyTorch's: clamp passes the gradient where the input is inside the bounds (and to a Tensor
bound where it is the one chosen); the tests are boolean, with no gradient.
"""
from __future__ import annotations

from shendu import dtypes
from shendu.autograd.function import Function
from shendu.backend import array_module
from shendu.dtypes import promote
from shendu.ops.elementwise import _mask, where
from shendu.tensor import Tensor


def _passed(mask, grad: Tensor) -> Tensor:
    """``grad`` where ``mask`` (a raw bool array, or True), 0 elsewhere: as PyTorch, an infinite incoming
    gradient at a clamped point gives 0, not inf * 0 = nan."""
    if mask is True:
        return grad
    return where(Tensor._wrap(grad._xp().asarray(mask)), grad, 0.0)


# -- clamping ---------------------------------------------------------------------------------
class Clamp(Function):
    """``x`` limited to [min, max] (numbers); the gradient passes at the bounds (PyTorch's)."""

    def forward(ctx, x, *, min=None, max=None):  # noqa: A002 - PyTorch's names
        ctx.min, ctx.max = min, max
        if x.dtype.kind != "f":
            (x,) = promote(x, dtype=dtypes.result_type(x, min, max))
        return array_module(x).clip(x, min, max)

    def backward(ctx, grad):
        x = ctx.inputs[0]._data
        inside = True
        if ctx.min is not None:
            inside = x >= ctx.min
        if ctx.max is not None:
            inside = inside & (x <= ctx.max)
        return _passed(inside, grad)


class ClampTensor(Function):
    """``min(max(x, lo), hi)`` with Tensor bounds (either may be None), gradients as PyTorch's:
    x where lo <= x <= hi, lo where x < lo < hi, hi where x > hi or hi < lo."""

    def forward(ctx, x, lo, hi):
        x, lo, hi = promote(x, lo, hi)
        xp = array_module(x)
        out = x if lo is None else xp.maximum(x, lo)
        return out if hi is None else xp.minimum(out, hi)

    def backward(ctx, grad):
        x, lo, hi = (v._data if isinstance(v, Tensor) else v for v in ctx.inputs)
        need_x, need_lo, need_hi = ctx.needs_input_grad
        grad_x = grad_lo = grad_hi = None
        if need_x:
            inside = True
            if lo is not None:
                inside = x >= lo
            if hi is not None:
                inside = inside & (x <= hi)
            grad_x = _passed(inside, grad)
        if need_lo:
            below = x < lo if hi is None else (x < lo) & (lo < hi)
            grad_lo = _passed(below, grad)
        if need_hi:
            above = x > hi if lo is None else (x > hi) | (hi < lo)
            grad_hi = _passed(above, grad)
        return grad_x, grad_lo, grad_hi


def clamp(input: Tensor, min=None, max=None) -> Tensor:  # noqa: A002 - PyTorch's names
    """``input`` limited to [min, max]; bounds are numbers or Tensors (broadcast), either may be None."""
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        return ClampTensor.apply(input, min, max)
    return Clamp.apply(input, min=_number(min), max=_number(max))


def _number(v):
    """A NumPy scalar as a Python number (NumPy 2 would let a float64 scalar widen a float32 array)."""
    return v.item() if hasattr(v, "item") else v


clip = clamp


def clamp_min(input: Tensor, min) -> Tensor:  # noqa: A002 - PyTorch's name
    """Elementwise ``max(input, min)``: ``clamp(input, min=min)``.

    Shape: the output has the shape of ``input``.
    """
    return clamp(input, min=min)


def clamp_max(input: Tensor, max) -> Tensor:  # noqa: A002 - PyTorch's name
    """Elementwise ``min(input, max)``: ``clamp(input, max=max)``.

    Shape: the output has the shape of ``input``.
    """
    return clamp(input, max=max)


# -- NaN and infinity -------------------------------------------------------------------------
class NanToNum(Function):
    """NaN, +inf and -inf replaced by numbers (defaults: 0, the dtype's largest and lowest finite
    values); the gradient passes only at finite elements, as in PyTorch."""

    def forward(ctx, x, *, nan=0.0, posinf=None, neginf=None):
        if x.dtype.kind != "f":
            return x.copy()
        return array_module(x).nan_to_num(x, nan=nan, posinf=posinf, neginf=neginf)

    def backward(ctx, grad):
        return grad * _mask(grad._xp().isfinite(ctx.inputs[0]._data), grad)


def nan_to_num(input: Tensor, nan: float = 0.0, posinf: float | None = None,
               neginf: float | None = None) -> Tensor:
    """``input`` with NaN replaced by ``nan``, +inf by ``posinf`` and -inf by ``neginf`` (defaults: 0 and the
    dtype's largest and lowest finite values); the gradient passes only at finite elements.

    Shape: the output has the shape of ``input``.
    """
    return NanToNum.apply(input, nan=nan, posinf=posinf, neginf=neginf)


class _Test(Function):
    """A bool-valued elementwise test (isnan...): no gradient."""

    differentiable = False
    fn = None

    def forward(ctx, x):
        return getattr(array_module(x), type(ctx).fn)(x)


IsNan = type("IsNan", (_Test,), {"fn": "isnan"})
IsInf = type("IsInf", (_Test,), {"fn": "isinf"})
IsFinite = type("IsFinite", (_Test,), {"fn": "isfinite"})
IsPosInf = type("IsPosInf", (_Test,), {"fn": "isposinf"})
IsNegInf = type("IsNegInf", (_Test,), {"fn": "isneginf"})
LogicalNot = type("LogicalNot", (_Test,), {"fn": "logical_not"})


def isnan(input: Tensor) -> Tensor:
    """True where ``input`` is NaN (bool, no gradient).

    Shape: the output has the shape of ``input``.
    """
    return IsNan.apply(input)


def isinf(input: Tensor) -> Tensor:
    """True where ``input`` is +inf or -inf (bool, no gradient).

    Shape: the output has the shape of ``input``.
    """
    return IsInf.apply(input)


def isfinite(input: Tensor) -> Tensor:
    """True where ``input`` is neither NaN nor infinite (bool, no gradient).

    Shape: the output has the shape of ``input``.
    """
    return IsFinite.apply(input)


def isposinf(input: Tensor) -> Tensor:
    """True where ``input`` is +inf (bool, no gradient).

    Shape: the output has the shape of ``input``.
    """
    return IsPosInf.apply(input)


def isneginf(input: Tensor) -> Tensor:
    """True where ``input`` is -inf (bool, no gradient).

    Shape: the output has the shape of ``input``.
    """
    return IsNegInf.apply(input)


def logical_not(input: Tensor) -> Tensor:
    """True where ``input`` is zero (bool, no gradient).

    Shape: the output has the shape of ``input``.
    """
    return LogicalNot.apply(input)
