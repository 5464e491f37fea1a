"""Saving and loading a Module's tensors: ``state_dict`` and ``load_state_dict`` (PyTorch's semantics).

A mixin of ``Module``, kept apart so that module.py stays readable: keys are dotted names
("block.0.weight"), values the parameters and persistent buffers; loading copies in place.
"""
from __future__ import annotations

from collections import OrderedDict, namedtuple

import numpy as np

from shendu.grad_mode import no_grad
from shendu.tensor import Tensor

_IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class StateDictMixin:
    """``state_dict``/``load_state_dict`` over a Module's ``_parameters``, ``_buffers`` and ``_modules``."""

    def _save_to_state_dict(self, destination: dict, prefix: str, keep_vars: bool) -> None:
        for name, p in self._parameters.items():
            if p is not None:
                destination[prefix + name] = p if keep_vars else p.detach()
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent_buffers_set:
                destination[prefix + name] = b if keep_vars else b.detach()

    def state_dict(self, *, destination: dict | None = None, prefix: str = "",
                   keep_vars: bool = False) -> OrderedDict:
        """An OrderedDict from dotted name to Tensor: parameters and persistent buffers.

        Values share memory with the module's tensors (detached unless ``keep_vars``); tied
        parameters appear under each of their names, as in PyTorch.
        """
        if destination is None:
            destination = OrderedDict()
        self._save_to_state_dict(destination, prefix, keep_vars)
        for name, module in self._modules.items():
            if module is not None:
                module.state_dict(destination=destination, prefix=f"{prefix}{name}.", keep_vars=keep_vars)
        return destination

    def _load_from_state_dict(self, state_dict: dict, prefix: str, local_metadata: dict, strict: bool,
                              missing_keys: list, unexpected_keys: list, error_msgs: list) -> None:
        """Copy this module's own entries of ``state_dict`` in place; record what is missing or wrong."""
        persistent = {k: v for k, v in self._buffers.items() if k not in self._non_persistent_buffers_set}
        local = {**{k: v for k, v in self._parameters.items() if v is not None},
                 **{k: v for k, v in persistent.items() if v is not None}}
        assign = local_metadata.get("assign_to_params_buffers", False)
        for name, target in local.items():
            key = prefix + name
            if key not in state_dict:
                missing_keys.append(key)
                continue
            value = state_dict[key]
            arr = value._data if isinstance(value, Tensor) else np.asarray(value)
            if tuple(arr.shape) != target.shape:
                error_msgs.append(f"size mismatch for {key}: copying a param with shape {tuple(arr.shape)} "
                                  f"from checkpoint, the shape in current model is {target.shape}.")
                continue
            if assign:
                target._data = arr
            else:
                xp = target._xp()
                xp.copyto(target._data, xp.asarray(arr), casting="unsafe")
        if strict:
            for key in state_dict:
                if key.startswith(prefix):
                    head = key[len(prefix):].split(".", 1)[0]
                    if head not in self._modules and head not in local:
                        unexpected_keys.append(key)

    def load_state_dict(self, state_dict: dict, strict: bool = True, assign: bool = False):
        """Copy ``state_dict``'s tensors (or arrays) into this module's parameters and buffers.

        Returns ``(missing_keys, unexpected_keys)``. With ``strict`` either list being non-empty
        raises a RuntimeError naming the keys; a shape mismatch always raises.
        """
        if not isinstance(state_dict, dict):
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict).__name__}.")
        missing, unexpected, errors = [], [], []
        with no_grad():
            for prefix, module in self.named_modules():
                module._load_from_state_dict(state_dict, f"{prefix}." if prefix else "",
                                             {"assign_to_params_buffers": assign}, True,
                                             missing, unexpected, errors)
        if strict:
            if unexpected:
                errors.insert(0, "Unexpected key(s) in state_dict: " + ", ".join(f'"{k}"' for k in unexpected) + ".")
            if missing:
                errors.insert(0, "Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing) + ".")
        if errors:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t" + "\n\t".join(errors))
        return _IncompatibleKeys(missing, unexpected)
