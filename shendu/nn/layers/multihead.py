"""``nn.MultiheadAttention`` with PyTorch's parameter names and layouts, so a PyTorch state_dict loads.

``multi_head_attention_forward`` follows ``torch.nn.functional.multi_head_attention_forward`` step for
step: the input projection, the masks turned into one additive float mask (True = *ignore* in
``key_padding_mask`` and a bool ``attn_mask``, the opposite of SDPA's bool mask), ``bias_k``/``bias_v``
and the zero-attention column, then either the explicit softmax path that returns the weights or the
fused ``scaled_dot_product_attention`` when ``need_weights=False``.
"""
from __future__ import annotations

import math

from shendu import creation
from shendu.nn import functional as F
from shendu.nn import init
from shendu.nn.layers.linear import Linear
from shendu.nn.module import Module
from shendu.nn.parameter import Parameter
from shendu.ops.attention import scaled_dot_product_attention
from shendu.ops.linalg import baddbmm, bmm
from shendu.ops.shape import cat, pad
from shendu.tensor import Tensor


class NonDynamicallyQuantizableLinear(Linear):
    """PyTorch's name for ``MultiheadAttention.out_proj``'s class (a plain ``Linear``)."""


def _float_mask(mask: Tensor | None, name: str, dtype) -> Tensor | None:
    """A bool mask (True = ignore) as an additive float mask (-inf where True); a float mask unchanged."""
    if mask is None:
        return None
    if mask.dtype.kind == "b":
        return creation.zeros(mask.shape, dtype=dtype).masked_fill(mask, -math.inf)
    if mask.dtype.kind != "f":
        raise AssertionError(f"only bool and floating types of {name} are supported, got {mask.dtype}")
    return mask


def _shape_check(query, key, value, key_padding_mask, attn_mask, num_heads) -> bool:
    """PyTorch's ``_mha_shape_check``: True for batched (3-D) input, False for unbatched (2-D)."""
    if query.ndim == 3:
        if key.ndim != 3 or value.ndim != 3:
            raise AssertionError(f"MultiheadAttention: for batched (3-D) query, expected key and value to be "
                                 f"3-D but found {key.ndim}-D and {value.ndim}-D tensors respectively")
        if key_padding_mask is not None and key_padding_mask.ndim != 2:
            raise AssertionError(f"MultiheadAttention: for batched (3-D) query, expected key_padding_mask to "
                                 f"be None or 2-D but found {key_padding_mask.ndim}-D tensor instead")
        if attn_mask is not None and attn_mask.ndim not in (2, 3):
            raise AssertionError(f"MultiheadAttention: for batched (3-D) query, expected attn_mask to be None, "
                                 f"2-D or 3-D but found {attn_mask.ndim}-D tensor instead")
        return True
    if query.ndim == 2:
        if key.ndim != 2 or value.ndim != 2:
            raise AssertionError(f"MultiheadAttention: for unbatched (2-D) query, expected key and value to be "
                                 f"2-D but found {key.ndim}-D and {value.ndim}-D tensors respectively")
        if key_padding_mask is not None and key_padding_mask.ndim != 1:
            raise AssertionError(f"MultiheadAttention: for unbatched (2-D) query, expected key_padding_mask to "
                                 f"be None or 1-D but found {key_padding_mask.ndim}-D tensor instead")
        if attn_mask is not None:
            if attn_mask.ndim not in (2, 3):
                raise AssertionError(f"MultiheadAttention: for unbatched (2-D) query, expected attn_mask to be "
                                     f"None, 2-D or 3-D but found {attn_mask.ndim}-D tensor instead")
            expected = (num_heads, query.shape[0], key.shape[0])
            if attn_mask.ndim == 3 and tuple(attn_mask.shape) != expected:
                raise AssertionError(f"MultiheadAttention: expected attn_mask shape to be {expected} but got "
                                     f"{tuple(attn_mask.shape)}")
        return False
    raise AssertionError(f"MultiheadAttention: query should be unbatched 2-D or batched 3-D tensor but "
                         f"received {query.ndim}-D query tensor")


def multi_head_attention_forward(query: Tensor, key: Tensor, value: Tensor, num_heads: int,
                                 in_proj_weight: Tensor | None, in_proj_bias: Tensor | None,
                                 bias_k: Tensor | None, bias_v: Tensor | None, add_zero_attn: bool,
                                 dropout_p: float, out_proj_weight: Tensor, out_proj_bias: Tensor | None,
                                 training: bool = True, key_padding_mask: Tensor | None = None,
                                 need_weights: bool = True, attn_mask: Tensor | None = None,
                                 use_separate_proj_weight: bool = False, q_proj_weight: Tensor | None = None,
                                 k_proj_weight: Tensor | None = None, v_proj_weight: Tensor | None = None,
                                 average_attn_weights: bool = True, is_causal: bool = False) -> tuple:
    """Multi-head attention on sequence-first input, PyTorch's functional form.

    Shape: query (L, N, E) or (L, E), key (S, N, kdim), value (S, N, vdim) -> output (L, N, E) and
    weights (N, L, S) averaged over heads, (N, H, L, S) per head, or None when ``need_weights=False``.
    """
    batched = _shape_check(query, key, value, key_padding_mask, attn_mask, num_heads)
    if not batched:
        query, key, value = query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1)
        if key_padding_mask is not None:
            key_padding_mask = key_padding_mask.unsqueeze(0)
    L, N, E = query.shape
    S = key.shape[0]
    key_padding_mask = _float_mask(key_padding_mask, "key_padding_mask", query.dtype)
    if is_causal and attn_mask is None:
        raise RuntimeError("Need attn_mask if specifying the is_causal hint. You may use the Transformer module "
                           "method `generate_square_subsequent_mask` to create this mask.")
    if is_causal and key_padding_mask is None and not need_weights:
        attn_mask = None  # SDPA's own causal mask does the work
    else:
        attn_mask = _float_mask(attn_mask, "attn_mask", query.dtype)
        if key_padding_mask is not None:
            is_causal = False  # the merged mask is no longer causal
    H = num_heads
    D = E // H
    if D * H != E:
        raise AssertionError(f"embed_dim {E} not divisible by num_heads {H}")

    # -- input projections: (L, N, E), (S, N, E), (S, N, E)
    if use_separate_proj_weight:
        if key.shape[:2] != value.shape[:2]:
            raise AssertionError(f"key's sequence and batch dims {tuple(key.shape[:2])} do not match value's "
                                 f"{tuple(value.shape[:2])}")
        b_q, b_k, b_v = (None,) * 3 if in_proj_bias is None else in_proj_bias.chunk(3)
        q = F.linear(query, q_proj_weight, b_q)
        k = F.linear(key, k_proj_weight, b_k)
        v = F.linear(value, v_proj_weight, b_v)
    else:
        if key.shape != value.shape:
            raise AssertionError(f"key shape {tuple(key.shape)} does not match value shape {tuple(value.shape)}")
        if query is key and key is value:  # self-attention: one product for q, k and v
            q, k, v = F.linear(query, in_proj_weight, in_proj_bias).chunk(3, dim=-1)
        else:
            w_q, w_k, w_v = in_proj_weight.chunk(3)
            b_q, b_k, b_v = (None,) * 3 if in_proj_bias is None else in_proj_bias.chunk(3)
            q, k, v = F.linear(query, w_q, b_q), F.linear(key, w_k, b_k), F.linear(value, w_v, b_v)

    if attn_mask is not None:
        if attn_mask.ndim == 2:
            if tuple(attn_mask.shape) != (L, S):
                raise RuntimeError(f"The shape of the 2D attn_mask is {tuple(attn_mask.shape)}, but should be "
                                   f"{(L, S)}.")
            attn_mask = attn_mask.unsqueeze(0)  # (1, L, S)
        elif tuple(attn_mask.shape) != (N * H, L, S):
            raise RuntimeError(f"The shape of the 3D attn_mask is {tuple(attn_mask.shape)}, but should be "
                               f"{(N * H, L, S)}.")
    if bias_k is not None and bias_v is not None:
        k = cat([k, bias_k.repeat(1, N, 1)])  # (S+1, N, E)
        v = cat([v, bias_v.repeat(1, N, 1)])
        attn_mask = None if attn_mask is None else pad(attn_mask, (0, 1))
        key_padding_mask = None if key_padding_mask is None else pad(key_padding_mask, (0, 1))

    q = q.reshape(L, N * H, D).transpose(0, 1)  # (N*H, L, D)
    k = k.reshape(k.shape[0], N * H, D).transpose(0, 1)  # (N*H, S, D)
    v = v.reshape(v.shape[0], N * H, D).transpose(0, 1)
    if add_zero_attn:
        zeros = creation.zeros((N * H, 1, D), dtype=k.dtype)
        k, v = cat([k, zeros], dim=1), cat([v, zeros], dim=1)  # (N*H, S+1, D)
        attn_mask = None if attn_mask is None else pad(attn_mask, (0, 1))
        key_padding_mask = None if key_padding_mask is None else pad(key_padding_mask, (0, 1))
    S = k.shape[1]
    if key_padding_mask is not None:
        if tuple(key_padding_mask.shape) != (N, S):
            raise AssertionError(f"expecting key_padding_mask shape of {(N, S)}, but got "
                                 f"{tuple(key_padding_mask.shape)}")
        kpm = key_padding_mask.reshape(N, 1, 1, S).expand(-1, H, -1, -1).reshape(N * H, 1, S)
        attn_mask = kpm if attn_mask is None else attn_mask + kpm
    if not training:
        dropout_p = 0.0

    if need_weights:
        q_scaled = q * math.sqrt(1.0 / D)
        kt = k.transpose(-2, -1)
        w = bmm(q_scaled, kt) if attn_mask is None else baddbmm(attn_mask, q_scaled, kt)  # (N*H, L, S)
        w = F.softmax(w, dim=-1)
        if dropout_p > 0.0:
            w = F.dropout(w, p=dropout_p)
        out = bmm(w, v)  # (N*H, L, D)
        out = out.transpose(0, 1).reshape(L * N, E)
        out = F.linear(out, out_proj_weight, out_proj_bias).reshape(L, N, E)
        w = w.reshape(N, H, L, S)
        if average_attn_weights:
            w = w.mean(dim=1)  # (N, L, S)
        if not batched:
            out, w = out.squeeze(1), w.squeeze(0)
        return out, w
    if attn_mask is not None:
        attn_mask = attn_mask.unsqueeze(0) if attn_mask.shape[0] == 1 else attn_mask.reshape(N, H, -1, S)
    q, k, v = q.reshape(N, H, L, D), k.reshape(N, H, S, D), v.reshape(N, H, S, D)
    out = scaled_dot_product_attention(q, k, v, attn_mask, dropout_p, is_causal)  # (N, H, L, D)
    out = out.permute(2, 0, 1, 3).reshape(L * N, E)
    out = F.linear(out, out_proj_weight, out_proj_bias).reshape(L, N, E)
    return (out if batched else out.squeeze(1)), None


class MultiheadAttention(Module):
    r"""Multi-head attention: :math:`\text{Concat}(head_1, \dots, head_h) W^O` with
    :math:`head_i = \text{softmax}(Q W_i^Q (K W_i^K)^T / \sqrt{d}) V W_i^V`, :math:`d = E / h`.

    Args:
        embed_dim: total dimension E of the model (split across heads).
        num_heads: number of heads h; ``embed_dim`` must be divisible by it.
        dropout: dropout probability on the attention weights (training only). Default: ``0.0``.
        bias: add biases to the input and output projections. Default: ``True``.
        add_bias_kv: append a learned bias to the key and value sequences. Default: ``False``.
        add_zero_attn: append a zero key and value to each sequence. Default: ``False``.
        kdim, vdim: features of the key and value (default: ``embed_dim``).
        batch_first: input and output as (N, L, E) instead of (L, N, E). Default: ``False``.

    Shape:
        - query: :math:`(L, N, E)` (``(N, L, E)`` if ``batch_first``) or unbatched :math:`(L, E)`.
        - key: :math:`(S, N, kdim)`, value: :math:`(S, N, vdim)` (batch first likewise; unbatched 2-D).
        - key_padding_mask: :math:`(N, S)` or :math:`(S)`, bool (True = ignore that key) or float (added).
        - attn_mask: :math:`(L, S)` or :math:`(N \cdot h, L, S)`, bool (True = not allowed) or float.
        - output: like query; weights :math:`(N, L, S)` (averaged over heads) or :math:`(N, h, L, S)`,
          unbatched without N; ``None`` when ``need_weights=False``.

    Attributes:
        in_proj_weight: :math:`(3E, E)` when kdim = vdim = E, else ``q_proj_weight`` :math:`(E, E)`,
            ``k_proj_weight`` :math:`(E, kdim)`, ``v_proj_weight`` :math:`(E, vdim)`; xavier_uniform_.
        in_proj_bias: :math:`(3E)`, zeros (``None`` when ``bias=False``).
        out_proj: a ``Linear(E, E)`` (``NonDynamicallyQuantizableLinear``), its bias zeros.
        bias_k, bias_v: :math:`(1, 1, E)`, xavier_normal_ (only with ``add_bias_kv``).
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False, kdim: int | None = None,
                 vdim: int | None = None, batch_first: bool = False, device=None, dtype=None):
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(f"embed_dim and num_heads must be greater than 0, got embed_dim={embed_dim} and "
                             f"num_heads={num_heads} instead")
        super().__init__()
        self.embed_dim = embed_dim
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.num_heads = num_heads
        self.dropout = dropout
        self.batch_first = batch_first
        self.head_dim = embed_dim // num_heads
        if self.head_dim * num_heads != embed_dim:
            raise AssertionError(f"embed_dim must be divisible by num_heads, got embed_dim={embed_dim} and "
                                 f"num_heads={num_heads}")

        def empty(*shape):
            return Parameter(creation.empty(*shape, dtype=dtype, device=device))

        if not self._qkv_same_embed_dim:
            self.q_proj_weight = empty(embed_dim, embed_dim)
            self.k_proj_weight = empty(embed_dim, self.kdim)
            self.v_proj_weight = empty(embed_dim, self.vdim)
            self.register_parameter("in_proj_weight", None)
        else:
            self.in_proj_weight = empty(3 * embed_dim, embed_dim)
            self.register_parameter("q_proj_weight", None)
            self.register_parameter("k_proj_weight", None)
            self.register_parameter("v_proj_weight", None)
        if bias:
            self.in_proj_bias = empty(3 * embed_dim)
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = NonDynamicallyQuantizableLinear(embed_dim, embed_dim, bias=bias, device=device, dtype=dtype)
        if add_bias_kv:
            self.bias_k = empty(1, 1, embed_dim)
            self.bias_v = empty(1, 1, embed_dim)
        else:
            self.bias_k = self.bias_v = None
        self.add_zero_attn = add_zero_attn
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        """PyTorch's init: xavier_uniform_ input projections, zero biases, xavier_normal_ bias_k/bias_v."""
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            init.xavier_uniform_(self.q_proj_weight)
            init.xavier_uniform_(self.k_proj_weight)
            init.xavier_uniform_(self.v_proj_weight)
        if self.in_proj_bias is not None:
            init.constant_(self.in_proj_bias, 0.0)
            init.constant_(self.out_proj.bias, 0.0)
        if self.bias_k is not None:
            init.xavier_normal_(self.bias_k)
        if self.bias_v is not None:
            init.xavier_normal_(self.bias_v)

    def forward(self, query: Tensor, key: Tensor, value: Tensor, key_padding_mask: Tensor | None = None,
                need_weights: bool = True, attn_mask: Tensor | None = None, average_attn_weights: bool = True,
                is_causal: bool = False) -> tuple:
        """Returns ``(attn_output, attn_weights)``; the weights are None when ``need_weights=False``."""
        batched = query.ndim == 3
        if self.batch_first and batched:
            if key is value:
                if query is key:
                    query = key = value = query.transpose(1, 0)
                else:
                    query, key = query.transpose(1, 0), key.transpose(1, 0)
                    value = key
            else:
                query, key, value = (x.transpose(1, 0) for x in (query, key, value))
        out, weights = multi_head_attention_forward(
            query, key, value, self.num_heads, self.in_proj_weight, self.in_proj_bias, self.bias_k, self.bias_v,
            self.add_zero_attn, self.dropout, self.out_proj.weight, self.out_proj.bias, training=self.training,
            key_padding_mask=key_padding_mask, need_weights=need_weights, attn_mask=attn_mask,
            use_separate_proj_weight=not self._qkv_same_embed_dim, q_proj_weight=self.q_proj_weight,
            k_proj_weight=self.k_proj_weight, v_proj_weight=self.v_proj_weight,
            average_attn_weights=average_attn_weights, is_causal=is_causal)
        if self.batch_first and batched:
            out = out.transpose(1, 0)
        return out, weights

    def extra_repr(self) -> str:
        return (f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, dropout={self.dropout}, "
                f"batch_first={self.batch_first}")
