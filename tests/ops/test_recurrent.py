"""The recurrent ops (shendu.ops.recurrent): each fused layer op against its composite cell (the oracle)
for padded and packed sequences, both directions, with and without bias/projection, split over threads
or not; float64 gradcheck of the fused ops and gradgradcheck (the composite create_graph path); the cell
functions against torch.lstm_cell & co; bad inputs."""
import itertools

import numpy as np
import pytest
import torch
from helpers import check_grad, check_gradgrad

import shendu as sd
from shendu import threads
from shendu.ops import recurrent as R

H = 4
PACKED = (3, 3, 2, 1, 1)  # non-increasing batch sizes: lengths 5, 3, 2
B, N = PACKED[0], sum(PACKED)


def _specs(kind: str, proj: bool, bias: bool, n: int = N, b: int = B):
    """Input shapes of the op (positional), None for an absent bias / projection."""
    P = 3 if proj else H
    if kind == "lstm":
        return [(n, 4 * H), (b, P), (b, H), (4 * H, P), (4 * H,) if bias else None, (P, H) if proj else None]
    gates = 3 if kind == "gru" else 1
    return [(n, gates * H), (b, H), (gates * H, H), (gates * H,) if bias else None]


def _fused(kind, **kw):
    if kind == "lstm":
        return lambda *a: R.lstm_layer(*a, **kw)
    if kind == "gru":
        return lambda *a: R.gru_layer(*a, **kw)
    return lambda *a: R.rnn_layer(*a, nonlinearity=kind, **kw)


def _composite(kind, **kw):
    if kind == "lstm":
        return lambda *a: R.lstm_composite(*a, **kw)
    if kind == "gru":
        return lambda *a: R.gru_composite(*a, **kw)
    return lambda *a: R.rnn_composite(*a, nonlinearity=kind, **kw)


def _leaves(specs, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    return [None if s is None else sd.tensor(rng.uniform(-1, 1, s).astype(dtype), requires_grad=True) for s in specs]


def _against_composite(kind, specs, **kw):
    """Outputs and every input gradient of the fused op equal the composite's, under random upstream grads."""
    a, c = _leaves(specs), _leaves(specs)
    out, ref = _fused(kind, **kw)(*a), _composite(kind, **kw)(*c)
    assert len(out) == len(ref)
    rng = np.random.default_rng(9)
    ups = []
    for k, (o, r) in enumerate(zip(out, ref)):
        assert o.dtype == np.float32 and o.shape == r.shape
        np.testing.assert_allclose(o.detach().numpy(), r.detach().numpy(), rtol=1e-5, atol=1e-6,
                                   err_msg=f"output {k}")
        ups.append(rng.standard_normal(o.shape).astype(np.float32))
    sd.autograd.backward(list(out), [sd.tensor(u) for u in ups])
    sd.autograd.backward(list(ref), [sd.tensor(u) for u in ups])
    for k, (x, y) in enumerate(zip(a, c)):
        if x is not None:
            assert x.grad is not None and x.grad.dtype == np.float32, f"input {k}"
            np.testing.assert_allclose(x.grad.numpy(), y.grad.numpy(), rtol=1e-4, atol=1e-5,
                                       err_msg=f"gradient of input {k}")


GRID = [(k, p, bias, packed, rev) for k in ("lstm", "gru", "tanh", "relu") for p in ((False, True) if k == "lstm"
        else (False,)) for bias, packed, rev in itertools.product((True, False), repeat=3)]


@pytest.mark.parametrize("kind,proj,bias,packed,reverse", GRID,
                         ids=[f"{k}{'-proj' if p else ''}-{'bias' if b else 'nobias'}-{'packed' if pk else 'padded'}-"
                              f"{'rev' if r else 'fwd'}" for k, p, b, pk, r in GRID])
def test_fused_matches_composite(kind, proj, bias, packed, reverse):
    if packed:
        _against_composite(kind, _specs(kind, proj, bias), batch_sizes=PACKED, reverse=reverse)
    else:
        _against_composite(kind, _specs(kind, proj, bias, n=12, b=3), reverse=reverse)


@pytest.mark.parametrize("kind", ["lstm", "gru", "tanh"])
@pytest.mark.parametrize("reverse", [False, True])
def test_split_over_threads_matches_composite(kind, reverse, monkeypatch):
    """The time loops cut along the batch (one piece per row here) give the same results."""
    monkeypatch.setattr(threads, "MIN_SPLIT_ELEMENTS", 1)
    monkeypatch.setattr(threads, "get_num_threads", lambda: 3)
    _against_composite(kind, _specs(kind, kind == "lstm", True), batch_sizes=PACKED, reverse=reverse)
    _against_composite(kind, _specs(kind, False, True, n=12, b=3), reverse=reverse)


@pytest.mark.parametrize("packed", [False, True])
@pytest.mark.parametrize("reverse", [False, True])
def test_lstm_weight_gradients_split_by_rows_match_composite(packed, reverse, monkeypatch):
    """W_hh's and b_hh's gradients cut by the weight's rows across threads (h_prev read from the output
    shifted by a step, or gathered for packed input) equal the composite's."""
    monkeypatch.setattr(threads, "MIN_SPLIT_ELEMENTS", 1)
    monkeypatch.setattr(threads, "get_num_threads", lambda: 3)
    monkeypatch.setattr("shendu.ops.recurrent.lstm.WEIGHT_GRAD_MIN_ROWS", 1)
    specs = _specs("lstm", False, True) if packed else _specs("lstm", False, True, n=12, b=3)
    _against_composite("lstm", specs, **({"batch_sizes": PACKED} if packed else {}), reverse=reverse)


def test_padded_layout_is_the_equal_batch_sizes_case():
    specs = _specs("lstm", False, True, n=12, b=3)
    a = _leaves(specs)
    flat = R.lstm_layer(*a)
    padded = R.lstm_layer(a[0].reshape(4, 3, 4 * H), *a[1:])
    sized = R.lstm_layer(*a, batch_sizes=(3, 3, 3, 3))
    assert padded[0].shape == (4, 3, H) and flat[0].shape == (12, H)
    for x, y, z in zip(flat, padded, sized):
        np.testing.assert_array_equal(x.detach().numpy().reshape(-1), y.detach().numpy().reshape(-1))
        np.testing.assert_array_equal(x.detach().numpy(), z.detach().numpy())


GC = [("lstm", True), ("lstm", False), ("gru", True), ("tanh", True), ("relu", True)]


@pytest.mark.parametrize("kind,packed", GC)
def test_fused_gradcheck(kind, packed):
    proj = kind == "lstm" and packed
    shapes = _specs(kind, proj, True) if packed else _specs(kind, proj, True, n=8, b=2)
    specs = [s for s in shapes if s is not None]
    fn = _fused(kind, **({"batch_sizes": PACKED, "reverse": True} if packed else {}))
    opts = {"low": 0.1, "high": 0.9} if kind == "relu" else {}  # away from relu's kink
    check_grad(lambda *a: fn(*_fill(kind, a)), specs, **opts)


@pytest.mark.parametrize("kind", ["lstm", "gru", "tanh"])
def test_gradgradcheck_through_the_composite(kind):
    specs = [s for s in _specs(kind, kind == "lstm", True, n=4, b=2) if s is not None]
    fn = _fused(kind, batch_sizes=(2, 1, 1))
    check_gradgrad(lambda *a: fn(*_fill(kind, a)), specs)


def _fill(kind, args):
    """Positional args with the optional trailing ones (w_hr) as None where the spec list left them out."""
    args = list(args)
    if kind == "lstm" and len(args) == 5:
        args.append(None)
    return args


def test_create_graph_uses_the_composite_and_matches_it():
    a = _leaves(_specs("gru", False, True))
    c = [x.detach().clone().requires_grad_() for x in a]
    out, h = R.gru_layer(*a, batch_sizes=PACKED)
    ref, rh = R.gru_composite(*c, batch_sizes=PACKED)
    g1 = sd.autograd.grad((out * out).sum() + h.sum(), a, create_graph=True)
    g2 = sd.autograd.grad((ref * ref).sum() + rh.sum(), c, create_graph=True)
    for x, y in zip(g1, g2):
        assert x.requires_grad
        np.testing.assert_allclose(x.detach().numpy(), y.detach().numpy(), rtol=1e-5, atol=1e-6)
    s1, s2 = sum((g * g).sum() for g in g1), sum((g * g).sum() for g in g2)
    d1, d2 = sd.autograd.grad(s1, a[2]), sd.autograd.grad(s2, c[2])
    np.testing.assert_allclose(d1[0].numpy(), d2[0].numpy(), rtol=1e-4, atol=1e-5)


# -- the cell functions against PyTorch ---------------------------------------------------------------------
CELLS = [("lstm_cell", 4), ("gru_cell", 3), ("rnn_tanh_cell", 1), ("rnn_relu_cell", 1)]


@pytest.mark.parametrize("name,gates", CELLS)
@pytest.mark.parametrize("bias", [True, False])
def test_cell_functions_match_torch(name, gates, bias):
    rng = np.random.default_rng(0)
    arrays = [rng.uniform(-1, 1, s).astype(np.float32) for s in
              [(3, 2), (3, H), (3, H), (gates * H, 2), (gates * H, H), (gates * H,), (gates * H,)]]
    if not bias:
        arrays = arrays[:5]
    s_in = [sd.tensor(a, requires_grad=True) for a in arrays]
    t_in = [torch.tensor(a, requires_grad=True) for a in arrays]
    if name == "lstm_cell":
        s_out = R.lstm_cell(s_in[0], (s_in[1], s_in[2]), *s_in[3:])
        t_out = torch.lstm_cell(t_in[0], (t_in[1], t_in[2]), *t_in[3:])
        leaves = list(range(len(arrays)))
    else:
        del s_in[2], t_in[2]
        s_out = (getattr(R, name)(*s_in),)
        t_out = (getattr(torch, name)(*t_in),)
        leaves = list(range(len(s_in)))
    ups = [rng.standard_normal(tuple(t.shape)).astype(np.float32) for t in t_out]
    for s, t in zip(s_out, t_out):
        np.testing.assert_allclose(s.detach().numpy(), t.detach().numpy(), rtol=1e-5, atol=1e-6)
    sd.autograd.backward(list(s_out), [sd.tensor(u) for u in ups])
    torch.autograd.backward(list(t_out), [torch.tensor(u) for u in ups])
    for k in leaves:
        np.testing.assert_allclose(s_in[k].grad.numpy(), t_in[k].grad.numpy(), rtol=1e-4, atol=1e-5,
                                   err_msg=f"gradient of input {k}")


def test_relu_rnn_kink_matches_torch():
    """An exact zero pre-activation: ReLU's gradient there is 0, as PyTorch's."""
    x = np.zeros((2, 2), np.float32)
    w = np.zeros((H, 2), np.float32)
    s_h, t_h = sd.zeros(2, H, requires_grad=True), torch.zeros(2, H, requires_grad=True)
    s_w, t_w = sd.tensor(w, requires_grad=True), torch.tensor(w, requires_grad=True)
    s_u, t_u = sd.eye(H, requires_grad=True), torch.eye(H, requires_grad=True)
    R.rnn_relu_cell(sd.tensor(x), s_h, s_w, s_u).sum().backward()
    torch.rnn_relu_cell(torch.tensor(x), t_h, t_w, t_u).sum().backward()
    np.testing.assert_array_equal(s_h.grad.numpy(), t_h.grad.numpy())
    np.testing.assert_array_equal(s_w.grad.numpy(), t_w.grad.numpy())


def test_float64_stays_float64():
    a = _leaves(_specs("lstm", True, True), dtype=np.float64)
    out, h, c = R.lstm_layer(*a, batch_sizes=PACKED)
    assert out.dtype == h.dtype == c.dtype == np.float64
    (out.sum() + h.sum() + c.sum()).backward()
    assert all(x.grad.dtype == np.float64 for x in a if x is not None)


def test_bad_inputs_are_named():
    a = _leaves(_specs("lstm", False, True, n=12, b=3))
    with pytest.raises(RuntimeError, match=r"lstm_layer: expected every input to have the same dtype, got "
                                           r"float32, float64"):
        R.lstm_layer(a[0], a[1].double(), *a[2:])
    with pytest.raises(RuntimeError, match=r"lstm_layer: expected gate inputs \(N, 4\*4\)"):
        R.lstm_layer(a[0][:, :8], *a[1:])
    with pytest.raises(RuntimeError, match=r"11 rows are not a whole number of steps of batch 3"):
        R.lstm_layer(a[0][:11], *a[1:])
    with pytest.raises(RuntimeError, match=r"lstm_layer: expected a recurrent weight of shape \(16, 4\) for a state "
                                           r"of shape \(3, 4\), got \(16, 3\)"):
        R.lstm_layer(a[0], a[1], a[2], a[3][:, :3], a[4])
    with pytest.raises(RuntimeError, match=r"batch_sizes \[3, 4, 3, 2\] must be positive and non-increasing"):
        R.lstm_layer(*a, batch_sizes=(3, 4, 3, 2))
    b = _leaves(_specs("gru", False, True, n=12, b=3))
    with pytest.raises(RuntimeError, match=r"gru_layer: expected gate inputs of shape \(T, B, G\) or \(N, G\), "
                                           r"got \(12,\)"):
        R.gru_layer(b[0][:, 0], *b[1:])
    with pytest.raises(ValueError, match="rnn_layer: unknown nonlinearity 'gelu'"):
        c = _leaves(_specs("tanh", False, True, n=12, b=3))
        R.rnn_layer(*c, nonlinearity="gelu")
    with pytest.raises(RuntimeError, match=r"lstm_cell: expected a 2-D input \(B, H_in\), got shape \(2,\)"):
        R.lstm_cell(sd.randn(2), (sd.zeros(1, H), sd.zeros(1, H)), sd.randn(4 * H, 2), sd.randn(4 * H, H))
