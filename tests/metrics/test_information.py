"""shendu.metrics.information against scipy.stats.entropy and sklearn.metrics.mutual_info_score, the
identities between them, gradients, and bad input."""
import numpy as np
import pytest
import scipy.stats
import torch
from sklearn.metrics import mutual_info_score

import shendu as sd
from shendu.metrics import information as info

R = np.random.default_rng(0)
P = R.uniform(0, 1, size=(3, 5))
Q = R.uniform(0.1, 1, size=(3, 5))
P[0, 1] = 0.0  # a zero-probability outcome


@pytest.mark.parametrize("base", [None, 2, 10])
def test_tables_match_scipy(base):
    np.testing.assert_allclose(info.entropy(P, base=base).numpy(), scipy.stats.entropy(P, base=base, axis=-1),
                               rtol=1e-12)
    np.testing.assert_allclose(info.kl_divergence(P, Q, base=base).numpy(),
                               scipy.stats.entropy(P, Q, base=base, axis=-1), rtol=1e-12)
    ce = scipy.stats.entropy(P, base=base, axis=-1) + scipy.stats.entropy(P, Q, base=base, axis=-1)
    np.testing.assert_allclose(info.cross_entropy(P, Q, base=base).numpy(), ce, rtol=1e-12)
    np.testing.assert_allclose(info.entropy(P.T, dim=0).numpy(), scipy.stats.entropy(P.T, axis=0), rtol=1e-12)


def test_kl_is_infinite_where_q_vanishes_and_zero_at_p_equals_q():
    assert np.isinf(info.kl_divergence([0.5, 0.5], [1.0, 0.0]).item())
    assert info.kl_divergence([1.0, 0.0], [0.5, 0.5]).item() == pytest.approx(np.log(2))
    np.testing.assert_allclose(info.kl_divergence(Q, Q).numpy(), 0.0, atol=1e-15)
    assert info.entropy([0.25] * 4, base=2).item() == pytest.approx(2.0)


def test_mutual_information_matches_sklearn():
    x = R.integers(0, 4, size=500)
    y = (x + R.integers(0, 3, size=500)) % 5
    joint = np.zeros((4, 5))
    np.add.at(joint, (x, y), 1.0)
    assert info.mutual_information(joint).item() == pytest.approx(mutual_info_score(x, y), rel=1e-12)
    hx, hy = scipy.stats.entropy(joint.sum(1)), scipy.stats.entropy(joint.sum(0))
    hxy = scipy.stats.entropy(joint.ravel())
    assert info.joint_entropy(joint).item() == pytest.approx(hxy, rel=1e-12)
    assert info.conditional_entropy(joint).item() == pytest.approx(hxy - hx, rel=1e-12)
    assert info.mutual_information(joint, base=2).item() == pytest.approx((hx + hy - hxy) / np.log(2), rel=1e-12)
    assert info.mutual_information(np.outer([0.2, 0.8], [0.5, 0.3, 0.2])).item() == pytest.approx(0.0, abs=1e-15)


def test_distributions_use_closed_forms():
    D = sd.distributions
    p, q = D.Normal(0.0, 1.0), D.Normal(1.0, 2.0)
    tp, tq = torch.distributions.Normal(0.0, 1.0), torch.distributions.Normal(1.0, 2.0)
    assert info.entropy(p).item() == pytest.approx(tp.entropy().item(), rel=1e-6)
    assert info.kl_divergence(p, q, base=2).item() == pytest.approx(
        torch.distributions.kl_divergence(tp, tq).item() / np.log(2), rel=1e-6)
    assert info.cross_entropy(p, q).item() == pytest.approx(
        (tp.entropy() + torch.distributions.kl_divergence(tp, tq)).item(), rel=1e-6)


def test_gradients_match_torch():
    g = R.normal(size=3)
    ps, qs = sd.tensor(Q, requires_grad=True), sd.tensor(P + 0.1, requires_grad=True)
    pt, qt = torch.tensor(Q, requires_grad=True), torch.tensor(P + 0.1, requires_grad=True)
    (info.kl_divergence(ps, qs) * sd.tensor(g)).sum().backward()
    pn, qn = pt / pt.sum(-1, keepdim=True), qt / qt.sum(-1, keepdim=True)
    ((pn * (pn.log() - qn.log())).sum(-1) * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(ps.grad.numpy(), pt.grad.numpy(), rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(qs.grad.numpy(), qt.grad.numpy(), rtol=1e-10, atol=1e-13)


def test_bad_input():
    with pytest.raises(ValueError, match="non-negative"):
        info.entropy([0.5, -0.5, 1.0])
    with pytest.raises(ValueError, match="positive total"):
        info.entropy([0.0, 0.0])
    with pytest.raises(ValueError, match="same number of outcomes"):
        info.kl_divergence([0.5, 0.5], [0.2, 0.3, 0.5])
    with pytest.raises(ValueError, match="2-D joint table"):
        info.mutual_information([0.5, 0.5])
    with pytest.raises(ValueError, match="base must be positive"):
        info.entropy([0.5, 0.5], base=1)
