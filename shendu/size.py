"""``shendu.Size``: the type of ``x.shape`` (PyTorch's ``torch.Size``), a tuple of ints."""
from __future__ import annotations

import operator


class Size(tuple):
    """A tuple of dimension sizes that also offers ``numel()``; ``+`` and ``*`` keep the type.

    Indexing is the tuple's own (C-speed ``x.shape[0]`` matters on hot paths), so a slice is a tuple.

    ``Size([2, 3]) == (2, 3)`` and hashes like the tuple, so it works wherever a shape tuple does.
    """

    __slots__ = ()

    def __new__(cls, sizes=()):
        sizes = tuple(sizes)
        for i, s in enumerate(sizes):
            if isinstance(s, bool) or not hasattr(s, "__index__"):
                raise TypeError(f"shendu.Size() takes an iterable of 'int' (item {i} is '{type(s).__name__}')")
        return super().__new__(cls, (operator.index(s) for s in sizes))

    def numel(self) -> int:
        """The number of elements a tensor of this shape holds (1 for ``Size([])``)."""
        n = 1
        for s in self:
            n *= s
        return n

    def __add__(self, other):
        return Size(tuple(self) + tuple(other))

    def __radd__(self, other):
        return Size(tuple(other) + tuple(self))

    def __mul__(self, n):
        return Size(tuple(self) * n)

    __rmul__ = __mul__

    def __repr__(self) -> str:
        return f"shendu.Size({list(self)})"

    def __format__(self, spec: str) -> str:
        # print(x.shape) shows PyTorch's "shendu.Size([2, 3])"; inside f-strings (error messages across the
        # library) a shape reads as the plain tuple "(2, 3)".
        return format(tuple(self), spec)

    def __reduce__(self):
        return (Size, (tuple(self),))
