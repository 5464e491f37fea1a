"""LoRA: low-rank adapters on the Linear layers of a frozen model (Hu et al., 2021; peft's ``LoraModel``).

A ``LoRALinear`` wraps a ``Linear`` (kept as ``base_layer``, frozen) and adds a rank-``r`` update::

    y = x W^T + b + (dropout(x) A^T B^T) * alpha / r        A: (r, in), B: (out, r)

``A`` starts as ``kaiming_uniform_(a=sqrt(5))`` and ``B`` as zeros (peft's default), so a fresh
adapter leaves the model's outputs unchanged. ``merge()`` adds ``B A * alpha / r`` into the base
weight (the layer then runs as the plain Linear: no extra cost at inference) and ``unmerge()``
restores the weight it had (the saved original, bit for bit).

    apply_lora(model, r=8, alpha=16, target_modules=("query", "value"), modules_to_save=("classifier",))
    ... train: only the adapters (and modules_to_save) have requires_grad ...
    save_lora(model, "adapter.safetensors")           # adapter weights only
    load_lora(fresh_model_with_lora_applied, "adapter.safetensors")
    merge_and_unload(model)                           # plain Linears again, e.g. for save_pretrained

``weight`` of a ``LoRALinear`` is the effective weight ``W + B A * alpha / r`` (the base weight once
merged), so code that reads a Linear's weight directly (the fused inference paths of the models) sees
the adapted layer. Its state_dict keys are ``base_layer.weight``, ``base_layer.bias``, ``lora_A`` and
``lora_B``.
"""
from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence

from shendu.backend import array_module
from shendu.grad_mode import no_grad
from shendu.nn import functional as F
from shendu.nn import init
from shendu.nn.layers.linear import Linear
from shendu.nn.module import Module
from shendu.nn.parameter import Parameter
from shendu.tensor import Tensor

__all__ = ["LoRALinear", "apply_lora", "load_lora", "lora_layers", "lora_parameters", "lora_state_dict",
           "mark_only_lora_as_trainable", "merge_and_unload", "merge_lora", "save_lora", "unmerge_lora"]

LORA_KEYS = ("lora_A", "lora_B")


class LoRALinear(Module):
    r"""A frozen ``Linear`` plus a trainable low-rank update: :math:`y = xW^T + b + \frac{\alpha}{r}\,
    \mathrm{dropout}(x) A^T B^T`.

    Args:
        base: the ``Linear`` to adapt (kept as ``base_layer``; its parameters are frozen).
        r: the rank of the update (>= 1). Default: 8.
        alpha: the scaling numerator; the update is multiplied by ``alpha / r``. Default: 16.
        dropout: dropout probability on the adapter's input (training only). Default: 0.

    Shape:
        - Input: :math:`(*, H_{in})`; Output: :math:`(*, H_{out})`, as the base layer.

    Attributes:
        lora_A: (r, in_features), ``kaiming_uniform_(a=sqrt(5))`` (peft's default).
        lora_B: (out_features, r), zeros, so the adapted layer starts equal to the base one.
        scaling: ``alpha / r``. merged: whether the update is folded into ``base_layer.weight``.
    """

    def __init__(self, base: Linear, r: int = 8, alpha: float = 16, dropout: float = 0.0):
        super().__init__()
        if not isinstance(base, Linear):
            raise TypeError(f"LoRALinear: base must be a shendu.nn.Linear, got {type(base).__name__}")
        if not isinstance(r, int) or isinstance(r, bool) or r < 1:
            raise ValueError(f"LoRALinear: r must be a positive int, got {r!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"LoRALinear: dropout must be in [0, 1), got {dropout}")
        self.base_layer = base
        self.in_features, self.out_features = base.in_features, base.out_features
        self.r, self.alpha, self.dropout_p = r, alpha, float(dropout)
        self.scaling = alpha / r
        w = base.weight
        xp = array_module(w._data)
        self.lora_A = Parameter(Tensor._wrap(xp.empty((r, base.in_features), dtype=w.dtype)))
        self.lora_B = Parameter(Tensor._wrap(xp.empty((base.out_features, r), dtype=w.dtype)))
        self.merged = False
        self._original = None  # the base weight's array before merge(), restored by unmerge()
        for p in base.parameters():
            p.requires_grad_(False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """A ~ ``kaiming_uniform_(a=sqrt(5))``, B = 0 (peft's ``init_lora_weights=True``)."""
        init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        init.zeros_(self.lora_B)

    @property
    def bias(self):
        """The base layer's bias (frozen; None without one)."""
        return self.base_layer.bias

    @property
    def weight(self) -> Tensor:
        """The effective weight ``W + B A * scaling`` (the base weight itself once merged)."""
        if self.merged:
            return self.base_layer.weight
        return self.base_layer.weight + self.lora_B.matmul(self.lora_A) * self.scaling

    def delta_weight(self) -> Tensor:
        """``B A * scaling``: (out_features, in_features)."""
        return self.lora_B.matmul(self.lora_A) * self.scaling

    def forward(self, input: Tensor) -> Tensor:
        y = self.base_layer(input)                                         # (*, out)
        if self.merged:
            return y
        x = F.dropout(input, self.dropout_p, self.training) if self.dropout_p else input
        return y + F.linear(F.linear(x, self.lora_A), self.lora_B) * self.scaling   # (*, r) -> (*, out)

    def merge(self) -> None:
        """Fold the update into ``base_layer.weight`` (the original is kept for ``unmerge``)."""
        if self.merged:
            return
        with no_grad():
            w = self.base_layer.weight
            self._original = w._data.copy()
            w.add_(self.delta_weight())
        self.merged = True

    def unmerge(self) -> None:
        """Restore the base weight ``merge`` changed (exactly the array it had)."""
        if not self.merged:
            return
        with no_grad():
            self.base_layer.weight.copy_(Tensor._wrap(self._original))
        self._original = None
        self.merged = False

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, r={self.r}, "
                f"alpha={self.alpha:g}, dropout={self.dropout_p:g}, merged={self.merged}")


def _matches(name: str, targets) -> bool:
    """peft's rule: a string is a regular expression the full name must match; a list of names matches a
    module whose name is one of them or ends with ``.`` + one of them."""
    if isinstance(targets, str):
        return re.fullmatch(targets, name) is not None
    return any(name == t or name.endswith("." + t) for t in targets)


def _set_child(model: Module, name: str, module: Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name)
    setattr(parent, child, module)


def lora_layers(model: Module) -> list[tuple[str, LoRALinear]]:
    """``(name, LoRALinear)`` for every adapter in ``model``."""
    return [(n, m) for n, m in model.named_modules() if isinstance(m, LoRALinear)]


def apply_lora(model: Module, r: int = 8, alpha: float = 16, dropout: float = 0.0,
               target_modules: str | Sequence[str] = ("query", "value"),
               modules_to_save: Sequence[str] = ()) -> Module:
    """Replace the ``Linear`` layers named by ``target_modules`` with ``LoRALinear`` adapters, in place,
    and freeze every other parameter.

    Args:
        r, alpha, dropout: each adapter's (``LoRALinear``).
        target_modules: module names (a Linear matches when its dotted name is one of them or ends with
            ``.name``: ``("query", "value")`` for BERT, ``("c_attn",)`` for GPT) or one regular
            expression the full dotted name must match (peft's rule).
        modules_to_save: names (same rule) of modules trained in full next to the adapters, e.g. a new
            classification head (``"classifier"``); their weights go into ``lora_state_dict`` too.
    Returns: ``model``. Raises ValueError when no Linear matches (naming the Linear layers there are).
    """
    if isinstance(target_modules, str) and not target_modules:
        raise ValueError("apply_lora: target_modules is empty")
    found = [(n, m) for n, m in model.named_modules()
             if isinstance(m, Linear) and n and _matches(n, target_modules)
             and not isinstance(model.get_submodule(n.rpartition(".")[0]), LoRALinear)]
    if not found:
        linears = [n for n, m in model.named_modules() if isinstance(m, Linear)]
        shown = ", ".join(linears[:12]) + (", ..." if len(linears) > 12 else "")
        raise ValueError(f"apply_lora: no Linear layer matches target_modules={target_modules!r}; the model's "
                         f"Linear layers: {shown or 'none'}")
    for name, module in found:
        _set_child(model, name, LoRALinear(module, r=r, alpha=alpha, dropout=dropout))
    model._lora_modules_to_save = tuple(modules_to_save)
    mark_only_lora_as_trainable(model, modules_to_save)
    return model


def mark_only_lora_as_trainable(model: Module, modules_to_save: Sequence[str] = ()) -> Module:
    """``requires_grad`` True for the adapters' ``lora_A``/``lora_B`` (and every parameter of the modules
    named by ``modules_to_save``), False for everything else. Returns ``model``."""
    keep = {id(p) for n, m in model.named_modules() if n and modules_to_save and _matches(n, modules_to_save)
            for p in m.parameters()}
    for name, p in model.named_parameters():
        p.requires_grad_(name.rpartition(".")[2] in LORA_KEYS or id(p) in keep)
    return model


def lora_parameters(model: Module) -> list[Parameter]:
    """The adapters' parameters (``lora_A``, ``lora_B`` of every ``LoRALinear``)."""
    return [p for n, p in model.named_parameters() if n.rpartition(".")[2] in LORA_KEYS]


def lora_state_dict(model: Module) -> dict[str, Tensor]:
    """The adapter weights only: every ``...lora_A``/``...lora_B`` and the parameters of the modules
    ``apply_lora`` was told to save (``modules_to_save``), by their state_dict names."""
    saved = getattr(model, "_lora_modules_to_save", ())
    extra = tuple(n + "." for n, _ in model.named_modules() if n and saved and _matches(n, saved))
    return {k: v for k, v in model.state_dict().items()
            if k.rpartition(".")[2] in LORA_KEYS or (extra and k.startswith(extra))}


def save_lora(model: Module, path: str | os.PathLike) -> None:
    """Write ``lora_state_dict(model)`` to the safetensors file ``path`` (with r, alpha and the targets in
    its metadata)."""
    import json

    from safetensors.numpy import save

    from shendu import backend
    from shendu.io.atomic import atomic_write_bytes
    layers = lora_layers(model)
    if not layers:
        raise ValueError("save_lora: the model has no LoRA adapters (call apply_lora first)")
    meta = {"format": "shendu.lora", "r": str(layers[0][1].r), "alpha": str(layers[0][1].alpha),
            "target_modules": json.dumps([n for n, _ in layers])}
    arrays = {k: backend.to_numpy(v._data) for k, v in lora_state_dict(model).items()}
    atomic_write_bytes(path, save(arrays, metadata=meta))


def load_lora(model: Module, state: dict | str | os.PathLike) -> Module:
    """Load adapter weights (a ``lora_state_dict`` or a ``save_lora`` file) into a model with the same
    adapters applied. Every adapter key must be present and no other key: a missing, unexpected or
    misshapen key raises KeyError/ValueError naming it. Returns ``model``."""
    if isinstance(state, (str, os.PathLike)):
        from safetensors.numpy import load_file
        where = os.fspath(state)
        state = load_file(where)
    else:
        where = "the state dict"
    ours = lora_state_dict(model)
    if not ours:
        raise ValueError("load_lora: the model has no LoRA adapters (call apply_lora with the same settings first)")
    missing = [k for k in ours if k not in state]
    unexpected = [k for k in state if k not in ours]
    if missing or unexpected:
        raise KeyError(f"load_lora: {where} does not fit the model's adapters: missing {missing[:8]}, "
                       f"unexpected {unexpected[:8]}")
    with no_grad():
        for k, target in ours.items():
            arr = getattr(state[k], "_data", state[k])
            if tuple(arr.shape) != tuple(target.shape):
                raise ValueError(f"load_lora: {where}: {k} has shape {tuple(arr.shape)}, expected "
                                 f"{tuple(target.shape)} (a different r?)")
            target.copy_(Tensor._wrap(arr.astype(target.dtype, copy=False)))
    return model


def _each(model: Module, fn: str) -> Module:
    layers = lora_layers(model)
    if not layers:
        raise ValueError(f"{fn}: the model has no LoRA adapters")
    for _, m in layers:
        getattr(m, fn.split("_")[0])()
    return model


def merge_lora(model: Module) -> Module:
    """``merge()`` every adapter of ``model`` (outputs unchanged, the adapters no longer computed)."""
    return _each(model, "merge_lora")


def unmerge_lora(model: Module) -> Module:
    """``unmerge()`` every adapter (the base weights restored exactly)."""
    return _each(model, "unmerge_lora")


def merge_and_unload(model: Module) -> Module:
    """Merge every adapter and put the plain ``Linear`` (with the merged weight) back in its place, so the
    model has its original structure and state_dict keys (``save_pretrained`` writes a normal checkpoint).
    The Linear's parameters keep ``requires_grad`` False. Returns ``model``."""
    for name, m in lora_layers(model):
        m.merge()
        _set_child(model, name, m.base_layer)
    return model
