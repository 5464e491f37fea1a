"""XLNet: permutation language modelling with two-stream relative attention (after Hugging Face transformers'
``modeling_xlnet.py`` and Yang et al. 2019, "XLNet: Generalized Autoregressive Pretraining").

Read top to bottom: the config; one layer's relative attention, with a *content* stream ``h`` (a position
sees its own token) and a *query* stream ``g`` (a position knows only where it is, never its own token: the
stream that predicts); the feed-forward block; ``XLNetModel``, which turns ``perm_mask`` (1 = position i may
not attend to j: the factorisation order) and the padding mask into the two streams' masks, and builds the
sinusoidal encodings of relative distance; ``XLNetLMHeadModel`` (the head tied to the word embeddings, with
its own bias); then the permutation-LM helper, which samples a factorisation order per sequence and builds
``perm_mask``/``target_mapping`` for its last K tokens (partial prediction, as in the paper).

An attention score is ``(q + r_w_bias)·k_j`` (content) ``+ (q + r_r_bias)·r_{i-j}`` (relative position, laid
out by the rel_shift trick) ``+ (q + r_s_bias)·seg_embed[same segment or not]``, scaled by 1/sqrt(D); masked
scores get ``-1e30`` added, as transformers does (so a row with every key masked attends uniformly, as there).
Parameter names are transformers' (``transformer.layer.0.rel_attn.q`` is (C, H, D), ...), so
``from_pretrained``/``save_pretrained`` (``shendu.models.pretrained``) read and write its directories.

Tensors are batch-first here; ``mems`` keep transformers' layout, one (M, N, C) array per layer, so that they
pass between the two libraries. Limits: ``mems`` are cached content states only (Transformer-XL recurrence,
``mem_len``/``reuse_len`` as transformers); the query stream exists only when ``target_mapping`` is given
(as in transformers); ``attn_type='uni'`` is the causal Transformer-XL mask.

Shape letters: N batch, T tokens, M memory length, K = M + T keys, P predicted tokens (target_mapping rows),
C = d_model, H = n_head, D = d_head, V = vocab_size, F = d_inner.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from shendu import backend
from shendu.models.bert import ACTIVATIONS, _activation
from shendu.models.outputs import ModelOutput
from shendu.models.pretrained import PreTrainedModel
from shendu.nn import functional as F
from shendu.nn import init
from shendu.nn.containers import ModuleList
from shendu.nn.layers.dropout import Dropout
from shendu.nn.layers.embedding import Embedding
from shendu.nn.layers.linear import Linear
from shendu.nn.layers.normalization import LayerNorm
from shendu.nn.module import Module
from shendu.nn.parameter import Parameter
from shendu.ops.shape import cat
from shendu.random import Generator, rand
from shendu.tensor import Tensor

__all__ = ["XLNetConfig", "XLNetModel", "XLNetLMHeadModel", "XLNetModelOutput", "XLNetLMHeadModelOutput",
           "PermutationLMBatch", "sample_permutation_lm", "permutation_lm_loss"]

MASKED = 1e30  # subtracted from a masked score (transformers' constant)


@dataclass
class XLNetConfig:
    """XLNet's hyperparameters under config.json's field names (transformers' ``XLNetConfig`` defaults:
    xlnet-large). ``extra`` keeps config.json's other fields (the summary/QA heads' settings) so that a saved
    config round-trips. ``hidden_size``/``num_hidden_layers``/``num_attention_heads`` read the XLNet names."""

    model_type: ClassVar[str] = "xlnet"

    vocab_size: int = 32000
    d_model: int = 1024
    n_layer: int = 24
    n_head: int = 16
    d_inner: int = 4096
    d_head: int | None = None
    ff_activation: str = "gelu"
    untie_r: bool = True
    attn_type: str = "bi"
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-12
    dropout: float = 0.1
    mem_len: int | None = 512
    reuse_len: int | None = None
    use_mems_eval: bool = True
    use_mems_train: bool = False
    bi_data: bool = False
    clamp_len: int = -1
    same_length: bool = False
    pad_token_id: int | None = 5
    bos_token_id: int | None = 1
    eos_token_id: int | None = 2
    tie_word_embeddings: bool = True
    extra: dict = field(default_factory=dict, repr=False)

    def __post_init__(self):
        for name in ("vocab_size", "d_model", "n_layer", "n_head", "d_inner"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) <= 0:
                raise ValueError(f"XLNetConfig: {name} must be a positive int, got {getattr(self, name)!r}")
        if self.d_model % self.n_head:
            raise ValueError(f"XLNetConfig: d_model {self.d_model} is not a multiple of n_head {self.n_head}")
        if self.d_head is None:
            self.d_head = self.d_model // self.n_head
        if self.d_head != self.d_model // self.n_head:
            raise ValueError(f"XLNetConfig: d_head {self.d_head} must be d_model // n_head = "
                             f"{self.d_model // self.n_head}")
        if self.ff_activation not in ACTIVATIONS:
            raise ValueError(f"XLNetConfig: ff_activation must be one of {ACTIVATIONS}, got {self.ff_activation!r}")
        if self.attn_type not in ("bi", "uni"):
            raise ValueError(f"XLNetConfig: attn_type must be 'bi' (XLNet) or 'uni' (Transformer-XL), "
                             f"got {self.attn_type!r}")
        if not self.untie_r:
            raise ValueError("XLNetConfig: untie_r=False (one set of r_w/r_r/r_s biases shared by every layer) is "
                             "not supported: transformers' XLNet keeps per-layer biases, as shendu does")
        for name in ("mem_len", "reuse_len"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, int) or v < 0):
                raise ValueError(f"XLNetConfig: {name} must be None or an int >= 0, got {v!r}")

    hidden_size = property(lambda self: self.d_model, doc="``d_model`` under transformers' common name.")
    num_hidden_layers = property(lambda self: self.n_layer, doc="``n_layer`` under transformers' common name.")
    num_attention_heads = property(lambda self: self.n_head, doc="``n_head`` under transformers' common name.")

    @classmethod
    def from_dict(cls, data: dict) -> XLNetConfig:
        """From config.json's object: known fields by name (``n_token`` is the old ``vocab_size``), the rest in
        ``extra``."""
        data = dict(data)
        if "n_token" in data and "vocab_size" not in data:
            data["vocab_size"] = data.pop("n_token")
        names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        kwargs = {k: v for k, v in data.items() if k in names}
        extra = {k: v for k, v in data.items() if k not in names and k not in ("model_type", "architectures")}
        return cls(**kwargs, extra=extra)

    def to_dict(self) -> dict:
        """config.json's object, in the fields transformers' ``XLNetConfig`` reads."""
        data = dict(self.extra)
        data.update({f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"})
        data["model_type"] = self.model_type
        return data

    def replace(self, **changes) -> XLNetConfig:
        """A copy with the fields in ``changes`` replaced (e.g. ``config.replace(mem_len=64)``); an unknown
        field is a TypeError."""
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise TypeError(f"XLNetConfig: unknown field(s) {unknown}")
        return dataclasses.replace(self, **changes)


def _heads(x: Tensor, w: Tensor) -> Tensor:
    """(N, L, C) @ (C, H, D) -> (N, H, L, D): one projection into every head."""
    N, L, C = x.shape
    _, H, D = w.shape
    return x.matmul(w.reshape(C, H * D)).view(N, L, H, D).transpose(1, 2)


def _rel_shift(x: Tensor, klen: int) -> Tensor:
    """(N, H, T, R) scores against the encodings of distances ``klen .. -T+1`` -> (N, H, T, klen) scores with
    query i and key j reading distance ``i - j + mlen``: the reshape trick (a row offset of one per query)."""
    N, H, T, R = x.shape
    x = x.reshape(N, H, R, T)[:, :, 1:]                                  # (N, H, R-1, T)
    return x.reshape(N, H, T, R - 1)[..., :klen]                         # (N, H, T, K)


class XLNetRelativeAttention(Module):
    """Two-stream multi-head attention with relative positional encodings, then the output projection,
    residual and LayerNorm (each stream through the same weights).

    Attributes: ``q``, ``k``, ``v``, ``o``, ``r``: (C, H, D); ``r_w_bias``, ``r_r_bias``, ``r_s_bias``: (H, D);
    ``seg_embed``: (2, H, D) (index 0: same segment, 1: a different one); all N(0, initializer_range²).
    """

    def __init__(self, config: XLNetConfig):
        super().__init__()
        C, H, D = config.d_model, config.n_head, config.d_head
        self.n_head, self.d_head, self.scale = H, D, 1.0 / D ** 0.5
        for name in ("q", "k", "v", "o", "r"):
            setattr(self, name, Parameter(np.zeros((C, H, D), dtype=np.float32)))
        for name in ("r_r_bias", "r_s_bias", "r_w_bias"):
            setattr(self, name, Parameter(np.zeros((H, D), dtype=np.float32)))
        self.seg_embed = Parameter(np.zeros((2, H, D), dtype=np.float32))
        self.layer_norm = LayerNorm(C, eps=config.layer_norm_eps)
        self.dropout = Dropout(config.dropout)

    def _core(self, q: Tensor, k: Tensor, v: Tensor, k_r: Tensor, seg: Tensor | None, mask: Tensor | None):
        """q (N, H, T, D) against keys/values (N, H, K, D) and position keys (1|N, H, R, D) -> (N, H, T, D) and
        the probabilities (N, H, T, K)."""
        H, D = self.n_head, self.d_head
        ac = (q + self.r_w_bias.view(H, 1, D)).matmul(k.transpose(-1, -2))          # (N, H, T, K)
        bd = (q + self.r_r_bias.view(H, 1, D)).matmul(k_r.transpose(-1, -2))        # (N, H, T, R)
        score = ac + _rel_shift(bd, ac.shape[-1])                                   # (N, H, T, K)
        if seg is not None:  # seg: (N, 1, T, K) 1.0 where i and j are in different segments
            ef = (q + self.r_s_bias.view(H, 1, D)).matmul(self.seg_embed.permute(1, 2, 0))  # (N, H, T, 2)
            score = score + ((1.0 - seg) * ef[..., 0:1] + seg * ef[..., 1:2])
        score = score * self.scale
        if mask is not None:  # mask: (N, 1, T, K) 1.0 where i may not attend to j
            score = score - MASKED * mask
        prob = F.softmax(score, dim=-1)                                             # (N, H, T, K)
        return self.dropout(prob).matmul(v), prob                                   # (N, H, T, D)

    def _post(self, x: Tensor, vec: Tensor) -> Tensor:
        N, H, L, D = vec.shape
        out = vec.transpose(1, 2).reshape(N, L, H * D).matmul(self.o.reshape(-1, H * D).t())  # (N, L, C)
        return self.layer_norm(self.dropout(out) + x)

    def forward(self, h: Tensor, g: Tensor | None, mask_h: Tensor | None, mask_g: Tensor | None, r: Tensor,
                seg: Tensor | None, mems: Tensor | None = None, target_mapping: Tensor | None = None):
        """h (N, T, C) content stream; g (N, P, C) query stream or None; r (1|N, R, C) relative encodings;
        mems (N, M, C) or None; target_mapping (N, P, T). Returns (h', g', (prob_h, prob_g))."""
        hm = h if mems is None else cat([mems, h], dim=1)                   # (N, K, C)
        k, v = _heads(hm, self.k), _heads(hm, self.v)                       # (N, H, K, D)
        k_r = _heads(r, self.r)                                             # (1|N, H, R, D)
        vec_h, prob_h = self._core(_heads(h, self.q), k, v, k_r, seg, mask_h)
        out_h = self._post(h, vec_h)                                        # (N, T, C)
        if g is None:
            return out_h, None, (prob_h, None)
        q_g = _heads(g, self.q)                                             # (N, H, P, D)
        if target_mapping is not None:  # each prediction's query placed at the position it predicts
            q_g = target_mapping.transpose(1, 2).unsqueeze(1).matmul(q_g)   # (N, H, T, D)
        vec_g, prob_g = self._core(q_g, k, v, k_r, seg, mask_g)
        if target_mapping is not None:
            vec_g = target_mapping.unsqueeze(1).matmul(vec_g)               # (N, H, P, D)
        return out_h, self._post(g, vec_g), (prob_h, prob_g)


class XLNetFeedForward(Module):
    """``LN(x + W2 act(W1 x))`` (``layer_1``: C -> F, ``layer_2``: F -> C)."""

    def __init__(self, config: XLNetConfig):
        super().__init__()
        self.layer_norm = LayerNorm(config.d_model, eps=config.layer_norm_eps)
        self.layer_1 = Linear(config.d_model, config.d_inner)
        self.layer_2 = Linear(config.d_inner, config.d_model)
        self.dropout = Dropout(config.dropout)
        self.act = config.ff_activation

    def forward(self, x: Tensor) -> Tensor:
        y = self.dropout(_activation(self.act, self.layer_1(x)))           # (N, L, F)
        return self.layer_norm(self.dropout(self.layer_2(y)) + x)          # (N, L, C)


class XLNetLayer(Module):
    def __init__(self, config: XLNetConfig):
        super().__init__()
        self.rel_attn = XLNetRelativeAttention(config)
        self.ff = XLNetFeedForward(config)

    def forward(self, h, g, mask_h, mask_g, r, seg, mems=None, target_mapping=None):
        h, g, probs = self.rel_attn(h, g, mask_h, mask_g, r, seg, mems, target_mapping)
        return self.ff(h), (self.ff(g) if g is not None else None), probs


@dataclass
class XLNetModelOutput(ModelOutput):
    """``last_hidden_state`` (N, P, C) with target_mapping (the query stream), else (N, T, C); ``mems``: one
    (M, N, C) per layer (transformers' layout) when use_mems; ``hidden_states``: the embeddings' and every
    layer's output ((h, g) pairs flattened when there is a query stream); ``attentions``: (N, H, T, K) per
    layer, (content, query) pairs with a query stream."""

    last_hidden_state: Tensor | None = None
    mems: tuple | None = None
    hidden_states: tuple | None = None
    attentions: tuple | None = None


@dataclass
class XLNetLMHeadModelOutput(ModelOutput):
    loss: Tensor | None = None
    logits: Tensor | None = None  # (N, P, V) or (N, T, V)
    mems: tuple | None = None
    hidden_states: tuple | None = None
    attentions: tuple | None = None


class XLNetPreTrainedModel(PreTrainedModel, Module):
    """What both XLNet classes share: the config class, the ``transformer.`` prefix and transformers'
    initialisation."""

    config_class = XLNetConfig
    base_model_prefix = "transformer"

    def _init_weights(self) -> None:
        """Linear/Embedding weights, the attention parameters and ``mask_emb`` N(0, initializer_range²);
        biases 0; LayerNorms 1 and 0."""
        std = self.config.initializer_range
        for module in self.modules():
            if isinstance(module, (Linear, Embedding)):
                init.normal_(module.weight, 0.0, std)
                if isinstance(module, Linear) and module.bias is not None:
                    init.zeros_(module.bias)
            elif isinstance(module, LayerNorm):
                init.ones_(module.weight)
                init.zeros_(module.bias)
            elif isinstance(module, XLNetRelativeAttention):
                for p in (module.q, module.k, module.v, module.o, module.r, module.r_r_bias, module.r_s_bias,
                          module.r_w_bias, module.seg_embed):
                    init.normal_(p, 0.0, std)
            elif isinstance(module, XLNetModel):
                init.normal_(module.mask_emb, 0.0, std)


def _host(x, what: str, shape: tuple | None = None, ndim: int | None = None) -> np.ndarray | None:
    """A mask/ids input (Tensor, array or nested list) as a NumPy array, its shape checked."""
    if x is None:
        return None
    arr = backend.to_numpy(x._data) if isinstance(x, Tensor) else np.asarray(x)
    if shape is not None and tuple(arr.shape) != shape:
        raise ValueError(f"XLNetModel: {what} must have shape {shape}, got {tuple(arr.shape)}")
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"XLNetModel: {what} must be {ndim}-D, got shape {tuple(arr.shape)}")
    return arr


class XLNetModel(XLNetPreTrainedModel):
    r"""The XLNet encoder: word embeddings, ``n_layer`` two-stream relative-attention layers.

    Args:
        config: an :class:`XLNetConfig`.

    Shape:
        - ``input_ids`` (N, T) ints (or ``inputs_embeds`` (N, T, C)); ``attention_mask`` (N, T) 1 = token,
          0 = padding, or ``input_mask`` (N, T), its complement (pass one of them); ``token_type_ids`` (N, T).
        - ``perm_mask`` (N, T, T): 1 where position i may not attend to j (the factorisation order); the content
          stream of i still sees i itself. ``target_mapping`` (N, P, T): row p one-hot on the position the p-th
          prediction is for; it switches the query stream on (its output is ``last_hidden_state``).
        - ``mems``: a list of n_layer (M, N, C) cached states from the previous segment; ``use_mems`` returns
          the next ones (default: ``config.use_mems_eval`` in eval mode, ``use_mems_train`` in training).
        - Output: :class:`XLNetModelOutput`.

    Attributes: ``word_embedding`` (V, C); ``mask_emb`` (1, 1, C), the query stream's input; ``layer``.
    """

    def __init__(self, config: XLNetConfig):
        super().__init__()
        self.config = config
        self.word_embedding = Embedding(config.vocab_size, config.d_model)
        self.mask_emb = Parameter(np.zeros((1, 1, config.d_model), dtype=np.float32))
        self.layer = ModuleList([XLNetLayer(config) for _ in range(config.n_layer)])
        self.dropout = Dropout(config.dropout)
        self._init_weights()

    def get_input_embeddings(self) -> Embedding:
        """The token embedding table, an ``Embedding(vocab_size, d_model)``."""
        return self.word_embedding

    def _relative_encoding(self, T: int, K: int, N: int, xp, dtype) -> np.ndarray:
        """Sinusoids of the relative distances ``K .. -T+1`` (bi) or ``K .. 0`` (uni): (1, R, C), or (N, R, C)
        with bi_data (the first half of the batch forward distances, the second half backward)."""
        C = self.config.d_model
        inv_freq = (1.0 / 10000.0 ** (xp.arange(0, C, 2, dtype=np.float32) / np.float32(C))).astype(np.float32)
        end = -T if self.config.attn_type == "bi" else -1
        clamp = self.config.clamp_len

        def encode(pos):
            if clamp > 0:
                pos = xp.clip(pos, -clamp, clamp)
            x = pos[:, None] * inv_freq                                      # (R, C/2)
            return xp.concatenate([xp.sin(x), xp.cos(x)], axis=-1).astype(dtype, copy=False)  # (R, C)

        fwd = encode(xp.arange(K, end, -1).astype(np.float32))
        if not self.config.bi_data:
            return fwd[None]
        bwd = encode(xp.arange(-K, -end, 1).astype(np.float32))
        return xp.concatenate([xp.broadcast_to(fwd, (N // 2,) + fwd.shape),
                               xp.broadcast_to(bwd, (N // 2,) + bwd.shape)], axis=0)

    def _masks(self, N: int, T: int, M: int, attention_mask, input_mask, perm_mask):
        """The content stream's and the query stream's (N, T, K) bool masks (True: may not attend), or None."""
        if attention_mask is not None and input_mask is not None:
            raise ValueError("XLNetModel: pass only one of input_mask (1 = padding) and attention_mask "
                             "(0 = padding)")
        keys = None
        if attention_mask is not None:
            keys = 1.0 - _host(attention_mask, "attention_mask", (N, T)).astype(np.float64)
        elif input_mask is not None:
            keys = _host(input_mask, "input_mask", (N, T)).astype(np.float64)
        perm = None if perm_mask is None else _host(perm_mask, "perm_mask", (N, T, T)).astype(np.float64)
        data = None
        if keys is not None:
            data = keys[:, None, :] if perm is None else keys[:, None, :] + perm      # (N, 1|T, T)
        elif perm is not None:
            data = perm
        causal = None
        if self.config.attn_type == "uni":  # Transformer-XL: i sees the memory and j <= i
            causal = np.triu(np.ones((T, M + T)), M + 1)
            if self.config.same_length:
                causal[:, :T] += np.tril(np.ones((T, T)), -1)
        if data is None and causal is None:
            return None, None
        full = np.zeros((N, T, M + T))
        if data is not None:
            full[:, :, M:] += data                           # the memory is always visible
        if causal is not None:
            full += causal
        mask_g = full > 0                                                        # (N, T, K)
        own = np.zeros((T, M + T))
        own[np.arange(T), M + np.arange(T)] = 1.0
        mask_h = (mask_g - own) > 0          # the content stream always sees its own position
        return mask_h, mask_g

    def forward(self, input_ids: Tensor | None = None, attention_mask: Tensor | None = None, mems=None,
                perm_mask: Tensor | None = None, target_mapping: Tensor | None = None,
                token_type_ids: Tensor | None = None, input_mask: Tensor | None = None,
                inputs_embeds: Tensor | None = None, use_mems: bool | None = None,
                output_attentions: bool = False, output_hidden_states: bool = False, return_dict: bool = True):
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("XLNetModel: pass exactly one of input_ids and inputs_embeds")
        if input_ids is not None and (input_ids.ndim != 2 or input_ids.dtype.kind not in "iu"):
            raise ValueError(f"XLNetModel: input_ids must be (N, T) integers, got {tuple(input_ids.shape)} "
                             f"{input_ids.dtype}")
        x = self.word_embedding(input_ids) if inputs_embeds is None else inputs_embeds  # (N, T, C)
        N, T, C = x.shape
        if self.config.bi_data and N % 2:
            raise ValueError(f"XLNetModel: bi_data needs an even batch (forward and backward halves), got N={N}")
        if use_mems is None:
            use_mems = self.config.use_mems_train if self.training else self.config.use_mems_eval
        if mems is not None and len(mems) != len(self.layer):
            raise ValueError(f"XLNetModel: mems must hold one array per layer ({len(self.layer)}), got {len(mems)}")
        mems_b = None
        if mems is not None and mems[0] is not None:
            mems_b = [(m if isinstance(m, Tensor) else Tensor._wrap(np.asarray(m))).transpose(0, 1) for m in mems]
            if tuple(mems_b[0].shape[::2]) != (N, C):
                raise ValueError(f"XLNetModel: each mems entry must be (M, {N}, {C}), got {tuple(mems[0].shape)}")
        M = 0 if mems_b is None else mems_b[0].shape[1]
        K = M + T
        xp, dtype = backend.array_module(self.word_embedding.weight._data), self.word_embedding.weight.dtype
        device = backend.device_of(self.word_embedding.weight._data)

        def const(a: np.ndarray) -> Tensor:
            return Tensor._wrap(backend.to_device(np.ascontiguousarray(a, dtype=dtype), device))

        mask_h, mask_g = self._masks(N, T, M, attention_mask, input_mask, perm_mask)
        if mask_h is not None:
            mask_h, mask_g = const(mask_h[:, None]), const(mask_g[:, None])    # (N, 1, T, K)
        tm = None
        if target_mapping is not None:
            tm_arr = _host(target_mapping, "target_mapping", ndim=3)
            if tm_arr.shape[0] != N or tm_arr.shape[2] != T:
                raise ValueError(f"XLNetModel: target_mapping must be (N, P, T) = ({N}, P, {T}), "
                                 f"got {tuple(tm_arr.shape)}")
            tm = const(tm_arr)                                                  # (N, P, T)
        seg = None
        if token_type_ids is not None:
            tt = _host(token_type_ids, "token_type_ids", (N, T))
            keys = np.concatenate([np.zeros((N, M), dtype=tt.dtype), tt], axis=1)  # the memory: segment 0
            seg = const((tt[:, :, None] != keys[:, None, :])[:, None])           # (N, 1, T, K)
        r = self.dropout(Tensor._wrap(self._relative_encoding(T, K, N, xp, dtype)))  # (1|N, R, C)

        h = self.dropout(x)
        g = None if tm is None else self.dropout(self.mask_emb.expand(N, tm.shape[1], C))  # (N, P, C)
        new_mems, hidden, attentions = [], [], []
        for i, layer in enumerate(self.layer):
            if use_mems:
                new_mems.append(self._cache(h, None if mems_b is None else mems_b[i]))
            if output_hidden_states:
                hidden.extend((h, g) if g is not None else (h,))
            h, g, probs = layer(h, g, mask_h, mask_g, r, seg, None if mems_b is None else mems_b[i], tm)
            if output_attentions:
                attentions.append(probs if g is not None else probs[0])
        if output_hidden_states:
            hidden.extend((h, g) if g is not None else (h,))
        out = XLNetModelOutput(self.dropout(g if g is not None else h), tuple(new_mems) if use_mems else None,
                               tuple(hidden) if output_hidden_states else None,
                               tuple(attentions) if output_attentions else None)
        return out if return_dict else out.to_tuple()

    def _cache(self, h: Tensor, prev: Tensor | None) -> Tensor:
        """The next segment's memory from this layer's input: the last ``mem_len`` states (all when mem_len
        is 0/None) of the old memory and the first ``reuse_len`` new ones, detached, as (M, N, C)."""
        reuse = self.config.reuse_len
        cur = h[:, :reuse] if reuse else h
        both = cur if prev is None else cat([prev, cur], dim=1)                # (N, M', C)
        mem_len = self.config.mem_len
        if mem_len:
            both = both[:, -mem_len:]
        return both.detach().transpose(0, 1).contiguous()                      # (M, N, C)


class XLNetLMHeadModel(XLNetPreTrainedModel):
    """XLNet with the language-model head ``lm_loss`` (C -> V, with bias; its weight is the word embeddings'
    when ``tie_word_embeddings``). ``labels`` (N, P) with target_mapping, else (N, T): target ids, -100 where no
    loss is taken; the loss is their mean cross-entropy. ``logits_to_keep`` > 0 keeps the last positions only.
    Output: :class:`XLNetLMHeadModelOutput`."""

    def __init__(self, config: XLNetConfig):
        super().__init__()
        self.config = config
        self.transformer = XLNetModel(config)
        self.lm_loss = Linear(config.d_model, config.vocab_size)
        self._init_weights()
        if config.tie_word_embeddings:
            self.lm_loss.weight = self.transformer.word_embedding.weight
            self._tied_keys = ("lm_loss.weight",)

    def get_output_embeddings(self) -> Linear:
        """The output projection onto the vocabulary, ``lm_loss``: a ``Linear(d_model, vocab_size)`` whose
        weight is the input embedding table when tied (``tie_word_embeddings``)."""
        return self.lm_loss

    def forward(self, input_ids: Tensor | None = None, attention_mask: Tensor | None = None, mems=None,
                perm_mask: Tensor | None = None, target_mapping: Tensor | None = None,
                token_type_ids: Tensor | None = None, input_mask: Tensor | None = None,
                inputs_embeds: Tensor | None = None, labels: Tensor | None = None, use_mems: bool | None = None,
                output_attentions: bool = False, output_hidden_states: bool = False, return_dict: bool = True,
                logits_to_keep: int = 0) -> XLNetLMHeadModelOutput:
        out = self.transformer(input_ids, attention_mask, mems, perm_mask, target_mapping, token_type_ids,
                               input_mask, inputs_embeds, use_mems, output_attentions, output_hidden_states)
        x = out.last_hidden_state
        if logits_to_keep:
            x = x[:, -logits_to_keep:]
        logits = self.lm_loss(x)                                               # (N, P, V)
        loss = None
        if labels is not None:
            if not isinstance(labels, Tensor):
                labels = Tensor._wrap(np.asarray(labels))
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100)
        res = XLNetLMHeadModelOutput(loss, logits, out.mems, out.hidden_states, out.attentions)
        return res if return_dict else res.to_tuple()


# ---- permutation language modelling ---------------------------------------------------------------------

@dataclass
class PermutationLMBatch:
    """One sampled factorisation order per sequence and the inputs that make XLNet follow it.

    ``order`` (N, T): ``order[n, t]`` is the position visited t-th (padding first); ``perm_mask`` (N, T, T);
    ``target_mapping`` (N, P, T): row p is the position predicted p-th among the last P of the order (a zero
    row where a short sequence has fewer); ``labels`` (N, P): the ids there, -100 for the zero rows."""

    order: Tensor
    perm_mask: Tensor
    target_mapping: Tensor
    labels: Tensor


def sample_permutation_lm(input_ids, num_predict: int, attention_mask=None, special_tokens_mask=None,
                          generator: Generator | None = None) -> PermutationLMBatch:
    """Sample a factorisation order per sequence and predict its last ``num_predict`` tokens (partial
    prediction: the paper's K = T / num_predict).

    A target sees the non-targets and the targets earlier in the order, never itself (query stream) or a later
    one; the non-targets (the order's prefix: padding, then ``special_tokens_mask`` positions such as
    ``<sep>``/``<cls>``, then ordinary tokens; at least one real token) see each other but no target, as in
    XLNet's pretraining data (``_local_perm``). Padding (``attention_mask`` 0) and special tokens are never
    targets.
    """
    ids = _host(input_ids, "input_ids", ndim=2)
    N, T = ids.shape
    if not isinstance(num_predict, int) or not 1 <= num_predict < T:
        raise ValueError(f"sample_permutation_lm: num_predict must be an int in [1, {T - 1}] for sequences of "
                         f"length {T} (at least one token stays as context), got {num_predict!r}")
    real = np.ones((N, T), bool) if attention_mask is None else _host(attention_mask, "attention_mask", (N, T)) > 0
    special = (np.zeros((N, T), bool) if special_tokens_mask is None
               else (_host(special_tokens_mask, "special_tokens_mask", (N, T)) > 0) & real)
    P = num_predict
    u = rand(N, T, generator=generator, dtype=np.float64)._data
    u = np.where(real, np.where(special, -1.0, u), -2.0)     # padding, then special tokens, first in the order
    order = np.argsort(u, axis=1, kind="stable")             # (N, T)
    rank = np.argsort(order, axis=1, kind="stable")          # (N, T): where each position is in the order
    candidates = (real & ~special).sum(axis=1)
    # at least one real token stays context: a special one, or else the first ordinary token of the order
    first_target = np.maximum(T - P, T - candidates + (special.sum(axis=1) == 0))[:, None]
    target = rank >= first_target                                          # (N, T)
    rank_k = np.where(target, rank, -1)                      # the context comes before every target
    rank_q = np.where(target, rank, 0)                       # a target may not see itself
    perm = (rank_q[:, :, None] <= rank_k[:, None, :]) & target[:, None, :]  # (N, T, T)
    slots = order[:, T - P:]                                 # (N, P) the positions of the order's last P
    valid = np.arange(T - P, T)[None, :] >= first_target    # (N, P)
    mapping = np.zeros((N, P, T), np.float32)
    n, p = np.nonzero(valid)
    mapping[n, p, slots[n, p]] = 1.0
    labels = np.where(valid, np.take_along_axis(ids, slots, axis=1), -100).astype(np.int64)
    return PermutationLMBatch(Tensor._wrap(order.astype(np.int64)), Tensor._wrap(perm.astype(np.float32)),
                              Tensor._wrap(mapping), Tensor._wrap(labels))


def permutation_lm_loss(model: XLNetLMHeadModel, input_ids: Tensor, num_predict: int, attention_mask=None,
                        token_type_ids=None, special_tokens_mask=None, generator: Generator | None = None) -> Tensor:
    """The permutation-LM training loss of one batch: a factorisation order sampled per sequence
    (:func:`sample_permutation_lm`), the query stream's mean cross-entropy on the order's last ``num_predict``
    tokens."""
    batch = sample_permutation_lm(input_ids, num_predict, attention_mask, special_tokens_mask, generator)
    out = model(input_ids, attention_mask=attention_mask, perm_mask=batch.perm_mask,
                target_mapping=batch.target_mapping, token_type_ids=token_type_ids, labels=batch.labels,
                use_mems=False)
    return out.loss
