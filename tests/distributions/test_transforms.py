"""Transforms and TransformedDistribution against torch.distributions: forward, inverse, log|det J|,
and a transformed distribution's log_prob / cdf / icdf / rsample gradients (an increasing and a
decreasing chain)."""
import numpy as np
import pytest
import torch

import shendu as sd

X = np.linspace(-2.0, 2.0, 9)


def _pair(build):
    return build(sd.distributions, sd), build(torch.distributions, torch)


TRANSFORMS = [
    ("exp", lambda D, lib: D.transforms.ExpTransform()),
    ("sigmoid", lambda D, lib: D.transforms.SigmoidTransform()),
    ("affine", lambda D, lib: D.transforms.AffineTransform(lib.tensor(0.5, dtype=lib.float64),
                                                           lib.tensor(-2.0, dtype=lib.float64))),
    ("affine_number", lambda D, lib: D.transforms.AffineTransform(1.0, 3.0)),
    ("compose", lambda D, lib: D.transforms.ComposeTransform([D.transforms.AffineTransform(0.0, 2.0),
                                                              D.transforms.ExpTransform()])),
    ("inverse", lambda D, lib: D.transforms.ExpTransform().inv),
    ("tanh", lambda D, lib: D.transforms.TanhTransform()),
    ("softplus", lambda D, lib: D.transforms.SoftplusTransform()),
    ("power", lambda D, lib: D.transforms.PowerTransform(lib.tensor(2.5, dtype=lib.float64))),
    ("identity", lambda D, lib: D.transforms.identity_transform),
]


def test_abs_and_softmax_transforms_match_torch():
    for name in ("AbsTransform", "SoftmaxTransform"):
        s, t = getattr(sd.distributions.transforms, name)(), getattr(torch.distributions.transforms, name)()
        x = np.array([[-1.0, 0.5, 2.0], [0.3, -0.2, 0.0]])
        np.testing.assert_allclose(s(sd.tensor(x)).numpy(), t(torch.tensor(x)).numpy(), rtol=1e-12)
        y = t(torch.tensor(x))
        np.testing.assert_allclose(s.inv(sd.tensor(y.numpy())).numpy(), t.inv(y).numpy(), rtol=1e-12)


@pytest.mark.parametrize("name,build", TRANSFORMS, ids=[t[0] for t in TRANSFORMS])
def test_transform_matches_torch(name, build):
    s, t = _pair(build)
    x = np.exp(X) if name in ("inverse", "power") else X
    xs, xt = sd.tensor(x, dtype=sd.float64), torch.tensor(x, dtype=torch.float64)
    ys, yt = s(xs), t(xt)
    np.testing.assert_allclose(ys.numpy(), yt.numpy(), rtol=1e-12)
    np.testing.assert_allclose(s.inv(ys).numpy(), t.inv(yt).numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(s.log_abs_det_jacobian(xs, ys).numpy(), t.log_abs_det_jacobian(xt, yt).numpy(),
                               rtol=1e-10, atol=1e-12)
    assert repr(s.domain) == repr(t.domain) and repr(s.codomain) == repr(t.codomain)


BUILDS = [
    ("logistic_normal", lambda D, lib: D.TransformedDistribution(
        D.Normal(lib.tensor([0.2, -0.4], dtype=lib.float64, requires_grad=True), 1.3),
        [D.transforms.SigmoidTransform()])),
    ("decreasing_affine_exp", lambda D, lib: D.TransformedDistribution(
        D.Exponential(lib.tensor([1.5, 0.5], dtype=lib.float64, requires_grad=True)),
        [D.transforms.AffineTransform(1.0, -2.0)])),
]


@pytest.mark.parametrize("name,build", BUILDS, ids=[b[0] for b in BUILDS])
def test_transformed_distribution_matches_torch(name, build):
    s, t = _pair(build)
    values = np.array([[0.3, 0.6], [0.1, 0.9]]) if name == "logistic_normal" else np.array([[0.5, -1.0], [-3.0, 0.9]])
    g = np.random.default_rng(0).normal(size=values.shape)
    for method in ("log_prob", "cdf"):
        got = getattr(s, method)(sd.tensor(values, dtype=sd.float64))
        want = getattr(t, method)(torch.tensor(values, dtype=torch.float64))
        np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=1e-10, err_msg=method)
        (got * sd.tensor(g)).sum().backward()
        (want * torch.tensor(g)).sum().backward()
    sp = next(v for v in vars(s.base_dist).values() if isinstance(v, sd.Tensor) and v.requires_grad)
    tp = next(v for v in vars(t.base_dist).values() if isinstance(v, torch.Tensor) and v.requires_grad)
    np.testing.assert_allclose(sp.grad.numpy(), tp.grad.numpy(), rtol=1e-9)
    if name == "decreasing_affine_exp":
        q = np.array([0.2, 0.7])
        np.testing.assert_allclose(s.icdf(sd.tensor(q, dtype=sd.float64)).detach().numpy(),
                                   t.icdf(torch.tensor(q, dtype=torch.float64)).detach().numpy(), rtol=1e-10)
    assert tuple(s.sample((3,)).shape) == (3, 2)
    assert repr(s.support) == repr(t.support)


def test_lognormal_rsample_is_exp_of_the_normal_draw():
    sd.manual_seed(0)
    x = sd.distributions.LogNormal(sd.tensor([0.0, 1.0]), sd.tensor([0.5, 0.1])).rsample((4,))
    sd.manual_seed(0)
    z = sd.distributions.Normal(sd.tensor([0.0, 1.0]), sd.tensor([0.5, 0.1])).rsample((4,))
    np.testing.assert_allclose(x.numpy(), z.exp().numpy(), rtol=1e-6)


def test_bad_transform_list():
    with pytest.raises(ValueError, match="transforms must be a Transform"):
        sd.distributions.TransformedDistribution(sd.distributions.Normal(0.0, 1.0), [lambda x: x])


CONSTRAINED = [
    ("real", lambda C, lib: C.real, (3,)), ("positive", lambda C, lib: C.positive, (3,)),
    ("greater_than", lambda C, lib: C.greater_than(1.5), (3,)), ("less_than", lambda C, lib: C.less_than(-1.0), (3,)),
    ("unit_interval", lambda C, lib: C.unit_interval, (3,)), ("interval", lambda C, lib: C.interval(-2.0, 3.0), (3,)),
    ("simplex", lambda C, lib: C.simplex, (2, 4)), ("real_vector", lambda C, lib: C.real_vector, (2, 3)),
    ("independent_positive", lambda C, lib: C.independent(C.positive, 1), (2, 3)),
]


@pytest.mark.parametrize("registry", ["biject_to", "transform_to"])
@pytest.mark.parametrize("name,build,shape", CONSTRAINED, ids=[c[0] for c in CONSTRAINED])
def test_constraint_registry_matches_torch(registry, name, build, shape):
    x = np.random.default_rng(0).normal(size=shape)
    s = getattr(sd.distributions, registry)(build(sd.distributions.constraints, sd))
    t = getattr(torch.distributions, registry)(build(torch.distributions.constraints, torch))
    xs = sd.tensor(x, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    ys, yt = s(xs), t(xt)
    np.testing.assert_allclose(ys.detach().numpy(), yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    assert build(sd.distributions.constraints, sd).check(ys).all().item()
    if registry == "biject_to" or name != "simplex":  # softmax is not injective: no inverse, no Jacobian
        np.testing.assert_allclose(s.inv(ys).detach().numpy(), x, rtol=1e-7, atol=1e-9)
        ls, lt = s.log_abs_det_jacobian(xs, ys), t.log_abs_det_jacobian(xt, yt)
        np.testing.assert_allclose(ls.detach().numpy(), lt.detach().numpy(), rtol=1e-9, atol=1e-12)
        g = np.random.default_rng(1).normal(size=tuple(yt.shape))
        ((ys * sd.tensor(g)).sum() + ls.sum()).backward()
        ((yt * torch.tensor(g)).sum() + lt.sum()).backward()
        np.testing.assert_allclose(xs.grad.numpy(), xt.grad.numpy(), rtol=1e-8, atol=1e-12)


def test_matrix_transforms_match_torch():
    x = np.random.default_rng(2).normal(size=(2, 3, 3))
    for registry, constraint in (("transform_to", "lower_cholesky"), ("transform_to", "positive_definite")):
        s = getattr(sd.distributions, registry)(getattr(sd.distributions.constraints, constraint))
        t = getattr(torch.distributions, registry)(getattr(torch.distributions.constraints, constraint))
        ys, yt = s(sd.tensor(x)), t(torch.tensor(x))
        np.testing.assert_allclose(ys.numpy(), yt.numpy(), rtol=1e-10)
        np.testing.assert_allclose(s.inv(ys).numpy(), t.inv(yt).numpy(), rtol=1e-8, atol=1e-10)
    with pytest.raises(NotImplementedError, match="Cannot transform"):
        sd.distributions.biject_to(sd.distributions.constraints.boolean)
