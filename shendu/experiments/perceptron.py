"""Rosenblatt's perceptron, its failure on XOR, and a two-layer network trained by backpropagation.

The perceptron learns w, b with the rule w ← w + η (t - ŷ) x on each misclassified point; on
linearly separable data it converges in finitely many updates (Novikoff's theorem), on XOR it
never does — no line separates XOR's classes. A 2-2-1 network with a tanh hidden layer, trained
by gradient descent on the cross-entropy with gradients from shendu's autograd, solves XOR.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

import shendu as sd
import shendu.nn.functional as F
from shendu.experiments._progress import stages
from shendu.experiments.plotting import figure, integer_ticks, save

XOR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
XOR_T = np.array([0, 1, 1, 0])


def separable_data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two Gaussian clouds on either side of a random line, with a margin between them."""
    rng = np.random.default_rng(seed)
    normal = rng.standard_normal(2)
    normal /= np.linalg.norm(normal)
    x = rng.uniform(-1, 1, (4 * n, 2))
    margin = x @ normal
    keep = np.abs(margin) > 0.15
    x, t = x[keep][:n], (margin[keep][:n] > 0).astype(int)
    return x, t


def misclassified(w: np.ndarray, b: float, x: np.ndarray, t: np.ndarray) -> int:
    """How many points the perceptron with weights (w, b) gets wrong: ŷ = [wᵀx + b > 0] ≠ t."""
    return int(np.sum((x @ w + b > 0).astype(int) != t))


def train_perceptron(x: np.ndarray, t: np.ndarray, epochs: int = 100, lr: float = 1.0, history: list | None = None):
    """The perceptron rule, one pass over the data per epoch. Returns (w, b, mistakes made during each pass).

    ``history``, when given, receives for each epoch the number of points the weights at the end of that
    pass misclassify (not the same count: an update made late in a pass can fix or break earlier points).
    """
    w, b = np.zeros(x.shape[1]), 0.0
    errors = []
    for _ in range(epochs):
        mistakes = 0
        for xi, ti in zip(x, t):  # the rule is sequential by definition: each update changes w
            y = int(xi @ w + b > 0)
            if y != ti:
                w += lr * (ti - y) * xi
                b += lr * (ti - y)
                mistakes += 1
        errors.append(mistakes)
        if history is not None:
            history.append(misclassified(w, b, x, t))
        if mistakes == 0:
            break
    return w, b, errors


def train_two_layer_xor(hidden: int = 2, steps: int = 3000, lr: float = 0.5, seed: int = 0):
    """A hidden-tanh network on XOR by full-batch gradient descent with shendu's autograd."""
    sd.manual_seed(seed)
    x, t = sd.tensor(XOR_X, dtype=sd.float32), sd.tensor(XOR_T.astype(np.float32))
    w1 = (sd.randn(2, hidden) * 1.0).requires_grad_()
    b1 = sd.zeros(hidden, requires_grad=True)
    w2 = (sd.randn(hidden, 1) * 1.0).requires_grad_()
    b2 = sd.zeros(1, requires_grad=True)
    params = [w1, b1, w2, b2]
    losses = []
    for _ in range(steps):
        logits = ((x @ w1 + b1).tanh() @ w2 + b2).squeeze(1)
        loss = F.binary_cross_entropy_with_logits(logits, t)
        for p in params:
            p.grad = None
        loss.backward()
        with sd.no_grad():
            for p in params:
                p -= lr * p.grad
        losses.append(float(loss))

    def forward(points: np.ndarray) -> np.ndarray:
        with sd.no_grad():
            h = (sd.tensor(points, dtype=sd.float32) @ w1 + b1).tanh()
            return (h @ w2 + b2).sigmoid().numpy()[:, 0]
    return forward, losses


LR, HIDDEN, NET_LR = 1.0, 2, 0.5  # the perceptron's η; the XOR network's hidden units and step size


def run(out: Path, seed: int = 0, quick: bool = False, progress=None) -> dict:
    stage = stages(progress, "perceptron-and-backprop", 3)
    out = Path(out)
    stage("the perceptron on separable data and on XOR")
    x_sep, t_sep = separable_data(100, seed)
    w_sep, b_sep, err_sep = train_perceptron(x_sep, t_sep, lr=LR)
    xor_epochs, after_xor = 50, []
    w_xor, b_xor, err_xor = train_perceptron(XOR_X, XOR_T, epochs=xor_epochs, lr=LR, history=after_xor)
    stage("a two-layer network on XOR by backpropagation")
    steps = 1500 if quick else 3000
    # a few restarts guard against the rare seed where 2 hidden units land in a poor basin
    for attempt in range(5):
        net, losses = train_two_layer_xor(hidden=HIDDEN, steps=steps, lr=NET_LR, seed=seed + attempt)
        if np.all((net(XOR_X) > 0.5) == XOR_T.astype(bool)):
            break
    xor_pred = net(XOR_X)
    results = {
        "perceptron_separable_epochs": len(err_sep),
        "perceptron_separable_final_errors": err_sep[-1],
        "perceptron_separable_final_misclassified": misclassified(w_sep, b_sep, x_sep, t_sep),
        "perceptron_xor_epochs": len(err_xor),
        "perceptron_xor_final_errors": err_xor[-1],           # mistakes made during the last pass
        "perceptron_xor_min_errors": min(err_xor),
        "perceptron_xor_final_misclassified": misclassified(w_xor, b_xor, XOR_X, XOR_T),  # by the final weights
        "perceptron_xor_min_misclassified": min(after_xor),
        "perceptron_xor_counts_differ": err_xor != after_xor,
        "perceptron_xor_weights": [float(v) for v in w_xor] + [float(b_xor)],
        "mlp_xor_outputs": [float(v) for v in xor_pred],
        "mlp_xor_accuracy": float(np.mean((xor_pred > 0.5) == XOR_T.astype(bool))),
        "mlp_xor_final_loss": losses[-1],
        "mlp_xor_restarts": attempt,
        "mlp_xor_steps": steps,
    }
    stage("figures and report")
    _plot(x_sep, t_sep, w_sep, b_sep, err_sep, err_xor, after_xor, net, out / "perceptron_and_xor.png")

    fig, ax = figure(figsize=(6.5, 3.8), title=f"XOR network 2-{HIDDEN}-1 (tanh): full-batch gradient descent, "
                     f"step {NET_LR}")
    ax.semilogy(np.arange(1, len(losses) + 1), losses)
    ax.set_xlabel("gradient-descent step")
    ax.set_ylabel("cross-entropy (mean over the 4 points)")
    ax.grid(alpha=0.3)
    save(fig, out / "xor_loss.png")
    _write_report(out, results, seed)
    stage.close()
    return results


def _plot(x_sep, t_sep, w_sep, b_sep, err_sep, err_xor, after_xor, net, path: Path) -> None:
    fig, axes = figure(1, 3, figsize=(14, 4.8), title=f"The perceptron rule (η = {LR:g}) and a network trained by "
                       "backpropagation")
    g = np.linspace(-1.2, 1.2, 200)
    ax = axes[0]
    ax.scatter(*x_sep[t_sep == 0].T, s=12, marker="o", label="class 0")
    ax.scatter(*x_sep[t_sep == 1].T, s=12, marker="^", label="class 1")
    if abs(w_sep[1]) > 1e-12:
        ax.plot(g, -(w_sep[0] * g + b_sep) / w_sep[1], "k-", label="boundary wᵀx + b = 0")
    ax.set_xlim(-1.2, 1.2)
    ax.set_ylim(-1.2, 1.2)
    ax.set_xlabel("x₁")
    ax.set_ylabel("x₂")
    verdict = f"no mistakes in pass {len(err_sep)}" if err_sep[-1] == 0 else f"{err_sep[-1]} mistakes in the last pass"
    ax.set_title(f"{len(t_sep)} separable points: {verdict}", fontsize=10)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=3, frameon=False)
    ax = axes[1]
    epochs = np.arange(1, len(err_xor) + 1)
    ax.plot(epochs, err_xor, "o-", ms=3, label="mistakes made during the pass (updates)")
    ax.plot(epochs, after_xor, "s--", ms=3, label="points the weights misclassify after the pass")
    ax.set_xlabel("epoch (one pass over the 4 points)")
    ax.set_ylabel("points (of 4)")
    ax.set_ylim(-0.2, 4.2)
    ax.set_yticks(range(5))
    integer_ticks(ax, "x")
    ax.set_title("the perceptron on XOR", fontsize=10)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=1, frameon=False)
    ax = axes[2]
    gx, gy = np.meshgrid(np.linspace(-0.4, 1.4, 200), np.linspace(-0.4, 1.4, 200))
    zz = net(np.stack([gx.ravel(), gy.ravel()], 1)).reshape(gx.shape)
    filled = ax.contourf(gx, gy, zz, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.8)
    ax.contour(gx, gy, zz, levels=[0.5], colors="k", linewidths=1)
    fig.colorbar(filled, ax=ax, label="network output σ(y(x))")
    ax.scatter(*XOR_X[XOR_T == 0].T, c="tab:blue", edgecolors="k", s=80, label="t = 0")
    ax.scatter(*XOR_X[XOR_T == 1].T, c="tab:red", edgecolors="k", s=80, marker="^", label="t = 1")
    ax.set_xlabel("x₁")
    ax.set_ylabel("x₂")
    ax.set_title(f"2-{HIDDEN}-1 tanh network on XOR (black: output 0.5)", fontsize=10)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=2, frameon=False)
    save(fig, path)


def _write_report(out: Path, r: dict, seed: int) -> None:
    sep_epochs, sep_final = r["perceptron_separable_epochs"], r["perceptron_separable_final_errors"]
    separable = (f"the perceptron made no mistake in pass {sep_epochs}, so it has converged: its weights classify "
                 f"all points correctly ({r['perceptron_separable_final_misclassified']} misclassified)"
                 if sep_final == 0 else
                 f"the perceptron still made {sep_final} mistakes in pass {sep_epochs} (not converged)")
    final, never = r["perceptron_xor_final_misclassified"], r["perceptron_xor_min_misclassified"]
    solved = "all four points correctly" if r["mlp_xor_accuracy"] == 1.0 else \
        f"{round(4 * r['mlp_xor_accuracy'])} of the 4 points correctly"
    restarts = {0: "no restart needed", 1: "one restart from a new seed needed"}.get(
        r["mlp_xor_restarts"], f"{r['mlp_xor_restarts']} restarts from new seeds needed")
    differ = "differ" if r["perceptron_xor_counts_differ"] else "happen to agree here"
    lines = ["# The perceptron and backpropagation", "",
             f"**Settings.** The perceptron rule w ← w + η (t − ŷ) x, b ← b + η (t − ŷ), η = {LR:g}, visiting the "
             "points in order, from w = 0, b = 0, until a pass makes no mistake (at most 100 passes on the "
             f"separable data, {r['perceptron_xor_epochs']} on XOR). The separable data: 100 points uniform in "
             f"[−1, 1]² on either side of a random line, 0.15 of margin kept clear. The network: 2-{HIDDEN}-1, tanh "
             f"hidden units, sigmoid output, cross-entropy, {r['mlp_xor_steps']} steps of full-batch gradient "
             f"descent with step {NET_LR}, weights N(0, 1), gradients from shendu's autograd ({restarts}). "
             f"Seed {seed}.", "",
             "## Results", "",
             f"- Linearly separable data: {separable}.",
             f"- XOR: in each pass the perceptron keeps making mistakes ({r['perceptron_xor_final_errors']} in the "
             f"last pass, never fewer than {r['perceptron_xor_min_errors']} in any pass), so it never converges. "
             f"Its final weights (w₁, w₂, b) = ({', '.join(f'{v:g}' for v in r['perceptron_xor_weights'])}) "
             f"misclassify {final} of the 4 points, and after no pass did they misclassify fewer than {never} "
             "(no line separates XOR's classes: every line misclassifies at least one of the four points).",
             f"- The 2-{HIDDEN}-1 network trained by backpropagation outputs "
             + ", ".join(f"{v:.3f}" for v in r["mlp_xor_outputs"]) + " for (0,0), (0,1), (1,0), (1,1) "
             f"(targets 0, 1, 1, 0): it classifies {solved} at a threshold of 0.5, final cross-entropy "
             f"{r['mlp_xor_final_loss']:.2g}.", "",
             "![perceptron](perceptron_and_xor.png)", "",
             "*Figure 1.* Left: the separable data and the perceptron's final boundary wᵀx + b = 0. Middle: on XOR, "
             "per pass, the mistakes the rule made (each one an update) and the points the weights at the end of "
             "the pass misclassify — the two counts " + differ + " (a late update can fix or undo an early one). "
             "Right: the network's output over the plane; the black line is its 0.5 level, the XOR points are "
             "marked by their targets.", "",
             "![loss](xor_loss.png)", "",
             "*Figure 2.* The network's training cross-entropy against the gradient-descent step (log scale).", ""]
    (out / "report.md").write_text("\n".join(lines), encoding="utf-8")
