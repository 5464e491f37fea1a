"""shendu.models.GPT: golden parity with a nanoGPT-style torch twin holding the same weights (logits, loss,
every parameter's gradient under a random upstream gradient) for each option, causality, overfitting a
short text, the key/value cache (forward and generate), sampling filters, and errors."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import shendu as sd
from shendu.models import GPT, GPTConfig, KVCache


# ------------------------------------------------------------------ the torch twin (nanoGPT-style)
class TAttn(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        self.H, self.Hkv, self.D = c.n_head, c.kv_heads, c.n_embd // c.n_head
        self.c_attn = torch.nn.Linear(c.n_embd, (self.H + 2 * self.Hkv) * self.D, bias=c.bias)
        self.c_proj = torch.nn.Linear(c.n_embd, c.n_embd, bias=c.bias)

    def forward(self, x, rope):
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split([self.H * self.D, self.Hkv * self.D, self.Hkv * self.D], dim=2)
        q = q.view(B, T, self.H, self.D).transpose(1, 2)
        k = k.view(B, T, self.Hkv, self.D).transpose(1, 2)
        v = v.view(B, T, self.Hkv, self.D).transpose(1, 2)
        if rope is not None:
            cos, sin = rope
            rot = lambda t: t * cos + torch.cat([-t[..., self.D // 2:], t[..., :self.D // 2]], -1) * sin  # noqa: E731
            q, k = rot(q), rot(k)
        if self.Hkv != self.H:
            k = k.repeat_interleave(self.H // self.Hkv, dim=1)
            v = v.repeat_interleave(self.H // self.Hkv, dim=1)
        y = TF.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.c_proj(y.transpose(1, 2).reshape(B, T, C))


class TMLP(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        self.kind, C = c.mlp, c.n_embd
        hidden = 4 * C if c.mlp == "gelu" else 8 * ((8 * C // 3 + 7) // 8)
        self.c_fc = torch.nn.Linear(C, hidden if c.mlp == "gelu" else 2 * hidden, bias=c.bias)
        self.c_proj = torch.nn.Linear(hidden, C, bias=c.bias)

    def forward(self, x):
        h = self.c_fc(x)
        if self.kind == "gelu":
            h = TF.gelu(h)
        else:
            a, b = h.chunk(2, -1)
            h = TF.silu(a) * b
        return self.c_proj(h)


def tnorm(c):
    return torch.nn.RMSNorm(c.n_embd, eps=1e-5) if c.norm == "rmsnorm" else torch.nn.LayerNorm(c.n_embd, bias=c.bias)


class TBlock(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        self.ln_1, self.attn, self.ln_2, self.mlp = tnorm(c), TAttn(c), tnorm(c), TMLP(c)

    def forward(self, x, rope):
        x = x + self.attn(self.ln_1(x), rope)
        return x + self.mlp(self.ln_2(x))


class TGPT(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        parts = dict(wte=torch.nn.Embedding(c.vocab_size, c.n_embd),
                     h=torch.nn.ModuleList([TBlock(c) for _ in range(c.n_layer)]), ln_f=tnorm(c))
        if c.pos == "learned":
            parts["wpe"] = torch.nn.Embedding(c.block_size, c.n_embd)
        self.transformer = torch.nn.ModuleDict(parts)
        self.lm_head = torch.nn.Linear(c.n_embd, c.vocab_size, bias=False)
        if c.tie_weights:
            self.transformer.wte.weight = self.lm_head.weight

    def forward(self, idx, targets=None):
        T, C, D = idx.shape[1], self.c.n_embd, self.c.n_embd // self.c.n_head
        x = self.transformer.wte(idx)
        pos = torch.arange(T, dtype=torch.float64)[:, None]
        rope = None
        if self.c.pos == "learned":
            x = x + self.transformer.wpe(torch.arange(T))
        elif self.c.pos == "sinusoidal":
            freq = torch.exp(torch.arange(0, C, 2, dtype=torch.float64) * (-math.log(10000.0) / C))
            pe = torch.zeros(T, C, dtype=torch.float64)
            pe[:, 0::2], pe[:, 1::2] = torch.sin(pos * freq), torch.cos(pos * freq)
            x = x + pe.to(x.dtype)
        else:
            ang = pos * (1.0 / 10000.0 ** (torch.arange(0, D, 2, dtype=torch.float64) / D))
            ang = torch.cat([ang, ang], -1)
            rope = ang.cos().to(x.dtype), ang.sin().to(x.dtype)
        for block in self.transformer.h:
            x = block(x, rope)
        logits = self.lm_head(self.transformer.ln_f(x))
        loss = None if targets is None else TF.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=-1)
        return logits, loss


def config(**kw):
    base = dict(vocab_size=13, block_size=12, n_layer=2, n_head=4, n_embd=16)
    base.update(kw)
    return GPTConfig(**base)


def pair(c, seed=0):
    sd.manual_seed(seed)
    model = GPT(c)
    ref = TGPT(c)
    missing = ref.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in model.state_dict().items()})
    assert not missing.missing_keys and not missing.unexpected_keys
    return model, ref


OPTIONS = [
    dict(),
    dict(pos="rope"),
    dict(pos="sinusoidal", tie_weights=False),
    dict(norm="rmsnorm"),
    dict(mlp="swiglu", bias=False),
    dict(n_kv_head=2),
    dict(n_kv_head=1, pos="rope", norm="rmsnorm", mlp="swiglu"),
]


@pytest.mark.parametrize("opts", OPTIONS, ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()) or "gpt2")
def test_parity_with_torch_twin(opts):
    c = config(**opts)
    model, ref = pair(c)
    rng = np.random.default_rng(1)
    idx = rng.integers(0, c.vocab_size, (3, 10))
    tgt = rng.integers(0, c.vocab_size, (3, 10))
    tgt[0, :4] = -1
    logits, loss = model(sd.tensor(idx), sd.tensor(tgt))
    rlogits, rloss = ref(torch.tensor(idx), torch.tensor(tgt))
    assert logits.dtype == sd.float32 and tuple(logits.shape) == (3, 10, c.vocab_size)
    np.testing.assert_allclose(logits.detach().numpy(), rlogits.detach().numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(float(loss), float(rloss.detach()), rtol=1e-5)
    g = rng.standard_normal(logits.shape).astype(np.float32)
    (logits * sd.tensor(g)).sum().add(loss * 3.0).backward()
    (rlogits * torch.tensor(g)).sum().add(rloss * 3.0).backward()
    ref_grads = dict(ref.named_parameters())
    names = [n for n, _ in model.named_parameters()]
    assert sorted(names) == sorted(ref_grads)
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        np.testing.assert_allclose(p.grad.numpy(), ref_grads[name].grad.numpy(), rtol=1e-3, atol=1e-5, err_msg=name)


def test_nanogpt_names_init_and_counts():
    c = config(n_layer=3)
    model = GPT(c)
    keys = set(model.state_dict())
    for k in ("transformer.wte.weight", "transformer.wpe.weight", "transformer.h.0.ln_1.weight",
              "transformer.h.0.attn.c_attn.weight", "transformer.h.0.attn.c_proj.bias", "transformer.h.2.ln_2.bias",
              "transformer.h.2.mlp.c_fc.weight", "transformer.h.2.mlp.c_proj.weight", "transformer.ln_f.weight",
              "lm_head.weight"):
        assert k in keys, k
    assert model.lm_head.weight is model.transformer.wte.weight
    ref = TGPT(c)
    total = sum(p.numel() for p in ref.parameters())
    assert model.num_parameters(non_embedding=False) == total
    assert model.num_parameters() == total - c.block_size * c.n_embd
    # GPT-2 init: the residual projections are scaled down by 1/sqrt(2 n_layer)
    sd.manual_seed(0)
    big = GPT(config(n_layer=8, n_embd=64, n_head=4))
    proj = np.concatenate([b.attn.c_proj.weight.detach().numpy().ravel() for b in big.transformer.h])
    fc = np.concatenate([b.mlp.c_fc.weight.detach().numpy().ravel() for b in big.transformer.h])
    assert abs(fc.std() - 0.02) < 0.002 and abs(proj.std() - 0.02 / 4) < 0.0005
    assert float(big.transformer.h[0].attn.c_attn.bias.abs().max()) == 0.0
    untied = GPT(config(n_layer=3, tie_weights=False))
    assert untied.num_parameters(False) == total + c.vocab_size * c.n_embd


@pytest.mark.parametrize("pos", ["learned", "rope", "sinusoidal"])
def test_causality(pos):
    model, _ = pair(config(pos=pos))
    rng = np.random.default_rng(2)
    a = rng.integers(0, 13, (2, 12))
    b = a.copy()
    b[:, 7:] = rng.integers(0, 13, (2, 5))
    la, _ = model(sd.tensor(a))
    lb, _ = model(sd.tensor(b))
    np.testing.assert_allclose(la.detach().numpy()[:, :7], lb.detach().numpy()[:, :7], rtol=1e-5, atol=1e-6)
    assert np.abs(la.detach().numpy()[:, 7:] - lb.detach().numpy()[:, 7:]).max() > 1e-3


def test_overfits_short_text():
    text = "hello shendu, hello gpt! "
    chars = sorted(set(text))
    ids = np.array([chars.index(ch) for ch in text * 3])
    c = GPTConfig(vocab_size=len(chars), block_size=24, n_layer=2, n_head=2, n_embd=32)
    sd.manual_seed(0)
    model = GPT(c)
    opt = sd.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    x = sd.tensor(np.stack([ids[i:i + 24] for i in range(0, 48, 4)]))
    y = sd.tensor(np.stack([ids[i + 1:i + 25] for i in range(0, 48, 4)]))
    for _ in range(300):
        _, loss = model(x, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss) < 0.1


@pytest.mark.parametrize("opts", [dict(), dict(pos="rope", n_kv_head=2), dict(pos="sinusoidal")])
def test_cache_forward_equals_full_forward(opts):
    model, _ = pair(config(**opts))
    idx = sd.tensor(np.random.default_rng(3).integers(0, 13, (2, 11)))
    full, _ = model(idx)
    cache = model.new_cache()
    assert isinstance(cache, KVCache)
    with sd.no_grad():
        parts = [model(idx[:, :5], cache=cache)[0], model(idx[:, 5:6], cache=cache, start_pos=5)[0],
                 model(idx[:, 6:11], cache=cache, start_pos=6)[0]]   # prefill, one token, a chunk
    assert cache.length == 11
    np.testing.assert_allclose(sd.cat(parts, 1).numpy(), full.detach().numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("opts", [dict(), dict(pos="rope", n_kv_head=1, norm="rmsnorm", mlp="swiglu")])
def test_generate_cache_equals_no_cache(opts):
    model, _ = pair(config(**opts))
    prompt = sd.tensor(np.random.default_rng(4).integers(0, 13, (3, 4)))
    greedy = model.generate(prompt, 14, temperature=0.0)    # 18 > block_size 12: the window slides
    assert tuple(greedy.shape) == (3, 18) and greedy.dtype == sd.int64
    np.testing.assert_array_equal(greedy.numpy()[:, :4], prompt.numpy())
    np.testing.assert_array_equal(greedy.numpy(), model.generate(prompt, 14, temperature=0.0, use_cache=False).numpy())
    for kw in (dict(), dict(temperature=0.8, top_k=5), dict(top_p=0.7, repetition_penalty=1.5)):
        runs = [model.generate(prompt, 10, generator=sd.Generator().manual_seed(7), use_cache=u, **kw).numpy()
                for u in (True, False)]
        np.testing.assert_array_equal(runs[0], runs[1])
        again = model.generate(prompt, 10, generator=sd.Generator().manual_seed(7), **kw).numpy()
        np.testing.assert_array_equal(runs[0], again)


def test_greedy_matches_torch_argmax_and_top_k_1():
    model, ref = pair(config())
    prompt = np.random.default_rng(5).integers(0, 13, (2, 3))
    out = model.generate(sd.tensor(prompt), 6, temperature=0.0).numpy()
    seq = torch.tensor(prompt)
    with torch.no_grad():
        for _ in range(6):
            seq = torch.cat([seq, ref(seq)[0][:, -1].argmax(-1, keepdim=True)], 1)
    np.testing.assert_array_equal(out, seq.numpy())
    topk1 = model.generate(sd.tensor(prompt), 6, temperature=1.3, top_k=1, generator=sd.Generator().manual_seed(1))
    np.testing.assert_array_equal(topk1.numpy(), out)


def test_sampling_filters_restrict_the_support():
    model, _ = pair(config())
    prompt = sd.tensor(np.zeros((1, 1), dtype=np.int64))
    with sd.no_grad():
        logits = model(prompt)[0][0, -1].detach().numpy()
    top3 = set(np.argsort(-logits)[:3].tolist())
    gen = sd.Generator().manual_seed(0)
    draws = {int(model.generate(prompt, 1, top_k=3, temperature=5.0, generator=gen)[0, 1]) for _ in range(40)}
    assert draws <= top3 and len(draws) > 1
    p = np.exp(logits - logits.max())
    p /= p.sum()
    order = np.argsort(-p)
    nucleus = set(order[:int(np.searchsorted(np.cumsum(p[order]), 0.5) + 1)].tolist())
    draws = {int(model.generate(prompt, 1, top_p=0.5, generator=gen)[0, 1]) for _ in range(40)}
    assert draws <= nucleus
    # a huge repetition penalty on a positive-logit token pushes greedy off the tokens already present
    best = int(np.argmax(logits))
    pen = model.generate(sd.tensor([[best]]), 1, temperature=0.0, repetition_penalty=1e6)
    assert int(pen[0, 1]) != best or logits[best] <= 0


def test_stream_stop_and_eos():
    model, _ = pair(config())
    prompt = sd.tensor(np.random.default_rng(6).integers(0, 13, (2, 3)))
    full = model.generate(prompt, 8, temperature=0.0)
    steps = list(model.generate(prompt, 8, temperature=0.0, stream=True))
    assert len(steps) == 8 and all(tuple(s.shape) == (2, 1) for s in steps)
    np.testing.assert_array_equal(np.concatenate([s.numpy() for s in steps], 1), full.numpy()[:, 3:])
    row = full.numpy()[0]
    eos = int(row[5])                                # the third generated token of row 0
    out = model.generate(prompt[:1], 8, temperature=0.0, eos_token=eos).numpy()[0]
    first = 3 + int(np.argmax(row[3:] == eos))
    np.testing.assert_array_equal(out, row[:first + 1])
    stop = [int(row[4]), int(row[5])]
    out = model.generate(prompt[:1], 8, temperature=0.0, stop=[stop, [99, 98]]).numpy()[0]
    assert out[-2:].tolist() == stop and len(out) <= 6
    # batched: a finished row repeats its last token while the other one goes on
    out = model.generate(prompt, 8, temperature=0.0, eos_token=eos).numpy()
    r0 = out[0]
    k = 3 + int(np.argmax(r0[3:] == eos))
    assert (r0[k:] == eos).all()


def test_crop_block_size():
    model, _ = pair(config())
    idx = sd.tensor(np.random.default_rng(8).integers(0, 13, (1, 6)))
    before, _ = model(idx)
    model.crop_block_size(6)
    assert model.config.block_size == 6 and tuple(model.transformer.wpe.weight.shape) == (6, 16)
    np.testing.assert_allclose(model(idx)[0].detach().numpy(), before.detach().numpy(), rtol=1e-6)
    with pytest.raises(ValueError, match="block_size is only 6"):
        model(sd.tensor(np.zeros((1, 7), dtype=np.int64)))
    with pytest.raises(ValueError, match="crop_block_size"):
        model.crop_block_size(10)


def test_errors():
    model, _ = pair(config())
    with pytest.raises(ValueError, match="length 13.*block_size is only 12"):
        model(sd.tensor(np.zeros((1, 13), dtype=np.int64)))
    with pytest.raises(ValueError, match=r"token ids must lie in \[0, 13\).*\[0, 13\]"):
        model(sd.tensor([[0, 13]]))
    with pytest.raises(ValueError, match="token ids"):
        model(sd.tensor([[-1, 2]]))
    with pytest.raises(ValueError, match="integer token ids"):
        model(sd.randn(1, 3))
    with pytest.raises(ValueError, match="start_pos=11, T=2.*block_size is only 12"):
        model(sd.tensor([[1, 2]]), cache=model.new_cache(), start_pos=11)
    with pytest.raises(ValueError, match="pos must be one of"):
        config(pos="alibi")
    with pytest.raises(ValueError, match="n_kv_head=3"):
        config(n_kv_head=3)
    with pytest.raises(ValueError, match="divisible"):
        config(n_embd=15)
    with pytest.raises(ValueError, match="top_p"):
        model.generate(sd.tensor([[1]]), 2, top_p=0.0)
    with pytest.raises(ValueError, match="top_k"):
        model.generate(sd.tensor([[1]]), 2, top_k=0)
    # a prompt longer than the context is cropped to its last block_size tokens (documented)
    long = sd.tensor(np.random.default_rng(9).integers(0, 13, (1, 20)))
    out = model.generate(long, 1, temperature=0.0)
    np.testing.assert_array_equal(out.numpy()[:, -1], model.generate(long[:, -12:], 1, temperature=0.0).numpy()[:, -1])


@pytest.mark.parametrize("pos", ["learned", "rope", "sinusoidal"])
def test_left_padding_batch_equals_each_row_alone(pos):
    model, _ = pair(config(pos=pos, n_kv_head=2))
    rng = np.random.default_rng(10)
    prompts = [rng.integers(1, 13, n) for n in (4, 2, 3)]
    batch = np.zeros((3, 4), dtype=np.int64)                  # left padding with id 0
    mask = np.zeros((3, 4), dtype=np.int64)
    for i, p in enumerate(prompts):
        batch[i, 4 - len(p):], mask[i, 4 - len(p):] = p, 1
    # the forward: real positions of a padded row give the logits of the row alone
    logits, _ = model(sd.tensor(batch), attention_mask=sd.tensor(mask))
    for i, p in enumerate(prompts):
        alone, _ = model(sd.tensor(p[None]))
        np.testing.assert_allclose(logits.detach().numpy()[i, 4 - len(p):], alone.detach().numpy()[0], rtol=1e-4,
                                   atol=1e-5)
    # generate (past block_size: the window slides) with and without the cache, greedy and penalised
    for kw in (dict(temperature=0.0), dict(temperature=0.0, repetition_penalty=1.8)):
        for use_cache in (True, False):
            out = model.generate(sd.tensor(batch), 10, attention_mask=sd.tensor(mask), use_cache=use_cache, **kw)
            for i, p in enumerate(prompts):
                alone = model.generate(sd.tensor(p[None]), 10, **kw).numpy()[0]
                np.testing.assert_array_equal(out.numpy()[i, 4 - len(p):], alone)
    with pytest.raises(ValueError, match="attention_mask"):
        model.generate(sd.tensor(batch), 2, attention_mask=sd.tensor(mask[:, 1:]))
    with pytest.raises(ValueError, match="attention_mask must be"):
        model(sd.tensor(batch), attention_mask=sd.tensor(mask[:2]))


@pytest.mark.parametrize("prompt_len", [1, 3])
def test_beam_search(prompt_len):
    model, ref = pair(config(pos="rope", n_kv_head=2))
    rng = np.random.default_rng(11)
    prompt = rng.integers(0, 13, (2, prompt_len))
    # beam_width=1 is greedy search
    greedy = model.generate(sd.tensor(prompt), 5, temperature=0.0).numpy()[:, prompt_len:]
    hyps = model.beam_search(sd.tensor(prompt), 5, beam_width=1)
    np.testing.assert_array_equal(np.stack([h[0].tokens.numpy() for h in hyps]), greedy)
    # beam_width = V**2 over 3 steps is exhaustive: the best of all 13**3 continuations, scored by the torch twin
    grid = np.stack(np.meshgrid(*[np.arange(13)] * 3, indexing="ij"), -1).reshape(-1, 3)  # (2197, 3)
    hyps = model.beam_search(sd.tensor(prompt), 3, beam_width=169, n_best=2)
    for b in range(2):
        seqs = torch.tensor(np.concatenate([np.repeat(prompt[b:b + 1], len(grid), 0), grid], 1))
        with torch.no_grad():
            logp = torch.log_softmax(ref(seqs)[0].double(), -1)[:, prompt_len - 1:-1]       # (2197, 3, V)
        total = logp.gather(2, seqs[:, prompt_len:, None])[..., 0].sum(1).numpy()         # (2197,)
        order = np.argsort(-total)
        assert len(hyps[b]) == 2
        np.testing.assert_array_equal(hyps[b][0].tokens.numpy(), grid[order[0]])
        np.testing.assert_allclose([h.score for h in hyps[b]], total[order[:2]], rtol=1e-4)
    # an end token stops a hypothesis (and is kept)
    eos = int(greedy[0, 1])
    hyp = model.beam_search(sd.tensor(prompt[:1]), 5, beam_width=1, eos_token=eos)[0][0]
    np.testing.assert_array_equal(hyp.tokens.numpy(), greedy[0, :int(np.argmax(greedy[0] == eos)) + 1])
    with pytest.raises(ValueError, match="exceed block_size=12"):
        model.beam_search(sd.tensor(prompt), 12 - prompt_len + 1)


def test_dropout_only_in_training_and_generate_restores_mode():
    c = config(dropout=0.3)
    model, ref = pair(c)
    x = sd.tensor(np.random.default_rng(12).integers(0, 13, (2, 6)))
    a, b = model(x)[0].detach().numpy(), model(x)[0].detach().numpy()
    assert np.abs(a - b).max() > 1e-3
    model.generate(x, 2)
    assert model.training
    model.eval()
    np.testing.assert_allclose(model(x)[0].detach().numpy(), ref(torch.tensor(x.numpy()))[0].detach().numpy(),
                               rtol=1e-4, atol=1e-5)
