"""Sampling: shapes, seeding, moments of large seeded samples against the analytic mean and variance,
and rsample's gradients: the exact pathwise derivative for the location-scale families, torch's
implicit-reparameterisation gradient for Gamma on the same draw, and unbiasedness (the mean pathwise
gradient equals the gradient of the analytic expectation) for Beta, Dirichlet and StudentT."""
import math

import numpy as np
import pytest
import torch

import shendu as sd

D = sd.distributions
N = 20000


def _f64(*values, grad=True):
    return [sd.tensor(v, dtype=sd.float64, requires_grad=grad) for v in values]


MOMENTS = [
    ("Normal", lambda: D.Normal(sd.tensor([0.5, -1.0]), sd.tensor([1.0, 2.0]))),
    ("Laplace", lambda: D.Laplace(sd.tensor([0.5, -1.0]), sd.tensor([1.0, 0.5]))),
    ("Uniform", lambda: D.Uniform(sd.tensor([0.0, -1.0]), sd.tensor([1.0, 3.0]))),
    ("Exponential", lambda: D.Exponential(sd.tensor([0.5, 2.0]))),
    ("Gamma", lambda: D.Gamma(sd.tensor([0.3, 4.0]), sd.tensor([1.0, 2.0]))),
    ("Beta", lambda: D.Beta(sd.tensor([0.5, 2.0]), sd.tensor([0.5, 5.0]))),
    ("StudentT", lambda: D.StudentT(sd.tensor([9.0, 12.0]), sd.tensor([1.0, 0.0]), sd.tensor([1.0, 2.0]))),
    ("LogNormal", lambda: D.LogNormal(sd.tensor([0.0, 0.5]), sd.tensor([0.25, 0.5]))),
    ("Bernoulli", lambda: D.Bernoulli(probs=sd.tensor([0.1, 0.6]))),
    ("Poisson", lambda: D.Poisson(sd.tensor([0.5, 7.0]))),
    ("Binomial", lambda: D.Binomial(10, probs=sd.tensor([0.2, 0.7]))),
    ("Geometric", lambda: D.Geometric(probs=sd.tensor([0.3, 0.8]))),
    ("Chi2", lambda: D.Chi2(sd.tensor([1.0, 6.0]))),
    ("Dirichlet", lambda: D.Dirichlet(sd.tensor([0.5, 1.0, 3.0]))),
    ("OneHotCategorical", lambda: D.OneHotCategorical(probs=sd.tensor([0.2, 0.3, 0.5]))),
    ("MVN", lambda: D.MultivariateNormal(sd.tensor([1.0, -1.0]), sd.tensor([[2.0, 0.6], [0.6, 1.0]]))),
    ("Mixture", lambda: D.MixtureSameFamily(D.Categorical(probs=sd.tensor([0.3, 0.7])),
                                            D.Normal(sd.tensor([-2.0, 1.0]), sd.tensor([0.5, 1.0])))),
    ("Independent", lambda: D.Independent(D.Exponential(sd.tensor([1.0, 3.0])), 1)),
    ("HalfNormal", lambda: D.HalfNormal(sd.tensor([0.5, 2.0]))),
    ("Gumbel", lambda: D.Gumbel(sd.tensor([0.0, 1.0]), sd.tensor([1.0, 0.5]))),
    ("Weibull", lambda: D.Weibull(sd.tensor([1.0, 2.0]), sd.tensor([1.5, 3.0]))),
    ("Pareto", lambda: D.Pareto(sd.tensor([1.0, 0.5]), sd.tensor([9.0, 12.0]))),
    ("Multinomial", lambda: D.Multinomial(7, probs=sd.tensor([0.2, 0.3, 0.5]))),
    ("InverseGamma", lambda: D.InverseGamma(sd.tensor([9.0, 12.0]), sd.tensor([1.0, 3.0]))),
    ("NegativeBinomial", lambda: D.NegativeBinomial(sd.tensor([2.0, 5.5]), probs=sd.tensor([0.3, 0.6]))),
]


@pytest.mark.parametrize("name,build", MOMENTS, ids=[m[0] for m in MOMENTS])
def test_sample_moments(name, build):
    """Mean within 5 standard errors; variance within 5 standard errors of the sample variance
    (from the fourth central moment), over a seeded sample of 20000."""
    sd.manual_seed(0)
    dist = build()
    x = dist.sample((N,)).numpy().astype(np.float64)
    mean, var = dist.mean.numpy(), dist.variance.numpy()
    c = x - mean
    se_mean = np.sqrt(var / N)
    se_var = np.sqrt(np.maximum((c ** 4).mean(0) - var ** 2, 1.0 / N) / N)
    assert np.all(np.abs(x.mean(0) - mean) < 5 * se_mean + 1e-6), (x.mean(0), mean)
    assert np.all(np.abs(x.var(0) - var) < 5 * se_var + 1e-6), (x.var(0), var)


def test_categorical_frequencies_and_seeding():
    probs = sd.tensor([[0.1, 0.2, 0.7], [0.5, 0.25, 0.25]])
    sd.manual_seed(1)
    x = D.Categorical(probs=probs).sample((N,))
    assert x.dtype == sd.int64 and x.shape == (N, 2)
    freq = np.stack([(x.numpy() == k).mean(0) for k in range(3)], -1)
    p = probs.numpy()
    assert np.all(np.abs(freq - p) < 5 * np.sqrt(p * (1 - p) / N))
    sd.manual_seed(1)
    again = D.Categorical(probs=probs).sample((N,))
    np.testing.assert_array_equal(again.numpy(), x.numpy())


def test_relaxed_draws_approach_one_hot_as_temperature_falls():
    sd.manual_seed(6)
    probs = sd.tensor([0.2, 0.3, 0.5])
    for t, lo in ((5.0, 0.0), (0.05, 0.9)):
        x = D.RelaxedOneHotCategorical(sd.tensor(t), probs=probs).sample((4000,)).numpy()
        np.testing.assert_allclose(x.sum(-1), 1.0, rtol=1e-5)
        assert (np.median(x.max(-1)) > lo) and (t > 1 or np.median(x.max(-1)) > 0.99)
    x = D.RelaxedOneHotCategorical(sd.tensor(0.05), probs=probs).sample((N,)).numpy()
    freq = np.bincount(x.argmax(-1), minlength=3) / N  # the argmax of a Gumbel-softmax draw is Categorical(probs)
    assert np.all(np.abs(freq - probs.numpy()) < 5 * np.sqrt(probs.numpy() * (1 - probs.numpy()) / N))
    logits = sd.tensor([0.1, -0.3], requires_grad=True)
    y = D.RelaxedBernoulli(sd.tensor(0.5), logits=logits).rsample((3,))
    assert y.requires_grad and ((y > 0) & (y < 1)).all().item()


def test_sample_has_no_graph_and_rsample_has_one():
    loc, scale = _f64([0.0, 1.0], [1.0, 2.0])
    n = D.Normal(loc, scale)
    assert not n.sample((3,)).requires_grad
    assert n.rsample((3,)).requires_grad
    with pytest.raises(NotImplementedError, match="rsample"):
        D.Poisson(sd.tensor([1.0])).rsample()


@pytest.mark.parametrize("name", ["Normal", "Laplace", "Uniform", "Exponential", "LogNormal", "Gumbel", "Cauchy"])
def test_rsample_pathwise_gradients_are_exact(name):
    """x = T(noise; θ): the gradient of ⟨g, x⟩ is the analytic ∂x/∂θ at the drawn x, under a random g."""
    sd.manual_seed(2)
    a, b = _f64([0.3, -0.7, 1.1], [0.8, 1.5, 0.6])
    dist = {"Normal": D.Normal, "Laplace": D.Laplace, "LogNormal": D.LogNormal, "Gumbel": D.Gumbel, "Cauchy": D.Cauchy,
            "Uniform": lambda lo, hi: D.Uniform(lo, hi + 2.0), "Exponential": lambda _, r: D.Exponential(r)}[name](a, b)
    x = dist.rsample((5,))
    g = np.random.default_rng(0).normal(size=x.shape)
    (x * sd.tensor(g, dtype=sd.float64)).sum().backward()
    xv, av, bv = x.detach().numpy(), a.detach().numpy(), b.detach().numpy()
    if name in ("Normal", "Laplace", "Gumbel", "Cauchy"):
        da, db = np.ones_like(xv), (xv - av) / bv
    elif name == "LogNormal":
        da, db = xv, xv * (np.log(xv) - av) / bv
    elif name == "Uniform":
        u = (xv - av) / (bv + 2.0 - av)
        da, db = 1 - u, u
    else:
        da, db = np.zeros_like(xv), -xv / bv
    np.testing.assert_allclose(a.grad.numpy() if a.grad is not None else 0 * av, (g * da).sum(0), rtol=1e-10)
    np.testing.assert_allclose(b.grad.numpy() if b.grad is not None else 0 * bv, (g * db).sum(0), rtol=1e-10,
                               atol=1e-12)


def test_mvn_rsample_gradient():
    sd.manual_seed(3)
    L0 = np.array([[1.5, 0.0, 0.0], [0.3, 0.8, 0.0], [-0.2, 0.4, 1.1]])
    loc, L = _f64([0.1, 0.2, 0.3], L0)
    x = D.MultivariateNormal(loc, scale_tril=L).rsample((4,))
    g = np.random.default_rng(1).normal(size=(4, 3))
    (x * sd.tensor(g, dtype=sd.float64)).sum().backward()
    eps = np.linalg.solve(L0, (x.detach().numpy() - loc.detach().numpy()).T).T  # the standard-normal draws
    np.testing.assert_allclose(loc.grad.numpy(), g.sum(0), rtol=1e-10)
    np.testing.assert_allclose(L.grad.numpy(), g.T @ eps, rtol=1e-9, atol=1e-12)  # as torch: all of L


def test_gamma_rsample_gradient_matches_torch_implicit_gradient():
    """dx/dα at the drawn x equals torch's _standard_gamma_grad(α, x) (the same implicit derivative; torch's
    approximation is good to ~1e-4, ours to ~1e-9: see the next test)."""
    sd.manual_seed(4)
    alpha = np.array([0.2, 0.7, 1.0, 2.5, 9.0, 40.0])
    a, rate = _f64(alpha, [1.0, 2.0, 0.5, 1.0, 3.0, 1.0])
    x = D.Gamma(a, rate).rsample((3,))
    g = np.random.default_rng(2).normal(size=x.shape)
    (x * sd.tensor(g, dtype=sd.float64)).sum().backward()
    std = x.detach().numpy() * rate.detach().numpy()  # the Gamma(α, 1) draws
    dstd = torch._standard_gamma_grad(torch.tensor(alpha).expand(3, -1).contiguous(), torch.tensor(std)).numpy()
    np.testing.assert_allclose(a.grad.numpy(), (g * dstd / rate.detach().numpy()).sum(0), rtol=2e-4)
    np.testing.assert_allclose(rate.grad.numpy(), (g * -x.detach().numpy() / rate.detach().numpy()).sum(0),
                               rtol=1e-10)


@pytest.mark.parametrize("a,x", [(0.2, 0.01), (0.7, 0.3), (2.5, 3.0), (9.0, 12.0), (40.0, 38.0)])
def test_gamma_implicit_gradient_is_accurate(a, x):
    """-(∂F/∂α) / p(x) against a 30-digit mpmath derivative of the regularised incomplete gamma."""
    mpmath = pytest.importorskip("mpmath")
    from shendu.distributions.gamma import _dgammainc_da, _log_gamma_density
    mpmath.mp.dps = 30
    dF = mpmath.diff(lambda s: mpmath.gammainc(s, 0, x, regularized=True), a)
    exact = float(-dF / mpmath.exp((a - 1) * mpmath.log(x) - x - mpmath.loggamma(a)))
    got = -_dgammainc_da(np.array(a), np.array(x)) / np.exp(_log_gamma_density(np.array(a), np.array(x)))
    assert float(got) == pytest.approx(exact, rel=1e-8)


def test_gammainc_fallback_without_scipy(monkeypatch):
    from shendu.distributions import gamma
    from shendu.ops import special
    a = np.array([0.1, 0.5, 1.0, 2.5, 10.0, 40.0, 3.0])
    x = np.array([0.01, 2.0, 1.0, 0.5, 12.0, 35.0, 0.0])
    exact = gamma._gammainc_array(a, x)
    monkeypatch.setattr(special, "_scipy_special", False)
    np.testing.assert_allclose(gamma._gammainc_array(a, x), exact, rtol=1e-12, atol=1e-14)


def _pathwise_mean(build, params, f, n=N):
    """Per-draw gradients of f(x) with respect to each parameter (each draw gets its own parameter copy):
    their mean and standard error."""
    leaves = [sd.tensor(np.full(n, p), dtype=sd.float64, requires_grad=True) for p in params]
    x = build(*leaves).rsample()
    f(x).sum().backward()
    return [(t.grad.numpy().mean(), t.grad.numpy().std() / math.sqrt(n)) for t in leaves]


@pytest.mark.parametrize("case", ["gamma", "beta", "studentt", "dirichlet"])
def test_rsample_gradients_are_unbiased(case):
    """E[∂f(x)/∂θ] = ∂E[f(x)]/∂θ, within 5 standard errors of the 20000 per-draw gradients."""
    sd.manual_seed(5)
    if case == "gamma":
        got = _pathwise_mean(lambda a, r: D.Gamma(a, r), [1.7, 2.0], lambda x: x * x)
        a, r = 1.7, 2.0  # E[x²] = a(a+1)/r²
        want = [(2 * a + 1) / r ** 2, -2 * a * (a + 1) / r ** 3]
    elif case == "beta":
        got = _pathwise_mean(lambda a, b: D.Beta(a, b), [0.8, 2.5], lambda x: x)
        a, b = 0.8, 2.5  # E[x] = a / (a + b)
        want = [b / (a + b) ** 2, -a / (a + b) ** 2]
    elif case == "studentt":
        got = _pathwise_mean(lambda df, s: D.StudentT(df, 0.0, s), [9.0, 1.5], lambda x: x * x)
        df, s = 9.0, 1.5  # E[x²] = s² df / (df - 2)
        want = [-2 * s * s / (df - 2) ** 2, 2 * s * df / (df - 2)]
    else:
        c = sd.tensor(np.tile([1.2, 0.6, 2.0], (N, 1)), dtype=sd.float64, requires_grad=True)
        D.Dirichlet(c).rsample()[:, 0].sum().backward()
        grads = c.grad.numpy()
        got = list(zip(grads.mean(0), grads.std(0) / math.sqrt(N)))
        total = 3.8  # E[x_0] = c_0 / Σc
        want = [(total - 1.2) / total ** 2, -1.2 / total ** 2, -1.2 / total ** 2]
    for (mean, se), w in zip(got, want):
        assert abs(mean - w) < 5 * se, (mean, w, se)
