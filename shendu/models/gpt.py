"""``GPT``: a decoder-only Transformer language model (GPT-2 shaped, after nanoGPT's ``model.py``),
with a key/value cache for incremental decoding and ``generate``.

Read top to bottom: the config, the attention, the MLP, a block, the model, then generation.
Parameter names are nanoGPT's (``transformer.wte``, ``transformer.wpe``, ``transformer.h.{i}.ln_1``,
``.attn.c_attn``, ``.attn.c_proj``, ``.ln_2``, ``.mlp.c_fc``, ``.mlp.c_proj``, ``transformer.ln_f``,
``lm_head``), so a nanoGPT (or GPT-2 after transposing its Conv1D weights) state_dict maps on directly.

Options that large models use: ``pos="rope"`` (rotary queries/keys, half-split layout),
``norm="rmsnorm"``, ``mlp="swiglu"`` (``c_fc`` projects to both halves of the gate) and grouped-query
attention (``n_kv_head`` key/value heads shared by groups of query heads).

Shape letters: B batch, T new tokens, S = start_pos + T keys seen, C = n_embd, H = n_head,
Hkv = n_kv_head, D = C // H, V = vocab_size.

The key/value cache: ``forward(idx, cache=cache, start_pos=p)`` treats ``idx`` as the tokens at
positions ``p .. p+T-1`` of a sequence whose earlier keys/values ``cache`` (a :class:`KVCache`)
holds; it writes the new keys/values into the cache. The cache is for inference: keys/values
stored in it carry no gradient.
"""
from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

from shendu.grad_mode import no_grad
from shendu.models.gpt_decode import decode_plan, decode_step, fast_decoding
from shendu.nn import functional as F
from shendu.nn import init
from shendu.nn.containers import ModuleDict, ModuleList
from shendu.nn.layers.dropout import Dropout
from shendu.nn.layers.embedding import Embedding
from shendu.nn.layers.linear import Linear
from shendu.nn.layers.normalization import LayerNorm, RMSNorm
from shendu.nn.layers.positional import RotaryEmbedding, SinusoidalPositionalEncoding, apply_rotary_emb
from shendu.nn.module import Module
from shendu.nn.parameter import Parameter
from shendu.ops.shape import cat
from shendu.random import multinomial
from shendu.tensor import Tensor
from shendu.text.decoding import Hypothesis
from shendu.text.decoding import beam_search as _beam_search

__all__ = ["GPT", "GPTConfig", "KVCache"]

POS = ("learned", "rope", "sinusoidal")
NORMS = ("layernorm", "rmsnorm")
MLPS = ("gelu", "gelu_tanh", "swiglu")  # gelu_tanh: GPT-2's gelu_new


@dataclass
class GPTConfig:
    """The hyperparameters that shape a ``GPT``.

    ``n_kv_head``: key/value heads for grouped-query attention (None: ``n_head``, plain multi-head).
    ``bias``: biases in the Linears and LayerNorms (GPT-2: True). ``tie_weights``: ``lm_head`` shares
    ``transformer.wte``'s table.
    """

    vocab_size: int
    block_size: int
    n_layer: int
    n_head: int
    n_embd: int
    dropout: float = 0.0
    bias: bool = True
    tie_weights: bool = True
    pos: str = "learned"
    norm: str = "layernorm"
    mlp: str = "gelu"
    n_kv_head: int | None = None

    def __post_init__(self):
        n_kv = self.n_head if self.n_kv_head is None else self.n_kv_head
        for name, value, choices in (("pos", self.pos, POS), ("norm", self.norm, NORMS), ("mlp", self.mlp, MLPS)):
            if value not in choices:
                raise ValueError(f"GPTConfig: {name} must be one of {choices}, got {value!r}")
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            if getattr(self, name) <= 0:
                raise ValueError(f"GPTConfig: {name} must be positive, got {getattr(self, name)}")
        if self.n_embd % self.n_head:
            raise ValueError(f"GPTConfig: n_embd={self.n_embd} must be divisible by n_head={self.n_head}")
        if n_kv <= 0 or self.n_head % n_kv:
            raise ValueError(f"GPTConfig: n_head={self.n_head} must be a multiple of n_kv_head={n_kv}")
        if self.pos == "rope" and (self.n_embd // self.n_head) % 2:
            raise ValueError(f"GPTConfig: pos='rope' needs an even head size, got {self.n_embd // self.n_head}")

    @property
    def kv_heads(self) -> int:
        """The number of key/value heads (``n_kv_head``, or ``n_head`` when it is None)."""
        return self.n_head if self.n_kv_head is None else self.n_kv_head


class KVCache:
    """Per-layer keys and values of the tokens seen so far, preallocated to ``block_size`` positions.

    ``KVCache(config)`` (or ``model.new_cache()``); the buffers are made on the first write, with the
    batch size, dtype and device of the keys. ``length`` is the number of positions filled.
    """

    def __init__(self, config: GPTConfig):
        self.block_size, self.n_layer = config.block_size, config.n_layer
        self.keys: list = [None] * config.n_layer        # raw arrays (B, Hkv, block_size, D)
        self.values: list = [None] * config.n_layer
        self.length = 0

    def update(self, layer: int, k: Tensor, v: Tensor, start_pos: int) -> tuple[Tensor, Tensor]:
        """Store ``k, v`` (B, Hkv, T, D) at ``start_pos ..`` and return all keys/values up to there."""
        T = k.shape[2]
        if start_pos + T > self.block_size:
            raise ValueError(f"KVCache: positions {start_pos}..{start_pos + T - 1} exceed block_size={self.block_size}")
        if start_pos > self.length:
            raise ValueError(f"KVCache: start_pos={start_pos} leaves a gap after the {self.length} cached positions")
        kd, vd = k._data, v._data
        if self.keys[layer] is None or self.keys[layer].shape[0] != kd.shape[0] or self.keys[layer].dtype != kd.dtype:
            xp = k._xp()
            B, Hkv, _, D = kd.shape
            self.keys[layer] = xp.zeros((B, Hkv, self.block_size, D), dtype=kd.dtype)
            self.values[layer] = xp.zeros((B, Hkv, self.block_size, vd.shape[-1]), dtype=vd.dtype)
        self.keys[layer][:, :, start_pos:start_pos + T] = kd
        self.values[layer][:, :, start_pos:start_pos + T] = vd
        if layer == self.n_layer - 1:
            self.length = start_pos + T
        S = start_pos + T
        return Tensor._wrap(self.keys[layer][:, :, :S]), Tensor._wrap(self.values[layer][:, :, :S])

    def reset(self) -> None:
        """Forget the cached positions (the buffers are kept and overwritten)."""
        self.length = 0


def _norm(config: GPTConfig) -> Module:
    if config.norm == "rmsnorm":
        return RMSNorm(config.n_embd, eps=1e-5)
    return LayerNorm(config.n_embd, bias=config.bias)


class CausalSelfAttention(Module):
    """Multi-head (or grouped-query) causal self-attention with a fused ``c_attn`` for q, k, v."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.n_head, self.n_kv_head = config.n_head, config.kv_heads
        self.head_dim = config.n_embd // config.n_head
        self.c_attn = Linear(config.n_embd, (config.n_head + 2 * self.n_kv_head) * self.head_dim, bias=config.bias)
        self.c_proj = Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = config.dropout
        self.resid_dropout = Dropout(config.dropout)

    def forward(self, x: Tensor, rope=None, cache: KVCache | None = None, layer: int = 0,
                start_pos: int = 0, key_mask=None) -> Tensor:
        B, T, C = x.shape
        H, Hkv, D = self.n_head, self.n_kv_head, self.head_dim
        q, k, v = self.c_attn(x).split([H * D, Hkv * D, Hkv * D], dim=2)  # (B, T, H*D), (B, T, Hkv*D) x2
        q = q.view(B, T, H, D).transpose(1, 2)                              # (B, H, T, D)
        k = k.view(B, T, Hkv, D).transpose(1, 2)                            # (B, Hkv, T, D)
        v = v.view(B, T, Hkv, D).transpose(1, 2)                            # (B, Hkv, T, D)
        if rope is not None:
            cos, sin = rope                                                 # (T, D) or (B, 1, T, D)
            q, k = apply_rotary_emb(q, cos, sin), apply_rotary_emb(k, cos, sin)
        if cache is not None:
            k, v = cache.update(layer, k, v, start_pos)                     # (B, Hkv, S, D)
        S = k.shape[2]
        mask, causal = None, T > 1
        if key_mask is not None:   # padding: no query sees a padded key (but each sees itself, never NaN)
            xp = q._xp()
            own = xp.eye(T, S, S - T, dtype=bool)                           # (T, S)
            allowed = xp.tril(xp.ones((T, S), dtype=bool), S - T)[None] & key_mask[:, None, :]  # (B, T, S)
            mask, causal = Tensor._wrap((allowed | own)[:, None]), False    # (B, 1, T, S)
        elif causal and S != T:    # a chunk after cached keys: query i sees keys 0 .. start_pos + i
            xp = q._xp()
            mask = Tensor._wrap(xp.tril(xp.ones((T, S), dtype=bool), S - T))  # (T, S)
            causal = False
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal,
                                           dropout_p=self.dropout if self.training else 0.0,
                                           enable_gqa=Hkv != H)             # (B, H, T, D)
        y = y.transpose(1, 2).contiguous().view(B, T, C)                    # (B, T, C)
        return self.resid_dropout(self.c_proj(y))                           # (B, T, C)


class MLP(Module):
    """GPT-2's ``gelu`` MLP (C -> 4C -> C), or LLaMA's SwiGLU: ``c_proj(silu(a) * b)`` with
    ``a, b = c_fc(x).chunk(2)`` and a hidden size of 8C/3 rounded up to a multiple of 8."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.kind = config.mlp
        C = config.n_embd
        hidden = 4 * C if self.kind != "swiglu" else 8 * ((8 * C // 3 + 7) // 8)
        self.c_fc = Linear(C, hidden if self.kind != "swiglu" else 2 * hidden, bias=config.bias)
        self.c_proj = Linear(hidden, C, bias=config.bias)
        self.dropout = Dropout(config.dropout)

    def forward(self, x: Tensor) -> Tensor:
        h = self.c_fc(x)                                                    # (B, T, 4C) or (B, T, 2 hidden)
        if self.kind != "swiglu":
            h = F.gelu(h, approximate="tanh" if self.kind == "gelu_tanh" else "none")
        else:
            a, b = h.chunk(2, dim=-1)                                       # (B, T, hidden) each
            h = F.silu(a) * b
        return self.dropout(self.c_proj(h))                                 # (B, T, C)


class Block(Module):
    """Pre-norm Transformer block: ``x + attn(ln_1(x))``, then ``x + mlp(ln_2(x))``."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.ln_1 = _norm(config)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = _norm(config)
        self.mlp = MLP(config)

    def forward(self, x: Tensor, rope=None, cache: KVCache | None = None, layer: int = 0,
                start_pos: int = 0, key_mask=None) -> Tensor:
        x = x + self.attn(self.ln_1(x), rope, cache, layer, start_pos, key_mask)  # (B, T, C)
        return x + self.mlp(self.ln_2(x))                                   # (B, T, C)


class GPT(Module):
    r"""A GPT language model: token (+ position) embeddings, ``n_layer`` pre-norm blocks, a final
    norm and a linear head over the vocabulary.

    Args:
        config: a :class:`GPTConfig`.

    Shape:
        - ``idx``: (B, T) int64 token ids in ``[0, vocab_size)``, ``start_pos + T <= block_size``.
        - ``targets``: (B, T) int64 next-token ids, ``-1`` where no loss is taken.
        - Output: ``(logits (B, T, V), loss)``, loss the mean cross-entropy or None without targets.

    Attributes:
        transformer.wte.weight: (V, C) token table, :math:`\mathcal{N}(0, 0.02^2)` (shared with
            ``lm_head.weight`` when ``tie_weights``). transformer.wpe.weight: (block_size, C), learned
            positions only. Every Linear weight :math:`\mathcal{N}(0, 0.02^2)`, the residual projections
            (``c_proj``) :math:`\mathcal{N}(0, (0.02/\sqrt{2\,n\_layer})^2)`, biases 0 (GPT-2's init).
    """

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        C = config.n_embd
        parts = {"wte": Embedding(config.vocab_size, C)}
        if config.pos == "learned":
            parts["wpe"] = Embedding(config.block_size, C)
        elif config.pos == "sinusoidal":
            parts["wpe"] = SinusoidalPositionalEncoding(C, max_len=config.block_size)
        parts.update(drop=Dropout(config.dropout), h=ModuleList([Block(config) for _ in range(config.n_layer)]),
                     ln_f=_norm(config))
        self.transformer = ModuleDict(parts)
        self.rotary = RotaryEmbedding(C // config.n_head) if config.pos == "rope" else None
        self.lm_head = Linear(C, config.vocab_size, bias=False)
        if config.tie_weights:
            self.transformer.wte.weight = self.lm_head.weight
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """GPT-2's initialisation: N(0, 0.02) weights and embeddings, zero biases, residual projections
        scaled by 1/sqrt(2 n_layer); norms to 1 (and 0)."""
        for module in self.modules():
            if isinstance(module, Linear):
                init.normal_(module.weight, mean=0.0, std=0.02)
                if module.bias is not None:
                    init.zeros_(module.bias)
            elif isinstance(module, Embedding):
                init.normal_(module.weight, mean=0.0, std=0.02)
            elif isinstance(module, (LayerNorm, RMSNorm)):
                module.reset_parameters()
        std = 0.02 / math.sqrt(2 * self.config.n_layer)
        for block in self.transformer.h:
            init.normal_(block.attn.c_proj.weight, mean=0.0, std=std)
            init.normal_(block.mlp.c_proj.weight, mean=0.0, std=std)

    def num_parameters(self, non_embedding: bool = True) -> int:
        """Parameter count (shared tables once); ``non_embedding`` leaves out the learned position table
        (the token table stays in: it is the tied output head), as nanoGPT counts."""
        n = sum(p.numel() for p in self.parameters())
        if non_embedding and self.config.pos == "learned":
            n -= self.transformer.wpe.weight.numel()
        return n

    def crop_block_size(self, block_size: int) -> None:
        """Shrink the context to ``block_size`` (e.g. to fine-tune a pretrained model on shorter text)."""
        if not 0 < block_size <= self.config.block_size:
            raise ValueError(f"GPT.crop_block_size: block_size must be in [1, {self.config.block_size}], "
                             f"got {block_size}")
        self.config.block_size = block_size
        if self.config.pos == "learned":
            wpe = self.transformer.wpe
            with no_grad():
                wpe.weight = Parameter(wpe.weight[:block_size].clone())
            wpe.num_embeddings = block_size
        elif self.config.pos == "sinusoidal":
            self.transformer.wpe = SinusoidalPositionalEncoding(self.config.n_embd, max_len=block_size)

    @classmethod
    def from_pretrained(cls, path, **config_overrides) -> GPT:  # a Hugging Face GPT-2 directory
        """Load a GPT-2 checkpoint from the local Hugging Face directory ``path`` (``config.json`` plus
        ``model.safetensors`` or ``pytorch_model.bin``, as ``GPT2LMHeadModel.save_pretrained`` writes it);
        nothing is downloaded. ``config_overrides`` replace :class:`GPTConfig` fields (e.g. ``dropout=0.0``).
        Returns the model in eval mode; its logits match transformers' for the same weights."""
        from shendu.models.gpt_pretrained import from_pretrained
        return from_pretrained(cls, path, **config_overrides)

    def save_pretrained(self, path) -> None:  # config.json + model.safetensors, as transformers saves GPT-2
        """Write this model into the directory ``path`` (created if missing) as ``config.json`` and
        ``model.safetensors`` in transformers' ``GPT2LMHeadModel`` layout, so that both
        :meth:`GPT.from_pretrained` and ``transformers.GPT2LMHeadModel.from_pretrained`` read it."""
        from shendu.models.gpt_pretrained import save_pretrained
        save_pretrained(self, path)

    def new_cache(self) -> KVCache:
        """An empty :class:`KVCache` for this model."""
        return KVCache(self.config)

    def _check(self, idx: Tensor, start_pos: int) -> None:
        if not isinstance(idx, Tensor) or idx.ndim != 2 or idx.dtype.kind not in "iu":
            raise ValueError(f"GPT: expected idx of integer token ids (B, T), got "
                             f"{getattr(idx, 'shape', type(idx).__name__)} {getattr(idx, 'dtype', '')}")
        T, bs = idx.shape[1], self.config.block_size
        if T == 0:
            raise ValueError("GPT: idx has no tokens (T=0)")
        if start_pos < 0 or start_pos + T > bs:
            raise ValueError(f"GPT: cannot forward a sequence of length {start_pos + T} "
                             f"(start_pos={start_pos}, T={T}); block_size is only {bs}")
        lo, hi = int(idx._data.min()), int(idx._data.max())
        if lo < 0 or hi >= self.config.vocab_size:
            raise ValueError(f"GPT: token ids must lie in [0, {self.config.vocab_size}), got ids in [{lo}, {hi}]")

    def hidden_states(self, idx: Tensor, cache: KVCache | None = None, start_pos: int = 0,
                      attention_mask: Tensor | None = None) -> Tensor:
        """The final-norm output (B, T, C) that ``lm_head`` reads (arguments as in :meth:`forward`)."""
        self._check(idx, start_pos)
        B, T = idx.shape
        xp = idx._xp()
        key_mask = None
        if attention_mask is None:
            pos = xp.arange(start_pos, start_pos + T)                       # (T,)
        else:
            am = attention_mask._data if isinstance(attention_mask, Tensor) else xp.asarray(attention_mask)
            if am.shape != (B, start_pos + T):
                raise ValueError(f"GPT: attention_mask must be (B, start_pos + T) = {(B, start_pos + T)}, "
                                 f"got {tuple(am.shape)}")
            key_mask = am.astype(bool)                                      # (B, S)
            pos = xp.maximum(xp.cumsum(key_mask, axis=1) - 1, 0)[:, start_pos:]  # (B, T) per-row positions
        x = self.transformer.wte(idx)                                       # (B, T, C)
        rope = None
        if self.config.pos == "learned":
            x = x + self.transformer.wpe(Tensor._wrap(pos.astype(xp.int64)))  # (B, T, C)
        elif self.config.pos == "sinusoidal":
            x = self.transformer.wpe(x, offset=start_pos, positions=None if key_mask is None else Tensor._wrap(pos))
        else:
            cos, sin = self.rotary.cos_sin(pos, x.dtype)                    # (T, D) or (B, T, D)
            rope = (cos, sin) if cos.ndim == 2 else (cos.unsqueeze(1), sin.unsqueeze(1))  # (B, 1, T, D)
        x = self.transformer.drop(x)
        for i, block in enumerate(self.transformer.h):
            x = block(x, rope, cache, i, start_pos, key_mask)               # (B, T, C)
        return self.transformer.ln_f(x)                                     # (B, T, C)

    def forward(self, idx: Tensor, targets: Tensor | None = None, *, cache: KVCache | None = None,
                start_pos: int = 0, attention_mask: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """``(logits (B, T, V), loss)``. With ``cache``, ``idx`` holds positions ``start_pos ..`` and the
        cache supplies (and receives) the keys/values of the earlier ones. ``attention_mask``: (B,
        start_pos + T), 1 for real tokens and 0 for (left) padding of every position so far; padded keys
        are never attended to and each row's positions count its real tokens only."""
        x = self.hidden_states(idx, cache, start_pos, attention_mask)       # (B, T, C)
        logits = self.lm_head(x)                                            # (B, T, V)
        loss = None
        if targets is not None:
            V = logits.shape[-1]
            loss = F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1), ignore_index=-1)
        return logits, loss

    # ---------------------------------------------------------------- generation
    def generate(self, idx: Tensor, max_new_tokens: int, temperature: float = 1.0, top_k: int | None = None,
                 top_p: float | None = None, repetition_penalty: float = 1.0, stop=None,
                 eos_token: int | None = None, generator=None, use_cache: bool = True, stream: bool = False,
                 attention_mask: Tensor | None = None):
        """Continue the prompts ``idx`` (B, T) by up to ``max_new_tokens`` tokens each.

        Each step: the last position's logits, the ``repetition_penalty`` (CTRL's: a logit of a token
        already in the row is divided by it if positive, multiplied if negative), ``temperature``
        (``0`` means greedy argmax), ``top_k`` (keep the k largest), ``top_p`` (keep the smallest set of
        most likely tokens whose probability reaches p), then one draw from the softmax with
        ``generator``. ``eos_token`` (an id) and ``stop`` (a sequence of ids, or a list of such
        sequences) end a row once generated (they are kept in the output); a finished row repeats its
        last token while others go on, and generation ends when every row has finished.

        ``use_cache``: decode incrementally through a :class:`KVCache` (the prefix is never recomputed);
        the result equals ``use_cache=False``. A prompt longer than ``block_size`` is cropped to its last
        ``block_size`` tokens (as is the context once a row grows past it; then each step recomputes the
        window).

        ``attention_mask``: (B, T), 0 over the left padding of prompts of different lengths (see
        :meth:`forward`); each row then continues as it would alone.

        Returns (B, T + n) int64 ids, or with ``stream=True`` an iterator of (B, 1) tokens, one per step.
        """
        if not isinstance(idx, Tensor) or idx.ndim != 2 or idx.shape[1] == 0:
            raise ValueError(f"GPT.generate: expected a (B, T) prompt of token ids with T >= 1, got "
                             f"{getattr(idx, 'shape', type(idx).__name__)}")
        if max_new_tokens < 0 or temperature < 0 or repetition_penalty <= 0:
            raise ValueError(f"GPT.generate: need max_new_tokens >= 0, temperature >= 0, repetition_penalty > 0; "
                             f"got {max_new_tokens}, {temperature}, {repetition_penalty}")
        if top_k is not None and top_k <= 0:
            raise ValueError(f"GPT.generate: top_k must be positive, got {top_k}")
        if top_p is not None and not 0.0 < top_p <= 1.0:
            raise ValueError(f"GPT.generate: top_p must be in (0, 1], got {top_p}")
        if attention_mask is not None and tuple(attention_mask.shape) != tuple(idx.shape):
            raise ValueError(f"GPT.generate: attention_mask {tuple(attention_mask.shape)} must match the prompt "
                             f"{tuple(idx.shape)}")
        steps = self._steps(idx, max_new_tokens, temperature, top_k, top_p, repetition_penalty,
                            _stop_sequences(stop), eos_token, generator, use_cache, attention_mask)
        if stream:
            return steps
        return cat([idx, *steps], dim=1)

    def beam_search(self, idx: Tensor, max_new_tokens: int, beam_width: int = 4, eos_token: int | None = None,
                    length_penalty: float = 0.0, n_best: int = 1) -> list[list[Hypothesis]]:
        """Beam search from the prompts ``idx`` (B, T) through the key/value cache (``shendu.text.decoding``'s
        ``beam_search``: the B x beam_width beams are one batch, the cache rows follow the surviving beams).

        The prompt and the continuation must fit the context: ``T + max_new_tokens <= block_size``.
        Returns per prompt up to ``n_best`` ``Hypothesis(tokens, score)``, best first: the generated tokens
        (``eos_token`` included) and their summed log-probability divided by the length penalty.
        """
        if not isinstance(idx, Tensor) or idx.ndim != 2 or idx.shape[1] == 0:
            raise ValueError(f"GPT.beam_search: expected a (B, T) prompt of token ids with T >= 1, got "
                             f"{getattr(idx, 'shape', type(idx).__name__)}")
        T, bs = idx.shape[1], self.config.block_size
        if T + max_new_tokens > bs:
            raise ValueError(f"GPT.beam_search: prompt ({T}) + max_new_tokens ({max_new_tokens}) exceed "
                             f"block_size={bs}")
        n_layer = self.config.n_layer
        was_training = self.training
        self.eval()

        def step(tokens: Tensor, state):         # state: (keys..., values..., length); buffers (N, Hkv, bs, D)
            cache, length = self.new_cache(), state[-1]
            if state[0] is not None:
                cache.keys = [t._data for t in state[:n_layer]]
                cache.values = [t._data for t in state[n_layer:2 * n_layer]]
            cache.length = length
            x = self.hidden_states(tokens.reshape(-1, 1), cache, length)    # (N, 1, C)
            log_probs = F.log_softmax(self.lm_head(x[:, -1, :]), dim=-1)    # (N, V)
            buffers = tuple(Tensor._wrap(a) for a in (*cache.keys, *cache.values))
            return log_probs, (*buffers, length + 1)

        try:
            with no_grad():
                state = (*[None] * (2 * n_layer), 0)
                if T > 1:                                                   # prefill all but the last token
                    cache = self.new_cache()
                    self.hidden_states(idx[:, :-1], cache, 0)
                    state = (*(Tensor._wrap(a) for a in (*cache.keys, *cache.values)), T - 1)
                return _beam_search(step, idx[:, -1], state, beam_width, max_new_tokens, end_token=eos_token,
                                    length_penalty=length_penalty, n_best=n_best)
        finally:
            self.train(was_training)

    def _steps(self, idx, max_new_tokens, temperature, top_k, top_p, penalty, stops, eos_token, generator,
               use_cache, attention_mask) -> Iterator[Tensor]:
        bs = self.config.block_size
        xp = idx._xp()
        seq = idx._data.astype(xp.int64)                                    # (B, T) raw ids, grows
        padded = attention_mask is not None
        am = attention_mask._data.astype(bool) if padded else xp.ones(seq.shape, dtype=bool)  # (B, T), grows
        done = xp.zeros(seq.shape[0], dtype=bool)                           # (B,)
        cache = self.new_cache() if use_cache else None
        fast = cache is not None and fast_decoding(self)   # one token per step on arrays (gpt_decode.py)
        plan = decode_plan(self) if fast else None
        was_training = self.training
        self.eval()
        try:
            for _ in range(max_new_tokens):
                with no_grad():
                    if cache is not None and cache.length and seq.shape[1] <= bs:
                        if fast:
                            logits = decode_step(self, seq[:, -1], cache, seq.shape[1] - 1,
                                                 am if padded else None, plan)
                        else:
                            x = self.hidden_states(Tensor._wrap(seq[:, -1:]), cache, seq.shape[1] - 1,
                                                   am if padded else None)
                            logits = self.lm_head(x[:, -1, :])._data
                    else:
                        context = seq[:, -bs:]                              # (B, <= block_size)
                        step_cache = cache if (cache is not None and seq.shape[1] <= bs) else None
                        x = self.hidden_states(Tensor._wrap(context), step_cache, 0, am[:, -bs:] if padded else None)
                        logits = self.lm_head(x[:, -1, :])._data
                    logits = logits.astype(xp.float64)                      # (B, V)
                nxt = _pick(xp, logits, seq, am, temperature, top_k, top_p, penalty, generator)  # (B,)
                nxt = xp.where(done, seq[:, -1], nxt)
                seq = xp.concatenate([seq, nxt[:, None]], axis=1)
                am = xp.concatenate([am, xp.ones((am.shape[0], 1), dtype=bool)], axis=1)
                if eos_token is not None:
                    done |= nxt == eos_token
                for s in stops:
                    if seq.shape[1] >= len(s):
                        done |= (seq[:, -len(s):] == xp.asarray(s)).all(axis=1)
                yield Tensor._wrap(nxt[:, None].copy())                     # (B, 1)
                if bool(done.all()):
                    break
        finally:
            self.train(was_training)


def _stop_sequences(stop) -> list[list[int]]:
    """``stop`` as a list of id sequences: None, one id, one sequence of ids, or a list of sequences."""
    if stop is None:
        return []
    if isinstance(stop, int):
        return [[stop]]
    stop = list(stop)
    if stop and all(isinstance(s, int) for s in stop):
        return [stop]
    out = [[int(t) for t in s] for s in stop]
    if any(not s for s in out):
        raise ValueError("GPT.generate: an empty stop sequence")
    return out


def _pick(xp, logits, seq, am, temperature: float, top_k, top_p, penalty: float, generator):
    """Choose the next id per row from (B, V) float64 logits: penalty, temperature, top-k, top-p, draw."""
    B, V = logits.shape
    if penalty != 1.0:
        present = xp.zeros((B, V), dtype=bool)                              # (B, V): ids in the row (not padding)
        r, t = xp.nonzero(am)
        present[r, seq[r, t]] = True
        logits = xp.where(present, xp.where(logits > 0, logits / penalty, logits * penalty), logits)
    if temperature == 0:
        return logits.argmax(axis=-1)                                       # (B,)
    logits = logits / temperature
    if top_k is not None and top_k < V:
        kth = xp.partition(logits, V - top_k, axis=-1)[:, V - top_k:V - top_k + 1]  # (B, 1)
        logits = xp.where(logits < kth, -xp.inf, logits)
    probs = xp.exp(logits - logits.max(axis=-1, keepdims=True))
    probs /= probs.sum(axis=-1, keepdims=True)                              # (B, V)
    if top_p is not None and top_p < 1.0:
        order = xp.argsort(-probs, axis=-1, kind="stable")                  # (B, V)
        sorted_p = xp.take_along_axis(probs, order, axis=-1)
        cum = xp.cumsum(sorted_p, axis=-1)
        drop_sorted = (cum - sorted_p) >= top_p     # the tokens after the set already reaching top_p
        drop = xp.zeros_like(drop_sorted)
        xp.put_along_axis(drop, order, drop_sorted, axis=-1)
        probs = xp.where(drop, 0.0, probs)
    draw = multinomial(Tensor._wrap(probs), 1, replacement=True, generator=generator)  # (B, 1)
    return draw._data[:, 0].astype(xp.int64)

