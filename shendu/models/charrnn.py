"""``CharRNN``: a character-level language model (embedding -> LSTM or GRU -> linear head), with
sampling at a temperature.

Karpathy's char-rnn in shendu's layers: the model reads ids (N, T) and returns next-character logits
(N, T, V) and the recurrent state, so a training loop can carry the state from one chunk of a stream
to the next (truncated backpropagation through time) and ``sample`` can feed one character at a time.
Parameter names (``embedding.weight``, ``rnn.weight_ih_l0``, ..., ``head.weight``) are those of the
same model written with ``torch.nn``, so a state_dict moves between the two unchanged.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from shendu import creation
from shendu.grad_mode import no_grad
from shendu.nn.layers.dropout import Dropout
from shendu.nn.layers.embedding import Embedding
from shendu.nn.layers.linear import Linear
from shendu.nn.layers.rnn import GRU, LSTM
from shendu.nn.module import Module
from shendu.ops.fused import softmax
from shendu.ops.shape import cat
from shendu.random import multinomial
from shendu.tensor import Tensor

State = Any  # (h, c) for an LSTM, h for a GRU; each (num_layers, N, hidden_size)
CELLS = ("lstm", "gru")


@dataclass
class CharRNNConfig:
    """The hyperparameters that shape a ``CharRNN`` (``CharRNN(**asdict(config))``)."""

    vocab_size: int
    embedding_dim: int = 64
    hidden_size: int = 256
    num_layers: int = 2
    cell: str = "lstm"
    dropout: float = 0.0


class CharRNN(Module):
    r"""A character-level language model: :math:`\text{logits}_t = W\,h_t + b` with
    :math:`h_t = \text{RNN}(e_{x_t}, h_{t-1})` over an embedding :math:`e` of the ids.

    Args:
        vocab_size: V, the number of distinct characters (ids are in ``[0, V)``).
        embedding_dim: size of each character's embedding vector. Default: 64.
        hidden_size: H, the recurrent state's size per layer. Default: 256.
        num_layers: stacked recurrent layers. Default: 2.
        cell: ``"lstm"`` (``nn.LSTM``) or ``"gru"`` (``nn.GRU``). Default: ``"lstm"``.
        dropout: dropout probability on the embeddings, between recurrent layers and before the
            head (training mode only). Default: 0.

    Shape:
        - Input: ``idx`` (N, T) int64 ids, and optionally ``state`` as the recurrent layer takes it:
          ``(h, c)`` for an LSTM, ``h`` for a GRU, each (num_layers, N, H). None starts from zeros.
        - Output: ``(logits, state)``: logits (N, T, V) and the final state, the same layout as ``state``.

    Attributes:
        embedding: ``nn.Embedding(V, embedding_dim)``, weight initialized from N(0, 1).
        rnn: ``nn.LSTM`` / ``nn.GRU(embedding_dim, H, num_layers, batch_first=True)``, PyTorch's
            uniform(-1/sqrt(H), 1/sqrt(H)) initialization.
        head: ``nn.Linear(H, V)``, PyTorch's Linear initialization.
    """

    def __init__(self, vocab_size: int, embedding_dim: int = 64, hidden_size: int = 256, num_layers: int = 2,
                 cell: str = "lstm", dropout: float = 0.0):
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"CharRNN: cell must be one of {CELLS}, got {cell!r}")
        for name, value in (("vocab_size", vocab_size), ("embedding_dim", embedding_dim),
                            ("hidden_size", hidden_size), ("num_layers", num_layers)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"CharRNN: {name} must be a positive integer, got {value!r}")
        if not 0 <= dropout < 1:
            raise ValueError(f"CharRNN: dropout must be in [0, 1), got {dropout}")
        self.config = CharRNNConfig(vocab_size, embedding_dim, hidden_size, num_layers, cell, dropout)
        self.embedding = Embedding(vocab_size, embedding_dim)
        rnn = LSTM if cell == "lstm" else GRU
        self.rnn = rnn(embedding_dim, hidden_size, num_layers, batch_first=True,
                       dropout=dropout if num_layers > 1 else 0.0)  # PyTorch warns about dropout on one layer
        self.dropout = Dropout(dropout)
        self.head = Linear(hidden_size, vocab_size)

    @classmethod
    def from_config(cls, config: CharRNNConfig | dict) -> CharRNN:
        """A new model (freshly initialised) from a ``CharRNNConfig`` or the dict of its fields (``model.json``)."""
        return cls(**(asdict(config) if isinstance(config, CharRNNConfig) else config))

    def forward(self, idx: Tensor, state: State = None) -> tuple[Tensor, State]:
        if not isinstance(idx, Tensor) or idx.ndim != 2 or idx.dtype.kind not in "iu":
            what = f"{idx.dtype} tensor of shape {tuple(idx.shape)}" if isinstance(idx, Tensor) else type(idx).__name__
            raise ValueError(f"CharRNN: expected int64 ids of shape (N, T), got a {what}")
        x = self.dropout(self.embedding(idx))  # (N, T, E)
        out, state = self.rnn(x, state)  # (N, T, H)
        return self.head(self.dropout(out)), state  # (N, T, V)

    def sample(self, prompt: Any, length: int, temperature: float = 1.0, top_k: int | None = None,
               generator=None) -> Tensor:
        """The ids of ``prompt`` followed by ``length`` sampled ones, one character at a time.

        Args:
            prompt: ids of shape (T0,) or (N, T0), T0 >= 1 (a Tensor, array or list).
            length: how many ids to draw after the prompt.
            temperature: the logits are divided by it before the softmax; lower is more
                conservative, 0 takes the most likely character (greedy decoding).
            top_k: draw only among the ``top_k`` most likely characters (None: all).
            generator: a ``shendu.Generator`` for the draws (None: the global one).
        Returns: int64 ids (T0 + length,) or (N, T0 + length), the prompt's layout. The model
        runs in eval mode (no dropout) and its mode is restored after.
        """
        ids = np.asarray(getattr(prompt, "_data", prompt))
        if ids.ndim not in (1, 2) or ids.shape[-1] < 1 or ids.dtype.kind not in "iu":
            raise ValueError(f"CharRNN.sample: prompt must be integer ids of shape (T0,) or (N, T0) with T0 >= 1, "
                             f"got {ids.dtype} of shape {ids.shape}")
        if ids.min() < 0 or ids.max() >= self.config.vocab_size:
            raise ValueError(f"CharRNN.sample: prompt ids must be in [0, {self.config.vocab_size}), "
                             f"got [{ids.min()}, {ids.max()}]")
        if isinstance(length, bool) or not isinstance(length, int) or length < 0:
            raise ValueError(f"CharRNN.sample: length must be an integer >= 0, got {length!r}")
        if not temperature >= 0:
            raise ValueError(f"CharRNN.sample: temperature must be >= 0, got {temperature}")
        if top_k is not None and not 1 <= top_k <= self.config.vocab_size:
            raise ValueError(f"CharRNN.sample: top_k must be in [1, {self.config.vocab_size}], got {top_k}")
        x = creation.tensor(ids.reshape(-1, ids.shape[-1]).astype(np.int64))  # (N, T0)
        was_training = self.training
        self.eval()
        out = [x]
        try:
            with no_grad():
                logits, state = self(x)  # (N, T0, V)
                for i in range(length):
                    last = logits[:, -1].double()  # (N, V); float64 so a tiny temperature stays finite
                    if top_k is not None:
                        kth = last.topk(top_k, dim=-1).values[:, -1:]  # (N, 1)
                        last = last.masked_fill(last < kth, float("-inf"))
                    if temperature == 0:
                        nxt = last.argmax(dim=-1, keepdim=True)  # (N, 1)
                    else:
                        nxt = multinomial(softmax(last / temperature, dim=-1), 1, generator=generator)  # (N, 1)
                    out.append(nxt)
                    if i + 1 < length:
                        logits, state = self(nxt, state)  # (N, 1, V)
        finally:
            self.train(was_training)
        result = cat(out, dim=1)  # (N, T0 + length)
        return result.reshape(-1) if ids.ndim == 1 else result

    def extra_repr(self) -> str:
        c = self.config
        return f"vocab_size={c.vocab_size}, cell={c.cell!r}, num_layers={c.num_layers}, dropout={c.dropout}"


__all__ = ["CharRNN", "CharRNNConfig"]
