"""AdditiveAttention and DotProductAttention: contract, PyTorch parity with the same weights (context,
weights and every gradient under random upstream gradients), float64 gradcheck, masking, errors."""
import copy
import math

import numpy as np
import pytest
import torch
from layer_harness import run_layer_test

import shendu as sd
from shendu import nn
from shendu.nn.layers.attention import sequence_mask

B, TQ, TK, DQ, DK, DV, A = 2, 3, 5, 4, 6, 3, 7


class TorchAdditive(torch.nn.Module):
    """The reference: Bahdanau's formula in plain PyTorch, parameters named as shendu's."""

    def __init__(self, bias):
        super().__init__()
        self.query_proj = torch.nn.Linear(DQ, A, bias=False)
        self.key_proj = torch.nn.Linear(DK, A, bias=bias)
        self.v = torch.nn.Parameter(torch.zeros(A))

    def score(self, q, k):
        return torch.tanh(self.query_proj(q)[:, :, None, :] + self.key_proj(k)[:, None, :, :]) @ self.v


class TorchDot(torch.nn.Module):
    def __init__(self, general, scaled, dq):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(dq, DK)) if general else None
        self.scaled = scaled

    def score(self, q, k):
        if self.weight is not None:
            q = q @ self.weight
        s = q @ k.transpose(1, 2)
        return s / math.sqrt(k.shape[-1]) if self.scaled else s


def torch_attention(ref, q, k, v, keep=None):
    scores = ref.score(q, k)
    if keep is not None:
        scores = scores.masked_fill(~keep, float("-inf"))
    w = torch.softmax(scores, -1)
    return w @ v, w


def layers():
    return [
        ("additive", lambda: nn.AdditiveAttention(DQ, DK, A), lambda: TorchAdditive(False), DQ),
        ("additive-bias", lambda: nn.AdditiveAttention(DQ, DK, A, bias=True), lambda: TorchAdditive(True), DQ),
        ("dot", lambda: nn.DotProductAttention(), lambda: TorchDot(False, False, DK), DK),
        ("dot-scaled", lambda: nn.DotProductAttention(scaled=True), lambda: TorchDot(False, True, DK), DK),
        ("general", lambda: nn.DotProductAttention("general", DQ, DK), lambda: TorchDot(True, False, DQ), DQ),
        ("general-scaled", lambda: nn.DotProductAttention("general", DQ, DK, scaled=True),
         lambda: TorchDot(True, True, DQ), DQ),
    ]


LAYERS = layers()
IDS = [row[0] for row in LAYERS]


def _inputs(dq, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    return [rng.uniform(-2, 2, size=s).astype(dtype) for s in ((B, TQ, dq), (B, TK, DK), (B, TK, DV))]


def _key_keep(lengths):
    return np.arange(TK)[None, None, :] < np.asarray(lengths)[:, None, None]  # (B, 1, TK)


@pytest.mark.parametrize("mask_kind", ["none", "lengths", "key_mask", "causal"])
@pytest.mark.parametrize("row", LAYERS, ids=IDS)
def test_parity_with_torch_reference(row, mask_kind):
    _, make, make_ref, dq = row
    layer, ref = make(), make_ref()
    ref.load_state_dict({k: torch.from_numpy(v._data.copy()) for k, v in layer.state_dict().items()})
    arrays = _inputs(dq, seed=3)
    xs = [sd.from_numpy(a.copy()).requires_grad_() for a in arrays]
    ts = [torch.from_numpy(a.copy()).requires_grad_() for a in arrays]
    kwargs, keep = {}, None
    if mask_kind == "lengths":
        kwargs, keep = {"key_lengths": sd.tensor([5, 2])}, _key_keep([5, 2])
    elif mask_kind == "key_mask":
        m = np.array([[True, False, True, True, False], [False, False, True, False, False]])
        kwargs, keep = {"mask": sd.from_numpy(m)}, m[:, None, :]
    elif mask_kind == "causal":  # a (1, Tq, Tk) mask broadcast over the batch, with key lengths on top
        m = np.tril(np.ones((1, TQ, TK), dtype=bool), k=1)
        kwargs, keep = {"mask": sd.from_numpy(m), "key_lengths": [4, 3]}, m & _key_keep([4, 3])
    context, weights = layer(*xs, **kwargs)
    tkeep = None if keep is None else torch.from_numpy(np.broadcast_to(keep, (B, TQ, TK)).copy())
    tc, tw = torch_attention(ref, *ts, tkeep)
    assert context.shape == (B, TQ, DV) and weights.shape == (B, TQ, TK)
    assert context.dtype == np.float32 and weights.dtype == np.float32
    np.testing.assert_allclose(context._data, tc.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(weights._data, tw.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(weights._data.sum(-1), 1.0, rtol=1e-6)
    if keep is not None:
        assert (weights._data[~np.broadcast_to(keep, (B, TQ, TK))] == 0).all()  # exactly zero
    rng = np.random.default_rng(7)
    gc, gw = rng.standard_normal(tc.shape).astype(np.float32), rng.standard_normal(tw.shape).astype(np.float32)
    sd.autograd.backward([context, weights], [sd.from_numpy(gc), sd.from_numpy(gw)])
    torch.autograd.backward([tc, tw], [torch.from_numpy(gc), torch.from_numpy(gw)])
    for i, (x, t) in enumerate(zip(xs, ts)):
        np.testing.assert_allclose(x.grad._data, t.grad.numpy(), rtol=1e-4, atol=1e-5, err_msg=f"input {i}")
    tparams = dict(ref.named_parameters())
    for name, p in layer.named_parameters():
        np.testing.assert_allclose(p.grad._data, tparams[name].grad.numpy(), rtol=1e-4, atol=1e-5, err_msg=name)


@pytest.mark.parametrize("row", LAYERS, ids=IDS)
def test_gradcheck_float64_inputs_and_parameters(row):
    _, make, _, dq = row
    layer = make().double()
    xs = [sd.from_numpy(a).requires_grad_() for a in _inputs(dq, seed=1, dtype=np.float64)]
    params = list(layer.parameters())
    lengths = sd.tensor([4, 2])

    def fn(q, k, v, *_):
        return layer(q, k, v, key_lengths=lengths)  # both outputs, each with a random upstream gradient

    assert sd.gradcheck(fn, xs + params, eps=1e-6, atol=1e-6, rtol=1e-4)


@pytest.mark.parametrize("row", [LAYERS[0], LAYERS[4]], ids=["additive", "general"])
def test_gradgradcheck(row):
    _, make, _, dq = row
    layer = make().double()
    xs = [sd.from_numpy(a).requires_grad_() for a in _inputs(dq, seed=2, dtype=np.float64)]
    with np.errstate(all="ignore"):
        assert sd.gradgradcheck(lambda q, k, v: layer(q, k, v, key_lengths=[5, 3])[0], xs, atol=1e-4, rtol=1e-3)


@pytest.mark.parametrize("row", LAYERS, ids=IDS)
def test_padded_keys_change_nothing_and_get_no_gradient(row):
    _, make, _, dq = row
    layer = make()
    q, k, v = _inputs(dq, seed=4)
    k2, v2 = k.copy(), v.copy()
    k2[1, 2:], v2[1, 2:] = 100.0, -50.0  # garbage in item 1's padding
    outs = []
    for kk, vv in ((k, v), (k2, v2)):
        ks, vs = sd.from_numpy(kk.copy()).requires_grad_(), sd.from_numpy(vv.copy()).requires_grad_()
        c, w = layer(sd.from_numpy(q), ks, vs, key_lengths=[5, 2])
        g = np.random.default_rng(0).standard_normal(c.shape).astype(np.float32)
        c.backward(sd.from_numpy(g))
        outs.append((c._data, w._data, ks.grad._data, vs.grad._data))
    np.testing.assert_array_equal(outs[0][0], outs[1][0])
    np.testing.assert_array_equal(outs[0][1], outs[1][1])
    for grads in outs:
        assert (grads[2][1, 2:] == 0).all() and (grads[3][1, 2:] == 0).all()
        assert np.abs(grads[2][0]).sum() > 0


def test_fully_masked_query_gets_zero_weights_and_context():
    layer = nn.AdditiveAttention(DQ, DK, A)
    q = sd.randn(B, TQ, DQ, requires_grad=True)
    k, v = sd.randn(B, TK, DK, requires_grad=True), sd.randn(B, TK, DV, requires_grad=True)
    mask = np.ones((B, TQ, TK), dtype=bool)
    mask[1, 0] = False
    c, w = layer(q, k, v, mask=sd.from_numpy(mask))
    assert (w._data[1, 0] == 0).all() and (c._data[1, 0] == 0).all()
    np.testing.assert_allclose(w._data[0].sum(-1), 1.0, rtol=1e-6)
    (c * sd.randn(*c.shape)).sum().backward()
    assert np.isfinite(q.grad._data).all() and (q.grad._data[1, 0] == 0).all()


def test_unbatched_equals_batched():
    layer = nn.DotProductAttention("general", DQ, DK)
    q, k, v = (sd.from_numpy(a) for a in _inputs(DQ))
    c, w = layer(q[1], k[1], v[1], key_lengths=3)
    cb, wb = layer(q, k, v, key_lengths=[5, 3])
    assert c.shape == (TQ, DV) and w.shape == (TQ, TK)
    np.testing.assert_allclose(c._data, cb._data[1], rtol=1e-6)
    np.testing.assert_allclose(w._data, wb._data[1], rtol=1e-6)


def test_contract():
    inputs = [(B, TQ, DQ), (B, TK, DK), (B, TK, DV)]
    run_layer_test(nn.AdditiveAttention, {"query_size": DQ, "key_size": DK, "hidden_size": A}, input_shape=inputs,
                   expected_output_shape=(B, TQ, DV),
                   expected_param_names=["v", "query_proj.weight", "key_proj.weight"],
                   expected_num_params=A + A * DQ + A * DK)
    run_layer_test(nn.AdditiveAttention, {"query_size": DQ, "key_size": DK, "hidden_size": A, "bias": True},
                   input_shape=inputs, expected_num_params=A + A * DQ + A * DK + A)
    run_layer_test(nn.DotProductAttention, {"score": "general", "query_size": DQ, "key_size": DK},
                   input_shape=inputs, expected_output_shape=(B, TQ, DV), expected_param_names=["weight"],
                   expected_num_params=DQ * DK)
    run_layer_test(nn.DotProductAttention, {"scaled": True}, input_shape=[(B, TQ, DK), (B, TK, DK), (B, TK, DV)],
                   expected_output_shape=(B, TQ, DV), expected_param_names=[])


def test_init_repr_and_weights_output():
    layer = nn.AdditiveAttention(8, 6, 400)
    assert np.abs(layer.v._data).max() <= 1 / math.sqrt(400) and layer.v._data.std() > 0
    assert "hidden_size=400" in repr(layer) and "bias=False" in repr(layer)
    g = nn.DotProductAttention("general", 8, 300)
    assert np.abs(g.weight._data).max() <= 1 / math.sqrt(300)
    assert repr(nn.DotProductAttention(scaled=True)) == "DotProductAttention(score='dot', scaled=True)"
    assert copy.deepcopy(g).weight.shape == (8, 300)


def test_sequence_mask():
    np.testing.assert_array_equal(sequence_mask([2, 0, 3]).numpy(),
                                  [[True, True, False], [False, False, False], [True, True, True]])
    assert sequence_mask(sd.tensor([1]), 4).shape == (1, 4)
    with pytest.raises(ValueError, match=r"lengths \[5\] must lie in \[0, 4\]"):
        sequence_mask([5], 4)


def test_errors_name_the_layer_and_shapes():
    add = nn.AdditiveAttention(DQ, DK, A)
    q, k, v = sd.randn(B, TQ, DQ), sd.randn(B, TK, DK), sd.randn(B, TK, DV)
    with pytest.raises(ValueError, match=r"AdditiveAttention: .*same B and Tk; got \(2, 3, 4\), \(2, 5, 6\), "
                                         r"\(2, 4, 3\)"):
        add(q, k, sd.randn(B, TK - 1, DV))
    with pytest.raises(ValueError, match=r"AdditiveAttention: query, keys and values must all be 3-D"):
        add(q, k[0], v)
    with pytest.raises(RuntimeError, match=r"expected input with 4 features"):
        add(sd.randn(B, TQ, DQ + 1), k, v)
    with pytest.raises(ValueError, match=r"DotProductAttention\(score='dot'\): query size 4 must equal key size 6"):
        nn.DotProductAttention()(q, k, v)
    with pytest.raises(ValueError, match=r"do not match the weight of shape \(4, 6\)"):
        nn.DotProductAttention("general", DQ, DK)(q, sd.randn(B, TK, DK + 1), v)
    with pytest.raises(ValueError, match="needs query_size"):
        nn.DotProductAttention("general")
    with pytest.raises(ValueError, match="score must be 'dot' or 'general'"):
        nn.DotProductAttention("concat")
    with pytest.raises(TypeError, match="mask must be a bool tensor"):
        add(q, k, v, mask=sd.ones(B, TK))
    with pytest.raises(ValueError, match=r"key padding mask of shape \(B, Tk\) = \(2, 5\), got \(3, 5\)"):
        add(q, k, v, mask=sd.ones(3, TK, dtype=sd.bool))
    with pytest.raises(ValueError, match=r"mask of shape \(2, 2, 5\) does not broadcast to \(B, Tq, Tk\)"):
        add(q, k, v, mask=sd.ones(2, 2, TK, dtype=sd.bool))
    with pytest.raises(ValueError, match="key_lengths has 3 entries for a batch of 2"):
        add(q, k, v, key_lengths=[1, 2, 3])
    with pytest.raises(ValueError, match=r"lengths \[6, 1\] must lie in \[0, 5\]"):
        add(q, k, v, key_lengths=[6, 1])
