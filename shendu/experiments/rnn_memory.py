"""Long-term dependencies: a vanilla RNN, an LSTM and a GRU on the adding problem at growing lengths.

The adding problem (Hochreiter & Schmidhuber, 1997): every step of a sequence of length T carries a
random value in [0, 1) and a marker; exactly two steps are marked, one in each half of the sequence,
and the target, read from the last state, is the sum of the two marked values. Predicting the mean
(1.0) gives a mean squared error of Var(u₁ + u₂) = 1/6, so a network that has not bridged the gap
between the first marker and the end stays near 0.167. The experiment trains each cell at each
length, with and without gradient clipping by norm, and records:

- the test error against T (success: test MSE below ``success_mse``);
- the norm of the loss's gradient with respect to each step's input, ‖∂L/∂x_t‖, at initialisation
  and after training: the vanishing gradient made visible;
- the training loss and the gradient norm before clipping, step by step, at the longest length.
"""
from __future__ import annotations

import copy
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

import shendu as sd
from shendu.experiments._progress import stages
from shendu.experiments.plotting import figure, legend_outside, save
from shendu.nn.utils.clip_grad import get_total_norm
from shendu.threads import one_blas_thread

CELLS = ("RNN", "LSTM", "GRU")
COLORS = {"RNN": "tab:red", "LSTM": "tab:blue", "GRU": "tab:green"}
VARIANTS = ("clipped", "unclipped")


@dataclass(frozen=True)
class Settings:
    """What one run trains: every cell at every length, with and without clipping."""

    lengths: tuple = (10, 25, 50, 100)
    hidden_size: int = 32
    batch_size: int = 64
    steps: int = 600           # Adam steps per network, each on a fresh batch
    lr: float = 0.01
    max_norm: float = 1.0      # clip_grad_norm_'s threshold for the clipped runs
    test_size: int = 1000
    success_mse: float = 0.01  # "solved": test MSE below this (the mean predictor's is 1/6)
    gradient_batch: int = 256  # sequences averaged in the ‖∂L/∂x_t‖ curves


FULL = Settings()
QUICK = Settings(lengths=(8, 24), hidden_size=16, steps=200, test_size=500, gradient_batch=128)


# -- the task ---------------------------------------------------------------------------------------
def adding_problem(n: int, length: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` adding-problem sequences: inputs ``(n, length, 2)`` (value, marker) and targets ``(n,)``."""
    values = rng.random((n, length), dtype=np.float32)
    half = max(length // 2, 1)
    first = rng.integers(0, half, n)
    second = rng.integers(half, length, n)
    markers = np.zeros((n, length), dtype=np.float32)
    markers[np.arange(n), first] = 1.0
    markers[np.arange(n), second] = 1.0
    return np.stack([values, markers], axis=-1), (values * markers).sum(axis=1)


class Regressor(sd.nn.Module):
    """A one-layer recurrent network (``cell`` is ``"RNN"``, ``"LSTM"`` or ``"GRU"``) and a linear read-out
    of its last state."""

    def __init__(self, cell: str, hidden_size: int):
        super().__init__()
        self.rnn = getattr(sd.nn, cell)(2, hidden_size, batch_first=True)
        self.head = sd.nn.Linear(hidden_size, 1)

    def forward(self, x: sd.Tensor) -> sd.Tensor:
        out, _ = self.rnn(x)                      # (N, T, H)
        return self.head(out[:, -1]).squeeze(-1)  # (N,)


def _mse(pred: sd.Tensor, target: np.ndarray) -> sd.Tensor:
    return ((pred - sd.tensor(target)) ** 2).mean()


def input_gradient_norms(model: Regressor, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``(T,)``: the mean over sequences of ‖∂L/∂x_t‖ for the squared error L of each sequence.

    Computed on a float64 copy of the model: a vanilla RNN's gradient a hundred steps back is far
    below float32's smallest number (it would read as exactly zero).
    """
    probe = copy.deepcopy(model).double()
    inputs = sd.tensor(x.astype(np.float64), requires_grad=True)
    ((probe(inputs) - sd.tensor(y.astype(np.float64))) ** 2).sum().backward()  # per-sequence losses: sum
    return np.sqrt((inputs.grad.numpy() ** 2).sum(axis=-1)).mean(axis=0)


def evaluate(model: Regressor, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Test MSE and the fraction of sequences predicted within 0.04 of the target."""
    with sd.no_grad():
        pred = model(sd.tensor(x)).numpy()
    return float(np.mean((pred - y) ** 2)), float(np.mean(np.abs(pred - y) < 0.04))


def train(cell: str, length: int, settings: Settings, clip: bool, seed: int) -> dict:
    """Train one network on fresh batches; the same seed gives every cell the same data and, per cell,
    the same initial weights with and without clipping."""
    sd.manual_seed(seed)
    model = Regressor(cell, settings.hidden_size)
    opt = sd.optim.Adam(model.parameters(), lr=settings.lr)
    rng = np.random.default_rng([seed, length])
    losses, norms = [], []
    for _ in range(settings.steps):
        x, y = adding_problem(settings.batch_size, length, rng)
        loss = _mse(model(sd.tensor(x)), y)
        opt.zero_grad()
        loss.backward()
        params = list(model.parameters())
        if clip:
            norm = sd.nn.utils.clip_grad_norm_(params, settings.max_norm)
        else:
            norm = get_total_norm([p.grad for p in params])
        opt.step()
        losses.append(float(loss))
        norms.append(float(norm))
    return {"model": model, "losses": np.array(losses), "grad_norms": np.array(norms)}


# -- the experiment -----------------------------------------------------------------------------
def run(out: Path, seed: int = 0, quick: bool = False, progress=None, settings: Settings | None = None) -> dict:
    # The matrices here are tiny ((64, 32) states): a second BLAS thread costs more in hand-offs than it
    # saves (five times the CPU time, and the wall time, on a busy 2-core machine), so hold BLAS at one.
    with one_blas_thread():
        return _run(Path(out), seed, settings or (QUICK if quick else FULL), progress)


def _run(out: Path, seed: int, settings: Settings, progress) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    lengths, longest = tuple(settings.lengths), max(settings.lengths)
    stage = stages(progress, "rnn-memory", len(lengths) * len(CELLS) * len(VARIANTS) + 2)
    test = {T: adding_problem(settings.test_size, T, np.random.default_rng([seed, T, 1])) for T in lengths}
    grad_x, grad_y = adding_problem(settings.gradient_batch, longest, np.random.default_rng([seed, longest, 2]))

    mse = {v: {c: {} for c in CELLS} for v in VARIANTS}
    within = {v: {c: {} for c in CELLS} for v in VARIANTS}
    curves, grad_init, grad_trained = {}, {}, {}
    for T in lengths:
        for cell in CELLS:
            for variant in VARIANTS:
                stage(f"{cell}, T = {T}, {variant}")
                if T == longest and variant == "clipped":  # the same initial weights train() starts from
                    sd.manual_seed(seed)
                    grad_init[cell] = input_gradient_norms(Regressor(cell, settings.hidden_size), grad_x, grad_y)
                run_ = train(cell, T, settings, clip=variant == "clipped", seed=seed)
                mse[variant][cell][T], within[variant][cell][T] = evaluate(run_["model"], *test[T])
                curves[T, variant, cell] = {k: run_[k] for k in ("losses", "grad_norms")}
                if T == longest and variant == "clipped":
                    grad_trained[cell] = input_gradient_norms(run_["model"], grad_x, grad_y)

    baseline = float(np.mean((test[longest][1] - 1.0) ** 2))
    results: dict = {
        "seed": seed, "settings": asdict(settings), "baseline_mse": baseline,
        "test_mse": mse, "within_0.04": within,
        "solved": {v: {c: [T for T in lengths if mse[v][c][T] < settings.success_mse] for c in CELLS}
                   for v in VARIANTS},
        "gradient_norm_by_step": {"init": {c: grad_init[c].tolist() for c in CELLS},
                                  "trained": {c: grad_trained[c].tolist() for c in CELLS}},
        "gradient_first_over_last_init": {c: float(grad_init[c][0] / grad_init[c][-1]) for c in CELLS},
        "gradient_first_over_last_trained": {c: float(grad_trained[c][0] / grad_trained[c][-1]) for c in CELLS},
        "max_grad_norm": {v: {c: {T: float(curves[T, v, c]["grad_norms"].max()) for T in lengths} for c in CELLS}
                          for v in VARIANTS},
        "clipped_fraction": {c: {T: float(np.mean(curves[T, "clipped", c]["grad_norms"] > settings.max_norm))
                                 for T in lengths} for c in CELLS},
    }

    stage("drawing the figures")
    _plot_success(out, results, settings)
    _plot_gradients(out, grad_init, grad_trained, longest)
    _plot_training(out, curves, settings)
    stage("writing the report")
    _write_report(out, results, settings)
    stage.close()
    return results


def _plot_success(out: Path, r: dict, s: Settings) -> None:
    lengths = list(s.lengths)
    fig, axes = figure(1, 2, figsize=(10, 4.3), title="The adding problem: test error against the sequence length")
    for cell in CELLS:
        for variant, style in zip(VARIANTS, ("-", "--")):
            label = f"{cell}, {'clipped' if variant == 'clipped' else 'not clipped'}"
            axes[0].plot(lengths, [r["test_mse"][variant][cell][T] for T in lengths], style, marker="o",
                         color=COLORS[cell], label=label)
            axes[1].plot(lengths, [r["within_0.04"][variant][cell][T] for T in lengths], style, marker="o",
                         color=COLORS[cell])
    axes[0].axhline(r["baseline_mse"], color="grey", ls=":", lw=1.2, label="predicting the mean (1.0)")
    axes[0].axhline(s.success_mse, color="black", ls=":", lw=1, label=f"success threshold ({s.success_mse:g})")
    axes[0].set_yscale("log")
    axes[0].set_ylabel("test mean squared error")
    axes[1].set_ylabel("fraction of test sequences within 0.04")
    axes[1].set_ylim(-0.02, 1.02)
    for ax in axes:
        ax.set_xlabel("sequence length T")
        ax.set_xscale("log")
        ax.set_xticks(lengths, [str(T) for T in lengths])
        ax.minorticks_off()
    legend_outside(fig, axes[0], ncol=4)
    save(fig, out / "success_vs_length.png")


def _plot_gradients(out: Path, init: dict, trained: dict, longest: int) -> None:
    fig, axes = figure(1, 2, figsize=(10, 4.3), sharey=True,
                       title=f"‖∂L/∂x_t‖ for each input step t (T = {longest}, mean over sequences)")
    for ax, curves, name in ((axes[0], init, "at initialisation"), (axes[1], trained, "after training (clipped)")):
        for cell in CELLS:
            ax.semilogy(np.arange(longest), np.maximum(curves[cell], 1e-30), color=COLORS[cell], label=cell)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("input step t (the loss is read after step T − 1)")
    axes[0].set_ylabel("‖∂L/∂x_t‖")
    legend_outside(fig, axes[0], ncol=3)
    save(fig, out / "gradient_by_time_step.png")


def _smooth(values: np.ndarray, width: int) -> np.ndarray:
    width = max(1, min(width, len(values)))
    return np.convolve(values, np.ones(width) / width, mode="valid")


def _plot_training(out: Path, curves: dict, s: Settings) -> None:
    lengths = list(s.lengths)
    fig, axes = figure(2, len(lengths), figsize=(3.4 * len(lengths) + 1, 6.2), sharex=True, squeeze=False,
                       title="Training at each length: loss and gradient norm before clipping, step by step")
    width = max(1, s.steps // 30)
    steps = np.arange(1, s.steps + 1)
    for col, T in enumerate(lengths):
        for cell in CELLS:
            for variant, style in zip(VARIANTS, ("-", "--")):
                run_ = curves[T, variant, cell]
                label = f"{cell}, {'clipped' if variant == 'clipped' else 'not clipped'}"
                smooth = _smooth(run_["losses"], width)
                axes[0, col].semilogy(np.arange(len(smooth)) + width, smooth, style, color=COLORS[cell], label=label)
                axes[1, col].semilogy(steps, run_["grad_norms"], style, color=COLORS[cell], lw=0.5, alpha=0.7)
        axes[0, col].set_title(f"T = {T}", fontsize=10)
        axes[1, col].axhline(s.max_norm, color="black", ls=":", lw=1)
        axes[1, col].set_xlabel("training step")
    axes[0, 0].set_ylabel(f"training MSE\n(moving mean of {width} steps)")
    axes[1, 0].set_ylabel("gradient norm\nbefore clipping")
    legend_outside(fig, axes[0, 0], ncol=3)
    save(fig, out / "training_curves.png")


def _cells(names) -> str:
    names = list(names)
    return ", ".join(names) if names else "none"


def _write_report(out: Path, r: dict, s: Settings) -> None:
    lengths, longest = list(s.lengths), max(s.lengths)
    solved = r["solved"]
    header = "| cell | clipping | " + " | ".join(f"T = {T}" for T in lengths) + " |"
    rule = "|---" * (len(lengths) + 2) + "|"
    rows = [f"| {c} | {'yes' if v == 'clipped' else 'no'} | "
            + " | ".join(f"{r['test_mse'][v][c][T]:.4f} ({r['within_0.04'][v][c][T]:.2f})" for T in lengths) + " |"
            for c in CELLS for v in VARIANTS]
    longest_solved = {v: [c for c in CELLS if longest in solved[v][c]] for v in VARIANTS}
    init, trained = r["gradient_first_over_last_init"], r["gradient_first_over_last_trained"]
    lines = [
        "# Long-term dependencies: RNN, LSTM and GRU on the adding problem", "",
        "**Settings.** Each step of a sequence carries a value u ~ U[0, 1) and a marker; one step in each half of "
        "the sequence is marked and the target is the sum of the two marked values. One recurrent layer of "
        f"{s.hidden_size} units (shendu's nn.RNN with tanh, nn.LSTM, nn.GRU; PyTorch's initialisation) and a "
        f"linear read-out of the last state; {s.steps} Adam steps (lr {s.lr:g}) on fresh batches of "
        f"{s.batch_size}; squared-error loss. *Clipped* runs rescale the gradient to norm at most {s.max_norm:g} "
        "(clip_grad_norm_) before every step; *not clipped* runs start from the same weights and see the same "
        f"batches. Test sets of {s.test_size} sequences per length. Seed {r['seed']}. Predicting the mean "
        f"gives a test MSE of {r['baseline_mse']:.3f} (1/6 in expectation); *solved* means a test MSE below "
        f"{s.success_mse:g}.", "",
        "## Success against the sequence length", "",
        "Test MSE (and, in brackets, the fraction of test sequences predicted within 0.04):", "",
        header, rule, *rows, "",
        *(f"- solved, {'clipped' if v == 'clipped' else 'not clipped'}: "
          + "; ".join(f"{c} at T = {', '.join(map(str, solved[v][c])) or 'none'}" for c in CELLS) for v in VARIANTS),
        "",
        "![success](success_vs_length.png)", "",
        "*Figure 1.* Test MSE (left, log scale) and the fraction of test sequences within 0.04 of the target "
        "(right) against the sequence length; solid lines with clipping, dashed without; the dotted lines mark "
        f"the mean predictor and the success threshold. At the longest length, T = {longest}, the networks "
        f"that solve the task are: {_cells(longest_solved['clipped'])} with clipping, "
        f"{_cells(longest_solved['unclipped'])} without.", "",
        "## The gradient reaching each time step", "",
        "![gradients](gradient_by_time_step.png)", "",
        f"*Figure 2.* ‖∂L/∂x_t‖ for every input step t of sequences of length {longest}, averaged over "
        f"{s.gradient_batch} sequences (computed in float64), at initialisation (left) and after training with "
        "clipping (right). At initialisation the gradient reaching the first step, relative to the one reaching "
        "the last, is " + ", ".join(f"{init[c]:.1e} for the {c}" for c in CELLS) + f": {_ordering(init)} "
        "After training it is " + ", ".join(f"{trained[c]:.1e} ({c})" for c in CELLS) + ".", "",
        "## Training with and without clipping", "",
        "![training](training_curves.png)", "",
        "*Figure 3.* For each length (columns): the training loss (top, moving mean) and the gradient norm before "
        f"clipping (bottom; the dotted line is the threshold {s.max_norm:g}) at every step, solid with clipping, "
        "dashed without (both runs start from the same weights and see the same batches, so the curves coincide "
        "until the first clipped step).", "",
        *(f"- {c}: largest gradient norm " + ", ".join(
            f"{r['max_grad_norm']['unclipped'][c][T]:.2g} at T = {T}" for T in lengths)
          + " (runs without clipping); clipping rescaled the gradient on "
          + ", ".join(f"{100 * r['clipped_fraction'][c][T]:.0f}%" for T in lengths) + " of the steps." for c in CELLS),
        "", _clipping_effect(r, s), ""]
    (out / "report.md").write_text("\n".join(lines), encoding="utf-8")


def _ordering(ratios: dict) -> str:
    order = sorted(CELLS, key=lambda c: ratios[c])
    return f"the gradient fades fastest through the {order[0]} and slowest through the {order[-1]}."


def _clipping_effect(r: dict, s: Settings) -> str:
    """Which cells solved different lengths with and without clipping (only what the table shows)."""
    changes = []
    for c in CELLS:
        with_clip, without = set(r["solved"]["clipped"][c]), set(r["solved"]["unclipped"][c])
        if with_clip != without:
            only_with = sorted(with_clip - without)
            only_without = sorted(without - with_clip)
            parts = ([f"T = {', '.join(map(str, only_with))} solved only with clipping"] if only_with else []) + (
                [f"T = {', '.join(map(str, only_without))} only without"] if only_without else [])
            changes.append(f"the {c} (" + "; ".join(parts) + ")")
    if not changes:
        return "With and without clipping, every cell solved the same lengths in this run."
    return "Clipping changed the outcome for " + " and ".join(changes) + "; one seed, a single run per setting."
