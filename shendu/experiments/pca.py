"""Principal component analysis on the 8×8 digits: two routes to the same components.

PCA finds the orthonormal directions of largest variance. Route 1 diagonalises the covariance
matrix C = Xcᵀ Xc / (n − 1) = V Λ Vᵀ (``numpy.linalg.eigh``); route 2 takes the SVD of the centred
data Xc = U S Vᵀ, whose right singular vectors are the same V with Λ = S² / (n − 1). The experiment
checks that both give the same components (up to sign) and variances, shows how much variance the
leading components explain, projects the digits onto the first two components, draws the
components as images and reconstructs digits from k of them.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from shendu.data.datasets.sklearn_sets import load_digits
from shendu.experiments._progress import stages
from shendu.experiments.plotting import figure, save
from shendu.ml import PCA
from shendu.threads import own_blas

KS = (1, 2, 5, 10, 20, 40)
QUICK_KS = (2, 10, 40)  # --quick: fewer reconstruction rows to draw


def covariance_eigh(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(eigenvalues descending, eigenvectors as rows) of the sample covariance of X."""
    Xc = X - X.mean(0)
    vals, vecs = np.linalg.eigh(Xc.T @ Xc / (len(X) - 1))
    return vals[::-1], vecs[:, ::-1].T


def centred_svd(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(S² / (n − 1), right singular vectors as rows) of the centred X."""
    _, S, Vt = np.linalg.svd(X - X.mean(0), full_matrices=False)
    return S ** 2 / (len(X) - 1), Vt


def compare_routes(X: np.ndarray, k: int) -> dict:
    """How far apart the two routes' first k components (after sign alignment) and variances are."""
    ev_eig, V_eig = covariance_eigh(X)
    ev_svd, V_svd = centred_svd(X)
    signs = np.sign((V_eig[:k] * V_svd[:k]).sum(1))
    return {"max_component_diff": float(np.abs(V_eig[:k] * signs[:, None] - V_svd[:k]).max()),
            "max_variance_rel_diff": float(np.abs(ev_eig[:k] - ev_svd[:k]).max() / ev_svd[0]),
            "ml_solvers_component_diff": float(np.abs(PCA(k, svd_solver="full").fit(X).components_
                                                      - PCA(k, svd_solver="covariance_eigh").fit(X).components_).max())}


def run(out: Path, seed: int = 0, quick: bool = False, progress=None) -> dict:
    own_blas()  # BLAS at one thread, shendu's policy: multithreaded OpenBLAS crawls on a loaded machine
    stage = stages(progress, "pca", 5)
    out = Path(out)
    X_t, y_t = load_digits()
    X, y = X_t.numpy().astype(np.float64), y_t.numpy()
    rng = np.random.RandomState(seed)
    n_components = 10  # components compared between the two routes (beyond ~40 the spectrum has ties at 0)

    stage("eigendecomposition of the covariance against the SVD of the centred data")
    results: dict = {"seed": seed, "n_samples": len(X), "n_features": X.shape[1]}
    results["routes"] = compare_routes(X, n_components)
    pca = PCA().fit(X)
    ratio = pca.explained_variance_ratio_
    cum = np.cumsum(ratio)
    results["components_for"] = {f"{p:.0%}": int(np.searchsorted(cum, p) + 1) for p in (0.5, 0.9, 0.95, 0.99)}
    results["ratio_first_two"] = float(cum[1])
    fig, ax = figure(figsize=(6.5, 4.2), title="Explained variance of the digits' principal components")
    ax.bar(np.arange(1, 65), ratio, color="tab:blue", label="each component")
    ax.plot(np.arange(1, 65), cum, color="tab:red", label="cumulative")
    for p, c in results["components_for"].items():
        if p in ("90%", "95%"):
            ax.axvline(c, color="gray", ls="--", lw=0.8)
            ax.text(c + 0.5, 0.5, f"{p}: {c}", fontsize=8, rotation=90)
    ax.set_xlabel("component")
    ax.set_ylabel("explained variance ratio")
    ax.legend(fontsize=8)
    save(fig, out / "explained_variance.png")

    stage("the digits projected onto two components")
    Z = PCA(2).fit_transform(X)
    fig, ax = figure(figsize=(6.5, 5.5), title="Digits on the first two principal components")
    sc = ax.scatter(Z[:, 0], Z[:, 1], c=y, cmap="tab10", s=6, alpha=0.8)
    for d in range(10):
        cx, cy = np.median(Z[y == d], axis=0)
        ax.text(cx, cy, str(d), fontsize=14, weight="bold", ha="center", va="center",
                bbox={"boxstyle": "round", "fc": "white", "alpha": 0.7})
    fig.colorbar(sc, ax=ax, label="digit")
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    save(fig, out / "digits_2d.png")
    # how separated the classes are in 2-D: nearest-class-mean accuracy in the plane
    means = np.stack([Z[y == d].mean(0) for d in range(10)])
    results["nearest_mean_accuracy_2d"] = float(np.mean(((Z[:, None] - means[None]) ** 2).sum(2).argmin(1) == y))

    stage("the components as images")
    fig, axes = figure(2, 5, figsize=(9, 4), title="The mean digit and the first nine principal components")
    for i, ax in enumerate(axes.flat):
        img = pca.mean_ if i == 0 else pca.components_[i - 1]
        ax.imshow(img.reshape(8, 8), cmap="gray" if i == 0 else "RdBu_r")
        ax.set_title("mean" if i == 0 else f"PC {i} ({ratio[i - 1]:.1%})", fontsize=9)
        ax.axis("off")
    save(fig, out / "components.png")

    stage("reconstruction from k components")
    ks = QUICK_KS if quick else KS
    idx = rng.choice(len(X), 6, replace=False)
    errors = {}
    fig, axes = figure(len(ks) + 1, 6, figsize=(7, 1.3 * (len(ks) + 1)), title="Digits reconstructed from k components")
    for col, i in enumerate(idx):
        axes[0, col].imshow(X[i].reshape(8, 8), cmap="gray_r", vmin=0, vmax=16)
        axes[0, col].set_title("original" if col == 0 else "", fontsize=9)
    for row, k in enumerate(ks, 1):
        pk = PCA(k).fit(X)
        rec = pk.inverse_transform(pk.transform(X))
        errors[k] = float(np.mean((rec - X) ** 2))
        for col, i in enumerate(idx):
            axes[row, col].imshow(rec[i].reshape(8, 8), cmap="gray_r", vmin=0, vmax=16)
        axes[row, 0].set_title(f"k = {k}", fontsize=9, loc="left")
    for ax in axes.flat:
        ax.axis("off")
    save(fig, out / "reconstructions.png")
    results["reconstruction_mse"] = errors
    # the mean squared reconstruction error is the variance left out: Σ_{j>k} λ_j (n−1)/n / d
    results["mse_equals_discarded_variance"] = bool(all(
        np.isclose(errors[k], pca.explained_variance_[k:].sum() * (len(X) - 1) / len(X) / X.shape[1])
        for k in ks))

    stage("writing the report")
    _write_report(out, results)
    stage.close()
    return results


def _write_report(out: Path, r: dict) -> None:
    routes, comp = r["routes"], r["components_for"]
    lines = ["# Principal component analysis", "",
             f"**Settings.** The {r['n_samples']} 8×8 digits (d = {r['n_features']} pixel features, values 0–16), "
             f"not standardised. Seed {r['seed']} picks the digits reconstructed.", "",
             "## Two routes to the same components", "",
             "Eigendecomposition of the covariance C = XcᵀXc/(n−1) against the SVD of the centred data Xc = USVᵀ "
             "(first 10 components):", "",
             f"- largest difference between the components (after aligning signs): {routes['max_component_diff']:.1e}",
             f"- largest difference between the variances λ and S²/(n−1), relative to λ₁: "
             f"{routes['max_variance_rel_diff']:.1e}",
             f"- `shendu.ml.PCA` with `svd_solver='full'` against `'covariance_eigh'`: "
             f"{routes['ml_solvers_component_diff']:.1e}", "",
             "## Explained variance", "",
             "| variance kept | 50% | 90% | 95% | 99% |", "|---|---|---|---|---|",
             "| components needed | " + " | ".join(str(comp[p]) for p in ("50%", "90%", "95%", "99%")) + " |", "",
             "![explained variance](explained_variance.png)", "",
             f"*Figure 1.* Explained variance ratio of each component (bars) and cumulative (line): {comp['90%']} of "
             f"the 64 components keep 90% of the variance, {comp['95%']} keep 95%.", "",
             "## The digits in two dimensions", "",
             "![digits 2-D](digits_2d.png)", "",
             f"*Figure 2.* Every digit projected onto the first two components (which explain "
             f"{r['ratio_first_two']:.1%} of the variance), coloured by class; numbers mark each class's median. "
             f"A nearest-class-mean rule in this plane labels {r['nearest_mean_accuracy_2d']:.1%} of the digits "
             "correctly: 0, 4 and 6 stand apart, others overlap.", "",
             "![components](components.png)", "",
             "*Figure 3.* The mean digit and the first nine principal components as 8×8 images (red positive, blue "
             "negative).", "",
             "## Reconstruction", "",
             "| k | " + " | ".join(str(k) for k in r["reconstruction_mse"]) + " |",
             "|---" * (len(r["reconstruction_mse"]) + 1) + "|",
             "| mean squared error per pixel | " + " | ".join(f"{v:.2f}" for v in r["reconstruction_mse"].values())
             + " |", "",
             "![reconstructions](reconstructions.png)", "",
             "*Figure 4.* Six digits (top row) reconstructed from k components. The mean squared error "
             + ("equals" if r["mse_equals_discarded_variance"] else "does not equal")
             + " the variance of the discarded components (Σ_{j>k} λ_j, per pixel), as the theory says.", ""]
    (out / "report.md").write_text("\n".join(lines), encoding="utf-8")
