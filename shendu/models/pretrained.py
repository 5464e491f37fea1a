"""Hugging Face checkpoint directories: ``Model.from_pretrained(path)`` and ``model.save_pretrained(path)``.

A directory holds ``config.json`` (``model_type`` names the family) and the weights in
``model.safetensors`` (or shards listed in ``model.safetensors.index.json``), or in ``pytorch_model.bin``
(PyTorch's zip format: ``data.pkl`` plus one ``data/N`` record per storage). The ``.bin`` file is read by a
restricted unpickler that rebuilds only tensors, storages and ``OrderedDict``: any other global in the
pickle is refused, so a checkpoint can never run code. PyTorch itself is never imported.

Each model family keeps its own mapping: a config class registered under its ``model_type``
(``CONFIG_CLASSES``), and on the model class ``base_model_prefix`` (the encoder's attribute in the heads,
"bert"), ``_tied_keys`` (parameters shared with another one, not written) and two hooks,
``_map_loaded_keys`` (checkpoint names and layouts -> ours) and ``_map_saved_keys`` (ours -> the
checkpoint's). Loading is strict about the base model's weights (a missing or unexpected key, or a
shape that does not match the config, is an error naming the key and the file) and lenient, as
transformers is, about a head's own weights: a head loaded from a bare encoder's directory gets them
newly initialised, and weights of another head are left unused, each with a warning.

No network: a path that is not a local directory is an error.
"""
from __future__ import annotations

import importlib
import json
import os
import pickle
import warnings
import zipfile
from collections import OrderedDict
from typing import Any

import numpy as np

from shendu.io.atomic import atomic_write_bytes
from shendu.tensor import Tensor

__all__ = ["CONFIG_CLASSES", "PreTrainedModel", "load_config", "load_safetensors", "load_torch_bin", "load_weights",
           "save_weights"]

CONFIG_NAME = "config.json"
SAFETENSORS_NAME = "model.safetensors"
SAFETENSORS_INDEX_NAME = "model.safetensors.index.json"
PYTORCH_NAME = "pytorch_model.bin"

# model_type -> "module:ConfigClass", imported on first use (the model modules import this one)
CONFIG_CLASSES: dict[str, str] = {
    "bert": "shendu.models.bert:BertConfig",
    "xlnet": "shendu.models.xlnet:XLNetConfig",
}


def _config_class(model_type: str):
    module, name = CONFIG_CLASSES[model_type].split(":")
    return getattr(importlib.import_module(module), name)


def _directory(path, what: str) -> str:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{what}: expected a path to a local directory, got {type(path).__name__}")
    path = os.fspath(path)
    if os.path.isdir(path):
        return path
    if os.path.exists(path):
        raise NotADirectoryError(f"{what}: {path!r} is a file; a checkpoint is a directory holding {CONFIG_NAME} "
                                 f"and {SAFETENSORS_NAME} or {PYTORCH_NAME}")
    raise FileNotFoundError(f"{what}: {path!r} is not a local directory. shendu reads Hugging Face checkpoints "
                            f"from a local directory only (it downloads nothing): pass the directory that holds "
                            f"{CONFIG_NAME} and {SAFETENSORS_NAME} or {PYTORCH_NAME}")


def load_config(path: str | os.PathLike):
    """The config object of the checkpoint directory ``path``, of the class its ``model_type`` names."""
    path = _directory(path, "load_config")
    file = os.path.join(path, CONFIG_NAME)
    if not os.path.isfile(file):
        raise FileNotFoundError(f"load_config: no {CONFIG_NAME} in {path!r} (found: {sorted(os.listdir(path))})")
    with open(file, encoding="utf-8") as f:
        try:
            data = json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f"load_config: {file} is not valid JSON: {e}") from None
    if not isinstance(data, dict):
        raise ValueError(f"load_config: {file} must hold a JSON object, got {type(data).__name__}")
    model_type = data.get("model_type")
    if model_type not in CONFIG_CLASSES:
        raise ValueError(f"load_config: {file} has model_type {model_type!r}, which shendu does not support; "
                         f"supported model types: {', '.join(sorted(CONFIG_CLASSES))}")
    return _config_class(model_type).from_dict(data)


# ---- weights: safetensors and the safe pytorch_model.bin reader --------------------------------------------

_STORAGE_DTYPES = {
    "FloatStorage": "float32", "DoubleStorage": "float64", "HalfStorage": "float16", "BFloat16Storage": "bfloat16",
    "LongStorage": "int64", "IntStorage": "int32", "ShortStorage": "int16", "CharStorage": "int8",
    "ByteStorage": "uint8", "BoolStorage": "bool",
}


def _np_dtype(name: str) -> np.dtype:
    if name == "bfloat16":
        import ml_dtypes
        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(name)


class _StorageType:
    """Stands in for ``torch.FloatStorage`` & co inside the unpickler: it only names a dtype."""

    def __init__(self, dtype: str):
        self.dtype = dtype


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None,
                       metadata=None):
    size, stride = tuple(size), tuple(stride)
    if not size:
        return storage[storage_offset:storage_offset + 1].reshape(()).copy()
    extent = storage_offset + 1 + sum((n - 1) * s for n, s in zip(size, stride) if n > 0)
    if extent > storage.size and 0 not in size:
        raise pickle.UnpicklingError(f"a tensor of size {size} and stride {stride} at offset {storage_offset} "
                                     f"reads past its storage of {storage.size} elements")
    view = np.lib.stride_tricks.as_strided(storage[storage_offset:], size,
                                           tuple(s * storage.itemsize for s in stride), writeable=False)
    return np.ascontiguousarray(view)


def _rebuild_parameter(data, requires_grad=True, backward_hooks=None):
    return data


_SAFE_GLOBALS = {
    ("collections", "OrderedDict"): OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    **{("torch", name): _StorageType(dtype) for name, dtype in _STORAGE_DTYPES.items()},
}


class _SafeUnpickler(pickle.Unpickler):
    """Rebuilds tensors (as NumPy arrays), their storages and OrderedDicts, and nothing else."""

    def __init__(self, file, archive: zipfile.ZipFile, prefix: str, byteorder: str, where: str):
        super().__init__(file)
        self.archive, self.prefix, self.byteorder, self.where = archive, prefix, byteorder, where
        self.storages: dict[str, np.ndarray] = {}

    def find_class(self, module: str, name: str):
        if (module, name) in _SAFE_GLOBALS:
            return _SAFE_GLOBALS[module, name]
        raise pickle.UnpicklingError(f"{self.where}: refusing to load the global {module}.{name}: the safe loader "
                                     "rebuilds only tensors, storages and OrderedDict (it never runs code from a "
                                     "checkpoint); convert the checkpoint to model.safetensors")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"
                and isinstance(pid[1], _StorageType)):
            raise pickle.UnpicklingError(f"{self.where}: unexpected persistent id {pid!r}; expected a tensor storage")
        _, storage_type, key, _location, numel = pid
        if key not in self.storages:
            try:
                raw = self.archive.read(f"{self.prefix}data/{key}")
            except KeyError:
                raise pickle.UnpicklingError(f"{self.where}: the storage record data/{key} is missing") from None
            dtype = _np_dtype(storage_type.dtype)
            if self.byteorder == "big":
                dtype = dtype.newbyteorder(">")
            arr = np.frombuffer(raw, dtype=dtype)
            if arr.size < numel:
                raise pickle.UnpicklingError(f"{self.where}: storage data/{key} holds {arr.size} elements, "
                                             f"the pickle says {numel}")
            self.storages[key] = arr.astype(arr.dtype.newbyteorder("="), copy=False)
        return self.storages[key]


def load_torch_bin(file: str | os.PathLike) -> dict[str, np.ndarray]:
    """The ``{name: array}`` state dict in a ``torch.save`` file (zip format), without importing PyTorch or
    running any code the pickle names."""
    file = os.fspath(file)
    if not zipfile.is_zipfile(file):
        raise ValueError(f"{file}: not a PyTorch zip checkpoint (the legacy pre-1.6 format and other pickles are "
                         "not read); re-save it with a current PyTorch or as model.safetensors")
    with zipfile.ZipFile(file) as archive:
        pkl = [n for n in archive.namelist() if n.endswith("data.pkl") and n.count("/") == 1]
        if len(pkl) != 1:
            raise ValueError(f"{file}: expected one <archive>/data.pkl record, found {pkl}")
        prefix = pkl[0][: -len("data.pkl")]
        names = set(archive.namelist())
        byteorder = archive.read(prefix + "byteorder").decode().strip() if prefix + "byteorder" in names else "little"
        with archive.open(pkl[0]) as f:
            state = _SafeUnpickler(f, archive, prefix, byteorder, file).load()
    if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, np.ndarray)
                                              for k, v in state.items()):
        raise ValueError(f"{file}: expected a state dict of named tensors, got {type(state).__name__}")
    return dict(state)


_SAFETENSORS_DTYPES = {"F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16", "I64": "int64",
                       "I32": "int32", "I16": "int16", "I8": "int8", "U64": "uint64", "U32": "uint32", "U16": "uint16",
                       "U8": "uint8", "BOOL": "bool"}


def load_safetensors(file: str | os.PathLike) -> dict[str, np.ndarray]:
    """``{name: array}`` of a safetensors file, bfloat16 included (as ml_dtypes.bfloat16, which
    ``safetensors.numpy`` cannot make)."""
    file = os.fspath(file)
    with open(file, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError(f"{file}: not a safetensors file (too short)")
    n = int.from_bytes(data[:8], "little")
    try:
        header = json.loads(data[8:8 + n])
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ValueError(f"{file}: not a safetensors file (its header is not JSON)") from None
    body, out = memoryview(data)[8 + n:], {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info.get("dtype") not in _SAFETENSORS_DTYPES:
            raise ValueError(f"{file}: {name} has dtype {info.get('dtype')!r}, which shendu does not read")
        start, stop = info["data_offsets"]
        dtype = _np_dtype(_SAFETENSORS_DTYPES[info["dtype"]]).newbyteorder("<")
        arr = np.frombuffer(body[start:stop], dtype=dtype).reshape(info["shape"])
        out[name] = arr.astype(arr.dtype.newbyteorder("="), copy=True)
    return out


def load_weights(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], str]:
    """``({name: array}, file)`` from a checkpoint directory: model.safetensors, its shards, or pytorch_model.bin."""
    path = _directory(path, "load_weights")
    load_file = load_safetensors
    single, index, torch_bin = (os.path.join(path, n) for n in (SAFETENSORS_NAME, SAFETENSORS_INDEX_NAME, PYTORCH_NAME))
    if os.path.isfile(single):
        return load_file(single), single
    if os.path.isfile(index):
        with open(index, encoding="utf-8") as f:
            weight_map = json.load(f).get("weight_map", {})
        state: dict[str, np.ndarray] = {}
        for shard in sorted(set(weight_map.values())):
            shard_file = os.path.join(path, shard)
            if not os.path.isfile(shard_file):
                raise FileNotFoundError(f"load_weights: {index} lists the shard {shard!r}, missing from {path!r}")
            state.update(load_file(shard_file))
        return state, index
    if os.path.isfile(torch_bin):
        return load_torch_bin(torch_bin), torch_bin
    raise FileNotFoundError(f"load_weights: no weights in {path!r}: looked for {SAFETENSORS_NAME}, "
                            f"{SAFETENSORS_INDEX_NAME} and {PYTORCH_NAME} (found: {sorted(os.listdir(path))})")


def save_weights(state: dict[str, np.ndarray], file: str | os.PathLike) -> None:
    """Write ``{name: array}`` as a safetensors file that transformers reads (metadata format "pt")."""
    from safetensors.numpy import save
    arrays = {k: np.ascontiguousarray(v) for k, v in state.items()}
    atomic_write_bytes(file, save(arrays, metadata={"format": "pt"}))


# ---- the model mixin --------------------------------------------------------------------------------------

def _expected_from(config, shape: tuple) -> str:
    """The config sizes that appear in ``shape``, to say where an expected shape comes from."""
    sizes = [f"{k}={v}" for k, v in sorted(vars(config).items())
             if isinstance(v, int) and not isinstance(v, bool) and v in shape]
    return f" (config.json: {', '.join(sizes)})" if sizes else ""


class PreTrainedModel:
    """Mixin for models that read and write Hugging Face checkpoint directories.

    A model class sets ``config_class`` (with a ``model_type`` and ``from_dict``/``to_dict``), ``base_model_prefix``
    (the attribute holding the encoder in the heads; the bare encoder has no attribute of that name) and
    optionally ``_tied_keys``, ``_optional_keys`` (prefixes of base weights a checkpoint may lack, such as a
    pooler) and the two key-mapping hooks.
    """

    config_class: Any = None
    base_model_prefix: str = ""
    _tied_keys: tuple[str, ...] = ()
    _optional_keys: tuple[str, ...] = ()

    @classmethod
    def _map_loaded_keys(cls, state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Checkpoint names/layouts -> this family's (e.g. old ``gamma``/``beta`` names). Default: unchanged."""
        return state

    def _map_saved_keys(self, state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """This family's names/layouts -> the checkpoint's. Default: unchanged."""
        return state

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, **config_overrides):
        """The model stored in the local checkpoint directory ``path``, in eval mode.

        ``config_overrides`` replace config.json's fields (``num_labels=3``). A head loaded from a bare
        encoder's directory (or one with another head) gets its own weights newly initialised, with a warning.
        """
        what = f"{cls.__name__}.from_pretrained"
        path = _directory(path, what)
        config = load_config(path)
        if not isinstance(config, cls.config_class):
            raise ValueError(f"{what}: {os.path.join(path, CONFIG_NAME)} has model_type {config.model_type!r}; "
                             f"{cls.__name__} reads model_type {cls.config_class.model_type!r}")
        if config_overrides:
            config = config.replace(**config_overrides)
        model = cls(config)
        state, file = load_weights(path)
        model._load_pretrained_state(cls._map_loaded_keys(state), file)
        model.eval()
        return model

    def _load_pretrained_state(self, state: dict[str, np.ndarray], file: str) -> None:
        ours = {k: v for k, v in self.state_dict().items() if k not in self._tied_keys}
        prefix = self.base_model_prefix + "." if self.base_model_prefix else ""
        is_head = bool(prefix) and any(k.startswith(prefix) for k in ours)
        in_base = (lambda k: k.startswith(prefix)) if is_head else (lambda k: True)
        if prefix and not is_head and any(k.startswith(prefix) for k in state):
            # a bare encoder from a head's directory: take the prefixed weights, leave the head's unused
            unused = [k for k in state if not k.startswith(prefix)]
            if unused:
                warnings.warn(f"{type(self).__name__}: weights of {file} not used: {', '.join(unused)}", stacklevel=3)
            state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        elif is_head and not any(k.startswith(prefix) for k in state):
            state = {prefix + k: v for k, v in state.items()}  # a head from a bare encoder's directory
        state = {k: v for k, v in state.items() if k not in self._tied_keys}
        optional = tuple(prefix + o if is_head else o for o in self._optional_keys)
        missing = [k for k in ours if k not in state]
        unexpected = [k for k in state if k not in ours]
        missing_base = [k for k in missing if in_base(k) and not k.startswith(optional)]
        unexpected_base = [k for k in unexpected if in_base(k)]
        if missing_base:
            raise KeyError(f"{type(self).__name__}.from_pretrained: {file} lacks the weight(s) "
                           f"{', '.join(missing_base)}")
        if unexpected_base:
            raise KeyError(f"{type(self).__name__}.from_pretrained: {file} holds weight(s) this model does not "
                           f"have: {', '.join(unexpected_base)}")
        fresh = [k for k in missing if k not in missing_base]
        if fresh:
            warnings.warn(f"{type(self).__name__}: weights not in {file}, newly initialised: {', '.join(fresh)}; "
                          "train the model on a downstream task before using it for predictions", stacklevel=3)
        unused = [k for k in unexpected if k not in unexpected_base]
        if unused:
            warnings.warn(f"{type(self).__name__}: weights of {file} not used: {', '.join(unused)}", stacklevel=3)
        loaded = {}
        for k, arr in state.items():
            if k not in ours:
                continue
            target: Tensor = ours[k]
            if tuple(arr.shape) != tuple(target.shape):
                raise ValueError(f"{type(self).__name__}.from_pretrained: {file}: {k} has shape {tuple(arr.shape)}, "
                                 f"expected {tuple(target.shape)}{_expected_from(self.config, tuple(target.shape))}")
            loaded[k] = arr.astype(target.dtype, copy=False)
        self.load_state_dict(loaded, strict=False)

    def save_pretrained(self, path: str | os.PathLike) -> None:
        """Write config.json and model.safetensors into the directory ``path`` (made if missing), in the
        layout transformers' ``from_pretrained`` reads."""
        from shendu import backend
        path = os.fspath(path)
        if os.path.isfile(path):
            raise NotADirectoryError(f"{type(self).__name__}.save_pretrained: {path!r} is a file, expected a directory")
        os.makedirs(path, exist_ok=True)
        config = self.config.to_dict()
        config["architectures"] = [type(self).__name__]
        atomic_write_bytes(os.path.join(path, CONFIG_NAME),
                           (json.dumps(config, indent=2, sort_keys=True) + "\n").encode("utf-8"))
        state = {k: backend.to_numpy(v._data) for k, v in self.state_dict().items() if k not in self._tied_keys}
        save_weights(self._map_saved_keys(state), os.path.join(path, SAFETENSORS_NAME))
