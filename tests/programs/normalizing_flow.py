"""A normalizing flow from scratch, in the style of the RealNVP / Glow tutorials: affine coupling layers
with alternating masks, each followed by Glow's invertible 1x1 "convolution" (here a 2x2 matrix)
parametrised by its LU decomposition (torch.linalg.lu at initialisation, log|det| as the sum of
log|s|), a MultivariateNormal base distribution, maximum likelihood on scikit-learn's two moons, and
sampling by running the flow backwards. The moons and the initial weights are fixed draws, so every
figure except the samples equals PyTorch's.
"""
import math

import numpy as np
from sklearn.datasets import make_moons

import shendu as torch
import shendu.nn as nn
from shendu.distributions import MultivariateNormal


def fixed_init(module, rng, scale=0.5):
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.from_numpy(rng.uniform(-scale, scale, tuple(p.shape)).astype(np.float32)))


class AffineCoupling(nn.Module):
    """x_b' = x_b * exp(s(x_a)) + t(x_a) on the unmasked half; log|det| = sum of s."""

    def __init__(self, mask, hidden=32):
        super().__init__()
        self.register_buffer("mask", mask)
        self.net = nn.Sequential(nn.Linear(2, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(),
                                 nn.Linear(hidden, 4))

    def forward(self, x):  # data -> latent
        s, t = self.net(x * self.mask).chunk(2, dim=1)
        s = torch.tanh(s) * (1 - self.mask)
        t = t * (1 - self.mask)
        return x * torch.exp(s) + t, s.sum(dim=1)

    def inverse(self, z):
        s, t = self.net(z * self.mask).chunk(2, dim=1)
        s = torch.tanh(s) * (1 - self.mask)
        t = t * (1 - self.mask)
        return (z - t) * torch.exp(-s)


class InvertibleLinearLU(nn.Module):
    """Glow's invertible 1x1 convolution in LU form: W = P L (U + diag(sign * exp(log_s)))."""

    def __init__(self, dim, rng):
        super().__init__()
        q, _ = torch.linalg.qr(torch.from_numpy(rng.randn(dim, dim).astype(np.float32)))
        P, L, U = torch.linalg.lu(q)
        s = torch.diagonal(U)
        self.register_buffer("P", P)
        self.register_buffer("sign_s", torch.sign(s))
        self.register_buffer("lower_mask", torch.tril(torch.ones(dim, dim), diagonal=-1))
        self.L = nn.Parameter(L)
        self.U = nn.Parameter(torch.triu(U, diagonal=1))
        self.log_s = nn.Parameter(torch.log(torch.abs(s)))

    def weight(self):
        eye = torch.eye(self.P.shape[0])
        L = self.L * self.lower_mask + eye
        U = self.U * self.lower_mask.T + torch.diag(self.sign_s * torch.exp(self.log_s))
        return self.P @ L @ U

    def forward(self, x):
        return x @ self.weight().T, self.log_s.sum().expand(x.shape[0])

    def inverse(self, z):
        return torch.linalg.solve(self.weight(), z.T).T


class RealNVP(nn.Module):
    def __init__(self, n_couplings=4, seed=0):
        super().__init__()
        rng = np.random.RandomState(seed)
        layers = []
        for i in range(n_couplings):
            coupling = AffineCoupling(torch.tensor([1.0, 0.0]) if i % 2 == 0 else torch.tensor([0.0, 1.0]))
            fixed_init(coupling, rng)
            layers += [coupling, InvertibleLinearLU(2, rng)]
        self.layers = nn.ModuleList(layers)
        self.base = MultivariateNormal(torch.zeros(2), torch.eye(2))

    def forward(self, x):
        log_det = torch.zeros(x.shape[0])
        for layer in self.layers:
            x, ld = layer(x)
            log_det = log_det + ld
        return x, log_det

    def log_prob(self, x):
        z, log_det = self(x)
        return self.base.log_prob(z) + log_det

    def inverse(self, z):
        for layer in reversed(self.layers):
            z = layer.inverse(z)
        return z

    def sample(self, n):
        return self.inverse(self.base.sample((n,)))


def main(steps=150):
    torch.manual_seed(0)
    X, _ = make_moons(n_samples=512, noise=0.05, random_state=0)
    X = (X - X.mean(0)) / X.std(0)
    x = torch.tensor(X, dtype=torch.float32)
    flow = RealNVP()
    with torch.no_grad():
        initial_nll = -flow.log_prob(x).mean().item()
        lu = flow.layers[1]
        sign, logabsdet = torch.linalg.slogdet(lu.weight())
        lu_check = (sign.item(), math.isclose(logabsdet.item(), lu.log_s.sum().item(), abs_tol=1e-5))
    optimizer = torch.optim.Adam(flow.parameters(), lr=1e-2)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    history = []
    for step in range(steps):
        optimizer.zero_grad()
        loss = -flow.log_prob(x).mean()
        loss.backward()
        nn.utils.clip_grad_norm_(flow.parameters(), max_norm=5.0)
        optimizer.step()
        scheduler.step()
        if step % 25 == 0:
            history.append(loss.item())
    with torch.no_grad():
        final_nll = -flow.log_prob(x).mean().item()
        z, _ = flow(x)
        round_trip = (flow.inverse(z) - x).abs().max().item()
        lu = flow.layers[1]
        _, logabsdet = torch.linalg.slogdet(lu.weight())
        samples = flow.sample(2000)
    return {
        "initial_nll": initial_nll,
        "lu_check": lu_check,
        "history": history,
        "final_nll": final_nll,
        "latent_moments": (z.mean(0).tolist(), z.std(0).tolist()),
        "round_trip_ok": round_trip < 1e-4,
        "logdet_after_training": math.isclose(logabsdet.item(), lu.log_s.sum().item(), abs_tol=1e-4),
        "n_parameters": sum(p.numel() for p in flow.parameters()),
        "sample_stats": (samples.mean(0).tolist(), samples.std(0).tolist(),
                         (samples[:, 0] * samples[:, 1]).mean().item()),
    }


if __name__ == "__main__":
    r = main()
    print(r["history"], r["final_nll"], r["sample_stats"])
