"""``x[index] = value`` as a differentiable op: the out-of-place form behind ``Tensor.__setitem__``.

``assign(x, index, value)`` is ``x`` with ``value`` written at ``index`` (basic, advanced or boolean
indices; ``value`` broadcast as NumPy and PyTorch do). Its gradient passes ``grad`` to ``x`` everywhere
except the written positions, and gives ``value`` the gradient read at them (summed where ``value``
was broadcast). ``Tensor.__setitem__`` writes the result into ``x``'s storage (shendu.autograd.inplace).
"""
from __future__ import annotations

from shendu.autograd.function import Function
from shendu.ops.index import _raw_index
from shendu.tensor import Tensor


class Assign(Function):
    saved_inputs = ()  # the gradient depends on the index only

    def forward(ctx, x, value, *, index):
        ctx.index = index
        out = x.copy()
        try:
            out[index] = value
        except IndexError as e:
            raise IndexError(f"__setitem__: {e} (tensor of shape {x.shape}, index {index!r})") from None
        except ValueError as e:
            vshape = getattr(value, "shape", ())
            raise RuntimeError(f"__setitem__: cannot write a value of shape {tuple(vshape)} at index {index!r} "
                               f"of a tensor of shape {x.shape}: {e}") from None
        return out

    def backward(ctx, grad):
        x, value = ctx.inputs
        grad_x = ZeroAt.apply(grad, index=ctx.index) if ctx.needs_input_grad[0] else None
        grad_value = None
        if ctx.needs_input_grad[1]:
            grad_value = grad[ctx.index]
            missing = value.ndim - grad_value.ndim
            if missing > 0:  # NumPy dropped the value's leading 1-dims when writing
                grad_value = grad_value.reshape((1,) * missing + tuple(grad_value.shape))
        return grad_x, grad_value


class ZeroAt(Function):
    """``grad`` with zeros at ``index``: what reaches ``x`` through an assignment."""

    saved_inputs = ()

    def forward(ctx, grad, *, index):
        ctx.index = index
        out = grad.copy()
        out[index] = 0
        return out

    def backward(ctx, grad):
        return ZeroAt.apply(grad, index=ctx.index)


def assign(input: Tensor, index, value) -> Tensor:
    """``input`` with ``value`` written at ``index``; ``input`` itself is unchanged.

    Shape: ``value`` broadcasts to ``input[index].shape``; the result has ``input``'s shape and dtype.
    """
    raw_index = _raw_index(index)
    if isinstance(value, (list, tuple)):
        value = input._xp().asarray(value)
    return Assign.apply(input, value, index=raw_index)
