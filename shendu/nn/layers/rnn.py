r"""Recurrent layers: ``RNN``, ``LSTM``, ``GRU`` and their one-step cells ``RNNCell``, ``LSTMCell``, ``GRUCell``.

PyTorch's names, arguments, parameter names and shapes (``weight_ih_l0``, ``weight_hh_l1_reverse``,
``weight_hr_l0`` ...), initialisation and gate orders (i, f, g, o for the LSTM, r, z, n for the GRU), so a
PyTorch state_dict loads unchanged. Each layer and direction runs as: one matmul for the input
projection of the whole sequence (``F.linear``), then the recurrence as one op with a hand-written
backward (``shendu.ops.recurrent``). Input may be padded ``(T, B, *)`` / ``(B, T, *)``, unbatched
``(T, *)`` or a ``PackedSequence``; the final states come out in PyTorch's layout
``(num_layers * num_directions, B, H_out)``, for packed input each sequence's own last state.
"""
from __future__ import annotations

import math
import numbers
import warnings

from shendu import creation
from shendu.nn import functional as F
from shendu.nn import init
from shendu.nn.module import Module
from shendu.nn.parameter import Parameter
from shendu.ops import recurrent
from shendu.ops.index import index_select
from shendu.ops.shape import cat, stack
from shendu.tensor import Tensor

_GATES = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}


def _packed_type():
    from shendu.nn.utils.rnn import PackedSequence
    return PackedSequence


class RNNBase(Module):
    """What RNN, LSTM and GRU share: the parameters, their names and order, the input and state checks
    and the loop over layers and directions (``mode``: 'LSTM', 'GRU', 'RNN_TANH' or 'RNN_RELU')."""

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 proj_size: int = 0, device=None, dtype=None):
        super().__init__()
        name = {"RNN_TANH": "RNN", "RNN_RELU": "RNN"}.get(mode, mode)
        if not isinstance(dropout, numbers.Number) or isinstance(dropout, bool) or not 0 <= dropout <= 1:
            raise ValueError(f"{name}: dropout should be a number in range [0, 1] representing the probability of "
                             f"an element being zeroed, got {dropout!r}")
        if dropout > 0 and num_layers == 1:
            warnings.warn(f"dropout option adds dropout after all but last recurrent layer, so non-zero dropout "
                          f"expects num_layers greater than 1, but got dropout={dropout} and "
                          f"num_layers={num_layers}", stacklevel=3)
        for arg, value in (("bias", bias), ("batch_first", batch_first)):
            if not isinstance(value, bool):
                raise TypeError(f"{name}: {arg} should be of type bool, got: {type(value).__name__}")
        for arg, value in (("input_size", input_size), ("hidden_size", hidden_size)):
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"{name}: {arg} should be of type int, got: {type(value).__name__}")
            if value <= 0:
                raise ValueError(f"{name}: {arg} must be greater than zero, got {value}")
        if num_layers <= 0:
            raise ValueError(f"{name}: num_layers must be greater than zero, got {num_layers}")
        if proj_size < 0:
            raise ValueError(f"{name}: proj_size should be a positive integer or zero to disable projections")
        if proj_size >= hidden_size:
            raise ValueError(f"{name}: proj_size has to be smaller than hidden_size ({proj_size} >= {hidden_size})")
        if mode not in _GATES:
            raise ValueError(f"Unrecognized RNN mode: {mode}")
        self.mode = mode
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        self.bidirectional, self.proj_size = bidirectional, proj_size
        gate_size = _GATES[mode] * hidden_size
        real_hidden = proj_size if proj_size > 0 else hidden_size
        directions = 2 if bidirectional else 1
        self._flat_weights_names, self._all_weights = [], []
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else real_hidden * directions
            for direction in range(directions):
                shapes = [("weight_ih_l{}{}", (gate_size, layer_input)), ("weight_hh_l{}{}", (gate_size, real_hidden))]
                if bias:
                    shapes += [("bias_ih_l{}{}", (gate_size,)), ("bias_hh_l{}{}", (gate_size,))]
                if proj_size > 0:
                    shapes += [("weight_hr_l{}{}", (proj_size, hidden_size))]
                names = []
                for fmt, shape in shapes:
                    n = fmt.format(layer, "_reverse" if direction == 1 else "")
                    setattr(self, n, Parameter(creation.empty(*shape, dtype=dtype, device=device)))
                    names.append(n)
                self._flat_weights_names.extend(names)
                self._all_weights.append(names)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Every weight and bias from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)), as PyTorch initialises them."""
        stdv = 1.0 / math.sqrt(self.hidden_size)
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def flatten_parameters(self) -> None:
        """A no-op (PyTorch packs the weights for cuDNN here)."""

    @property
    def _flat_weights(self) -> list:
        return [getattr(self, n) for n in self._flat_weights_names]

    @property
    def all_weights(self) -> list:
        """The parameters per layer and direction: ``[[w_ih, w_hh, b_ih, b_hh, (w_hr)], ...]``."""
        return [[getattr(self, n) for n in names] for names in self._all_weights]

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size != 0:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first is not False:
            s += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            s += f", bidirectional={self.bidirectional}"
        return s

    # -- checks (PyTorch's names and messages, prefixed with the layer) ------------------------------
    def _state_sizes(self) -> tuple:
        h_out = self.proj_size if self.proj_size > 0 else self.hidden_size
        return h_out, self.hidden_size

    def check_input(self, input: Tensor, batch_sizes) -> None:
        """Raise naming the layer if ``input`` has the wrong dtype, number of dims or feature size
        (``batch_sizes``: a packed input's, or None)."""
        weight = self.weight_ih_l0
        if input.dtype != weight.dtype:
            raise ValueError(f"{self!r}: input dtype ({input.dtype}) does not match weight dtype ({weight.dtype}). "
                             f"Convert input: input.to({weight.dtype}), or convert model: model.to({input.dtype})")
        expected = 2 if batch_sizes is not None else 3
        if input.ndim != expected:
            raise RuntimeError(f"{self!r}: input must have {expected} dimensions, got {input.ndim} "
                               f"(shape {tuple(input.shape)})")
        if input.shape[-1] != self.input_size:
            raise RuntimeError(f"{self!r}: input.size(-1) must be equal to input_size. Expected {self.input_size}, "
                               f"got {input.shape[-1]} (input shape {tuple(input.shape)})")

    def _check_state(self, hx: Tensor, expected: tuple, which: str) -> None:
        if tuple(hx.shape) != expected:
            raise RuntimeError(f"{self!r}: Expected {which} size {expected}, got {list(hx.shape)}")
        if hx.dtype != self.weight_ih_l0.dtype:
            raise ValueError(f"{self!r}: {which} dtype ({hx.dtype}) does not match weight dtype "
                             f"({self.weight_ih_l0.dtype})")

    # -- the forward pass shared by the three layers ------------------------------------------------
    def _run(self, input, hx: Tensor | None, cx: Tensor | None = None):
        """``(output, h_n, c_n)`` (c_n None except for the LSTM); ``hx``/``cx`` None means zeros."""
        name = type(self).__name__
        packed_type = _packed_type()
        is_packed = isinstance(input, packed_type)
        lstm = self.mode == "LSTM"
        directions = 2 if self.bidirectional else 1
        h_out, h_cell = self._state_sizes()
        states = self.num_layers * directions
        unbatched = False
        if is_packed:
            data, batch_sizes, sorted_indices, unsorted_indices = input
            sizes = tuple(int(v) for v in batch_sizes._data)
            self.check_input(data, sizes)
            if any(a < b for a, b in zip(sizes, sizes[1:])) or not sizes or sizes[-1] <= 0:
                raise RuntimeError(f"{self!r}: a PackedSequence needs non-increasing positive batch_sizes, got "
                                   f"{list(sizes)}")
            B, x, T = sizes[0], data, None
            if hx is not None and sorted_indices is not None:  # states in the caller's order -> sorted order
                hx = index_select(hx, 1, sorted_indices)
                cx = index_select(cx, 1, sorted_indices) if cx is not None else None
        else:
            if input.ndim not in (2, 3):
                raise ValueError(f"{name}: Expected input to be 2D or 3D, got {input.ndim}D tensor instead "
                                 f"(shape {tuple(input.shape)})")
            unbatched = input.ndim == 2
            if unbatched:
                for which, s in (("hx", hx), ("cx", cx)):
                    if s is not None and s.ndim != 2:
                        raise RuntimeError(f"{self!r}: for unbatched 2-D input, {which} should also be 2-D but got "
                                           f"{s.ndim}-D tensor (shape {tuple(s.shape)})")
                input = input.unsqueeze(1)
                hx = hx.unsqueeze(1) if hx is not None else None
                cx = cx.unsqueeze(1) if cx is not None else None
            else:
                if self.batch_first:
                    input = input.transpose(0, 1)  # (T, B, I)
                for which, s in (("hx", hx), ("cx", cx)):
                    if s is not None and s.ndim != 3:
                        raise RuntimeError(f"{self!r}: for batched 3-D input, {which} should also be 3-D but got "
                                           f"{s.ndim}-D tensor (shape {tuple(s.shape)})")
            self.check_input(input, None)
            T, B = input.shape[0], input.shape[1]
            if T == 0:
                raise RuntimeError(f"{self!r}: expected a sequence length larger than 0, got input shape "
                                   f"{tuple(input.shape)}")
            x, sizes = input, None
        if hx is not None:
            self._check_state(hx, (states, B, h_out), "hidden[0]" if lstm else "hidden")
        if cx is not None:
            self._check_state(cx, (states, B, h_cell), "hidden[1]")

        xp, dt = self.weight_ih_l0._xp(), self.weight_ih_l0.dtype
        weights = self.all_weights
        h_n, c_n = [], []
        for layer in range(self.num_layers):
            outs = []
            for d in range(directions):
                k = layer * directions + d
                params = weights[k]
                w_ih, w_hh = params[0], params[1]
                b_ih, b_hh = (params[2], params[3]) if self.bias else (None, None)
                w_hr = params[-1] if self.proj_size > 0 else None
                xg = F.linear(x, w_ih, b_ih)
                if xg.ndim == 3:
                    xg = xg.reshape(-1, xg.shape[-1])  # (T * B, G), time-major
                h0 = hx[k] if hx is not None else Tensor._wrap(xp.zeros((B, h_out), dt))
                opts = {"batch_sizes": sizes, "reverse": d == 1}
                if lstm:
                    c0 = cx[k] if cx is not None else Tensor._wrap(xp.zeros((B, h_cell), dt))
                    out, hn, cn = recurrent.LSTMLayer.apply(xg, h0, c0, w_hh, b_hh, w_hr, **opts)
                    c_n.append(cn)
                elif self.mode == "GRU":
                    out, hn = recurrent.GRULayer.apply(xg, h0, w_hh, b_hh, **opts)
                else:
                    out, hn = recurrent.RNNLayer.apply(xg, h0, w_hh, b_hh, nonlinearity=self.mode[4:].lower(),
                                                       **opts)
                outs.append(out)
                h_n.append(hn)
            x = outs[0] if directions == 1 else cat(outs, 1)  # (N, directions * H_out)
            if self.dropout and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, True)
        h_n = stack(h_n, 0)
        c_n = stack(c_n, 0) if lstm else None
        if is_packed:
            if unsorted_indices is not None:  # back to the caller's order
                h_n = index_select(h_n, 1, unsorted_indices)
                c_n = index_select(c_n, 1, unsorted_indices) if lstm else None
            return packed_type(x, batch_sizes, sorted_indices, unsorted_indices), h_n, c_n
        out = x.reshape(T, B, x.shape[-1])
        if unbatched:
            return out.squeeze(1), h_n.squeeze(1), (c_n.squeeze(1) if lstm else None)
        if self.batch_first:
            out = out.transpose(0, 1)
        return out, h_n, c_n


_SHAPES_DOC = r"""
    Shape (D = 2 if bidirectional else 1, :math:`H_{out}` = proj_size if > 0 else hidden_size):
        - input: :math:`(L, N, H_{in})`, :math:`(N, L, H_{in})` with ``batch_first``, :math:`(L, H_{in})`
          unbatched, or a ``PackedSequence``.
        - output: :math:`(L, N, D H_{out})` (batch first / unbatched likewise), packed for packed input.
        - h_0 / h_n: :math:`(D \cdot \text{num\_layers}, N, H_{out})`, :math:`(D \cdot \text{num\_layers},
          H_{out})` unbatched; zeros when not given.
"""


class RNN(RNNBase):
    __doc__ = r"""A multi-layer Elman RNN: :math:`h_t = \tanh(x_t W_{ih}^T + b_{ih} + h_{t-1} W_{hh}^T + b_{hh})`
    (or ReLU), each layer's output the next layer's input.

    Args:
        input_size: features of the input :math:`x`.
        hidden_size: features of the hidden state :math:`h`.
        num_layers: stacked recurrent layers. Default: 1
        nonlinearity: ``'tanh'`` or ``'relu'``. Default: ``'tanh'``
        bias: if ``False``, no ``b_ih`` and ``b_hh``. Default: ``True``
        batch_first: input and output as ``(batch, seq, feature)``. Default: ``False``
        dropout: dropout probability on each layer's output except the last. Default: 0
        bidirectional: a second, reversed direction per layer. Default: ``False``
""" + _SHAPES_DOC + r"""
    Attributes:
        weight_ih_l[k]: :math:`(\text{hidden\_size}, H_{in})` for k = 0, else :math:`(\text{hidden\_size},
            D \cdot \text{hidden\_size})`; weight_hh_l[k]: :math:`(\text{hidden\_size}, \text{hidden\_size})`;
            bias_ih_l[k], bias_hh_l[k]: :math:`(\text{hidden\_size})`; ``_reverse`` for the second direction.
            All from :math:`\mathcal{U}(-\sqrt{k}, \sqrt{k})`, :math:`k = 1/\text{hidden\_size}`.

    Example::

        >>> rnn = nn.RNN(10, 20, 2)
        >>> output, hn = rnn(shendu.randn(5, 3, 10), shendu.randn(2, 3, 20))
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh",
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'.")
        self.nonlinearity = nonlinearity
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size, hidden_size,
                         num_layers, bias, batch_first, dropout, bidirectional, 0, device, dtype)

    def forward(self, input, hx: Tensor | None = None):
        out, h_n, _ = self._run(input, hx)
        return out, h_n


class LSTM(RNNBase):
    __doc__ = r"""A multi-layer long short-term memory RNN. For each step, with gates in PyTorch's order i, f, g, o:

    .. math::
        i = \sigma(W_{ii} x + b_{ii} + W_{hi} h + b_{hi}),\ f = \sigma(\dots),\ g = \tanh(\dots),\
        o = \sigma(\dots),\quad c' = f c + i g,\quad h' = o \tanh(c')

    and with ``proj_size > 0``, :math:`h' = W_{hr}(o \tanh(c'))`.

    Args:
        input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional: as for :class:`RNN`.
        proj_size: if > 0, an LSTM with projections of that size. Default: 0
""" + _SHAPES_DOC + r"""        - c_0 / c_n: :math:`(D \cdot \text{num\_layers}, N, \text{hidden\_size})`.
        Inputs are ``input, (h_0, c_0)``; outputs ``output, (h_n, c_n)``.

    Attributes:
        weight_ih_l[k]: :math:`(4 \cdot \text{hidden\_size}, H_{in})` (k = 0) or :math:`(4 \cdot
            \text{hidden\_size}, D H_{out})`; weight_hh_l[k]: :math:`(4 \cdot \text{hidden\_size}, H_{out})`;
            bias_ih_l[k], bias_hh_l[k]: :math:`(4 \cdot \text{hidden\_size})`; weight_hr_l[k]:
            :math:`(\text{proj\_size}, \text{hidden\_size})` with projections; ``_reverse`` for the second
            direction. All from :math:`\mathcal{U}(-\sqrt{k}, \sqrt{k})`, :math:`k = 1/\text{hidden\_size}`.

    Example::

        >>> lstm = nn.LSTM(10, 20, 2)
        >>> output, (hn, cn) = lstm(shendu.randn(5, 3, 10))
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, proj_size: int = 0,
                 device=None, dtype=None):
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         proj_size, device, dtype)

    def forward(self, input, hx: tuple | None = None):
        h0 = c0 = None
        if hx is not None:
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise TypeError(f"{self!r}: hx should be a tuple (h_0, c_0), got {type(hx).__name__}")
            h0, c0 = hx
        out, h_n, c_n = self._run(input, h0, c0)
        return out, (h_n, c_n)


class GRU(RNNBase):
    __doc__ = r"""A multi-layer gated recurrent unit RNN. For each step, with gates in PyTorch's order r, z, n:

    .. math::
        r = \sigma(W_{ir} x + b_{ir} + W_{hr} h + b_{hr}),\ z = \sigma(\dots),\
        n = \tanh(W_{in} x + b_{in} + r (W_{hn} h + b_{hn})),\quad h' = (1 - z) n + z h

    Args:
        input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional: as for :class:`RNN`.
""" + _SHAPES_DOC + r"""
    Attributes:
        weight_ih_l[k]: :math:`(3 \cdot \text{hidden\_size}, H_{in})` (k = 0) or :math:`(3 \cdot
            \text{hidden\_size}, D \cdot \text{hidden\_size})`; weight_hh_l[k]: :math:`(3 \cdot
            \text{hidden\_size}, \text{hidden\_size})`; biases :math:`(3 \cdot \text{hidden\_size})`. All from
            :math:`\mathcal{U}(-\sqrt{k}, \sqrt{k})`, :math:`k = 1/\text{hidden\_size}`.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 device=None, dtype=None):
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         0, device, dtype)

    def forward(self, input, hx: Tensor | None = None):
        out, h_n, _ = self._run(input, hx)
        return out, h_n


# -- cells ------------------------------------------------------------------------------------------
class RNNCellBase(Module):
    """What the one-step cells share: ``weight_ih`` ``(chunks * H, H_in)``, ``weight_hh`` ``(chunks * H, H)``,
    optional ``bias_ih`` / ``bias_hh`` ``(chunks * H)``, all from U(-1/sqrt(H), 1/sqrt(H))."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool, num_chunks: int, device=None, dtype=None):
        super().__init__()
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        self.weight_ih = Parameter(creation.empty(num_chunks * hidden_size, input_size, dtype=dtype, device=device))
        self.weight_hh = Parameter(creation.empty(num_chunks * hidden_size, hidden_size, dtype=dtype, device=device))
        if bias:
            self.bias_ih = Parameter(creation.empty(num_chunks * hidden_size, dtype=dtype, device=device))
            self.bias_hh = Parameter(creation.empty(num_chunks * hidden_size, dtype=dtype, device=device))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Every weight and bias from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)), as PyTorch initialises them."""
        stdv = 1.0 / math.sqrt(self.hidden_size)
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity={self.nonlinearity}"
        return s

    def _prepare(self, input: Tensor, states: tuple) -> tuple:
        """Check the input and states; return them batched (unbatched 1-D input gains a batch of 1)."""
        name = type(self).__name__
        if input.ndim not in (1, 2):
            raise ValueError(f"{name}: Expected input to be 1D or 2D, got {input.ndim}D instead "
                             f"(shape {tuple(input.shape)})")
        for idx, s in enumerate(states):
            if s is not None and s.ndim not in (1, 2):
                which = f"hx[{idx}]" if len(states) > 1 else "hidden"
                raise ValueError(f"{name}: Expected {which} to be 1D or 2D, got {s.ndim}D instead")
        if input.shape[-1] != self.input_size:
            raise RuntimeError(f"{self!r}: input has {input.shape[-1]} features (shape {tuple(input.shape)}), "
                               f"expected input_size={self.input_size}")
        if input.dtype != self.weight_ih.dtype:
            raise ValueError(f"{self!r}: input dtype ({input.dtype}) does not match weight dtype "
                             f"({self.weight_ih.dtype})")
        batched = input.ndim == 2
        x = input if batched else input.unsqueeze(0)
        B = x.shape[0]
        out = []
        for s in states:
            if s is None:
                s = Tensor._wrap(x._xp().zeros((B, self.hidden_size), x.dtype))
            elif not batched:
                s = s.unsqueeze(0)
            if tuple(s.shape) != (B, self.hidden_size):
                raise RuntimeError(f"{self!r}: expected a hidden state of shape ({B}, {self.hidden_size}) "
                                   f"for input of shape {tuple(input.shape)}, got {tuple(s.shape)}")
            out.append(s)
        return batched, x, out


class RNNCell(RNNCellBase):
    r"""One step of an Elman RNN: :math:`h' = \tanh(W_{ih} x + b_{ih} + W_{hh} h + b_{hh})` (or ReLU).

    Args:
        input_size: features of the input. hidden_size: features of the hidden state.
        bias: if ``False``, no ``bias_ih`` / ``bias_hh``. Default: ``True``
        nonlinearity: ``'tanh'`` or ``'relu'``. Default: ``'tanh'``

    Shape:
        - input: :math:`(N, H_{in})` or :math:`(H_{in})`; hidden: :math:`(N, H)` or :math:`(H)`, zeros if absent.
        - output h': like hidden.
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh",
                 device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'.")
        super().__init__(input_size, hidden_size, bias, 1, device, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        batched, x, (h,) = self._prepare(input, (hx,))
        h_new = recurrent.rnn_cell(x, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh,
                                   nonlinearity=self.nonlinearity)
        return h_new if batched else h_new.squeeze(0)


class LSTMCell(RNNCellBase):
    r"""One LSTM step: gates i, f, g, o from :math:`W_{ih} x + b_{ih} + W_{hh} h + b_{hh}`,
    :math:`c' = f c + i g`, :math:`h' = o \tanh(c')`.

    Args:
        input_size, hidden_size, bias: as for :class:`RNNCell`.

    Shape:
        - input: :math:`(N, H_{in})` or :math:`(H_{in})`; (h, c): each :math:`(N, H)` or :math:`(H)`, zeros if absent.
        - output (h', c'): like (h, c).
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, 4, device, dtype)

    def forward(self, input: Tensor, hx: tuple | None = None) -> tuple:
        states = (None, None) if hx is None else tuple(hx)
        if len(states) != 2:
            raise TypeError(f"{self!r}: hx should be a tuple (h, c), got {len(states)} tensors")
        batched, x, (h, c) = self._prepare(input, states)
        h_new, c_new = recurrent.lstm_cell(x, (h, c), self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        return (h_new, c_new) if batched else (h_new.squeeze(0), c_new.squeeze(0))


class GRUCell(RNNCellBase):
    r"""One GRU step: r, z, n as in :class:`GRU`, :math:`h' = (1 - z) n + z h`.

    Args:
        input_size, hidden_size, bias: as for :class:`RNNCell`.

    Shape:
        - input: :math:`(N, H_{in})` or :math:`(H_{in})`; hidden: :math:`(N, H)` or :math:`(H)`, zeros if absent.
        - output h': like hidden.
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, 3, device, dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        batched, x, (h,) = self._prepare(input, (hx,))
        h_new = recurrent.gru_cell(x, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        return h_new if batched else h_new.squeeze(0)
