"""W4: GPT training step: decoder-only, vocab 96, context 128, d_model 256, 4 layers, 4 heads, pre-LayerNorm,
GELU MLP 4x, learned positions, tied embeddings, causal attention, cross-entropy, AdamW, batch 16.

The shendu side is ``shendu.models.GPT``; the PyTorch side is the nanoGPT-style model below (the clearest
idiomatic PyTorch, with ``F.scaled_dot_product_attention(is_causal=True)``), which W5 reuses for generation.
"""
from __future__ import annotations

import numpy as np

from benchmarks.workloads import Workload

VOCAB, BLOCK, EMBD, LAYERS, HEADS, BATCH = 96, 128, 256, 4, 4, 16
LR, WEIGHT_DECAY = 3e-4, 0.1


def _data():
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, VOCAB, (BATCH, BLOCK + 1))
    return tokens[:, :-1], tokens[:, 1:]  # (B, T) inputs and next-token targets


def flops(batch: int = BATCH, seq: int = BLOCK, d: int = EMBD, layers: int = LAYERS, vocab: int = VOCAB) -> float:
    """Matmul FLOPs of one training step: forward (per token and layer: qkv 6d^2, output projection 2d^2,
    MLP 16d^2, scores and weighted values 4*T*d as the attention kernels compute them in full; the tied
    head 2dV) and a backward of twice the forward (input and weight gradients)."""
    per_token = layers * (24 * d * d + 4 * seq * d) + 2 * d * vocab
    return 3 * batch * seq * per_token


def torch_gpt(block_size: int = BLOCK, vocab: int = VOCAB):
    """The PyTorch GPT (nanoGPT's model.py, trimmed to this architecture). ``forward(idx, targets=None,
    cache=None)`` returns ``(logits, loss, cache)``; with a cache (a list of per-layer ``(k, v)``, ``None`` at
    first) it attends to the cached keys and values and returns them extended by ``idx``'s positions."""
    import math

    import torch
    from torch import nn
    from torch.nn import functional as F

    class CausalSelfAttention(nn.Module):
        def __init__(self):
            super().__init__()
            self.c_attn = nn.Linear(EMBD, 3 * EMBD)
            self.c_proj = nn.Linear(EMBD, EMBD)

        def forward(self, x, past=None):
            B, T, C = x.shape
            q, k, v = self.c_attn(x).split(EMBD, dim=2)
            q, k, v = (t.view(B, T, HEADS, C // HEADS).transpose(1, 2) for t in (q, k, v))  # (B, nh, T, hs)
            if past is not None:  # incremental decoding: prepend the cached keys and values
                k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
            # causal within the new positions; a single new token attends to everything cached
            y = F.scaled_dot_product_attention(q, k, v, is_causal=past is None and T > 1)
            y = y.transpose(1, 2).contiguous().view(B, T, C)
            return self.c_proj(y), (k, v)

    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.c_fc = nn.Linear(EMBD, 4 * EMBD)
            self.gelu = nn.GELU()
            self.c_proj = nn.Linear(4 * EMBD, EMBD)

        def forward(self, x):
            return self.c_proj(self.gelu(self.c_fc(x)))

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln_1 = nn.LayerNorm(EMBD)
            self.attn = CausalSelfAttention()
            self.ln_2 = nn.LayerNorm(EMBD)
            self.mlp = MLP()

        def forward(self, x, past=None):
            a, kv = self.attn(self.ln_1(x), past)
            x = x + a
            x = x + self.mlp(self.ln_2(x))
            return x, kv

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.transformer = nn.ModuleDict(dict(
                wte=nn.Embedding(vocab, EMBD),
                wpe=nn.Embedding(block_size, EMBD),
                h=nn.ModuleList([Block() for _ in range(LAYERS)]),
                ln_f=nn.LayerNorm(EMBD),
            ))
            self.lm_head = nn.Linear(EMBD, vocab, bias=False)
            self.transformer.wte.weight = self.lm_head.weight  # tied embeddings
            self.apply(self._init_weights)
            for name, p in self.named_parameters():  # GPT-2's scaled residual projections
                if name.endswith("c_proj.weight"):
                    nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * LAYERS))

        def _init_weights(self, module):
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)

        def forward(self, idx, targets=None, cache=None):
            B, T = idx.shape
            start = 0 if cache is None or cache[0] is None else cache[0][0].size(2)
            pos = torch.arange(start, start + T, device=idx.device)
            x = self.transformer.wte(idx) + self.transformer.wpe(pos)  # (B, T, C)
            new_cache = []
            for i, block in enumerate(self.transformer.h):
                x, kv = block(x, None if cache is None else cache[i])
                new_cache.append(kv)
            logits = self.lm_head(self.transformer.ln_f(x))  # (B, T, vocab)
            loss = None if targets is None else F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))
            return logits, loss, new_cache

    return GPT()


def shendu_config(block_size: int = BLOCK, vocab: int = VOCAB):
    import shendu
    try:
        from shendu.models.gpt import GPT, GPTConfig
    except ImportError as e:
        raise RuntimeError(f"W4/W5 need shendu.models.GPT and GPTConfig (shendu/models/gpt.py), not importable "
                           f"in shendu {shendu.__file__}: {e}") from e
    return GPT(GPTConfig(vocab_size=vocab, block_size=block_size, n_layer=LAYERS, n_head=HEADS, n_embd=EMBD,
                         dropout=0.0, bias=True, tie_weights=True, pos="learned"))


def _step(framework, model, x, y, unpack):
    opt = framework.optim.AdamW(model.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = unpack(model(x, y))
        loss.backward()
        opt.step()
    return step


def build_shendu():
    import shendu as sd
    sd.manual_seed(0)
    model = shendu_config()
    x, y = (sd.tensor(a) for a in _data())
    return _step(sd, model, x, y, lambda out: out[1])


def build_torch():
    import torch
    torch.manual_seed(0)
    model = torch_gpt()
    x, y = (torch.tensor(a) for a in _data())
    return _step(torch, model, x, y, lambda out: out[1])


WORKLOAD = Workload("W4", "GPT train step (V 96, T 128, d 256, 4 layers x 4 heads, B 16) + AdamW", build_shendu,
                    build_torch, flops=flops())
