"""``Variable``: PyTorch's deprecated wrapper, kept as it is in PyTorch: a name for Tensor.

``Variable(t, requires_grad=True)`` returns a Tensor (a new leaf sharing ``t``'s data), and
``isinstance(x, Variable)`` is True for every tensor, so old programs run unchanged.
"""
from __future__ import annotations

from shendu.tensor import Tensor


class _VariableMeta(type):
    def __instancecheck__(cls, obj) -> bool:
        return isinstance(obj, Tensor)

    def __call__(cls, data=None, requires_grad: bool = False, volatile: bool = False):
        if data is None:
            from shendu.creation import empty
            data = empty(0)
        if not isinstance(data, Tensor):
            raise TypeError(f"Variable data has to be a tensor, but got {type(data).__name__}")
        out = data.detach()
        return out.requires_grad_() if requires_grad else out


class Variable(metaclass=_VariableMeta):
    """Deprecated: ``Variable(t)`` is ``t.detach()``, ``Variable(t, requires_grad=True)`` a new leaf on ``t``'s data."""
