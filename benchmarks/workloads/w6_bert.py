"""W6: BERT encoder inference: 6 layers, hidden 384, 12 heads, FFN 1536, vocab 30522, sequence 128, batch 32,
no grad. The result is sequences per second.

The shendu side is ``shendu.models.BertModel``; the PyTorch side is Hugging Face transformers' ``BertModel``
with ``attn_implementation="sdpa"`` (PyTorch's fused attention), as a transformers user would run it: eval
mode, ``torch.no_grad()``, input ids with an all-ones attention mask. Both load the same random weights,
drawn with NumPy from each parameter's name (the two models' state_dict keys are the same), so each
framework's process builds them without the other.
"""
from __future__ import annotations

import zlib

import numpy as np

from benchmarks.workloads import Workload

VOCAB, HIDDEN, LAYERS, HEADS, FFN, SEQ, BATCH = 30522, 384, 6, 12, 1536, 128, 32

CONFIG = dict(vocab_size=VOCAB, hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
              intermediate_size=FFN, max_position_embeddings=512, hidden_act="gelu")


def flops() -> float:
    """Matmul FLOPs of one forward: per token and layer q/k/v/output projections 8C², the FFN 4CF,
    scores and weighted values 4TC; the pooler 2C² per sequence."""
    per_token = LAYERS * (8 * HIDDEN * HIDDEN + 4 * HIDDEN * FFN + 4 * SEQ * HIDDEN)
    return BATCH * (SEQ * per_token + 2 * HIDDEN * HIDDEN)


def weights(shapes: dict) -> dict:
    """The same random weights for ``{name: shape}`` in any process: N(0, 0.02) matrices and embeddings,
    LayerNorm weights near 1, biases N(0, 0.02)."""
    out = {}
    for name, shape in shapes.items():
        rng = np.random.default_rng(zlib.crc32(name.encode()))
        if "LayerNorm" in name and name.endswith("weight"):
            a = 1.0 + 0.02 * rng.standard_normal(shape)
        else:
            a = 0.02 * rng.standard_normal(shape)
        out[name] = a.astype(np.float32)
    return out


def _inputs():
    ids = np.random.default_rng(0).integers(0, VOCAB, (BATCH, SEQ))
    return ids, np.ones((BATCH, SEQ), dtype=np.int64)


def build_shendu():
    import shendu as sd
    try:
        from shendu.models.bert import BertConfig, BertModel
    except ImportError as e:
        raise RuntimeError(f"W6 needs shendu.models.bert (BertConfig, BertModel), not importable in shendu "
                           f"{sd.__file__}: {e}") from e
    model = BertModel(BertConfig(**CONFIG))
    model.load_state_dict(weights({k: tuple(v.shape) for k, v in model.state_dict().items()}))
    model.eval()
    ids, mask = (sd.tensor(a) for a in _inputs())

    def step():
        with sd.no_grad():
            return model(ids, attention_mask=mask).last_hidden_state
    return step


def build_torch():
    import torch
    import transformers
    model = transformers.BertModel(transformers.BertConfig(**CONFIG, attn_implementation="sdpa"))
    state = weights({k: tuple(v.shape) for k, v in model.state_dict().items() if not k.endswith("_ids")})
    model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=False)
    model.eval()
    assert model.config._attn_implementation == "sdpa", model.config._attn_implementation
    ids, mask = (torch.from_numpy(a) for a in _inputs())

    def step():
        with torch.no_grad():
            return model(input_ids=ids, attention_mask=mask).last_hidden_state
    return step


WORKLOAD = Workload("W6", f"BERT encoder inference ({LAYERS} layers, C {HIDDEN}, {HEADS} heads, FFN {FFN}, "
                    f"V {VOCAB}, T {SEQ}, B {BATCH}), no grad", build_shendu, build_torch, flops=flops(),
                    items_per_step=BATCH, unit="seq/s", steps=20)
