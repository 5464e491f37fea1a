"""``Residual``: a skip connection around a module, y = shortcut(x) + f(x) (He et al., 2016)."""
from __future__ import annotations

from shendu.nn.module import Module
from shendu.tensor import Tensor


class Residual(Module):
    r"""Wraps a module ``fn`` in a skip connection: :math:`y = x + f(x)`, or :math:`y = P(x) + f(x)`.

    Not in PyTorch (where one writes ``x + f(x)`` in ``forward``); it keeps ``Sequential`` models
    with skip connections declarative.

    Args:
        fn: the residual branch :math:`f`.
        projection: an optional module :math:`P` on the shortcut, for when :math:`f` changes the
            shape (e.g. a ``Linear(d_in, d_out, bias=False)``). Default: ``None`` (identity).

    Shape:
        - Input: :math:`(*)`, what ``fn`` accepts.
        - Output: :math:`(*)`, ``fn``'s output shape, which must equal the shortcut's.

    Attributes:
        fn: the wrapped module (its parameters are named ``fn.*``).
        projection: the shortcut module (``projection.*``), or ``None``.
    """

    def __init__(self, fn: Module, projection: Module | None = None):
        super().__init__()
        self.fn = fn
        self.projection = projection

    def forward(self, input: Tensor) -> Tensor:
        shortcut = input if self.projection is None else self.projection(input)
        out = self.fn(input)
        if out.shape != shortcut.shape:
            raise RuntimeError(f"Residual: the branch gives shape {out.shape} but the shortcut gives "
                               f"{shortcut.shape}; pass a projection that maps the input to the branch's shape")
        return shortcut + out


__all__ = ["Residual"]
