"""Parameter penalties (L1, L2, elastic net) against hand formulas, and the max-norm constraint against torch.renorm."""
import numpy as np
import pytest
import torch

import shendu as sd
import shendu.nn as nn
from shendu.nn.penalties import apply_max_norm_, elastic_net_penalty, l1_penalty, l2_penalty

RNG = np.random.default_rng(11)
SHAPES = [(4, 3), (4,), (2, 3, 2)]


@pytest.fixture(autouse=True)
def _fresh_rng():
    """Each test draws from its own seeded generator, whatever order xdist runs them in."""
    global RNG
    RNG = np.random.default_rng(11)


def _params(dtype=np.float32):
    return [sd.from_numpy(RNG.standard_normal(s).astype(dtype)).requires_grad_() for s in SHAPES]


def _l1(arrs):
    return sum(np.abs(a).sum() for a in arrs)


def _l2(arrs):
    return sum((a * a).sum() for a in arrs)


PENALTIES = [
    ("l1", l1_penalty, _l1, lambda a: np.sign(a)),
    ("l2", l2_penalty, _l2, lambda a: 2 * a),
    ("elastic_0.3", lambda p: elastic_net_penalty(p, 0.3), lambda arrs: 0.3 * _l1(arrs) + 0.7 * _l2(arrs),
     lambda a: 0.3 * np.sign(a) + 0.7 * 2 * a),
    ("elastic_default", elastic_net_penalty, lambda arrs: 0.5 * _l1(arrs) + 0.5 * _l2(arrs),
     lambda a: 0.5 * np.sign(a) + a),
]


@pytest.mark.parametrize("name,fn,value,grad", PENALTIES, ids=[p[0] for p in PENALTIES])
def test_penalty_value_and_grad(name, fn, value, grad):
    ps = _params()
    out = fn(ps)
    assert isinstance(out, sd.Tensor) and out.shape == () and out.dtype == sd.float32
    np.testing.assert_allclose(out.item(), value([p._data for p in ps]), rtol=1e-5)
    g = float(RNG.standard_normal())  # a random upstream gradient, not 1
    out.backward(sd.tensor(g))
    for p in ps:
        np.testing.assert_allclose(p.grad._data, g * grad(p._data), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name,fn,value,grad", PENALTIES, ids=[p[0] for p in PENALTIES])
def test_penalty_gradcheck(name, fn, value, grad):
    ps = _params(np.float64)
    for p in ps:  # keep the finite differences away from |x|'s kink at 0
        p._data[np.abs(p._data) < 0.05] = 0.3
    assert sd.gradcheck(lambda *a: fn(list(a)), ps)


class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(sd.from_numpy(RNG.standard_normal((3, 4)).astype(np.float32)))
        self.bias = nn.Parameter(sd.from_numpy(RNG.standard_normal(3).astype(np.float32)))


def test_penalty_in_a_loss_matches_torch():
    """loss + λ·penalty on a Module: the gradients equal torch's for the same expression."""
    net = _Net()
    x = RNG.standard_normal((5, 4)).astype(np.float32)
    tw = torch.from_numpy(net.weight._data.copy()).requires_grad_()
    tb = torch.from_numpy(net.bias._data.copy()).requires_grad_()
    loss = ((sd.from_numpy(x) @ net.weight.T + net.bias) ** 2).mean() + 0.01 * l2_penalty(net) + 0.02 * l1_penalty(net)
    tloss = ((torch.from_numpy(x) @ tw.T + tb) ** 2).mean() + 0.01 * (tw.pow(2).sum() + tb.pow(2).sum()) \
        + 0.02 * (tw.abs().sum() + tb.abs().sum())
    loss.backward()
    tloss.backward()
    np.testing.assert_allclose(loss.item(), tloss.item(), rtol=1e-5)
    np.testing.assert_allclose(net.weight.grad._data, tw.grad.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(net.bias.grad._data, tb.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_penalty_accepts_tensor_generator_and_empty():
    p = sd.from_numpy(np.array([1.0, -2.0], dtype=np.float32))
    assert l1_penalty(p).item() == 3.0 and l2_penalty(iter([p, p])).item() == 10.0
    assert l2_penalty([]).item() == 0.0
    with pytest.raises(TypeError, match="penalty.*list"):
        l1_penalty([p, [1.0]])
    with pytest.raises(ValueError, match="l1_ratio"):
        elastic_net_penalty([p], 1.5)


# -- max-norm constraint ------------------------------------------------------------------------
@pytest.mark.parametrize("shape,dim,p,max_norm", [
    ((5, 4), 0, 2.0, 1.5),
    ((5, 4), 1, 2.0, 1.5),
    ((5, 4), -1, 1.0, 2.0),
    ((4, 3, 2, 2), 0, 2.0, 2.0),
    ((4, 3, 2, 2), 1, float("inf"), 1.0),
    ((6,), 0, 2.0, 0.5),
])
def test_max_norm_matches_torch_renorm(shape, dim, p, max_norm):
    w = (RNG.standard_normal(shape) * 1.2).astype(np.float32)
    param = nn.Parameter(sd.from_numpy(w.copy()))
    apply_max_norm_([param], max_norm, dim=dim, norm_type=p)
    if w.ndim == 1:  # torch.renorm needs 2 dims; each slice of a vector is one element
        expected = w * np.where(np.abs(w) > max_norm, max_norm / (np.abs(w) + 1e-7), 1.0).astype(np.float32)
    else:
        expected = torch.renorm(torch.from_numpy(w), p, dim, max_norm).numpy()
    np.testing.assert_allclose(param._data, expected, rtol=1e-6, atol=1e-7)
    assert param.dtype == sd.float32 and param.requires_grad
    before = np.linalg.norm(np.moveaxis(w, dim, 0).reshape(w.shape[dim], -1), ord=p, axis=1)
    untouched = before <= max_norm  # slices within the bound are left exactly as they were
    np.testing.assert_array_equal(np.moveaxis(param._data, dim, 0)[untouched], np.moveaxis(w, dim, 0)[untouched])


def test_max_norm_on_module_constrains_weights_only():
    net = _Net()
    net.weight._data *= 5.0
    net.bias._data[:] = 10.0
    w = net.weight._data.copy()
    apply_max_norm_(net, 2.0)
    np.testing.assert_allclose(net.weight._data, torch.renorm(torch.from_numpy(w), 2, 0, 2.0).numpy(), rtol=1e-6)
    assert np.all(net.bias._data == 10.0)
    assert np.all(np.linalg.norm(net.weight._data, axis=1) <= 2.0 + 1e-5)


def test_max_norm_bad_arguments():
    with pytest.raises(ValueError, match="max_norm"):
        apply_max_norm_([sd.ones(2, 2)], -1.0)
    with pytest.raises(IndexError, match=r"dim 2.*\(2, 2\)"):
        apply_max_norm_([sd.ones(2, 2)], 1.0, dim=2)
