"""Every family against torch.distributions on the same float64 parameters: batch/event shapes,
log_prob, cdf, icdf, entropy, mean, mode, variance, stddev (values), and the gradients of log_prob,
cdf and entropy with respect to every parameter under a random upstream gradient."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch

import shendu as sd

R = np.random.default_rng(0)


def _u(low, high, *shape):
    return R.uniform(low, high, size=shape)


def _spd(n, *batch):
    a = R.normal(size=batch + (n, n))
    return a @ np.swapaxes(a, -1, -2) + n * np.eye(n)


def _simplex(*shape):
    p = R.uniform(0.1, 1.0, size=shape)
    return p / p.sum(-1, keepdims=True)


@dataclass
class Family:
    id: str
    build: callable  # (distributions module, params as tensors) -> distribution
    params: dict  # name -> float64 array (leaves that get gradients)
    values: np.ndarray  # points in the support for log_prob / cdf
    quantiles: np.ndarray | None = None  # points in (0, 1) for icdf
    methods: tuple = ("log_prob", "entropy", "mean", "mode", "variance", "stddev", "cdf", "icdf")
    rtol: float = 1e-9  # values; torch computes a few terms in float32 (Multinomial's log n!)


def _const(D, values):
    """A float64 tensor that needs no gradient, of the library ``D`` belongs to."""
    lib = torch if D is torch.distributions else sd
    return lib.tensor(values, dtype=lib.float64)


def _counts(high, *shape):
    return R.integers(0, high, size=shape).astype(np.float64)


Q = _u(0.05, 0.95, 4, 3)
FAMILIES = [
    Family("Normal", lambda D, p: D.Normal(p["loc"], p["scale"]), {"loc": _u(-1, 1, 3), "scale": _u(0.5, 2, 3)},
           _u(-3, 3, 4, 3), Q),
    Family("Normal_scalar_scale", lambda D, p: D.Normal(p["loc"], 0.7), {"loc": _u(-1, 1, 3)}, _u(-3, 3, 4, 3), Q),
    Family("Laplace", lambda D, p: D.Laplace(p["loc"], p["scale"]), {"loc": _u(-1, 1, 3), "scale": _u(0.5, 2, 3)},
           _u(-3, 3, 4, 3), Q),
    Family("Uniform", lambda D, p: D.Uniform(p["low"], p["high"]), {"low": _u(-2, -1, 3), "high": _u(1, 2, 3)},
           _u(-0.9, 0.9, 4, 3), Q),
    Family("Exponential", lambda D, p: D.Exponential(p["rate"]), {"rate": _u(0.5, 2, 3)}, _u(0.1, 3, 4, 3), Q),
    Family("Gamma", lambda D, p: D.Gamma(p["concentration"], p["rate"]),
           {"concentration": _u(0.5, 3, 3), "rate": _u(0.5, 2, 3)}, _u(0.1, 3, 4, 3), None,
           ("log_prob", "entropy", "mean", "mode", "variance", "stddev")),
    # torch has no derivative of the CDF in the concentration: only the rate (and the value) get one
    Family("Gamma_cdf", lambda D, p: D.Gamma(_const(D, [0.7, 1.5, 3.0]), p["rate"]),
           {"rate": _u(0.5, 2, 3)}, _u(0.1, 3, 4, 3), None, ("cdf",)),
    Family("Chi2", lambda D, p: D.Chi2(p["df"]), {"df": _u(1, 5, 3)}, _u(0.1, 3, 4, 3), None,
           ("log_prob", "entropy", "mean", "mode", "variance")),
    Family("Beta", lambda D, p: D.Beta(p["concentration1"], p["concentration0"]),
           {"concentration1": _u(1.2, 3, 3), "concentration0": _u(1.2, 3, 3)}, _u(0.05, 0.95, 4, 3), None,
           ("log_prob", "entropy", "mean", "mode", "variance", "stddev")),
    Family("Dirichlet", lambda D, p: D.Dirichlet(p["concentration"]), {"concentration": _u(0.5, 3, 2, 4)},
           _simplex(3, 2, 4), None, ("log_prob", "entropy", "mean", "variance")),
    Family("Dirichlet_mode", lambda D, p: D.Dirichlet(p["concentration"]),
           {"concentration": np.array([[1.5, 2.0, 3.0], [1.1, 0.7, 0.2]])}, _simplex(2, 3), None, ("mode",)),
    Family("StudentT", lambda D, p: D.StudentT(p["df"], p["loc"], p["scale"]),
           {"df": np.array([0.8, 1.5, 3.0, 7.0]), "loc": _u(-1, 1, 4), "scale": _u(0.5, 2, 4)}, _u(-3, 3, 2, 4), None,
           ("log_prob", "entropy", "mean", "mode", "variance")),
    Family("LogNormal", lambda D, p: D.LogNormal(p["loc"], p["scale"]), {"loc": _u(-1, 1, 3), "scale": _u(0.3, 1, 3)},
           _u(0.1, 4, 4, 3), Q),
    Family("Bernoulli_probs", lambda D, p: D.Bernoulli(probs=p["probs"]), {"probs": _u(0.1, 0.9, 3)},
           _counts(2, 4, 3), None, ("log_prob", "entropy", "mean", "mode", "variance")),
    Family("Bernoulli_logits", lambda D, p: D.Bernoulli(logits=p["logits"]), {"logits": _u(-2, 2, 3)},
           _counts(2, 4, 3), None, ("log_prob", "entropy", "mean", "variance")),
    Family("Bernoulli_mode_half", lambda D, p: D.Bernoulli(probs=p["probs"]), {"probs": np.array([0.2, 0.5, 0.8])},
           _counts(2, 3), None, ("mode",)),
    Family("Categorical_probs", lambda D, p: D.Categorical(probs=p["probs"]), {"probs": _u(0.1, 1, 2, 4)},
           _counts(4, 3, 2), None, ("log_prob", "entropy", "mode")),
    Family("Categorical_logits", lambda D, p: D.Categorical(logits=p["logits"]), {"logits": _u(-2, 2, 2, 4)},
           _counts(4, 3, 2), None, ("log_prob", "entropy", "mode", "mean", "variance")),
    Family("OneHotCategorical", lambda D, p: D.OneHotCategorical(probs=p["probs"]), {"probs": _u(0.1, 1, 2, 4)},
           np.eye(4)[R.integers(0, 4, size=(3, 2))], None, ("log_prob", "entropy", "mean", "mode", "variance")),
    Family("Poisson", lambda D, p: D.Poisson(p["rate"]), {"rate": _u(0.5, 5, 3)}, _counts(8, 4, 3), None,
           ("log_prob", "mean", "mode", "variance")),
    Family("Binomial_probs", lambda D, p: D.Binomial(5, probs=p["probs"]), {"probs": _u(0.1, 0.9, 3)},
           _counts(6, 4, 3), None, ("log_prob", "entropy", "mean", "mode", "variance")),
    Family("Binomial_logits", lambda D, p: D.Binomial(_const(D, [3.0, 5.0, 7.0]), logits=p["logits"]),
           {"logits": _u(-2, 2, 3)}, _counts(4, 4, 3), None, ("log_prob", "mean", "mode", "variance")),
    Family("Geometric_probs", lambda D, p: D.Geometric(probs=p["probs"]), {"probs": _u(0.1, 0.9, 3)},
           _counts(6, 4, 3), None, ("log_prob", "entropy", "mean", "mode", "variance")),
    Family("Geometric_logits", lambda D, p: D.Geometric(logits=p["logits"]), {"logits": _u(-2, 2, 3)},
           _counts(6, 4, 3), None, ("log_prob", "entropy", "mean")),
    Family("Cauchy", lambda D, p: D.Cauchy(p["loc"], p["scale"]), {"loc": _u(-1, 1, 3), "scale": _u(0.5, 2, 3)},
           _u(-3, 3, 4, 3), Q),
    Family("HalfNormal", lambda D, p: D.HalfNormal(p["scale"]), {"scale": _u(0.5, 2, 3)}, _u(0.1, 3, 4, 3), Q),
    Family("HalfCauchy", lambda D, p: D.HalfCauchy(p["scale"]), {"scale": _u(0.5, 2, 3)}, _u(0.1, 3, 4, 3), Q),
    Family("Gumbel", lambda D, p: D.Gumbel(p["loc"], p["scale"]), {"loc": _u(-1, 1, 3), "scale": _u(0.5, 2, 3)},
           _u(-2, 4, 4, 3), Q),
    Family("Weibull", lambda D, p: D.Weibull(p["scale"], p["concentration"]),
           {"scale": _u(0.5, 2, 3), "concentration": _u(1.2, 3, 3)}, _u(0.1, 3, 4, 3), Q),
    Family("Pareto", lambda D, p: D.Pareto(p["scale"], p["alpha"]), {"scale": _u(0.5, 1, 3), "alpha": _u(2.2, 4, 3)},
           _u(1.0, 4, 4, 3), Q),
    # alpha <= 2: infinite variance (and mean for alpha <= 1), whose gradients torch gives as inf/nan
    Family("Pareto_heavy", lambda D, p: D.Pareto(p["scale"], p["alpha"]),
           {"scale": _u(0.5, 1, 3), "alpha": np.array([0.5, 1.5, 1.9])}, _u(1.0, 4, 4, 3), Q,
           ("log_prob", "cdf", "icdf", "entropy", "mode")),
    Family("Multinomial", lambda D, p: D.Multinomial(4, probs=p["probs"]), {"probs": _u(0.1, 1, 2, 3)},
           np.array([[[4.0, 0, 0], [1, 2, 1]], [[0, 3, 1], [2, 2, 0]]]), None,
           ("log_prob", "entropy", "mean", "variance"), rtol=1e-7),
    Family("NegativeBinomial_probs", lambda D, p: D.NegativeBinomial(p["total_count"], probs=p["probs"]),
           {"total_count": _u(0.5, 5, 3), "probs": _u(0.1, 0.9, 3)}, _counts(8, 4, 3), None,
           ("log_prob", "mean", "mode", "variance")),
    Family("NegativeBinomial_logits", lambda D, p: D.NegativeBinomial(3.0, logits=p["logits"]),
           {"logits": _u(-2, 2, 3)}, _counts(8, 4, 3), None, ("log_prob", "mean", "mode", "variance")),
    Family("InverseGamma", lambda D, p: D.InverseGamma(p["concentration"], p["rate"]),
           {"concentration": np.array([0.7, 1.5, 2.5, 4.0]), "rate": _u(0.5, 2, 4)}, _u(0.1, 3, 3, 4), None,
           ("log_prob", "entropy", "mode")),
    Family("InverseGamma_moments", lambda D, p: D.InverseGamma(p["concentration"], p["rate"]),
           {"concentration": _u(2.2, 4, 3), "rate": _u(0.5, 2, 3)}, _u(0.1, 3, 4, 3), None, ("mean", "variance")),
    Family("RelaxedBernoulli", lambda D, p: D.RelaxedBernoulli(_const(D, 0.6), probs=p["probs"]),
           {"probs": _u(0.1, 0.9, 3)}, _u(0.05, 0.95, 4, 3), None, ("log_prob",)),
    Family("RelaxedOneHotCategorical", lambda D, p: D.RelaxedOneHotCategorical(_const(D, 0.7), logits=p["logits"]),
           {"logits": _u(-1, 1, 2, 3)}, _simplex(4, 2, 3), None, ("log_prob",)),
    Family("FisherSnedecor", lambda D, p: D.FisherSnedecor(p["df1"], p["df2"]),
           {"df1": np.array([2.5, 3.0, 6.0]), "df2": np.array([4.5, 5.5, 9.0])}, _u(0.1, 3, 4, 3), None,
           ("log_prob", "mean", "mode", "variance")),
    Family("FisherSnedecor_heavy", lambda D, p: D.FisherSnedecor(p["df1"], p["df2"]),
           {"df1": np.array([1.5, 3.0]), "df2": np.array([1.5, 3.5])}, _u(0.1, 3, 4, 2), None, ("log_prob",)),
    Family("LogisticNormal", lambda D, p: D.LogisticNormal(p["loc"], p["scale"]),
           {"loc": _u(-1, 1, 2, 3), "scale": _u(0.5, 1.5, 2, 3)}, _simplex(4, 2, 4), None, ("log_prob",)),
    Family("MVN_covariance", lambda D, p: D.MultivariateNormal(p["loc"], covariance_matrix=p["cov"]),
           {"loc": _u(-1, 1, 2, 3), "cov": _spd(3)}, _u(-2, 2, 4, 2, 3), None,
           ("log_prob", "entropy", "mean", "mode", "variance")),
    Family("MVN_precision", lambda D, p: D.MultivariateNormal(p["loc"], precision_matrix=p["prec"]),
           {"loc": _u(-1, 1, 3), "prec": _spd(3, 2)}, _u(-2, 2, 4, 2, 3), None, ("log_prob", "entropy", "variance")),
    Family("MVN_scale_tril", lambda D, p: D.MultivariateNormal(p["loc"], scale_tril=p["L"]),
           {"loc": _u(-1, 1, 3), "L": np.linalg.cholesky(_spd(3))}, _u(-2, 2, 4, 3), None,
           ("log_prob", "entropy", "variance")),
    Family("LowRankMVN", lambda D, p: D.LowRankMultivariateNormal(p["loc"], p["W"], p["d"]),
           {"loc": _u(-1, 1, 2, 4), "W": R.normal(size=(4, 2)), "d": _u(0.5, 2, 4)}, _u(-2, 2, 3, 2, 4), None,
           ("log_prob", "entropy", "mean", "mode", "variance")),
    Family("Independent_Normal", lambda D, p: D.Independent(D.Normal(p["loc"], p["scale"]), 1),
           {"loc": _u(-1, 1, 2, 3), "scale": _u(0.5, 2, 2, 3)}, _u(-2, 2, 4, 2, 3), None,
           ("log_prob", "entropy", "mean", "mode", "variance")),
    Family("Mixture_Normal", lambda D, p: D.MixtureSameFamily(D.Categorical(probs=p["w"]),
                                                              D.Normal(p["loc"], p["scale"])),
           {"w": _u(0.2, 1, 2, 3), "loc": _u(-2, 2, 2, 3), "scale": _u(0.5, 1.5, 2, 3)}, _u(-3, 3, 5, 2), None,
           ("log_prob", "mean", "variance", "cdf")),
    Family("Mixture_MVN", lambda D, p: D.MixtureSameFamily(D.Categorical(logits=p["w"]),
                                                           D.MultivariateNormal(p["loc"], scale_tril=p["L"])),
           {"w": _u(-1, 1, 3), "loc": _u(-2, 2, 3, 2), "L": np.linalg.cholesky(_spd(2, 3))}, _u(-3, 3, 5, 2), None,
           ("log_prob", "mean", "variance")),
]


def _make(lib, fam):
    D = torch.distributions if lib is torch else sd.distributions
    params = {k: lib.tensor(v, dtype=lib.float64, requires_grad=True) for k, v in fam.params.items()}
    return D, params, fam.build(D, params)


def _call(dist, method, lib, fam):
    if method in ("log_prob", "cdf"):
        return getattr(dist, method)(lib.tensor(fam.values, dtype=lib.float64))
    if method == "icdf":
        return dist.icdf(lib.tensor(fam.quantiles, dtype=lib.float64))
    if method == "entropy":
        return dist.entropy()
    return getattr(dist, method)


CASES = [(f, m) for f in FAMILIES for m in f.methods]


@pytest.mark.parametrize("fam", FAMILIES, ids=[f.id for f in FAMILIES])
def test_shapes_and_support(fam):
    _, _, s = _make(sd, fam)
    _, _, t = _make(torch, fam)
    assert tuple(s.batch_shape) == tuple(t.batch_shape) and tuple(s.event_shape) == tuple(t.event_shape)
    assert s.has_rsample == t.has_rsample
    assert repr(s.support).replace("shendu.", "torch.") == repr(t.support)
    x = s.sample((2,))
    assert tuple(x.shape) == (2, *t.batch_shape, *t.event_shape)
    assert not x.requires_grad


@pytest.mark.parametrize("fam,method", CASES, ids=[f"{f.id}-{m}" for f, m in CASES])
def test_values_and_gradients_match_torch(fam, method):
    _, sp, s = _make(sd, fam)
    _, tp, t = _make(torch, fam)
    with np.errstate(all="ignore"):
        got = _call(s, method, sd, fam)
    want = _call(t, method, torch, fam)
    assert tuple(got.shape) == tuple(want.shape), method
    np.testing.assert_allclose(got.detach().numpy().astype(np.float64), want.detach().numpy().astype(np.float64),
                               rtol=fam.rtol, atol=1e-10, equal_nan=True, err_msg=f"{fam.id}.{method}")
    if not want.requires_grad or want.dtype == torch.int64:
        return
    g = np.random.default_rng(1).normal(size=tuple(want.shape))
    (want * torch.tensor(g)).sum().backward()
    (got * sd.tensor(g, dtype=sd.float64)).sum().backward()
    for k in fam.params:
        tg = tp[k].grad
        sg = sp[k].grad
        if tg is None:
            assert sg is None or not np.any(sg.numpy()), f"{fam.id}.{method}: d/d{k} should be zero"
            continue
        assert sg is not None, f"{fam.id}.{method}: no gradient for {k}"
        np.testing.assert_allclose(sg.numpy(), tg.numpy(), rtol=1e-7, atol=1e-9, err_msg=f"{fam.id}.{method} d/d{k}")


@pytest.mark.parametrize("name,kwargs", [
    ("Beta", {"concentration1": 2.0, "concentration0": 3.0}), ("Dirichlet", {"concentration": [1.0, 2.0]}),
    ("Poisson", {"rate": 2.0}), ("Categorical", {"probs": [0.3, 0.7]}), ("StudentT", {"df": 3.0}),
])
def test_unimplemented_methods_raise_like_torch(name, kwargs):
    """cdf/icdf/entropy are missing in the same places as in torch (NotImplementedError)."""
    def build(lib):
        kw = {k: lib.tensor(v, dtype=lib.float64) for k, v in kwargs.items()}
        return getattr(torch.distributions if lib is torch else sd.distributions, name)(**kw)
    for method in ("cdf", "icdf", "entropy"):
        try:
            getattr(build(torch), method)(torch.tensor(0.5, dtype=torch.float64)) if method != "entropy" else \
                build(torch).entropy()
        except NotImplementedError:
            with pytest.raises(NotImplementedError):
                getattr(build(sd), method)(sd.tensor(0.5, dtype=sd.float64)) if method != "entropy" else \
                    build(sd).entropy()


def test_pareto_heavy_tails_have_infinite_moments_with_finite_gradients():
    alpha = sd.tensor([0.5, 1.5, 3.0], dtype=sd.float64, requires_grad=True)
    d = sd.distributions.Pareto(1.0, alpha)
    np.testing.assert_array_equal(np.isinf(d.mean.detach().numpy()), [True, False, False])
    np.testing.assert_array_equal(np.isinf(d.variance.detach().numpy()), [True, True, False])
    sd.where(d.variance.isinf(), 0.0, d.variance).sum().backward()
    assert np.isfinite(alpha.grad.numpy()).all() and alpha.grad.numpy()[:2].tolist() == [0.0, 0.0]


def test_low_rank_mvn_matrices_match_torch():
    loc, W, d = R.normal(size=(2, 4)), R.normal(size=(4, 2)), _u(0.5, 2, 4)
    s = sd.distributions.LowRankMultivariateNormal(sd.tensor(loc), sd.tensor(W), sd.tensor(d))
    t = torch.distributions.LowRankMultivariateNormal(torch.tensor(loc), torch.tensor(W), torch.tensor(d))
    for name in ("covariance_matrix", "precision_matrix", "scale_tril"):
        np.testing.assert_allclose(getattr(s, name).numpy(), getattr(t, name).numpy(), rtol=1e-9, atol=1e-12)
    full = sd.distributions.MultivariateNormal(sd.tensor(loc), s.covariance_matrix)
    x = sd.tensor(R.normal(size=(3, 2, 4)))
    np.testing.assert_allclose(s.log_prob(x).numpy(), full.log_prob(x).numpy(), rtol=1e-10)
    sd.manual_seed(0)
    draws = s.sample((20000,)).numpy().reshape(-1, 2, 4)
    np.testing.assert_allclose(np.cov(draws[:, 0].T), s.covariance_matrix.numpy()[0], atol=0.15)


def test_straight_through_rsample():
    probs = sd.tensor([0.2, 0.3, 0.5], requires_grad=True)
    sd.manual_seed(0)
    x = sd.distributions.OneHotCategoricalStraightThrough(probs=probs).rsample((4,))
    assert set(np.unique(x.detach().numpy())) <= {0.0, 1.0} and np.all(x.detach().numpy().sum(-1) == 1)
    g = np.random.default_rng(0).normal(size=(4, 3))
    (x * sd.tensor(g, dtype=sd.float32)).sum().backward()
    # the gradient flows as if the draw were probs, through Categorical's normalisation p / Σp
    p = probs.detach().numpy()
    gs = g.sum(0)
    np.testing.assert_allclose(probs.grad.numpy(), (gs - (gs * p).sum()) / p.sum(), rtol=1e-5)


def test_float32_parameters_give_float32():
    for lib in (sd, torch):
        D = torch.distributions if lib is torch else sd.distributions
        assert D.Normal(0.0, 1.0).log_prob(lib.tensor(0.5)).dtype == lib.float32
        assert D.Gamma(lib.tensor([2.0]), 1.0).sample((3,)).dtype == lib.float32
    assert sd.distributions.Categorical(probs=sd.tensor([0.5, 0.5])).sample((4,)).dtype == sd.int64


def test_enumerate_support_matches_torch():
    for build in (lambda D, lib: D.Bernoulli(probs=lib.tensor([0.2, 0.7], dtype=lib.float64)),
                  lambda D, lib: D.Categorical(probs=lib.tensor([[0.2, 0.8], [0.5, 0.5]], dtype=lib.float64)),
                  lambda D, lib: D.Binomial(3, probs=lib.tensor([0.2, 0.7], dtype=lib.float64)),
                  lambda D, lib: D.OneHotCategorical(probs=lib.tensor([0.2, 0.3, 0.5], dtype=lib.float64))):
        for expand in (True, False):
            got = build(sd.distributions, sd).enumerate_support(expand)
            want = build(torch.distributions, torch).enumerate_support(expand)
            assert tuple(got.shape) == tuple(want.shape)
            np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_expand_matches_torch():
    for build in (lambda D, lib: D.Normal(lib.tensor([0.0, 1.0], dtype=lib.float64), 2.0),
                  lambda D, lib: D.Dirichlet(lib.tensor([1.0, 2.0, 3.0], dtype=lib.float64)),
                  lambda D, lib: D.Categorical(logits=lib.tensor([0.1, 0.2, 0.3], dtype=lib.float64)),
                  lambda D, lib: D.Beta(lib.tensor(2.0, dtype=lib.float64), 3.0),
                  lambda D, lib: D.StudentT(lib.tensor(4.0, dtype=lib.float64)),
                  lambda D, lib: D.LogNormal(lib.tensor(0.5, dtype=lib.float64), 1.0),
                  lambda D, lib: D.MultivariateNormal(lib.zeros(2, dtype=lib.float64), lib.eye(2, dtype=lib.float64)),
                  lambda D, lib: D.Independent(D.Normal(lib.zeros(3, dtype=lib.float64), 1.0), 1)):
        s, t = build(sd.distributions, sd), build(torch.distributions, torch)
        shape = (4,) + tuple(t.batch_shape) if t.batch_shape else (4,)
        se, te = s.expand(shape), t.expand(shape)
        assert tuple(se.batch_shape) == tuple(te.batch_shape) and type(se) is type(s)
        x = te.sample()
        np.testing.assert_allclose(se.log_prob(sd.tensor(x.numpy())).numpy(), te.log_prob(x).numpy(), rtol=1e-10)
