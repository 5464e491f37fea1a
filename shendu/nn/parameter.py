"""``Parameter``: a leaf tensor that a Module registers as one of its learnable weights."""
from __future__ import annotations

from shendu.tensor import Tensor


class Parameter(Tensor):
    """A Tensor that requires grad by default and is registered when set as a Module attribute.

    ``Parameter(data, requires_grad=True)`` shares ``data``'s array (no copy), as PyTorch does.
    """

    def __init__(self, data: Tensor | None = None, requires_grad: bool = True):
        if data is None:
            import numpy as np
            arr = np.empty((0,), dtype=np.float32)
        else:
            arr = data._data if isinstance(data, Tensor) else Tensor(data)._data
        self._data = arr
        if requires_grad:
            self.requires_grad_(True)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()
