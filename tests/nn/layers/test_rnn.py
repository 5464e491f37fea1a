"""RNN, LSTM, GRU and their cells against PyTorch with the same weights (PyTorch's state_dict loaded):
outputs, final states and every parameter and input gradient under a random upstream gradient on every
output, across the option grid; packed input; float64 gradcheck and gradgradcheck; long sequences;
dropout between layers; gradient clipping on an exploding RNN; clear errors."""
import copy
import itertools

import numpy as np
import pytest
import torch
from layer_harness import run_layer_test

import shendu as sd
from shendu import nn
from shendu.nn.utils import rnn as rnn_utils

T, B, I, H = 4, 3, 3, 5
KINDS = ["RNN_TANH", "RNN_RELU", "LSTM", "GRU"]


def _make(kind: str, *args, **kw):
    """The shendu layer and the PyTorch layer of the same kind, PyTorch's weights loaded into shendu."""
    name = {"RNN_TANH": "RNN", "RNN_RELU": "RNN"}.get(kind, kind)
    if kind.startswith("RNN_"):
        kw["nonlinearity"] = kind[4:].lower()
    torch.manual_seed(0)
    t_layer = getattr(torch.nn, name)(*args, **kw)
    s_layer = getattr(nn, name)(*args, **kw)
    missing = s_layer.load_state_dict({k: sd.tensor(v.detach().numpy()) for k, v in t_layer.state_dict().items()})
    assert missing.missing_keys == [] and missing.unexpected_keys == []
    return s_layer, t_layer


def _flat(out) -> list:
    """Every tensor of a recurrent layer's result, in order: output, h_n (, c_n); packed data for packed."""
    if isinstance(out, (tuple, list)) and not hasattr(out, "batch_sizes"):
        return [t for o in out for t in _flat(o)]
    if hasattr(out, "batch_sizes"):
        return [out.data]
    return [out]


def _compare(s_layer, t_layer, s_args, t_args, leaves, *, seed=1, rtol=1e-5, atol=1e-5):
    """Forward both, check every output, backprop the same random gradient on every output, check the
    gradients of ``leaves`` (pairs of shendu / torch input tensors) and of every parameter."""
    s_out, t_out = _flat(s_layer(*s_args)), _flat(t_layer(*t_args))
    assert len(s_out) == len(t_out)
    rng = np.random.default_rng(seed)
    ups = []
    for k, (s, t) in enumerate(zip(s_out, t_out)):
        assert s.shape == tuple(t.shape), f"output {k}: shape {s.shape}, torch {tuple(t.shape)}"
        assert s.dtype == t.detach().numpy().dtype
        np.testing.assert_allclose(s.detach().numpy(), t.detach().numpy(), rtol=rtol, atol=atol,
                                   err_msg=f"output {k}")
        ups.append(rng.standard_normal(tuple(t.shape)).astype(t.detach().numpy().dtype))
    sd.autograd.backward(s_out, [sd.tensor(u) for u in ups])
    torch.autograd.backward(t_out, [torch.tensor(u) for u in ups])
    for k, (s, t) in enumerate(leaves):
        np.testing.assert_allclose(s.grad.numpy(), t.grad.numpy(), rtol=1e-4, atol=1e-5,
                                   err_msg=f"gradient of input {k}")
    t_params = dict(t_layer.named_parameters())
    for n, p in s_layer.named_parameters():
        assert p.grad is not None, f"{n}: no gradient"
        np.testing.assert_allclose(p.grad.numpy(), t_params[n].grad.numpy(), rtol=1e-4, atol=1e-5,
                                   err_msg=f"gradient of {n}")


def _pair(shape, seed, dtype=np.float32):
    a = np.random.default_rng(seed).uniform(-1, 1, shape).astype(dtype)
    return sd.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)


def _states(kind, num_layers, directions, batch, h_out=H, seed=5):
    shape = (num_layers * directions, batch, h_out)
    if kind == "LSTM":
        (h, th), (c, tc) = _pair(shape, seed), _pair((num_layers * directions, batch, H), seed + 1)
        return (h, c), (th, tc), [(h, th), (c, tc)]
    h, th = _pair(shape, seed)
    return h, th, [(h, th)]


# -- the option grid ----------------------------------------------------------------------------------
GRID = list(itertools.product(KINDS, [1, 2], [False, True], [False, True], [True, False], [False, True]))


@pytest.mark.parametrize("kind,num_layers,bidirectional,batch_first,bias,given", GRID,
                         ids=[f"{k}-L{n}-{'bi' if b else 'uni'}-{'bf' if f else 'tf'}-{'bias' if bi else 'nobias'}-"
                              f"{'h0' if g else 'noh0'}" for k, n, b, f, bi, g in GRID])
def test_layer_matches_torch(kind, num_layers, bidirectional, batch_first, bias, given):
    s_layer, t_layer = _make(kind, I, H, num_layers, bias=bias, batch_first=batch_first,
                             bidirectional=bidirectional)
    x, tx = _pair((B, T, I) if batch_first else (T, B, I), 0)
    s_args, t_args, leaves = [x], [tx], [(x, tx)]
    if given:
        hs, ht, pairs = _states(kind, num_layers, 2 if bidirectional else 1, B)
        s_args.append(hs)
        t_args.append(ht)
        leaves += pairs
    _compare(s_layer, t_layer, s_args, t_args, leaves)


@pytest.mark.parametrize("num_layers,bidirectional,given", [(1, False, False), (2, True, True), (2, False, True),
                                                            (1, True, False)])
def test_lstm_proj_size_matches_torch(num_layers, bidirectional, given):
    s_layer, t_layer = _make("LSTM", I, H, num_layers, proj_size=2, bidirectional=bidirectional)
    assert [n for n, _ in s_layer.named_parameters()] == [n for n, _ in t_layer.named_parameters()]
    x, tx = _pair((T, B, I), 0)
    s_args, t_args, leaves = [x], [tx], [(x, tx)]
    if given:
        hs, ht, pairs = _states("LSTM", num_layers, 2 if bidirectional else 1, B, h_out=2)
        s_args.append(hs)
        t_args.append(ht)
        leaves += pairs
    _compare(s_layer, t_layer, s_args, t_args, leaves)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("given", [False, True])
def test_unbatched_input_matches_torch(kind, given):
    s_layer, t_layer = _make(kind, I, H, 2, bidirectional=True, batch_first=True)  # batch_first ignored
    x, tx = _pair((T, I), 0)
    s_args, t_args, leaves = [x], [tx], [(x, tx)]
    if given:
        if kind == "LSTM":
            (h, th), (c, tc) = _pair((4, H), 5), _pair((4, H), 6)
            s_args.append((h, c))
            t_args.append((th, tc))
            leaves += [(h, th), (c, tc)]
        else:
            h, th = _pair((4, H), 5)
            s_args.append(h)
            t_args.append(th)
            leaves.append((h, th))
    _compare(s_layer, t_layer, s_args, t_args, leaves)
    out = s_layer(*s_args)
    assert out[0].shape == (T, 2 * H)


# -- packed sequences -----------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("num_layers,bidirectional,given,enforce_sorted",
                         [(1, False, False, False), (2, True, True, False), (1, True, True, True),
                          (2, False, False, True)])
def test_packed_input_matches_torch(kind, num_layers, bidirectional, given, enforce_sorted):
    lengths = [5, 5, 3, 2, 1] if enforce_sorted else [3, 5, 1, 5, 2]
    Tn, Bn = 5, len(lengths)
    s_layer, t_layer = _make(kind, I, H, num_layers, bidirectional=bidirectional, batch_first=True)
    x, tx = _pair((Bn, Tn, I), 0)
    s_packed = rnn_utils.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=enforce_sorted)
    t_packed = torch.nn.utils.rnn.pack_padded_sequence(tx, lengths, batch_first=True, enforce_sorted=enforce_sorted)
    np.testing.assert_array_equal(s_packed.batch_sizes.numpy(), t_packed.batch_sizes.numpy())
    s_args, t_args, leaves = [s_packed], [t_packed], [(x, tx)]
    if given:
        hs, ht, pairs = _states(kind, num_layers, 2 if bidirectional else 1, Bn)
        s_args.append(hs)
        t_args.append(ht)
        leaves += pairs
    _compare(s_layer, t_layer, s_args, t_args, leaves)
    out = s_layer(*s_args)[0]
    assert isinstance(out, rnn_utils.PackedSequence)
    np.testing.assert_array_equal(out.batch_sizes.numpy(), s_packed.batch_sizes.numpy())
    if not enforce_sorted:
        np.testing.assert_array_equal(out.unsorted_indices.numpy(), t_packed.unsorted_indices.numpy())


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_padded_steps_change_nothing(kind):
    """Final states of a packed batch are each sequence's own; padding values never leak in."""
    lengths = [2, 4, 3]
    s_layer, _ = _make(kind, I, H, 2, bidirectional=True)
    x = sd.tensor(np.random.default_rng(0).standard_normal((4, 3, I)).astype(np.float32), requires_grad=True)
    noisy = x.detach().clone()
    for b, n in enumerate(lengths):
        noisy[n:, b] = 1e3  # garbage in the padded steps
    noisy.requires_grad_()
    outs = []
    for inp in (x, noisy):
        packed = rnn_utils.pack_padded_sequence(inp, lengths, enforce_sorted=False)
        out, h = s_layer(packed)
        padded, _ = rnn_utils.pad_packed_sequence(out)
        outs.append((padded, h[0] if kind == "LSTM" else h))
    np.testing.assert_allclose(outs[0][0].detach().numpy(), outs[1][0].detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(outs[0][1].detach().numpy(), outs[1][1].detach().numpy(), rtol=1e-6)
    for b, n in enumerate(lengths):  # each sequence alone gives the same final state
        single, h1 = s_layer(x[:n, b:b + 1])
        h1 = h1[0] if kind == "LSTM" else h1
        np.testing.assert_allclose(outs[0][1][:, b].detach().numpy(), h1[:, 0].detach().numpy(), rtol=1e-5,
                                   atol=1e-6)
        np.testing.assert_allclose(outs[0][0][:n, b].detach().numpy(), single[:, 0].detach().numpy(), rtol=1e-5,
                                   atol=1e-6)
    padded, _ = outs[1]
    padded.backward(sd.ones_like(padded))
    g = noisy.grad.numpy()
    for b, n in enumerate(lengths):
        assert not np.any(g[n:, b]), "a padded step received a gradient"


# -- cells ----------------------------------------------------------------------------------------------
CELLS = ["RNNCell-tanh", "RNNCell-relu", "LSTMCell", "GRUCell"]


def _make_cell(spec, bias=True):
    name, _, act = spec.partition("-")
    kw = {"bias": bias, **({"nonlinearity": act} if act else {})}
    torch.manual_seed(0)
    t_cell = getattr(torch.nn, name)(I, H, **kw)
    s_cell = getattr(nn, name)(I, H, **kw)
    s_cell.load_state_dict({k: sd.tensor(v.detach().numpy()) for k, v in t_cell.state_dict().items()})
    return s_cell, t_cell


@pytest.mark.parametrize("spec", CELLS)
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("batched,given", [(True, True), (True, False), (False, True), (False, False)])
def test_cell_matches_torch(spec, bias, batched, given):
    s_cell, t_cell = _make_cell(spec, bias)
    shape = (B, I) if batched else (I,)
    hshape = (B, H) if batched else (H,)
    x, tx = _pair(shape, 0)
    s_args, t_args, leaves = [x], [tx], [(x, tx)]
    if given:
        if spec == "LSTMCell":
            (h, th), (c, tc) = _pair(hshape, 3), _pair(hshape, 4)
            s_args.append((h, c))
            t_args.append((th, tc))
            leaves += [(h, th), (c, tc)]
        else:
            h, th = _pair(hshape, 3)
            s_args.append(h)
            t_args.append(th)
            leaves.append((h, th))
    _compare(s_cell, t_cell, s_args, t_args, leaves)


def test_cell_unrolled_equals_layer():
    """An LSTMCell stepped by hand over a sequence gives the LSTM layer's outputs (shared weights)."""
    layer = nn.LSTM(I, H)
    cell = nn.LSTMCell(I, H)
    cell.load_state_dict({k[:-3]: v for k, v in layer.state_dict().items()})
    x = sd.randn(T, B, I)
    out, (h_n, c_n) = layer(x)
    h = c = sd.zeros(B, H)
    for t in range(T):
        h, c = cell(x[t], (h, c))
        np.testing.assert_allclose(h.detach().numpy(), out[t].detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(c.detach().numpy(), c_n[0].detach().numpy(), rtol=1e-5, atol=1e-6)


# -- float64 gradcheck, gradgradcheck (the composite path) ------------------------------------------------
def _float64_leaves(module, inputs):
    model = copy.deepcopy(module).double()
    params = [p for p in model.parameters()]
    return model, [sd.tensor(np.random.default_rng(k).uniform(-1, 1, s), requires_grad=True)
                   for k, s in enumerate(inputs)], params


def _layer_fn(model, kind, n_inputs, packed_lengths=None):
    def fn(*args):
        x = args[0]
        if packed_lengths is not None:
            x = rnn_utils.pack_padded_sequence(x, packed_lengths, enforce_sorted=False)
        states = args[1:n_inputs]
        hx = None if not states else (tuple(states) if kind == "LSTM" else states[0])
        return tuple(_flat(model(x, hx) if hx is not None else model(x)))
    return fn


@pytest.mark.parametrize("kind", KINDS)
def test_layer_gradcheck(kind):
    module = _make(kind, 2, 3, 2, bidirectional=True)[0]
    model, xs, params = _float64_leaves(module, [(3, 2, 2), (4, 2, 3)] + ([(4, 2, 3)] if kind == "LSTM" else []))
    assert sd.gradcheck(_layer_fn(model, kind, len(xs)), xs + params, eps=1e-6, atol=1e-5, rtol=1e-3)


def test_lstm_proj_and_packed_gradcheck():
    module = nn.LSTM(2, 3, proj_size=2, bidirectional=True)
    model, xs, params = _float64_leaves(module, [(3, 3, 2)])
    assert sd.gradcheck(_layer_fn(model, "LSTM", 1, packed_lengths=[2, 3, 1]), xs + params, eps=1e-6, atol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_layer_gradgradcheck(kind):
    module = _make(kind, 2, 2, 1, bidirectional=True)[0]
    shapes = [(2, 2, 2), (2, 2, 2)] + ([(2, 2, 2)] if kind == "LSTM" else [])
    model, xs, params = _float64_leaves(module, shapes)
    with np.errstate(all="ignore"):
        assert sd.gradgradcheck(_layer_fn(model, kind, len(xs)), xs + params, eps=1e-6, atol=1e-4, rtol=1e-3)


@pytest.mark.parametrize("spec", CELLS)
def test_cell_gradcheck_and_gradgradcheck(spec):
    cell = _make_cell(spec)[0].double()
    x = sd.tensor(np.random.default_rng(0).uniform(-1, 1, (2, I)), requires_grad=True)
    h = sd.tensor(np.random.default_rng(1).uniform(-1, 1, (2, H)), requires_grad=True)
    c = sd.tensor(np.random.default_rng(2).uniform(-1, 1, (2, H)), requires_grad=True)
    params = list(cell.parameters())
    if spec == "LSTMCell":
        def fn(x, h, c, *_):
            return cell(x, (h, c))
        leaves = [x, h, c] + params
    else:
        def fn(x, h, *_):
            return cell(x, h)
        leaves = [x, h] + params
    assert sd.gradcheck(fn, leaves, eps=1e-6, atol=1e-5, rtol=1e-3)
    with np.errstate(all="ignore"):
        assert sd.gradgradcheck(fn, leaves[:3], eps=1e-6, atol=1e-4, rtol=1e-3)


# -- long sequences, dropout, training ------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN_TANH"])
def test_thousand_step_sequence_backpropagates(kind):
    s_layer, t_layer = _make(kind, 2, 4)
    x, tx = _pair((1000, 2, 2), 0)
    _compare(s_layer, t_layer, [x], [tx], [(x, tx)], rtol=1e-4, atol=1e-5)
    assert np.all(np.isfinite(x.grad.numpy()))


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_truncated_bptt_carries_detached_state(kind):
    """A stream in chunks with the final state carried (detached) gives the whole sequence's outputs, and
    each chunk's gradient stops at the chunk's start (PyTorch's truncated BPTT idiom, same numbers)."""
    s_layer, t_layer = _make(kind, I, H, 2)
    x, tx = _pair((12, B, I), 0)
    full = s_layer(x)[0].detach().numpy()
    state, t_state, outs = None, None, []
    for k in range(0, 12, 4):
        out, state = s_layer(x[k:k + 4], state)
        t_out, t_state = t_layer(tx[k:k + 4], t_state)
        outs.append(out.detach().numpy())
        g = np.random.default_rng(k).standard_normal(out.shape).astype(np.float32)
        out.backward(sd.tensor(g))
        t_out.backward(torch.tensor(g))
        detach = (lambda s: tuple(v.detach() for v in s)) if kind == "LSTM" else (lambda s: s.detach())
        state, t_state = detach(state), detach(t_state)
    np.testing.assert_allclose(np.concatenate(outs), full, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-4, atol=1e-5)
    t_params = dict(t_layer.named_parameters())
    for n, p in s_layer.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), t_params[n].grad.numpy(), rtol=1e-4, atol=1e-5, err_msg=n)


@pytest.mark.parametrize("kind", KINDS)
def test_dropout_between_layers_not_after_the_last(kind):
    s_layer, t_layer = _make(kind, I, H, 2, dropout=1.0)  # p = 1: layer 2 sees zeros, deterministically
    x, tx = _pair((T, B, I), 0)
    s_layer.train()
    t_layer.train()
    _compare(s_layer, t_layer, [x], [tx], [(x, tx)])
    out = s_layer(x)[0]
    assert np.any(out.detach().numpy()), "dropout must not act on the last layer's output"
    s_layer.eval()
    t_layer.eval()
    x.grad = None
    tx.grad = None
    _compare(s_layer, t_layer, [x], [tx], [(x, tx)])


def test_dropout_half_differs_between_train_and_eval():
    layer = nn.GRU(I, H, 3, dropout=0.5)
    x = sd.randn(T, B, I)
    layer.train()
    a, b = layer(x)[0].detach().numpy(), layer(x)[0].detach().numpy()
    layer.eval()
    e1, e2 = layer(x)[0].detach().numpy(), layer(x)[0].detach().numpy()
    assert not np.allclose(a, b) and not np.allclose(a, e1)
    np.testing.assert_array_equal(e1, e2)
    with pytest.warns(UserWarning, match="non-zero dropout expects num_layers greater than 1"):
        nn.LSTM(I, H, dropout=0.2)


@pytest.mark.parametrize("cls,kwargs,params", [
    (nn.LSTM, {"input_size": 3, "hidden_size": 4, "num_layers": 2},
     [f"{w}_l{k}" for k in range(2) for w in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]),
    (nn.GRU, {"input_size": 3, "hidden_size": 4, "bidirectional": True},
     [f"{w}_l0{s}" for s in ("", "_reverse") for w in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]),
    (nn.RNN, {"input_size": 3, "hidden_size": 4, "bias": False, "batch_first": True}, ["weight_ih_l0", "weight_hh_l0"]),
])
def test_layer_contract(cls, kwargs, params):
    run_layer_test(cls, kwargs, input_shape=(5, 2, 3), expected_param_names=params)


@pytest.mark.parametrize("cls", [nn.RNNCell, nn.LSTMCell, nn.GRUCell])
def test_cell_contract(cls):
    chunks = {nn.RNNCell: 1, nn.LSTMCell: 4, nn.GRUCell: 3}[cls]
    run_layer_test(cls, {"input_size": 3, "hidden_size": 4}, input_shape=(2, 3), expected_output_shape=(2, 4),
                   expected_param_names=["weight_ih", "weight_hh", "bias_ih", "bias_hh"],
                   expected_num_params=chunks * 4 * (3 + 4 + 2))


# -- PyTorch's surface: names, state_dict, repr, init ------------------------------------------------------
@pytest.mark.parametrize("kw", [{}, {"num_layers": 2, "bidirectional": True}, {"proj_size": 2, "num_layers": 2},
                                {"bias": False, "batch_first": True, "dropout": 0.5, "num_layers": 3},
                                {"proj_size": 3, "bidirectional": True, "bias": False}])
def test_lstm_names_shapes_repr_all_weights(kw):
    s_layer, t_layer = _make("LSTM", 7, 6, **kw)
    t_state = t_layer.state_dict()
    assert list(s_layer.state_dict()) == list(t_state)
    assert all(tuple(v.shape) == tuple(t_state[k].shape) for k, v in s_layer.state_dict().items())
    assert repr(s_layer) == repr(t_layer)
    assert [[p.shape for p in ws] for ws in s_layer.all_weights] == [[tuple(p.shape) for p in ws]
                                                                     for ws in t_layer.all_weights]
    assert s_layer._flat_weights_names == t_layer._flat_weights_names
    assert s_layer.flatten_parameters() is None


def test_reprs_and_init_bounds():
    for s, t in [(nn.RNN(3, 4, nonlinearity="relu"), torch.nn.RNN(3, 4, nonlinearity="relu")),
                 (nn.GRU(3, 4, 2, batch_first=True), torch.nn.GRU(3, 4, 2, batch_first=True)),
                 (nn.RNNCell(3, 4, bias=False, nonlinearity="relu"), torch.nn.RNNCell(3, 4, bias=False,
                                                                                        nonlinearity="relu")),
                 (nn.LSTMCell(3, 4), torch.nn.LSTMCell(3, 4)), (nn.GRUCell(3, 4), torch.nn.GRUCell(3, 4))]:
        assert repr(s) == repr(t)
    layer = nn.LSTM(10, 400)
    bound = 1 / np.sqrt(400)
    for p in layer.parameters():
        a = p.detach().numpy()
        assert a.dtype == np.float32 and np.abs(a).max() <= bound and np.abs(a).max() > 0.95 * bound
    assert nn.GRU(3, 4, dtype=sd.float64).weight_hh_l0.dtype == np.float64


def test_float64_layer_keeps_float64():
    layer = nn.LSTM(3, 4, 2, bidirectional=True).double()
    out, (h, c) = layer(sd.randn(4, 2, 3, dtype=sd.float64))
    assert out.dtype == h.dtype == c.dtype == np.float64
    out, h = nn.GRU(3, 4)(sd.randn(4, 2, 3))
    assert out.dtype == h.dtype == np.float32


def _graph_ops(*outputs) -> list:
    nodes, stack, seen = [], [o.grad_fn for o in outputs], set()
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        nodes.append(type(node).__name__)
        stack.extend(f for f, _ in node.next_functions)
    return [n for n in nodes if n != "AccumulateGrad"]


def test_training_path_is_one_node_per_layer_and_direction():
    layer = nn.LSTM(I, H, 2, bidirectional=True)
    graphs = []
    for steps in (4, 40):
        out, (h, c) = layer(sd.randn(steps, B, I))
        graphs.append(_graph_ops(out, h, c))
    assert graphs[0].count("LSTMLayer") == 4 and graphs[0].count("Linear") == 4
    assert len(graphs[0]) == len(graphs[1]), "the graph grows with the sequence length"


# -- gradient clipping on an exploding RNN ----------------------------------------------------------------
def test_clip_grad_norm_on_exploding_rnn():
    s_layer, t_layer = _make("RNN_RELU", 2, 4)
    big = 3.0 * np.eye(4, dtype=np.float32)  # |W_hh| > 1 with ReLU: gradients grow like 3^T
    with sd.no_grad():
        s_layer.weight_hh_l0.copy_(sd.tensor(big))
    with torch.no_grad():
        t_layer.weight_hh_l0.copy_(torch.tensor(big))
    x = np.abs(np.random.default_rng(0).standard_normal((30, 2, 2))).astype(np.float32)
    s_layer(sd.tensor(x))[0][-1].sum().backward()
    t_layer(torch.tensor(x))[0][-1].sum().backward()
    norm = nn.utils.clip_grad_norm_(s_layer.parameters(), max_norm=1.0)
    t_norm = torch.nn.utils.clip_grad_norm_(t_layer.parameters(), max_norm=1.0)
    assert float(norm) > 1e10, "the gradient should explode"
    np.testing.assert_allclose(float(norm), float(t_norm), rtol=1e-4)
    after = np.sqrt(sum(float((p.grad.numpy().astype(np.float64) ** 2).sum()) for p in s_layer.parameters()))
    np.testing.assert_allclose(after, 1.0, rtol=1e-4)
    for n, p in t_layer.named_parameters():
        np.testing.assert_allclose(getattr(s_layer, n).grad.numpy(), p.grad.numpy(), rtol=1e-3, atol=1e-7)


# -- errors ----------------------------------------------------------------------------------------------
def test_wrong_input_size_names_the_layer_and_shapes():
    with pytest.raises(RuntimeError, match=r"LSTM\(3, 5\): input.size\(-1\) must be equal to input_size. "
                                           r"Expected 3, got 4 \(input shape \(2, 1, 4\)\)"):
        nn.LSTM(3, 5)(sd.randn(2, 1, 4))
    with pytest.raises(ValueError, match=r"GRU: Expected input to be 2D or 3D, got 4D tensor"):
        nn.GRU(3, 5)(sd.randn(2, 1, 1, 3))
    with pytest.raises(RuntimeError, match=r"GRUCell\(3, 5\): input has 2 features"):
        nn.GRUCell(3, 5)(sd.randn(4, 2))
    with pytest.raises(ValueError, match=r"input dtype \(float64\) does not match weight dtype \(float32\)"):
        nn.RNN(3, 5)(sd.randn(2, 1, 3, dtype=sd.float64))


def test_wrong_hidden_shape_names_the_layer_and_shapes():
    with pytest.raises(RuntimeError, match=r"RNN\(3, 5, num_layers=2\): Expected hidden size \(2, 4, 5\), "
                                           r"got \[2, 3, 5\]"):
        nn.RNN(3, 5, 2)(sd.randn(6, 4, 3), sd.zeros(2, 3, 5))
    with pytest.raises(RuntimeError, match=r"Expected hidden\[1\] size \(2, 4, 5\), got \[1, 4, 5\]"):
        nn.LSTM(3, 5, bidirectional=True)(sd.randn(6, 4, 3), (sd.zeros(2, 4, 5), sd.zeros(1, 4, 5)))
    with pytest.raises(RuntimeError, match=r"Expected hidden\[0\] size \(1, 4, 2\), got \[1, 4, 5\]"):
        nn.LSTM(3, 5, proj_size=2)(sd.randn(6, 4, 3), (sd.zeros(1, 4, 5), sd.zeros(1, 4, 5)))
    with pytest.raises(RuntimeError, match=r"for batched 3-D input, hx should also be 3-D but got 2-D"):
        nn.GRU(3, 5)(sd.randn(6, 4, 3), sd.zeros(4, 5))
    with pytest.raises(RuntimeError, match=r"for unbatched 2-D input, hx should also be 2-D but got 3-D"):
        nn.GRU(3, 5)(sd.randn(6, 3), sd.zeros(1, 1, 5))
    with pytest.raises(RuntimeError, match=r"LSTMCell\(3, 5\): expected a hidden state of shape \(4, 5\) for "
                                           r"input of shape \(4, 3\), got \(4, 6\)"):
        nn.LSTMCell(3, 5)(sd.randn(4, 3), (sd.zeros(4, 6), sd.zeros(4, 5)))
    with pytest.raises(ValueError, match=r"RNNCell: Expected hidden to be 1D or 2D, got 3D"):
        nn.RNNCell(3, 5)(sd.randn(4, 3), sd.zeros(1, 4, 5))


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="proj_size has to be smaller than hidden_size"):
        nn.LSTM(3, 4, proj_size=4)
    with pytest.raises(ValueError, match="dropout should be a number in range"):
        nn.GRU(3, 4, dropout=1.5)
    with pytest.raises(ValueError, match="Unknown nonlinearity 'gelu'"):
        nn.RNN(3, 4, nonlinearity="gelu")
    with pytest.raises(ValueError, match="hidden_size must be greater than zero"):
        nn.LSTM(3, 0)
    with pytest.raises(TypeError, match="proj_size"):
        nn.GRU(3, 4, proj_size=2)
