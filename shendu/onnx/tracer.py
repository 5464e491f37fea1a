"""Recording the ops a forward runs, for the exporter.

``trace(fn)`` runs ``fn`` once with ``Function.apply`` wrapped (the classmethod on
``shendu.autograd.function.Function`` is replaced for the duration of the call and restored in ``finally``),
so the hot path pays nothing outside an export. Each call becomes a ``Record``: the Function class, its
positional inputs as given (Tensors or raw values), its keyword settings and its outputs' raw arrays.
In-place writes (``x += y``, ``x.add_(y)``) go through ``autograd.inplace.write``, which is wrapped too,
so the written tensor's storage is known to hold the new value from then on (``patches.py`` makes the
untracked arithmetic fast path take that route during an export).
"""
from __future__ import annotations

import sys
import threading
from dataclasses import dataclass, field

from shendu.tensor import Tensor


@dataclass
class Record:
    """One ``Function.apply`` call: ``cls``, ``args`` (positional, as given), ``kwargs`` (settings),
    ``outs`` (the raw output arrays), ``caller`` ("module:line" that called it)."""

    cls: type
    args: tuple
    kwargs: dict
    outs: tuple
    caller: str = ""


@dataclass
class Trace:
    """The records of one forward, in order, plus the in-place writes as (record index, target array, source array)."""

    records: list = field(default_factory=list)
    writes: list = field(default_factory=list)
    keep: list = field(default_factory=list)  # everything recorded stays alive, so array ids stay unique


def _caller() -> str:
    """The first frame outside shendu.ops / shendu.autograd / shendu.onnx: where the model called the op."""
    f = sys._getframe(2)
    while f is not None:
        mod = f.f_globals.get("__name__", "")
        if not mod.startswith(("shendu.ops", "shendu.autograd", "shendu.onnx", "shendu.tensor")):
            return f"{mod}:{f.f_lineno}"
        f = f.f_back
    return ""


def trace(fn, *args, **kwargs):
    """Run ``fn(*args, **kwargs)`` recording every op; returns ``(result, Trace)``."""
    from shendu.autograd import function as function_module
    from shendu.autograd import inplace as inplace_module

    Function = function_module.Function
    original_apply = Function.__dict__["apply"]
    original_write = inplace_module.write
    tr = Trace()
    owner = threading.get_ident()

    def apply(cls, *a, **kw):
        out = original_apply.__func__(cls, *a, **kw)
        if threading.get_ident() != owner:  # another thread's ops (a data loader's) are not the model's
            return out
        outs = out if type(out) is tuple else (out,)
        arrays = tuple(o._data if isinstance(o, Tensor) else o for o in outs)
        tr.records.append(Record(cls, a, kw, arrays, _caller()))
        tr.keep.append((a, kw, out))
        return out

    def write(t, value, op, *rest, **kw):
        result = original_write(t, value, op, *rest, **kw)
        if threading.get_ident() != owner:
            return result
        tr.writes.append((len(tr.records), t._data, value))
        tr.keep.append((t, value))
        return result

    Function.apply = classmethod(apply)
    inplace_module.write = write
    try:
        result = fn(*args, **kwargs)
    finally:
        Function.apply = original_apply
        inplace_module.write = original_write
    return result, tr
