"""kl_divergence against torch.distributions' for every registered pair (values and the gradients with
respect to both distributions' parameters under a random upstream gradient), the registry's dispatch,
and KL's defining properties (zero at p = q, positive otherwise)."""
import numpy as np
import pytest
import torch

import shendu as sd

R = np.random.default_rng(3)


def _u(low, high, *shape):
    return R.uniform(low, high, size=shape)


def _spd(n, *batch):
    a = R.normal(size=batch + (n, n))
    return a @ np.swapaxes(a, -1, -2) + n * np.eye(n)


# (id, build p, build q, p params, q params): builders take (distributions module, params as tensors)
PAIRS = [
    ("Normal", lambda D, a: D.Normal(a["m"], a["s"]), lambda D, b: D.Normal(b["m"], b["s"]),
     {"m": _u(-1, 1, 3), "s": _u(0.5, 2, 3)}, {"m": _u(-1, 1, 3), "s": _u(0.5, 2, 3)}),
    ("MVN", lambda D, a: D.MultivariateNormal(a["m"], covariance_matrix=a["S"]),
     lambda D, b: D.MultivariateNormal(b["m"], scale_tril=b["L"]),
     {"m": _u(-1, 1, 2, 3), "S": _spd(3)}, {"m": _u(-1, 1, 3), "L": np.linalg.cholesky(_spd(3, 2))}),
    ("Bernoulli", lambda D, a: D.Bernoulli(probs=a["p"]), lambda D, b: D.Bernoulli(logits=b["l"]),
     {"p": _u(0.1, 0.9, 3)}, {"l": _u(-2, 2, 3)}),
    ("Categorical", lambda D, a: D.Categorical(probs=a["p"]), lambda D, b: D.Categorical(logits=b["l"]),
     {"p": _u(0.1, 1, 2, 4)}, {"l": _u(-2, 2, 2, 4)}),
    ("OneHotCategorical", lambda D, a: D.OneHotCategorical(probs=a["p"]),
     lambda D, b: D.OneHotCategorical(probs=b["p"]),
     {"p": _u(0.1, 1, 4)}, {"p": _u(0.1, 1, 4)}),
    ("Beta", lambda D, a: D.Beta(a["a"], a["b"]), lambda D, b: D.Beta(b["a"], b["b"]),
     {"a": _u(0.5, 3, 3), "b": _u(0.5, 3, 3)}, {"a": _u(0.5, 3, 3), "b": _u(0.5, 3, 3)}),
    ("Gamma", lambda D, a: D.Gamma(a["a"], a["r"]), lambda D, b: D.Gamma(b["a"], b["r"]),
     {"a": _u(0.5, 3, 3), "r": _u(0.5, 2, 3)}, {"a": _u(0.5, 3, 3), "r": _u(0.5, 2, 3)}),
    ("Dirichlet", lambda D, a: D.Dirichlet(a["c"]), lambda D, b: D.Dirichlet(b["c"]),
     {"c": _u(0.5, 3, 2, 4)}, {"c": _u(0.5, 3, 2, 4)}),
    ("Exponential", lambda D, a: D.Exponential(a["r"]), lambda D, b: D.Exponential(b["r"]),
     {"r": _u(0.5, 2, 3)}, {"r": _u(0.5, 2, 3)}),
    ("Exponential_Gamma", lambda D, a: D.Exponential(a["r"]), lambda D, b: D.Gamma(b["a"], b["r"]),
     {"r": _u(0.5, 2, 3)}, {"a": _u(0.5, 3, 3), "r": _u(0.5, 2, 3)}),
    ("Laplace", lambda D, a: D.Laplace(a["m"], a["s"]), lambda D, b: D.Laplace(b["m"], b["s"]),
     {"m": _u(-1, 1, 3), "s": _u(0.5, 2, 3)}, {"m": _u(-1, 1, 3), "s": _u(0.5, 2, 3)}),
    ("Normal_Laplace", lambda D, a: D.Normal(a["m"], a["s"]), lambda D, b: D.Laplace(b["m"], b["s"]),
     {"m": _u(-1, 1, 3), "s": _u(0.5, 2, 3)}, {"m": _u(-1, 1, 3), "s": _u(0.5, 2, 3)}),
    ("Uniform", lambda D, a: D.Uniform(a["lo"], a["hi"]), lambda D, b: D.Uniform(b["lo"], b["hi"]),
     {"lo": np.array([-1.0, -0.5, 0.0]), "hi": np.array([1.0, 0.5, 2.0])},
     {"lo": np.array([-2.0, -0.4, -1.0]), "hi": np.array([2.0, 1.0, 1.5])}),
    ("Uniform_Normal", lambda D, a: D.Uniform(a["lo"], a["hi"]), lambda D, b: D.Normal(b["m"], b["s"]),
     {"lo": _u(-2, -1, 3), "hi": _u(1, 2, 3)}, {"m": _u(-1, 1, 3), "s": _u(0.5, 2, 3)}),
    ("Poisson", lambda D, a: D.Poisson(a["r"]), lambda D, b: D.Poisson(b["r"]),
     {"r": _u(0.5, 5, 3)}, {"r": _u(0.5, 5, 3)}),
    ("Geometric", lambda D, a: D.Geometric(probs=a["p"]), lambda D, b: D.Geometric(probs=b["p"]),
     {"p": _u(0.1, 0.9, 3)}, {"p": _u(0.1, 0.9, 3)}),
    ("Binomial", lambda D, a: D.Binomial(6, probs=a["p"]), lambda D, b: D.Binomial(6, logits=b["l"]),
     {"p": _u(0.1, 0.9, 3)}, {"l": _u(-2, 2, 3)}),
    ("Independent", lambda D, a: D.Independent(D.Normal(a["m"], a["s"]), 1),
     lambda D, b: D.Independent(D.Normal(b["m"], b["s"]), 1),
     {"m": _u(-1, 1, 2, 3), "s": _u(0.5, 2, 2, 3)}, {"m": _u(-1, 1, 2, 3), "s": _u(0.5, 2, 2, 3)}),
    ("LogNormal", lambda D, a: D.LogNormal(a["m"], a["s"]), lambda D, b: D.LogNormal(b["m"], b["s"]),
     {"m": _u(-1, 1, 3), "s": _u(0.5, 2, 3)}, {"m": _u(-1, 1, 3), "s": _u(0.5, 2, 3)}),
    ("Cauchy", lambda D, a: D.Cauchy(a["m"], a["s"]), lambda D, b: D.Cauchy(b["m"], b["s"]),
     {"m": _u(-1, 1, 3), "s": _u(0.5, 2, 3)}, {"m": _u(-1, 1, 3), "s": _u(0.5, 2, 3)}),
    ("Gumbel", lambda D, a: D.Gumbel(a["m"], a["s"]), lambda D, b: D.Gumbel(b["m"], b["s"]),
     {"m": _u(-1, 1, 3), "s": _u(0.5, 2, 3)}, {"m": _u(-1, 1, 3), "s": _u(0.5, 2, 3)}),
    ("HalfNormal", lambda D, a: D.HalfNormal(a["s"]), lambda D, b: D.HalfNormal(b["s"]),
     {"s": _u(0.5, 2, 3)}, {"s": _u(0.5, 2, 3)}),
    ("Pareto", lambda D, a: D.Pareto(a["s"], a["a"]), lambda D, b: D.Pareto(b["s"], b["a"]),
     {"s": np.array([1.0, 2.0, 0.5]), "a": _u(0.5, 3, 3)}, {"s": np.array([0.8, 1.5, 1.0]), "a": _u(0.5, 3, 3)}),
    ("Normal_Gumbel", lambda D, a: D.Normal(a["m"], a["s"]), lambda D, b: D.Gumbel(b["m"], b["s"]),
     {"m": _u(-1, 1, 3), "s": _u(0.5, 2, 3)}, {"m": _u(-1, 1, 3), "s": _u(0.5, 2, 3)}),
    ("Exponential_Normal", lambda D, a: D.Exponential(a["r"]), lambda D, b: D.Normal(b["m"], b["s"]),
     {"r": _u(0.5, 2, 3)}, {"m": _u(-1, 1, 3), "s": _u(0.5, 2, 3)}),
    ("Gamma_Normal", lambda D, a: D.Gamma(a["a"], a["r"]), lambda D, b: D.Normal(b["m"], b["s"]),
     {"a": _u(0.5, 3, 3), "r": _u(0.5, 2, 3)}, {"m": _u(-1, 1, 3), "s": _u(0.5, 2, 3)}),
    ("Laplace_Normal", lambda D, a: D.Laplace(a["m"], a["s"]), lambda D, b: D.Normal(b["m"], b["s"]),
     {"m": _u(-1, 1, 3), "s": _u(0.5, 2, 3)}, {"m": _u(-1, 1, 3), "s": _u(0.5, 2, 3)}),
    ("Beta_Uniform", lambda D, a: D.Beta(a["a"], a["b"]), lambda D, b: D.Uniform(b["lo"], b["hi"]),
     {"a": _u(0.5, 3, 3), "b": _u(0.5, 3, 3)}, {"lo": np.array([0.0, -1.0, 0.1]), "hi": np.array([1.0, 2.0, 1.0])}),
]


def _leaves(lib, params):
    return {k: lib.tensor(v, dtype=lib.float64, requires_grad=True) for k, v in params.items()}


@pytest.mark.parametrize("pair", PAIRS, ids=[p[0] for p in PAIRS])
def test_kl_matches_torch(pair):
    _, build_p, build_q, pp, qp = pair
    s_p, s_q, t_p, t_q = _leaves(sd, pp), _leaves(sd, qp), _leaves(torch, pp), _leaves(torch, qp)
    with np.errstate(all="ignore"):
        got = sd.distributions.kl_divergence(build_p(sd.distributions, s_p), build_q(sd.distributions, s_q))
    want = torch.distributions.kl_divergence(build_p(torch.distributions, t_p), build_q(torch.distributions, t_q))
    assert tuple(got.shape) == tuple(want.shape)
    np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=1e-9, atol=1e-12)
    g = np.random.default_rng(0).normal(size=tuple(want.shape))
    finite = np.isfinite(want.detach().numpy())
    g = np.where(finite, g, 0.0)
    (want * torch.tensor(g)).nansum().backward()
    (sd.where(sd.tensor(finite), got, 0.0) * sd.tensor(g)).sum().backward()
    for name, s_leaves, t_leaves in (("p", s_p, t_p), ("q", s_q, t_q)):
        for k in s_leaves:
            tg = t_leaves[k].grad
            sg = s_leaves[k].grad
            want_g = np.zeros(s_leaves[k].shape) if tg is None else tg.numpy()
            got_g = np.zeros(s_leaves[k].shape) if sg is None else sg.numpy()
            np.testing.assert_allclose(got_g, want_g, rtol=1e-7, atol=1e-10, err_msg=f"d KL / d {name}.{k}")


def test_infinite_where_supports_do_not_nest():
    """KL(U(0, 2) || U(0, 1)) is infinite, KL(Bernoulli(0.5) || Bernoulli(0)) too, as in torch."""
    D = sd.distributions
    assert sd.isinf(D.kl_divergence(D.Uniform(0.0, 2.0), D.Uniform(0.0, 1.0))).item()
    assert sd.isinf(D.kl_divergence(D.Bernoulli(probs=sd.tensor(0.5)), D.Bernoulli(probs=sd.tensor(0.0)))).item()
    assert D.kl_divergence(D.Bernoulli(probs=sd.tensor(0.0)), D.Bernoulli(probs=sd.tensor(0.3))).item() == \
        pytest.approx(-np.log(0.7))


def test_kl_is_zero_at_p_equals_q_and_positive_elsewhere():
    D = sd.distributions
    p = D.Dirichlet(sd.tensor([[1.0, 2.0, 3.0], [0.5, 0.5, 4.0]], dtype=sd.float64))
    np.testing.assert_allclose(D.kl_divergence(p, p).numpy(), 0.0, atol=1e-12)
    q = D.Dirichlet(sd.tensor([2.0, 2.0, 2.0], dtype=sd.float64))
    assert (D.kl_divergence(p, q) > 0).all().item()


def test_registry_dispatch_and_errors():
    D = sd.distributions
    with pytest.raises(NotImplementedError, match="Poisson.*Normal"):
        D.kl_divergence(D.Poisson(1.0), D.Normal(0.0, 1.0))

    class MyNormal(D.Normal):
        pass

    # a subclass finds its parent's rule; a more specific registration then wins
    assert D.kl_divergence(MyNormal(0.0, 1.0), D.Normal(1.0, 1.0)).item() == pytest.approx(0.5)

    @D.register_kl(MyNormal, D.Normal)
    def _kl_mine(p, q):
        return p.loc * 0 + 42.0

    assert D.kl_divergence(MyNormal(0.0, 1.0), D.Normal(1.0, 1.0)).item() == 42.0
    assert D.kl_divergence(D.Normal(0.0, 1.0), D.Normal(1.0, 1.0)).item() == pytest.approx(0.5)
    with pytest.raises(TypeError, match="Distribution subclass"):
        D.register_kl(int, D.Normal)
    with pytest.raises(ValueError, match="different event shapes"):
        D.kl_divergence(D.MultivariateNormal(sd.zeros(2), sd.eye(2)), D.MultivariateNormal(sd.zeros(3), sd.eye(3)))
