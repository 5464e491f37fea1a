"""``shendu.save`` / ``shendu.load``: nested containers of tensors in one safetensors file.

No pickle: arrays go into the safetensors tensor table (read with ``safetensors.numpy``) and the
container structure around them (dicts, lists, tuples, numbers, strings, None) goes into the file's
``__metadata__`` as one JSON document under the ``"shendu"`` key. Every array leaf is replaced in that
document by a small marker naming its safetensors key, so loading rebuilds the same structure.

A flat ``{str: Tensor}`` (a ``state_dict``) is stored under its own names, so the file is an ordinary
safetensors file that other tools load (they ignore the metadata); ``shendu.load`` of a file written
by another tool returns its ``{name: Tensor}`` table. Writes to a path are atomic (see ``shendu.io.atomic``).

An object the format cannot describe (``torch.save(model)`` of a whole Module, a custom class) is
pickled, as PyTorch does, into one uint8 array of the same safetensors file. Loading it needs
``weights_only=False`` (PyTorch's default since 2.6 is True too): unpickling can run arbitrary code.
"""
from __future__ import annotations

import json
import math
import os
import pickle
import struct
from typing import Any, BinaryIO

import numpy as np

from shendu import backend
from shendu.io.atomic import atomic_write_bytes
from shendu.tensor import Tensor

FORMAT = "shendu"
_MARK = "__shendu__"  # the key of every non-JSON value's marker object
_JSON_SCALARS = (str, bool, int, type(None))


class _Encoder:
    """Splits an object into a JSON-able skeleton and a ``{key: ndarray}`` table."""

    def __init__(self):
        self.arrays: dict[str, np.ndarray] = {}

    def _array_key(self, path: tuple) -> str:
        key = "/".join(str(p) for p in path) or "tensor"
        base, n = key, 1
        while key in self.arrays:  # two paths may print alike ({"a/b": x, "a": {"b": y}})
            key, n = f"{base}#{n}", n + 1
        return key

    def _array(self, arr, path: tuple, kind: str) -> dict:
        arr = backend.to_numpy(arr)
        if not arr.flags.c_contiguous:  # (np.ascontiguousarray would turn a 0-d array into 1-d)
            arr = arr.copy(order="C")
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"shendu.save: cannot store an array of dtype {arr.dtype} at {_where(path)}; "
                            "safetensors holds bool, integer and float arrays")
        key = self._array_key(path)
        self.arrays[key] = arr
        return {_MARK: kind, "key": key}

    def encode(self, obj: Any, path: tuple = ()) -> Any:
        if isinstance(obj, Tensor):
            out = self._array(obj._data, path, "tensor")
            if obj.requires_grad:
                out["requires_grad"] = True
            if type(obj).__name__ == "Parameter":
                out["parameter"] = True
            return out
        if isinstance(obj, np.ndarray):
            return self._array(obj, path, "ndarray")
        if isinstance(obj, np.generic):  # NumPy scalar: keep its dtype
            return {**self._array(np.asarray(obj), path, "ndarray"), "scalar": True}
        if isinstance(obj, float):
            return obj if math.isfinite(obj) else {_MARK: "float", "value": repr(obj)}
        if isinstance(obj, _JSON_SCALARS):
            return obj
        if isinstance(obj, np.dtype):
            return {_MARK: "dtype", "name": obj.str}
        if isinstance(obj, dict):
            if all(isinstance(k, str) for k in obj) and _MARK not in obj:
                return {k: self.encode(v, path + (k,)) for k, v in obj.items()}
            return {_MARK: "dict", "items": [[self.encode(k, path + ("key",)), self.encode(v, path + (k,))]
                                             for k, v in obj.items()]}
        if isinstance(obj, list):
            return [self.encode(v, path + (i,)) for i, v in enumerate(obj)]
        if isinstance(obj, tuple):
            return {_MARK: "tuple", "items": [self.encode(v, path + (i,)) for i, v in enumerate(obj)]}
        raise TypeError(f"shendu.save: cannot store a {type(obj).__name__} at {_where(path)}; expected tensors, "
                        "NumPy arrays, numbers, strings, None, and dicts/lists/tuples of those")


def _where(path: tuple) -> str:
    return "the top level" if not path else "[" + "][".join(repr(p) for p in path) + "]"


def _decode(node: Any, arrays: dict, map_location) -> Any:
    if isinstance(node, list):
        return [_decode(v, arrays, map_location) for v in node]
    if not isinstance(node, dict):
        return node
    kind = node.get(_MARK)
    if kind is None:
        return {k: _decode(v, arrays, map_location) for k, v in node.items()}
    if kind in ("tensor", "ndarray"):
        arr = arrays[node["key"]]
        if kind == "ndarray":
            return arr[()] if node.get("scalar") else arr
        return _tensor(arr, node, map_location)
    if kind == "float":
        return float(node["value"])
    if kind == "dtype":
        return np.dtype(node["name"])
    if kind == "tuple":
        return tuple(_decode(v, arrays, map_location) for v in node["items"])
    if kind == "dict":
        return {_decode(k, arrays, map_location): _decode(v, arrays, map_location) for k, v in node["items"]}
    raise ValueError(f"shendu.load: unknown entry kind {kind!r} in the file's metadata")


def _tensor(arr: np.ndarray, node: dict, map_location) -> Tensor:
    if map_location is not None:
        arr = backend.to_device(arr, str(map_location) if not isinstance(map_location, backend.Device)
                                else map_location)
    if node.get("parameter"):
        from shendu.nn.parameter import Parameter
        return Parameter(Tensor._wrap(arr), requires_grad=node.get("requires_grad", False))
    t = Tensor._wrap(arr)
    return t.requires_grad_() if node.get("requires_grad") else t


def dumps(obj: Any, metadata: dict[str, str] | None = None) -> bytes:
    """``obj`` serialized to safetensors bytes (what ``save`` writes)."""
    import safetensors.numpy

    enc = _Encoder()
    try:
        skeleton = enc.encode(obj)
    except TypeError as e:
        if "cannot store a " not in str(e):
            raise
        enc.arrays = {_PICKLE_KEY: np.frombuffer(pickle.dumps(obj, protocol=4), dtype=np.uint8)}
        skeleton = {_MARK: "pickle", "key": _PICKLE_KEY}
    meta = dict(metadata or {})
    if FORMAT in meta:
        raise ValueError(f"shendu.save: metadata key {FORMAT!r} is reserved")
    meta[FORMAT] = json.dumps(skeleton, allow_nan=False, separators=(",", ":"))
    return safetensors.numpy.save(enc.arrays, metadata=meta or None)


def read_metadata(data: bytes) -> dict[str, str]:
    """The ``__metadata__`` table of safetensors bytes (``{}`` when there is none)."""
    if len(data) < 8:
        raise ValueError(f"shendu.load: {len(data)} bytes is too short for a safetensors file")
    (n,) = struct.unpack("<Q", data[:8])
    if 8 + n > len(data):
        raise ValueError("shendu.load: truncated safetensors header (the file is incomplete or corrupt)")
    return json.loads(data[8:8 + n]).get("__metadata__") or {}


def loads(data: bytes, map_location=None, *, weights_only: bool = True) -> Any:
    """Inverse of ``dumps``."""
    import safetensors.numpy

    meta = read_metadata(data)
    arrays = safetensors.numpy.load(data)
    if FORMAT not in meta:  # a plain safetensors file: its flat table of tensors
        return {k: _tensor(v, {}, map_location) for k, v in arrays.items()}
    skeleton = json.loads(meta[FORMAT])
    if isinstance(skeleton, dict) and skeleton.get(_MARK) == "pickle":
        if weights_only:
            raise pickle.UnpicklingError(
                "shendu.load: this file holds a pickled Python object (torch.save of a whole Module or another "
                "object), and unpickling can run arbitrary code. If you trust where it came from, call "
                "load(..., weights_only=False); to share weights, save model.state_dict() instead")
        obj = pickle.loads(arrays[skeleton["key"]].tobytes())
        return _moved(obj, map_location) if map_location is not None else obj
    return _decode(skeleton, arrays, map_location)


_PICKLE_KEY = "__pickle__"


def _moved(obj, map_location):
    if isinstance(obj, Tensor):
        return obj.to(map_location)
    if hasattr(obj, "to") and callable(obj.to):  # a Module
        return obj.to(map_location)
    return obj


def save(obj: Any, f: str | os.PathLike | BinaryIO, *, metadata: dict[str, str] | None = None) -> None:
    """Save ``obj`` (a tensor, a state dict, or nested dicts/lists/tuples of tensors, arrays and
    JSON values) to ``f`` in safetensors format (PyTorch's ``torch.save``, without pickle).

    Args:
        obj: what to save. Tensors are stored with their dtype and shape; ``requires_grad`` and
            ``Parameter``-ness come back on load.
        f: a path (written atomically: temp file in the same directory, fsync, rename) or a
            writable binary file object.
        metadata: extra ``{str: str}`` entries for the safetensors header.
    """
    data = dumps(obj, metadata)
    if isinstance(f, (str, os.PathLike)):
        atomic_write_bytes(f, data)
    else:
        f.write(data)


def load(f: str | os.PathLike | BinaryIO, map_location=None, *, weights_only: bool = True) -> Any:
    """Load what ``save`` wrote (or any safetensors file) from a path or a readable binary file.

    ``map_location`` (``"cpu"``/``"cuda"``) moves every tensor there. With ``weights_only`` (the
    default, as in PyTorch) a file holding a pickled object is refused; ``weights_only=False``
    unpickles it (only for files you trust).
    """
    if isinstance(f, (str, os.PathLike)):
        with open(f, "rb") as fh:
            data = fh.read()
    else:
        data = f.read()
    return loads(data, map_location, weights_only=weights_only is not False)
