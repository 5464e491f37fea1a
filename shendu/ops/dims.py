"""The one place that turns a user's ``dim`` into an array axis (PyTorch's ``maybe_wrap_dim``).

Every op that takes a dimension calls ``wrap_dim`` (one dim) or ``wrap_dims`` (None, one or many),
so negative dims, 0-d tensors (which accept dim 0 and -1) and out-of-range errors behave the same
everywhere: an out-of-range dim raises ``IndexError`` naming the op, the dim and the valid range.
"""
from __future__ import annotations

import operator


def wrap_dim(dim, ndim: int, op: str) -> int:
    """``dim`` (an int, negatives counting from the end) as an axis in ``range(max(ndim, 1))``."""
    try:
        dim = operator.index(dim)
    except TypeError:
        raise TypeError(f"{op}: dim must be an int, got {type(dim).__name__} ({dim!r})") from None
    size = ndim if ndim > 0 else 1  # a 0-d tensor accepts dim 0 and -1, as in PyTorch
    if not -size <= dim < size:
        raise IndexError(f"{op}: dim {dim} is out of range (expected to be in range of [{-size}, {size - 1}]) "
                         f"for a tensor with {ndim} dims")
    return dim + size if dim < 0 else dim


def wrap_dims(dim, ndim: int, op: str) -> tuple | None:
    """``dim`` (None, an int or a sequence of ints) as a sorted tuple of distinct axes; None stays None.

    For a 0-d tensor every valid dim reduces over nothing, so the result is None (all axes: none).
    """
    if dim is None:
        return None
    dims = (dim,) if not isinstance(dim, (tuple, list)) else tuple(dim)
    axes = sorted(wrap_dim(d, ndim, op) for d in dims)
    for a, b in zip(axes, axes[1:]):
        if a == b:
            raise RuntimeError(f"{op}: dim {a} appears multiple times in the list of dims {tuple(dims)}")
    return tuple(axes) if ndim else None
