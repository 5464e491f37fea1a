"""One step of each recurrent layer: PyTorch's ``torch.lstm_cell``, ``gru_cell``, ``rnn_tanh_cell``,
``rnn_relu_cell`` (the layer ops over a one-step sequence)."""
from __future__ import annotations

from shendu.ops.recurrent.gru import GRULayer
from shendu.ops.recurrent.lstm import LSTMLayer
from shendu.ops.recurrent.rnn import RNNLayer
from shendu.tensor import Tensor


def _gates(input: Tensor, w_ih: Tensor, b_ih, op: str) -> Tensor:
    from shendu.ops.linalg import Linear
    if input.ndim != 2:
        raise RuntimeError(f"{op}: expected a 2-D input (B, H_in), got shape {tuple(input.shape)}")
    return Linear.apply(input, w_ih, b_ih)


def lstm_cell(input: Tensor, hx: tuple, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None = None,
              b_hh: Tensor | None = None) -> tuple:
    """One LSTM step (``torch.lstm_cell``): ``(h', c')`` from input ``(B, H_in)`` and ``hx = (h, c)``, each ``(B, H)``.

    The one-step case of ``LSTMLayer``: its hand-written backward, its composite under create_graph.
    """
    h, c = hx
    out, _, c_new = LSTMLayer.apply(_gates(input, w_ih, b_ih, "lstm_cell"), h, c, w_hh, b_hh, None,
                                    batch_sizes=None, reverse=False)
    return out, c_new


def gru_cell(input: Tensor, hx: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None = None,
             b_hh: Tensor | None = None) -> Tensor:
    """One GRU step (``torch.gru_cell``): h' ``(B, H)`` from input ``(B, H_in)`` and h ``(B, H)``."""
    out, _ = GRULayer.apply(_gates(input, w_ih, b_ih, "gru_cell"), hx, w_hh, b_hh, batch_sizes=None, reverse=False)
    return out


def rnn_cell(input: Tensor, hx: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None = None,
             b_hh: Tensor | None = None, *, nonlinearity: str = "tanh") -> Tensor:
    """One Elman RNN step: h' = act(input @ W_ih.T + b_ih + h @ W_hh.T + b_hh), act tanh or relu."""
    out, _ = RNNLayer.apply(_gates(input, w_ih, b_ih, "rnn_cell"), hx, w_hh, b_hh, batch_sizes=None, reverse=False,
                            nonlinearity=nonlinearity)
    return out


def rnn_tanh_cell(input: Tensor, hx: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None = None,
                  b_hh: Tensor | None = None) -> Tensor:
    """``torch.rnn_tanh_cell``: h' = tanh(input @ W_ih.T + b_ih + h @ W_hh.T + b_hh)."""
    return rnn_cell(input, hx, w_ih, w_hh, b_ih, b_hh, nonlinearity="tanh")


def rnn_relu_cell(input: Tensor, hx: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None = None,
                  b_hh: Tensor | None = None) -> Tensor:
    """``torch.rnn_relu_cell``: h' = relu(input @ W_ih.T + b_ih + h @ W_hh.T + b_hh)."""
    return rnn_cell(input, hx, w_ih, w_hh, b_ih, b_hh, nonlinearity="relu")
