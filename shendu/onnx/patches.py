"""What the exporter changes for the duration of a trace, so that every computation shows up as an op.

Two shortcuts of the library compute on raw arrays, out of the tracer's sight, and are swapped for
op-based versions while ``export`` runs (restored in ``finally``):

* the untracked fast path of ``add_``/``sub_``/``mul_``/``div_`` (and ``+=``, ``-=``, ``*=``, ``/=``), one
  NumPy ufunc into the storage: routed through ``autograd.inplace.apply_inplace`` instead, whose write
  the tracer sees;
* ``RotaryEmbedding.cos_sin``, whose tables are NumPy math on the positions: computed with shendu ops
  (in float64, then cast, as the original), so the tables follow the sequence length in the graph.
"""
from __future__ import annotations

import contextlib

from shendu.tensor import Tensor


def _traced_arithmetic(name: str):
    from shendu.autograd.inplace import apply_inplace

    def method(self, other, *, alpha=1, rounding_mode=None):
        kwargs = {"rounding_mode": rounding_mode} if rounding_mode is not None else {}
        if alpha != 1:
            kwargs["alpha"] = alpha
        return apply_inplace(self, f"{name}_", getattr(Tensor, name), other, **kwargs)
    return method


def _traced_cos_sin(self, positions, dtype=None):
    from shendu import dtypes
    from shendu.ops.shape import cat
    xp = self.inv_freq._xp()
    p = positions if isinstance(positions, Tensor) else Tensor._wrap(xp.asarray(positions))
    if p.dtype.kind not in "iu":
        raise TypeError(f"RotaryEmbedding: positions must be integers, got dtype {p.dtype}")
    angles = p.to(dtypes.float64)[..., None] * self.inv_freq                    # (..., T, d/2)
    angles = cat([angles, angles], -1)                                           # (..., T, d)
    dt = dtype or dtypes.float32
    return angles.cos().to(dt), angles.sin().to(dt)


@contextlib.contextmanager
def export_patches():
    """Apply the swaps above; undo them on exit (also after an exception)."""
    from shendu.nn.layers.positional import RotaryEmbedding
    saved = []

    def swap(owner, name, value):
        saved.append((owner, name, owner.__dict__.get(name, _MISSING)))
        setattr(owner, name, value)

    try:
        for name, aliases in (("add", ("__iadd__",)), ("sub", ("subtract_", "__isub__")),
                              ("mul", ("multiply_", "__imul__")), ("div", ("divide_", "true_divide_", "__itruediv__"))):
            method = _traced_arithmetic(name)
            swap(Tensor, f"{name}_", method)
            for alias in aliases:
                swap(Tensor, alias, method)
        swap(RotaryEmbedding, "cos_sin", _traced_cos_sin)
        yield
    finally:
        for owner, name, value in reversed(saved):
            if value is _MISSING:
                delattr(owner, name)
            else:
                setattr(owner, name, value)


_MISSING = object()
