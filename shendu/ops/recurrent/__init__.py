"""The recurrent layers' time loops, one module per kind: ``lstm_layer``, ``gru_layer``, ``rnn_layer``
(one op per layer and direction), and the one-step cells.

The input projection of a whole sequence is one matmul outside these ops (``F.linear`` on every time step
at once, giving the gate inputs ``xg``); each op then runs the recurrence of one layer and direction: one
matmul per step for the recurrent part and the gate nonlinearities and state update as a few NumPy calls
on preallocated ``(N, ...)`` buffers. Backward runs backpropagation through time in one pass: one matmul
per step for the gradient of the previous state, with the pointwise factors of every step computed up
front over the whole sequence, and the recurrent weight's (and bias's) gradient as ONE matmul over all
steps at the end, split by the weight's rows across shendu's threads.

Where the time goes (W3: T 64, batch 32, H 256, 2 cores): the time loop is cut along the batch, one
16-row piece per thread with no synchronisation per step; each piece's per-step products (16 x 256 x 1024)
run at ~170 (forward) and ~150 (backward) GFLOP/s on one BLAS thread, about 2/3 of the large-product rate,
since BLAS repacks the weight at every call; they are ~2/3 of the loop's time, the NumPy calls the rest.
``grad_arrays`` is that rule on raw arrays (the training path builds no Tensors); the Tensor ``backward``
(``create_graph``, higher order) differentiates the composite cell written with plain ops, which is also
the tests' oracle.

Layout: time-major and flat. ``xg`` is ``(N, G)`` with the rows of time step t at ``offsets[t] :
offsets[t] + batch_sizes[t]`` (PyTorch's packed layout; a padded ``(T, B, G)`` input is the case of equal
batch sizes, ``batch_sizes=None``). Batch sizes do not increase: sequences are sorted by length, longest
first, so step t works on the first ``batch_sizes[t]`` rows. The reverse direction walks from the last
step to the first with a growing batch; rows that have not started yet hold their initial state.
Gate orders are PyTorch's: i, f, g, o (LSTM) and r, z, n (GRU).
"""
from __future__ import annotations

from shendu.ops.recurrent.cells import gru_cell, lstm_cell, rnn_cell, rnn_relu_cell, rnn_tanh_cell
from shendu.ops.recurrent.gru import GRULayer, gru_composite, gru_layer
from shendu.ops.recurrent.lstm import LSTMLayer, lstm_composite, lstm_layer
from shendu.ops.recurrent.rnn import RNNLayer, rnn_composite, rnn_layer

__all__ = [
    "GRULayer", "LSTMLayer", "RNNLayer", "gru_cell", "gru_composite", "gru_layer", "lstm_cell", "lstm_composite",
    "lstm_layer", "rnn_cell", "rnn_composite", "rnn_layer", "rnn_relu_cell", "rnn_tanh_cell",
]
