"""GPT-2 checkpoints: ``GPT.from_pretrained(path)`` / ``model.save_pretrained(path)`` for Hugging Face
GPT-2 directories (config.json + model.safetensors or pytorch_model.bin, read by
``shendu.models.pretrained``'s loaders).

Two layouts load: the ``transformer.``-prefixed one transformers' ``GPT2LMHeadModel`` saves, and the
unprefixed one of the published GPT-2 weights (``h.0.attn.c_attn.weight``, with the stored causal-mask
buffers ``attn.bias`` / ``attn.masked_bias``, which are ignored). GPT-2's ``Conv1D`` stores weights as
(in, out), the transpose of a Linear's, so the four projections per block are transposed both ways.
The head is tied to ``wte`` (``tie_word_embeddings``, the default) or read from ``lm_head.weight``.
Saving writes the prefixed layout (without ``lm_head.weight`` when tied), which transformers reads.

GPT2Config -> GPTConfig: ``n_positions`` -> ``block_size``, ``n_embd``/``n_layer``/``n_head``/
``vocab_size`` as they are, ``activation_function`` ``gelu_new``/``gelu_pytorch_tanh`` -> ``mlp='gelu_tanh'``
(``gelu`` -> ``'gelu'``), ``resid_pdrop`` -> ``dropout``, ``layer_norm_epsilon`` -> every LayerNorm's eps.
Options GPT-2 has no place for (rope, RMSNorm, SwiGLU, grouped-query attention, no biases) cannot be saved
in this format: saving such a model is an error naming the option.
"""
from __future__ import annotations

import json
import os

import numpy as np

from shendu import backend
from shendu.io.atomic import atomic_write_bytes
from shendu.models.gpt import GPT, GPTConfig
from shendu.models.pretrained import CONFIG_NAME, SAFETENSORS_NAME, _directory, load_weights, save_weights
from shendu.nn.layers.normalization import LayerNorm

__all__ = ["config_from_hf", "config_to_hf", "from_pretrained", "load_gpt2_state", "save_pretrained"]

ACTIVATIONS = {"gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh", "gelu": "gelu"}
CONV1D = (".attn.c_attn.weight", ".attn.c_proj.weight", ".mlp.c_fc.weight", ".mlp.c_proj.weight")
BUFFERS = (".attn.bias", ".attn.masked_bias")  # the causal-mask buffers of the published weights


def config_from_hf(hf: dict, where: str = "config.json") -> tuple[GPTConfig, float]:
    """A GPT-2 ``config.json`` (as a dict) -> (GPTConfig, layer_norm_epsilon)."""
    if hf.get("model_type") != "gpt2":
        raise ValueError(f"GPT.from_pretrained: {where} has model_type {hf.get('model_type')!r}; GPT reads "
                         f"model_type 'gpt2'")
    act = hf.get("activation_function", "gelu_new")
    if act not in ACTIVATIONS:
        raise ValueError(f"GPT.from_pretrained: {where}: activation_function {act!r} is not supported "
                         f"(supported: {sorted(ACTIVATIONS)})")
    n_embd = hf.get("n_embd", 768)
    unsupported = [(k, hf.get(k)) for k, ok in (("n_inner", (None, 4 * n_embd)), ("scale_attn_weights", (None, True)),
                                                 ("scale_attn_by_inverse_layer_idx", (None, False)),
                                                 ("add_cross_attention", (None, False)))
                   if hf.get(k) not in ok]
    if unsupported:
        raise ValueError(f"GPT.from_pretrained: {where}: {', '.join(f'{k}={v!r}' for k, v in unsupported)} "
                         f"is not supported by shendu's GPT")
    config = GPTConfig(vocab_size=hf.get("vocab_size", 50257), block_size=hf.get("n_positions", 1024),
                       n_layer=hf.get("n_layer", 12), n_head=hf.get("n_head", 12), n_embd=n_embd,
                       dropout=float(hf.get("resid_pdrop", 0.1)), bias=True,
                       tie_weights=bool(hf.get("tie_word_embeddings", True)), mlp=ACTIVATIONS[act])
    return config, float(hf.get("layer_norm_epsilon", 1e-5))


def config_to_hf(model: GPT) -> dict:
    """The GPT-2 ``config.json`` dict of a ``GPT`` (ValueError for options GPT-2 cannot express)."""
    c = model.config
    bad = [f"{k}={getattr(c, k)!r}" for k, ok in (("pos", "learned"), ("norm", "layernorm"), ("bias", True))
           if getattr(c, k) != ok]
    bad += [f"mlp={c.mlp!r}"] * (c.mlp not in ("gelu", "gelu_tanh"))
    bad += [f"n_kv_head={c.n_kv_head}"] * (c.kv_heads != c.n_head)
    if bad:
        raise ValueError(f"GPT.save_pretrained: a GPT-2 checkpoint cannot hold {', '.join(bad)}")
    return {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "vocab_size": c.vocab_size,
            "n_positions": c.block_size, "n_embd": c.n_embd, "n_layer": c.n_layer, "n_head": c.n_head,
            "n_inner": None, "activation_function": "gelu_new" if c.mlp == "gelu_tanh" else "gelu",
            "resid_pdrop": c.dropout, "embd_pdrop": c.dropout, "attn_pdrop": c.dropout,
            "layer_norm_epsilon": model.transformer.ln_f.eps, "initializer_range": 0.02,
            "scale_attn_weights": True, "tie_word_embeddings": c.tie_weights}


def load_gpt2_state(model: GPT, state: dict[str, np.ndarray], file: str) -> None:
    """Load a GPT-2 state dict (either layout) into ``model``: strict about missing, unexpected and
    mis-shaped weights, each named with ``file``."""
    prefixed = any(k.startswith("transformer.") for k in state)
    mapped = {}
    for key, arr in state.items():
        if key.endswith(BUFFERS) or key == "lm_head.weight":
            continue
        name = key[len("transformer."):] if prefixed and key.startswith("transformer.") else key
        mapped["transformer." + name] = arr.T if name.endswith(CONV1D) else arr
    ours = model.state_dict()
    if not model.config.tie_weights:
        if "lm_head.weight" not in state:
            raise KeyError(f"GPT.from_pretrained: {file} lacks lm_head.weight (config.json: "
                           f"tie_word_embeddings=false)")
        mapped["lm_head.weight"] = state["lm_head.weight"]
    wanted = [k for k in ours if not (model.config.tie_weights and k == "lm_head.weight")]
    missing = [k for k in wanted if k not in mapped]
    unexpected = [k for k in mapped if k not in ours]
    if missing or unexpected:
        raise KeyError(f"GPT.from_pretrained: {file}: " + "; ".join(
            f"{what}: {', '.join(_hf_names(keys, prefixed))}" for what, keys in
            (("missing weight(s)", missing), ("weight(s) GPT does not have", unexpected)) if keys))
    for k in wanted:
        if tuple(mapped[k].shape) != tuple(ours[k].shape):
            (hf_name,) = _hf_names([k], prefixed)
            raise ValueError(f"GPT.from_pretrained: {file}: {hf_name} has shape {tuple(state[hf_name].shape)}, "
                             f"expected {tuple(ours[k].shape[::-1] if k.endswith(CONV1D) else ours[k].shape)} "
                             f"from config.json (n_embd={model.config.n_embd}, vocab_size={model.config.vocab_size}, "
                             f"n_positions={model.config.block_size})")
    model.load_state_dict({k: np.ascontiguousarray(mapped[k]).astype(ours[k].dtype, copy=False) for k in wanted},
                          strict=False)


def _hf_names(keys: list[str], prefixed: bool) -> list[str]:
    return [k if prefixed or not k.startswith("transformer.") else k[len("transformer."):] for k in keys]


def from_pretrained(cls: type[GPT], path, **config_overrides) -> GPT:
    """The GPT-2 model in the local checkpoint directory ``path``, in eval mode (``config_overrides``
    replace GPTConfig fields, e.g. ``dropout=0.0``)."""
    path = _directory(path, f"{cls.__name__}.from_pretrained")
    file = os.path.join(path, CONFIG_NAME)
    if not os.path.isfile(file):
        raise FileNotFoundError(f"GPT.from_pretrained: no {CONFIG_NAME} in {path!r} "
                                f"(found: {sorted(os.listdir(path))})")
    with open(file, encoding="utf-8") as f:
        try:
            hf = json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f"GPT.from_pretrained: {file} is not valid JSON: {e}") from None
    config, eps = config_from_hf(hf, file)
    for k, v in config_overrides.items():
        if not hasattr(config, k):
            raise TypeError(f"GPT.from_pretrained: GPTConfig has no field {k!r}")
        setattr(config, k, v)
    model = cls(GPTConfig(**vars(config)))
    for m in model.modules():
        if isinstance(m, LayerNorm):
            m.eps = eps
    state, weights = load_weights(path)
    load_gpt2_state(model, state, weights)
    model.eval()
    return model


def save_pretrained(model: GPT, path) -> None:
    """Write config.json and model.safetensors (transformers' GPT2LMHeadModel layout) into ``path``."""
    path = os.fspath(path)
    if os.path.isfile(path):
        raise NotADirectoryError(f"GPT.save_pretrained: {path!r} is a file, expected a directory")
    config = config_to_hf(model)
    os.makedirs(path, exist_ok=True)
    state = {}
    for k, v in model.state_dict().items():
        if k == "lm_head.weight" and model.config.tie_weights:
            continue
        arr = backend.to_numpy(v._data)
        state[k] = arr.T if k.endswith(CONV1D) else arr
    atomic_write_bytes(os.path.join(path, CONFIG_NAME), (json.dumps(config, indent=2) + "\n").encode("utf-8"))
    save_weights(state, os.path.join(path, SAFETENSORS_NAME))
