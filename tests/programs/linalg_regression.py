"""Linear algebra in PyTorch, the textbook way: polynomial least squares solved four ways (torch.linalg.lstsq,
the normal equations by Cholesky and cholesky_solve, QR with solve_triangular, the SVD pseudo-inverse),
ridge regression along a path of penalties, PCA of scikit-learn's digits by torch.linalg.svd, eigh of the
covariance and torch.pca_lowrank, and Gaussian-process regression (the GPyTorch / "GPs from scratch"
recipe): an RBF kernel, Cholesky of K + noise, the exact log marginal likelihood maximised over the
kernel's log-hyperparameters with Adam, and the predictive mean and variance.
The data are fixed NumPy arrays, so every figure except pca_lowrank's random sketch equals PyTorch's.
"""
import math

import numpy as np
from sklearn.datasets import load_digits

import shendu as torch


def polynomial_data(n=60, degree=5):
    rng = np.random.RandomState(0)
    x = np.sort(rng.uniform(-1.0, 1.0, n))
    y = np.sin(3.0 * x) + 0.5 * x + 0.1 * rng.randn(n)
    X = torch.from_numpy(x).unsqueeze(1) ** torch.arange(degree + 1, dtype=torch.float64)  # (n, degree+1)
    return X, torch.from_numpy(y).unsqueeze(1)


def least_squares_four_ways(X, y):
    w_lstsq = torch.linalg.lstsq(X, y).solution

    L = torch.linalg.cholesky(X.T @ X)  # normal equations
    w_chol = torch.cholesky_solve(X.T @ y, L)

    Q, R = torch.linalg.qr(X)  # reduced QR: X = QR, R upper triangular
    w_qr = torch.linalg.solve_triangular(R, Q.T @ y, upper=True)

    U, S, Vh = torch.linalg.svd(X, full_matrices=False)
    w_svd = Vh.T @ torch.diag(1.0 / S) @ U.T @ y
    w_pinv = torch.linalg.pinv(X) @ y

    residual = y - X @ w_lstsq
    return {
        "coef": w_lstsq.view(-1).tolist(),
        "agree": [torch.allclose(w, w_lstsq, rtol=1e-6, atol=1e-8) for w in (w_chol, w_qr, w_svd, w_pinv)],
        "rss": (residual**2).sum().item(),
        "orthonormal_q": torch.allclose(Q.T @ Q, torch.eye(Q.shape[1], dtype=Q.dtype), atol=1e-10),
        "condition_number": torch.linalg.cond(X).item(),
        "rank": torch.linalg.matrix_rank(X).item(),
        "residual_orthogonal": (X.T @ residual).abs().max().item() < 1e-9,
    }


def ridge_path(X, y, lambdas=(1e-4, 1e-2, 1.0, 10.0)):
    eye = torch.eye(X.shape[1], dtype=X.dtype)
    norms = []
    for lam in lambdas:
        w = torch.linalg.solve(X.T @ X + lam * eye, X.T @ y)
        norms.append(torch.linalg.vector_norm(w).item())
    return norms


def pca_digits(k=10):
    digits = load_digits()
    X = torch.tensor(digits.data, dtype=torch.float32)
    Xc = X - X.mean(dim=0, keepdim=True)
    U, S, Vh = torch.linalg.svd(Xc, full_matrices=False)
    explained = (S**2 / (S**2).sum())[:k]
    scores = Xc @ Vh[:k].T  # (N, k)
    recon = scores @ Vh[:k]
    cov = Xc.T @ Xc / (X.shape[0] - 1)
    evals, evecs = torch.linalg.eigh(cov)  # ascending
    top = evals.flip(0)[:k]
    U2, S2, V2 = torch.pca_lowrank(X, q=k + 6, center=True, niter=4)  # a random sketch
    return {
        "explained_variance_ratio": explained.tolist(),
        "cumulative": explained.cumsum(0)[-1].item(),
        "reconstruction_mse": ((recon - Xc) ** 2).mean().item(),
        "eigh_matches_svd": torch.allclose(top, S[:k] ** 2 / (X.shape[0] - 1), rtol=1e-3),
        "first_axis_alignment": abs(torch.dot(evecs[:, -1], Vh[0]).item()),
        "lowrank_shapes": (tuple(U2.shape), tuple(S2.shape), tuple(V2.shape)),
    }, ((S2[:3] - S[:3]).abs() / S[:3]).max().item()


def rbf_kernel(a, b, log_lengthscale, log_outputscale):
    sqdist = (a.unsqueeze(1) - b.unsqueeze(0)).pow(2).sum(-1)  # (n, m)
    return torch.exp(2 * log_outputscale) * torch.exp(-0.5 * sqdist / torch.exp(2 * log_lengthscale))


def gp_regression(steps=60):
    rng = np.random.RandomState(1)
    x = torch.from_numpy(np.sort(rng.uniform(0.0, 5.0, 40))).unsqueeze(1)  # (40, 1) float64
    y = torch.sin(2.0 * x).squeeze(1) + 0.1 * torch.from_numpy(rng.randn(40))
    x_test = torch.from_numpy(np.linspace(0.0, 5.0, 9)).unsqueeze(1)

    params = {name: torch.tensor(value, dtype=torch.float64, requires_grad=True)
              for name, value in (("log_lengthscale", 0.0), ("log_outputscale", 0.0), ("log_noise", -1.0))}
    optimizer = torch.optim.Adam(params.values(), lr=0.05)

    def negative_mll():
        K = rbf_kernel(x, x, params["log_lengthscale"], params["log_outputscale"])
        K = K + torch.exp(2 * params["log_noise"]) * torch.eye(len(x), dtype=x.dtype)
        L = torch.linalg.cholesky(K)
        alpha = torch.cholesky_solve(y.unsqueeze(1), L)  # K^{-1} y
        fit = 0.5 * (y.unsqueeze(1) * alpha).sum()
        logdet = torch.log(torch.diagonal(L)).sum()  # half the log-determinant
        return fit + logdet + 0.5 * len(x) * math.log(2 * math.pi)

    history = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = negative_mll()
        loss.backward()
        optimizer.step()
        history.append(loss.item())

    with torch.no_grad():
        ls, os_, ln = params["log_lengthscale"], params["log_outputscale"], params["log_noise"]
        K = rbf_kernel(x, x, ls, os_) + torch.exp(2 * ln) * torch.eye(len(x), dtype=x.dtype)
        L = torch.linalg.cholesky(K)
        K_s = rbf_kernel(x_test, x, ls, os_)  # (9, 40)
        mean = K_s @ torch.cholesky_solve(y.unsqueeze(1), L)
        v = torch.linalg.solve_triangular(L, K_s.T, upper=False)
        var = torch.exp(2 * os_) - (v**2).sum(0)
        logdet_check = torch.allclose(2 * torch.log(torch.diagonal(L)).sum(), torch.logdet(K))
    return {
        "nmll": history[::10] + [history[-1]],
        "hyperparameters": {k: v.item() for k, v in params.items()},
        "mean": mean.view(-1).tolist(),
        "variance": var.tolist(),
        "logdet_agrees": logdet_check,
        "test_error": (mean.view(-1) - torch.sin(2.0 * x_test).view(-1)).abs().max().item(),
    }


def main():
    torch.manual_seed(0)
    X, y = polynomial_data()
    pca, lowrank_error = pca_digits()
    return {
        "least_squares": least_squares_four_ways(X, y),
        "ridge_norms": ridge_path(X, y),
        "pca": pca,
        "lowrank_top_error": lowrank_error,
        "gp": gp_regression(),
    }


if __name__ == "__main__":
    r = main()
    print(r["least_squares"]["coef"], r["pca"]["explained_variance_ratio"][:3], r["gp"]["hyperparameters"])
