r"""An attention encoder-decoder (Bahdanau et al. 2015; Luong et al. 2015): ``Seq2Seq``.

The encoder embeds the source and runs an ``nn.GRU`` or ``nn.LSTM`` over it (optionally bidirectional,
on a packed sequence so padding never enters a state); its outputs are the attention memory. The
decoder is an RNN of the same kind started from the encoder's final state (through a ``tanh`` bridge
when the encoder is bidirectional). At each target step ``t``, Luong's placement of the attention:

.. math::
    s_t = \mathrm{RNN}(y_{t-1}, s_{t-1}), \quad (c_t, \alpha_t) = \mathrm{attention}(s_t, H, H), \quad
    \tilde{s}_t = \tanh(W_c [c_t; s_t]), \quad p(y_t \mid y_{<t}, x) = \mathrm{softmax}(W_o \tilde{s}_t),

with the score additive (``"additive"``: :math:`v^\top \tanh(W_q s + W_k h)`) or multiplicative
(``"dot"``, ``"general"``). Because the decoder RNN reads only the previous *tokens*, teacher forcing
runs it over the whole target in one ``nn.GRU``/``nn.LSTM`` call and attends for all steps at once;
decoding runs the same modules one step at a time through ``shendu.text``'s greedy and beam search.

Token conventions: ``pad_token`` pads both sides (0), ``bos_token`` starts every decoder input (1),
``eos_token`` ends every target (2).
"""
from __future__ import annotations

from typing import NamedTuple

from shendu import creation
from shendu.grad_mode import no_grad
from shendu.nn import functional as F
from shendu.nn.layers.attention import AdditiveAttention, DotProductAttention, sequence_mask
from shendu.nn.layers.dropout import Dropout
from shendu.nn.layers.embedding import Embedding
from shendu.nn.layers.linear import Linear
from shendu.nn.layers.rnn import GRU, LSTM
from shendu.nn.module import Module
from shendu.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from shendu.ops.shape import cat
from shendu.tensor import Tensor
from shendu.text.decoding import Hypothesis, beam_search, greedy_search

__all__ = ["Seq2Seq", "Translation"]


class Translation(NamedTuple):
    """Decoded outputs: ``tokens`` ``(B, T)`` int64 (end token included, then ``pad_token``), ``lengths``
    ``(B,)``, ``scores`` ``(B,)`` (log-probability; beam search: its length-normalised score), ``attention``
    ``(B, T, T_src)`` (the weights behind each output token, zero past its length) and, from beam
    search, the n-best ``hypotheses`` of each item (``None`` from greedy decoding)."""

    tokens: Tensor
    lengths: Tensor
    scores: Tensor
    attention: Tensor
    hypotheses: list | None = None


def _rnn_class(cell: str):
    if cell == "gru":
        return GRU
    if cell == "lstm":
        return LSTM
    raise ValueError(f"Seq2Seq: cell must be 'gru' or 'lstm', got {cell!r}")


class Seq2Seq(Module):
    r"""Encoder-decoder with attention, trained by teacher forcing, decoded greedily or by beam search.

    Args:
        src_vocab_size: source vocabulary size :math:`V_s` (ids include the special tokens).
        tgt_vocab_size: target vocabulary size :math:`V`.
        embedding_dim: size :math:`E` of the token embeddings. Default: 64.
        hidden_size: size :math:`H` of each RNN direction's state. Default: 128.
        num_layers: stacked RNN layers in the encoder and the decoder. Default: 1.
        cell: ``"gru"`` or ``"lstm"``. Default: ``"gru"``.
        bidirectional: a bidirectional encoder (memory size :math:`2H`). Default: ``True``.
        attention: ``"additive"`` (Bahdanau), ``"dot"`` (Luong; needs a unidirectional encoder) or
            ``"general"`` (Luong's :math:`s^\top W h`). Default: ``"additive"``.
        attention_size: hidden size :math:`A` of the additive score. Default: ``hidden_size``.
        dropout: dropout on the embeddings and the attentional state (and between stacked RNN
            layers). Default: 0.
        pad_token, bos_token, eos_token: the special ids. Defaults: 0, 1, 2.

    Shape:
        - src: :math:`(B, T_s)` int64, src_lengths: :math:`(B,)` (``None``: no padding).
        - tgt: :math:`(B, T)` int64, the decoder input: ``bos_token`` then the target tokens, so that
          ``logits[:, t]`` predicts the token after ``tgt[:, t]``.
        - Output: logits :math:`(B, T, V)` (and the attention weights :math:`(B, T, T_s)` with
          ``return_attention=True``).

    Attributes:
        src_embedding, tgt_embedding: ``nn.Embedding`` tables (``padding_idx=pad_token``).
        encoder, decoder: the ``nn.GRU``/``nn.LSTM`` layers (``batch_first=True``).
        bridge (and ``bridge_cell`` for an LSTM): ``Linear(2H, H)`` from the final forward and
            backward encoder states to the decoder's initial state, bidirectional encoders only.
        attention: the ``nn.AdditiveAttention``/``nn.DotProductAttention`` layer.
        combine: ``Linear(H + H_{mem}, H)``, :math:`W_c`; ``output``: ``Linear(H, V)``, :math:`W_o`.
    """

    def __init__(self, src_vocab_size: int, tgt_vocab_size: int, embedding_dim: int = 64, hidden_size: int = 128,
                 num_layers: int = 1, cell: str = "gru", bidirectional: bool = True, attention: str = "additive",
                 attention_size: int | None = None, dropout: float = 0.0, pad_token: int = 0, bos_token: int = 1,
                 eos_token: int = 2):
        super().__init__()
        rnn = _rnn_class(cell)
        self.cell, self.bidirectional, self.num_layers, self.hidden_size = cell, bidirectional, num_layers, hidden_size
        self.attention_kind = attention
        self.pad_token, self.bos_token, self.eos_token = pad_token, bos_token, eos_token
        self.tgt_vocab_size = tgt_vocab_size
        memory = hidden_size * (2 if bidirectional else 1)
        between = dropout if num_layers > 1 else 0.0
        self.src_embedding = Embedding(src_vocab_size, embedding_dim, padding_idx=pad_token)
        self.encoder = rnn(embedding_dim, hidden_size, num_layers, batch_first=True, dropout=between,
                           bidirectional=bidirectional)
        if bidirectional:
            self.bridge = Linear(memory, hidden_size)
            self.bridge_cell = Linear(memory, hidden_size) if cell == "lstm" else None
        self.tgt_embedding = Embedding(tgt_vocab_size, embedding_dim, padding_idx=pad_token)
        self.decoder = rnn(embedding_dim, hidden_size, num_layers, batch_first=True, dropout=between)
        if attention == "additive":
            self.attention = AdditiveAttention(hidden_size, memory, attention_size or hidden_size)
        elif attention == "dot":
            if memory != hidden_size:
                raise ValueError(f"Seq2Seq: attention='dot' needs memory size {memory} == hidden size {hidden_size} "
                                 f"(a unidirectional encoder); use 'general' or 'additive'")
            self.attention = DotProductAttention("dot")
        elif attention == "general":
            self.attention = DotProductAttention("general", hidden_size, memory)
        else:
            raise ValueError(f"Seq2Seq: attention must be 'additive', 'dot' or 'general', got {attention!r}")
        self.combine = Linear(hidden_size + memory, hidden_size)
        self.output = Linear(hidden_size, tgt_vocab_size)
        self.dropout = Dropout(dropout)

    # -- encoder ------------------------------------------------------------------------------
    def encode(self, src: Tensor, src_lengths=None) -> tuple:
        """``(memory (B, T_s, H_mem), mask (B, T_s) bool, decoder state)``; the state is ``h`` or ``(h, c)``
        of shape ``(num_layers, B, H)``."""
        _check_ids(src, "src must be (B, T_src) integer ids")
        B, T = src.shape
        if src_lengths is None:
            lengths = creation.full((B,), T, dtype="int64")
        else:
            lengths = src_lengths if isinstance(src_lengths, Tensor) else creation.tensor(src_lengths, dtype="int64")
            if tuple(lengths.shape) != (B,):
                raise ValueError(f"Seq2Seq: src_lengths must have shape ({B},), got {tuple(lengths.shape)}")
        mask = sequence_mask(lengths, T)                                   # (B, Ts)
        emb = self.dropout(self.src_embedding(src))                        # (B, Ts, E)
        packed = pack_padded_sequence(emb, lengths, batch_first=True, enforce_sorted=False)
        out, state = self.encoder(packed)
        memory, _ = pad_packed_sequence(out, batch_first=True, total_length=T)  # (B, Ts, H_mem)
        if self.cell == "lstm":
            h, c = state
            state = (self._bridge(h, self.bridge if self.bidirectional else None),
                     self._bridge(c, self.bridge_cell if self.bidirectional else None))
        else:
            state = self._bridge(state, self.bridge if self.bidirectional else None)
        return memory, mask, state

    def _bridge(self, h: Tensor, layer) -> Tensor:
        if layer is None:
            return h                                                       # (L, B, H)
        L, B = self.num_layers, h.shape[1]
        both = h.reshape(L, 2, B, self.hidden_size)                        # (L, 2, B, H): forward, backward
        return layer(cat([both[:, 0], both[:, 1]], -1)).tanh()             # (L, B, H)

    # -- decoder ------------------------------------------------------------------------------
    def _decode(self, tokens: Tensor, state, memory: Tensor, mask: Tensor) -> tuple:
        """Decoder over ``tokens`` (B, T): ``(logits (B, T, V), attention (B, T, T_s), state)``."""
        emb = self.dropout(self.tgt_embedding(tokens))                     # (B, T, E)
        out, state = self.decoder(emb, state)                              # (B, T, H)
        context, weights = self.attention(out, memory, memory, mask=mask)  # (B, T, H_mem), (B, T, Ts)
        attentional = self.combine(cat([context, out], -1)).tanh()         # (B, T, H)
        return self.output(self.dropout(attentional)), weights, state      # (B, T, V)

    def forward(self, src: Tensor, src_lengths, tgt: Tensor, return_attention: bool = False):
        """Teacher forcing: logits ``(B, T, V)`` for every position of the decoder input ``tgt``."""
        _check_ids(src, "src must be (B, T_src) integer ids")
        _check_ids(tgt, f"tgt must be (B, T) integer ids with B = {src.shape[0]}", src.shape[0])
        memory, mask, state = self.encode(src, src_lengths)
        logits, weights, _ = self._decode(tgt, state, memory, mask)
        return (logits, weights) if return_attention else logits

    def loss(self, src: Tensor, src_lengths, tgt: Tensor, tgt_lengths=None, label_smoothing: float = 0.0) -> Tensor:
        """Mean cross-entropy of predicting ``tgt`` (``(B, T)``, ending in ``eos_token``, padded with
        ``pad_token``) from ``bos_token`` + ``tgt[:, :-1]``; padded positions are ignored."""
        B = tgt.shape[0]
        bos = creation.full((B, 1), self.bos_token, dtype="int64")
        logits = self(src, src_lengths, cat([bos, tgt[:, :-1]], 1))       # (B, T, V)
        target = tgt
        if tgt_lengths is not None:
            keep = sequence_mask(tgt_lengths, tgt.shape[1])
            target = tgt.masked_fill(~keep, -100)
        else:
            target = tgt.masked_fill(tgt == self.pad_token, -100)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1), ignore_index=-100,
                               label_smoothing=label_smoothing)

    # -- decoding -----------------------------------------------------------------------------
    def _step(self, tokens: Tensor, state) -> tuple:
        """The step function of ``shendu.text``: one decoder step for N rows, state batch-first."""
        rnn_state, memory, mask = state
        rnn_state = tuple(s.transpose(0, 1) for s in rnn_state)           # (L, N, H) each
        logits, _, new = self._decode(tokens.unsqueeze(1), rnn_state if self.cell == "lstm" else rnn_state[0],
                                      memory, mask)
        new = new if self.cell == "lstm" else (new,)
        return logits[:, 0].log_softmax(-1), (tuple(s.transpose(0, 1) for s in new), memory, mask)

    def _start(self, src: Tensor, src_lengths):
        memory, mask, state = self.encode(src, src_lengths)
        state = state if self.cell == "lstm" else (state,)
        B = src.shape[0]
        start = creation.full((B,), self.bos_token, dtype="int64")
        return start, (tuple(s.transpose(0, 1) for s in state), memory, mask)  # (N, L, H): batch first

    def _attention_for(self, src, src_lengths, tokens: Tensor, lengths: Tensor) -> Tensor:
        """The attention weights behind ``tokens`` (B, T), from one teacher-forced pass."""
        B = tokens.shape[0]
        bos = creation.full((B, 1), self.bos_token, dtype="int64")
        _, weights = self(src, src_lengths, cat([bos, tokens[:, :-1]], 1), return_attention=True)
        valid = sequence_mask(lengths, tokens.shape[1]).unsqueeze(-1)      # (B, T, 1)
        return weights * valid.to(weights.dtype)

    def greedy(self, src: Tensor, src_lengths=None, max_length: int | None = None) -> Translation:
        """Greedy decoding of a batch (call ``eval()`` first when the model has dropout)."""
        with no_grad():
            max_length = max_length or 2 * src.shape[1] + 2
            start, state = self._start(src, src_lengths)
            out = greedy_search(self._step, start, state, max_length, end_token=self.eos_token,
                                pad_token=self.pad_token)
            attention = self._attention_for(src, src_lengths, out.tokens, out.lengths)
        return Translation(out.tokens, out.lengths, out.scores, attention)

    def beam_search(self, src: Tensor, src_lengths=None, beam_width: int = 5, max_length: int | None = None,
                    length_penalty: float = 0.0, penalty: str = "gnmt", n_best: int = 1) -> Translation:
        """Beam search (``shendu.text.beam_search``) of a batch; ``tokens`` and ``attention`` are each item's
        best hypothesis, ``hypotheses`` the ``n_best`` lists."""
        with no_grad():
            max_length = max_length or 2 * src.shape[1] + 2
            start, state = self._start(src, src_lengths)
            hyps = beam_search(self._step, start, state, beam_width, max_length, end_token=self.eos_token,
                               length_penalty=length_penalty, penalty=penalty, n_best=n_best)
            tokens, lengths, scores = _best_as_batch(hyps, self.pad_token, src)
            attention = self._attention_for(src, src_lengths, tokens, lengths)
        return Translation(tokens, lengths, scores, attention, hyps)

    def extra_repr(self) -> str:
        return f"cell={self.cell!r}, bidirectional={self.bidirectional}, attention={self.attention_kind!r}"


def _check_ids(ids: Tensor, expected: str, batch: int | None = None) -> None:
    if ids.ndim != 2 or ids.dtype.kind not in "iu" or (batch is not None and ids.shape[0] != batch):
        raise ValueError(f"Seq2Seq: {expected}, got shape {tuple(ids.shape)} and dtype {ids.dtype}")


def _best_as_batch(hyps: list[list[Hypothesis]], pad: int, like: Tensor) -> tuple:
    """The first hypothesis of each item as padded ``(B, T)`` tokens, lengths and scores."""
    xp = like._xp()
    lengths = xp.array([len(h[0].tokens) for h in hyps], dtype=xp.int64)
    tokens = xp.full((len(hyps), int(lengths.max())), pad, dtype=xp.int64)
    for b, h in enumerate(hyps):  # one row copy per item, to assemble the caller's batch
        tokens[b, :lengths[b]] = h[0].tokens._data
    scores = xp.array([h[0].score for h in hyps], dtype=xp.float32)
    return Tensor._wrap(tokens), Tensor._wrap(lengths), Tensor._wrap(scores)
