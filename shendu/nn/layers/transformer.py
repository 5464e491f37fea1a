r"""The Transformer of "Attention Is All You Need": encoder/decoder layers, their stacks, ``Transformer``.

PyTorch's API (``torch/nn/modules/transformer.py``): the same signatures, defaults and parameter names
(``self_attn``, ``multihead_attn``, ``linear1``, ``linear2``, ``norm1..3``, ``dropout``, ``dropout1..3``;
stacks under ``layers.{i}``), so a PyTorch state_dict loads. Post-LN by default (``norm_first=False``:
``x = norm(x + sublayer(x))``), pre-LN with ``norm_first=True`` (``x = x + sublayer(norm(x))``).

Masks are passed to ``nn.MultiheadAttention``: ``attn_mask`` (``(T, S)`` or ``(B·H, T, S)``; bool True =
not allowed, or float added to the scores) and ``key_padding_mask`` (``(B, S)``, True = padding).
``is_causal=True`` without a mask builds the causal mask here (PyTorch raises instead); with a mask it is
a hint that the mask is causal, as in PyTorch.
"""
from __future__ import annotations

import copy
from collections.abc import Callable

from shendu import creation
from shendu.nn import functional as F
from shendu.nn import init
from shendu.nn.containers import ModuleList
from shendu.nn.layers.dropout import Dropout
from shendu.nn.layers.linear import Linear
from shendu.nn.layers.multihead import MultiheadAttention
from shendu.nn.layers.normalization import LayerNorm
from shendu.nn.module import Module
from shendu.tensor import Tensor

__all__ = ["Transformer", "TransformerDecoder", "TransformerDecoderLayer", "TransformerEncoder",
           "TransformerEncoderLayer", "generate_square_subsequent_mask"]


def generate_square_subsequent_mask(sz: int, device=None, dtype=None) -> Tensor:
    """The ``(sz, sz)`` float causal mask: 0 on and below the diagonal, ``-inf`` above (future positions)."""
    return creation.full((sz, sz), float("-inf"), dtype=dtype or "float32", device=device).triu(1)


def _get_activation(activation) -> Callable[[Tensor], Tensor]:
    if activation == "relu":
        return F.relu
    if activation == "gelu":
        return F.gelu
    if isinstance(activation, str) or not callable(activation):
        raise RuntimeError(f"activation should be relu/gelu, not {activation}")
    return activation


def _causal_mask_for(x: Tensor, mask: Tensor | None, is_causal: bool, batch_first: bool) -> Tensor | None:
    """``mask``, or the causal mask of ``x``'s sequence length when ``is_causal`` and no mask is given."""
    if mask is not None or not is_causal:
        return mask
    t_dim = 1 if (batch_first and x.ndim == 3) else 0
    return generate_square_subsequent_mask(x.shape[t_dim], dtype=x.dtype)


def _detect_is_causal_mask(mask: Tensor | None, is_causal: bool | None, size: int) -> bool:
    """PyTorch's rule: ``is_causal`` if given, else whether ``mask`` equals the causal mask."""
    if is_causal is None and mask is not None and tuple(mask.shape) == (size, size):
        causal = generate_square_subsequent_mask(size)._data
        m = mask._data
        if m.dtype == bool:
            return bool((m == (causal != 0)).all())
        return bool((m == causal).all())
    return bool(is_causal)


class TransformerEncoderLayer(Module):
    r"""Self-attention and a feed-forward network, each with a residual connection and a LayerNorm.

    Post-LN (default): :math:`x = \text{norm1}(x + \text{SA}(x))`, :math:`x = \text{norm2}(x + \text{FF}(x))`;
    pre-LN (``norm_first=True``): :math:`x = x + \text{SA}(\text{norm1}(x))`,
    :math:`x = x + \text{FF}(\text{norm2}(x))`,
    with :math:`\text{FF}(x) = \text{linear2}(\text{dropout}(\text{activation}(\text{linear1}(x))))`.

    Args:
        d_model: the number of expected features in the input.
        nhead: the number of attention heads.
        dim_feedforward: the hidden size of the feed-forward network. Default: 2048.
        dropout: dropout probability (attention weights, feed-forward, residual branches). Default: 0.1.
        activation: ``"relu"``, ``"gelu"`` or a unary callable. Default: ``F.relu``.
        layer_norm_eps: the LayerNorms' eps. Default: 1e-5.
        batch_first: input and output are ``(B, T, E)`` instead of ``(T, B, E)``. Default: False.
        norm_first: pre-LN instead of post-LN. Default: False.
        bias: biases in the Linear and LayerNorm layers. Default: True.

    Shape:
        - src: :math:`(T, B, E)`, :math:`(B, T, E)` if batch_first, or :math:`(T, E)`. Output: the same.

    Attributes:
        self_attn (MultiheadAttention), linear1 (``E -> dim_feedforward``), linear2, norm1, norm2 (LayerNorm),
        dropout, dropout1, dropout2 (Dropout).
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation: str | Callable[[Tensor], Tensor] = F.relu, layer_norm_eps: float = 1e-5,
                 batch_first: bool = False, norm_first: bool = False, bias: bool = True, device=None, dtype=None):
        super().__init__()
        kw = {"device": device, "dtype": dtype}
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first, **kw)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, **kw)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, **kw)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.batch_first = batch_first
        self.activation = _get_activation(activation)

    def forward(self, src: Tensor, src_mask: Tensor | None = None, src_key_padding_mask: Tensor | None = None,
                is_causal: bool = False) -> Tensor:
        src_mask = _causal_mask_for(src, src_mask, is_causal, self.batch_first)
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            x = x + self._ff_block(self.norm2(x))
        else:
            x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal))
            x = self.norm2(x + self._ff_block(x))
        return x

    def _sa_block(self, x: Tensor, attn_mask, key_padding_mask, is_causal: bool) -> Tensor:
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                           need_weights=False, is_causal=is_causal)[0]
        return self.dropout1(x)

    def _ff_block(self, x: Tensor) -> Tensor:
        return self.dropout2(self.linear2(self.dropout(self.activation(self.linear1(x)))))


class TransformerDecoderLayer(Module):
    r"""Self-attention, cross-attention over the encoder's ``memory`` and a feed-forward network.

    Post-LN (default): :math:`x = \text{norm1}(x + \text{SA}(x))`, :math:`x = \text{norm2}(x + \text{MHA}(x, m))`,
    :math:`x = \text{norm3}(x + \text{FF}(x))`; pre-LN (``norm_first=True``) normalises each sublayer's input
    instead. Args as :class:`TransformerEncoderLayer`.

    Shape:
        - tgt: :math:`(T, B, E)` (``(B, T, E)`` if batch_first); memory: :math:`(S, B, E)`. Output: like tgt.

    Attributes:
        self_attn, multihead_attn (MultiheadAttention), linear1, linear2, norm1..norm3, dropout, dropout1..dropout3.
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation: str | Callable[[Tensor], Tensor] = F.relu, layer_norm_eps: float = 1e-5,
                 batch_first: bool = False, norm_first: bool = False, bias: bool = True, device=None, dtype=None):
        super().__init__()
        kw = {"device": device, "dtype": dtype}
        mha = MultiheadAttention
        self.self_attn = mha(d_model, nhead, dropout=dropout, batch_first=batch_first, bias=bias, **kw)
        self.multihead_attn = mha(d_model, nhead, dropout=dropout, batch_first=batch_first, bias=bias, **kw)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, **kw)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, **kw)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.norm3 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.dropout3 = Dropout(dropout)
        self.batch_first = batch_first
        self.activation = _get_activation(activation)

    def forward(self, tgt: Tensor, memory: Tensor, tgt_mask: Tensor | None = None,
                memory_mask: Tensor | None = None, tgt_key_padding_mask: Tensor | None = None,
                memory_key_padding_mask: Tensor | None = None, tgt_is_causal: bool = False,
                memory_is_causal: bool = False) -> Tensor:
        tgt_mask = _causal_mask_for(tgt, tgt_mask, tgt_is_causal, self.batch_first)
        x = tgt
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), tgt_mask, tgt_key_padding_mask, tgt_is_causal)
            x = x + self._mha_block(self.norm2(x), memory, memory_mask, memory_key_padding_mask, memory_is_causal)
            x = x + self._ff_block(self.norm3(x))
        else:
            x = self.norm1(x + self._sa_block(x, tgt_mask, tgt_key_padding_mask, tgt_is_causal))
            x = self.norm2(x + self._mha_block(x, memory, memory_mask, memory_key_padding_mask, memory_is_causal))
            x = self.norm3(x + self._ff_block(x))
        return x

    def _sa_block(self, x: Tensor, attn_mask, key_padding_mask, is_causal: bool) -> Tensor:
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                           is_causal=is_causal, need_weights=False)[0]
        return self.dropout1(x)

    def _mha_block(self, x: Tensor, mem: Tensor, attn_mask, key_padding_mask, is_causal: bool) -> Tensor:
        if is_causal and attn_mask is None:  # a causal memory mask is square: (T, S) with T == S
            attn_mask = _causal_mask_for(x, None, True, self.batch_first)
        x = self.multihead_attn(x, mem, mem, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                                is_causal=is_causal, need_weights=False)[0]
        return self.dropout2(x)

    def _ff_block(self, x: Tensor) -> Tensor:
        return self.dropout3(self.linear2(self.dropout(self.activation(self.linear1(x)))))


def _get_clones(module: Module, n: int) -> ModuleList:
    return ModuleList([copy.deepcopy(module) for _ in range(n)])


def _seq_len(x: Tensor, batch_first: bool) -> int:
    return x.shape[1] if (batch_first and x.ndim == 3) else x.shape[0]


class TransformerEncoder(Module):
    r"""A stack of ``num_layers`` copies of ``encoder_layer`` (independent weights), then ``norm`` if given.

    Args:
        encoder_layer: a :class:`TransformerEncoderLayer` (deep-copied ``num_layers`` times).
        num_layers: the number of layers.
        norm: an optional final layer norm (pre-LN stacks need one). Default: None.
        enable_nested_tensor, mask_check: accepted for PyTorch compatibility (no nested tensors here).

    Shape: as :class:`TransformerEncoderLayer`. Attributes: ``layers`` (ModuleList), ``num_layers``, ``norm``.
    """

    def __init__(self, encoder_layer: TransformerEncoderLayer, num_layers: int, norm: Module | None = None,
                 enable_nested_tensor: bool = True, mask_check: bool = True):
        super().__init__()
        self.layers = _get_clones(encoder_layer, num_layers)
        self.num_layers = num_layers
        self.norm = norm
        self.enable_nested_tensor = enable_nested_tensor
        self.mask_check = mask_check

    def forward(self, src: Tensor, mask: Tensor | None = None, src_key_padding_mask: Tensor | None = None,
                is_causal: bool | None = None) -> Tensor:
        batch_first = getattr(self.layers[0], "batch_first", False) if len(self.layers) else False
        is_causal = _detect_is_causal_mask(mask, is_causal, _seq_len(src, batch_first))
        x = src
        for layer in self.layers:
            x = layer(x, src_mask=mask, is_causal=is_causal, src_key_padding_mask=src_key_padding_mask)
        return self.norm(x) if self.norm is not None else x


class TransformerDecoder(Module):
    r"""A stack of ``num_layers`` copies of ``decoder_layer``, then ``norm`` if given.

    Args: ``decoder_layer``, ``num_layers``, ``norm`` (Default: None), as :class:`TransformerEncoder`.

    Shape: as :class:`TransformerDecoderLayer`. Attributes: ``layers`` (ModuleList), ``num_layers``, ``norm``.
    """

    def __init__(self, decoder_layer: TransformerDecoderLayer, num_layers: int, norm: Module | None = None):
        super().__init__()
        self.layers = _get_clones(decoder_layer, num_layers)
        self.num_layers = num_layers
        self.norm = norm

    def forward(self, tgt: Tensor, memory: Tensor, tgt_mask: Tensor | None = None,
                memory_mask: Tensor | None = None, tgt_key_padding_mask: Tensor | None = None,
                memory_key_padding_mask: Tensor | None = None, tgt_is_causal: bool | None = None,
                memory_is_causal: bool = False) -> Tensor:
        batch_first = getattr(self.layers[0], "batch_first", False) if len(self.layers) else False
        tgt_is_causal = _detect_is_causal_mask(tgt_mask, tgt_is_causal, _seq_len(tgt, batch_first))
        x = tgt
        for layer in self.layers:
            x = layer(x, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                      tgt_key_padding_mask=tgt_key_padding_mask, memory_key_padding_mask=memory_key_padding_mask,
                      tgt_is_causal=tgt_is_causal, memory_is_causal=memory_is_causal)
        return self.norm(x) if self.norm is not None else x


class Transformer(Module):
    r"""The encoder-decoder Transformer: ``decoder(tgt, encoder(src))``, each stack ending in a LayerNorm.

    Args:
        d_model: the model size. Default: 512.
        nhead: attention heads. Default: 8.
        num_encoder_layers, num_decoder_layers: stack depths. Default: 6, 6.
        dim_feedforward: feed-forward hidden size. Default: 2048.
        dropout: dropout probability. Default: 0.1.
        activation: ``"relu"``, ``"gelu"`` or a callable. Default: ``F.relu``.
        custom_encoder, custom_decoder: modules used instead of the built stacks. Default: None.
        layer_norm_eps: Default: 1e-5. batch_first: Default: False. norm_first: Default: False. bias: Default: True.

    Shape:
        - src: :math:`(S, B, E)`, tgt: :math:`(T, B, E)` (batch first if ``batch_first``); output: like tgt.

    Attributes:
        encoder (TransformerEncoder), decoder (TransformerDecoder). Every parameter with more than one
        dimension is initialised Xavier-uniform (PyTorch's ``_reset_parameters``).
    """

    def __init__(self, d_model: int = 512, nhead: int = 8, num_encoder_layers: int = 6, num_decoder_layers: int = 6,
                 dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation: str | Callable[[Tensor], Tensor] = F.relu, custom_encoder: Module | None = None,
                 custom_decoder: Module | None = None, layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True, device=None, dtype=None):
        super().__init__()
        kw = {"device": device, "dtype": dtype}
        if custom_encoder is not None:
            self.encoder = custom_encoder
        else:
            layer = TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps,
                                            batch_first, norm_first, bias, **kw)
            self.encoder = TransformerEncoder(layer, num_encoder_layers,
                                              LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw))
        if custom_decoder is not None:
            self.decoder = custom_decoder
        else:
            layer = TransformerDecoderLayer(d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps,
                                            batch_first, norm_first, bias, **kw)
            self.decoder = TransformerDecoder(layer, num_decoder_layers,
                                              LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw))
        self._reset_parameters()
        self.d_model = d_model
        self.nhead = nhead
        self.batch_first = batch_first

    def forward(self, src: Tensor, tgt: Tensor, src_mask: Tensor | None = None, tgt_mask: Tensor | None = None,
                memory_mask: Tensor | None = None, src_key_padding_mask: Tensor | None = None,
                tgt_key_padding_mask: Tensor | None = None, memory_key_padding_mask: Tensor | None = None,
                src_is_causal: bool | None = None, tgt_is_causal: bool | None = None,
                memory_is_causal: bool = False) -> Tensor:
        is_batched = src.ndim == 3
        b = 0 if self.batch_first else 1
        if is_batched and src.shape[b] != tgt.shape[b]:
            raise RuntimeError(f"Transformer: the batch number of src and tgt must be equal, got "
                               f"{tuple(src.shape)} and {tuple(tgt.shape)} (batch_first={self.batch_first})")
        if src.shape[-1] != self.d_model or tgt.shape[-1] != self.d_model:
            raise RuntimeError(f"Transformer: the feature number of src and tgt must be equal to d_model "
                               f"({self.d_model}), got {src.shape[-1]} and {tgt.shape[-1]}")
        memory = self.encoder(src, mask=src_mask, src_key_padding_mask=src_key_padding_mask,
                              is_causal=src_is_causal)
        return self.decoder(tgt, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                            tgt_key_padding_mask=tgt_key_padding_mask,
                            memory_key_padding_mask=memory_key_padding_mask, tgt_is_causal=tgt_is_causal,
                            memory_is_causal=memory_is_causal)

    @staticmethod
    def generate_square_subsequent_mask(sz: int, device=None, dtype=None) -> Tensor:
        """The ``(sz, sz)`` causal mask: ``-inf`` above the diagonal (the future), 0 elsewhere."""
        return generate_square_subsequent_mask(sz, device=device, dtype=dtype)

    def _reset_parameters(self) -> None:
        for p in self.parameters():
            if p.ndim > 1:
                init.xavier_uniform_(p)
