"""Probabilistic modelling with torch.distributions, in the style of the Pyro / "variational inference
from scratch" tutorials: Bayesian linear regression solved exactly (a MultivariateNormal posterior and
its predictive) and by variational inference (a mean-field Normal guide, Normal.rsample, the ELBO with
kl_divergence against the prior, Adam); a 1-D Gaussian mixture fitted by maximum likelihood as a
MixtureSameFamily of a Categorical and Normals; a log-normal fitted as a TransformedDistribution; and
the textbook identities (log_prob, cdf/icdf, entropy, closed-form KL against a Monte Carlo estimate).
The data are fixed NumPy draws and the mixture starts from fixed values, so only the sampled figures
(the guide, Monte Carlo estimates) depend on the random stream.
"""
import math

import numpy as np

import shendu as torch
import shendu.nn.functional as F
from shendu.distributions import (
    Categorical,
    Independent,
    LogNormal,
    MixtureSameFamily,
    MultivariateNormal,
    Normal,
    TransformedDistribution,
    kl_divergence,
)
from shendu.distributions.transforms import AffineTransform, ExpTransform


def regression_data(n=50):
    rng = np.random.RandomState(0)
    x = rng.uniform(-2.0, 2.0, n)
    X = np.stack([np.ones(n), x], axis=1)
    y = X @ np.array([0.5, -1.5]) + 0.3 * rng.randn(n)
    return torch.tensor(X, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)


def exact_posterior(X, y, noise=0.3, prior_scale=1.0):
    """w ~ N(0, prior_scale^2 I), y | w ~ N(Xw, noise^2): the posterior is Gaussian in closed form."""
    precision = X.T @ X / noise**2 + torch.eye(2) / prior_scale**2
    cov = torch.linalg.inv(precision)
    mean = cov @ X.T @ y / noise**2
    posterior = MultivariateNormal(mean, covariance_matrix=cov)
    x_new = torch.tensor([[1.0, 0.0], [1.0, 1.5]])
    predictive = Normal(x_new @ mean, torch.sqrt((x_new @ cov * x_new).sum(-1) + noise**2))
    return posterior, {
        "mean": mean.tolist(),
        "scale_tril": posterior.scale_tril.tolist(),
        "log_prob_at_mean": posterior.log_prob(mean).item(),
        "entropy": posterior.entropy().item(),
        "predictive": (predictive.mean.tolist(), predictive.stddev.tolist()),
        "predictive_log_prob": predictive.log_prob(torch.tensor([0.5, -1.75])).tolist(),
    }


def variational_fit(X, y, posterior, noise=0.3, steps=400, samples=8):
    prior = Normal(torch.zeros(2), torch.ones(2))
    q_loc = torch.zeros(2, requires_grad=True)
    q_raw_scale = torch.full((2,), -1.0, requires_grad=True)
    optimizer = torch.optim.Adam([q_loc, q_raw_scale], lr=0.05)
    elbos = []
    for _step in range(steps):
        optimizer.zero_grad()
        q = Normal(q_loc, F.softplus(q_raw_scale))
        w = q.rsample((samples,))  # (S, 2): the reparameterisation trick
        log_lik = Normal(w @ X.T, noise).log_prob(y).sum(-1).mean()
        elbo = log_lik - kl_divergence(q, prior).sum()
        (-elbo).backward()
        optimizer.step()
        elbos.append(elbo.item())
    with torch.no_grad():
        q = Independent(Normal(q_loc, F.softplus(q_raw_scale)), 1)
        exact_diag = MultivariateNormal(posterior.mean, covariance_matrix=torch.diag(posterior.variance))
        gap = kl_divergence(q, Independent(Normal(exact_diag.mean, exact_diag.stddev), 1)).item()
    return {"elbo_start": float(np.mean(elbos[:20])), "elbo_end": float(np.mean(elbos[-50:])),
            "loc": q_loc.tolist(), "scale": F.softplus(q_raw_scale).tolist(), "kl_to_posterior": gap}


def mixture_fit(steps=150):
    rng = np.random.RandomState(2)
    data = np.concatenate([rng.normal(-2.0, 0.5, 300), rng.normal(1.0, 0.8, 500), rng.normal(4.0, 0.3, 200)])
    x = torch.tensor(data, dtype=torch.float32)
    logits = torch.zeros(3, requires_grad=True)
    locs = torch.tensor([-1.0, 0.5, 2.0], requires_grad=True)
    raw_scales = torch.zeros(3, requires_grad=True)
    optimizer = torch.optim.Adam([logits, locs, raw_scales], lr=0.1)
    nll = []
    for _ in range(steps):
        optimizer.zero_grad()
        gmm = MixtureSameFamily(Categorical(logits=logits), Normal(locs, F.softplus(raw_scales)))
        loss = -gmm.log_prob(x).mean()
        loss.backward()
        optimizer.step()
        nll.append(loss.item())
    with torch.no_grad():
        gmm = MixtureSameFamily(Categorical(logits=logits), Normal(locs, F.softplus(raw_scales)))
        order = torch.argsort(locs)
        grid = torch.tensor([-2.0, 0.0, 1.0, 4.0])
        return {"nll": nll[::25] + [nll[-1]], "weights": gmm.mixture_distribution.probs[order].tolist(),
                "locs": locs[order].tolist(), "scales": F.softplus(raw_scales)[order].tolist(),
                "mean": gmm.mean.item(), "variance": gmm.variance.item(),
                "density": gmm.log_prob(grid).exp().tolist(),
                "cdf": gmm.cdf(grid).tolist()}


def lognormal_fit(steps=100):
    """A log-normal built as exp(mu + sigma * N(0, 1)): the TransformedDistribution against LogNormal."""
    rng = np.random.RandomState(3)
    x = torch.tensor(rng.lognormal(0.5, 0.4, 400), dtype=torch.float32)
    mu = torch.tensor(0.0, requires_grad=True)
    log_sigma = torch.tensor(0.0, requires_grad=True)
    optimizer = torch.optim.Adam([mu, log_sigma], lr=0.05)
    for _ in range(steps):
        optimizer.zero_grad()
        flow = TransformedDistribution(Normal(0.0, 1.0), [AffineTransform(mu, log_sigma.exp()), ExpTransform()])
        loss = -flow.log_prob(x).mean()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        flow = TransformedDistribution(Normal(0.0, 1.0), [AffineTransform(mu, log_sigma.exp()), ExpTransform()])
        reference = LogNormal(mu, log_sigma.exp())
        same = torch.allclose(flow.log_prob(x), reference.log_prob(x), atol=1e-5)
    return {"mu": mu.item(), "sigma": log_sigma.exp().item(), "nll": loss.item(), "matches_lognormal": same,
            "mle": (torch.log(x).mean().item(), torch.log(x).std(unbiased=False).item())}


def identities():
    p, q = Normal(torch.tensor([0.0, 1.0]), torch.tensor([1.0, 2.0])), Normal(torch.tensor([0.5]), torch.tensor([1.5]))
    values = torch.tensor([-1.0, 0.0, 2.5])
    std = Normal(0.0, 1.0)
    cat_p, cat_q = Categorical(probs=torch.tensor([0.2, 0.5, 0.3])), Categorical(logits=torch.tensor([0.0, 1.0, -1.0]))
    return {
        "log_prob": p.log_prob(values.unsqueeze(1)).tolist(),
        "cdf_icdf": (std.cdf(values).tolist(), std.icdf(torch.tensor([0.025, 0.5, 0.975])).tolist()),
        "entropy": (p.entropy().tolist(), cat_p.entropy().item()),
        "kl_normal": kl_divergence(p, q).tolist(),
        "kl_categorical": kl_divergence(cat_p, cat_q).item(),
        "half_log_2pi_e": 0.5 * math.log(2 * math.pi * math.e),
        "batch_event": (tuple(Independent(p, 1).batch_shape), tuple(Independent(p, 1).event_shape)),
    }


def monte_carlo_kl(n=20000):
    p, q = Normal(0.0, 1.0), Normal(1.0, 2.0)
    z = p.sample((n,))
    return {"estimate": (p.log_prob(z) - q.log_prob(z)).mean().item(), "exact": kl_divergence(p, q).item()}


def main():
    torch.manual_seed(0)
    X, y = regression_data()
    posterior, exact = exact_posterior(X, y)
    return {
        "exact": exact,
        "variational": variational_fit(X, y, posterior),
        "mixture": mixture_fit(),
        "lognormal": lognormal_fit(),
        "identities": identities(),
        "monte_carlo_kl": monte_carlo_kl(),
    }


if __name__ == "__main__":
    r = main()
    print(r["exact"]["mean"], r["variational"]["loc"], r["mixture"]["locs"], r["monte_carlo_kl"])
