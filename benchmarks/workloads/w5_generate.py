"""W5: GPT generation: W4's architecture with a context of 512, batch 1, a 16-token prompt, 256 new tokens,
greedy, with a key/value cache. One step is one whole generation; the result is tokens per second.

The shendu side is ``shendu.models.GPT.generate(..., use_cache=True)`` (greedy: ``temperature=0``); the PyTorch side
is W4's nanoGPT-style model decoding with a straightforward cache (per layer, the new key and value are
concatenated to the cached ones), the prompt in one forward, then one token per forward, under no_grad.
"""
from __future__ import annotations

import numpy as np

from benchmarks.workloads import Workload
from benchmarks.workloads.w4_gpt import VOCAB, shendu_config, torch_gpt

BLOCK, PROMPT, NEW_TOKENS = 512, 16, 256


def _prompt():
    return np.random.default_rng(0).integers(0, VOCAB, (1, PROMPT))


def build_shendu():
    import shendu as sd
    sd.manual_seed(0)
    model = shendu_config(BLOCK)
    model.eval()
    idx = sd.tensor(_prompt())

    def step():
        with sd.no_grad():
            out = model.generate(idx, NEW_TOKENS, temperature=0.0, use_cache=True)
        assert out.shape == (1, PROMPT + NEW_TOKENS), out.shape
        return out
    return step


def torch_generate(model, idx, max_new_tokens):
    """Greedy decoding with a key/value cache: the prompt in one forward, then one position per forward."""
    import torch
    cache, new = [None] * len(model.transformer.h), idx
    for _ in range(max_new_tokens):
        logits, _, cache = model(new, cache=cache)  # only the positions not yet in the cache
        new = logits[:, -1, :].argmax(dim=-1, keepdim=True)  # (B, 1) greedy
        idx = torch.cat([idx, new], dim=1)
    return idx


def build_torch():
    import torch
    torch.manual_seed(0)
    model = torch_gpt(BLOCK)
    model.eval()
    idx = torch.tensor(_prompt())

    def step():
        with torch.no_grad():
            return torch_generate(model, idx, NEW_TOKENS)
    return step


WORKLOAD = Workload("W5", f"GPT greedy generation, KV cache (W4's model, context {BLOCK}, B 1, prompt {PROMPT}, "
                    f"{NEW_TOKENS} new tokens)", build_shendu, build_torch, items_per_step=NEW_TOKENS,
                    unit="tokens/s")
