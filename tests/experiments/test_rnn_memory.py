"""rnn-memory: the adding problem itself, and what the quick run must show."""
import numpy as np
import pytest
import torch

import shendu as sd
from shendu.experiments import available, run_experiment
from shendu.experiments import rnn_memory as M


def test_adding_problem_marks_one_step_in_each_half():
    x, y = M.adding_problem(200, 11, np.random.default_rng(0))
    assert x.shape == (200, 11, 2) and x.dtype == np.float32 and y.shape == (200,)
    markers = x[..., 1]
    assert np.all(markers.sum(axis=1) == 2)
    assert np.all(markers[:, :5].sum(axis=1) == 1) and np.all(markers[:, 5:].sum(axis=1) == 1)
    np.testing.assert_allclose(y, (x[..., 0] * markers).sum(axis=1), rtol=1e-6)
    assert np.all((x[..., 0] >= 0) & (x[..., 0] < 1))


def test_input_gradient_norms_match_torch():
    sd.manual_seed(0)
    model = M.Regressor("GRU", 4)
    x, y = M.adding_problem(3, 5, np.random.default_rng(1))
    norms = M.input_gradient_norms(model, x, y)
    assert all(p.grad is None or not p.grad.numpy().any() for p in model.parameters())  # left clean
    rnn, head = torch.nn.GRU(2, 4, batch_first=True), torch.nn.Linear(4, 1)
    state = {k: torch.tensor(v.numpy()) for k, v in model.state_dict().items()}
    rnn.load_state_dict({k[4:]: v for k, v in state.items() if k.startswith("rnn.")})
    head.load_state_dict({k[5:]: v for k, v in state.items() if k.startswith("head.")})
    inputs = torch.tensor(x, requires_grad=True)
    for i in range(len(x)):  # each sequence's own squared error
        pred = head(rnn(inputs[i:i + 1])[0][:, -1]).squeeze()
        ((pred - float(y[i])) ** 2).backward()
    expected = inputs.grad.norm(dim=-1).mean(dim=0).numpy()
    assert norms.shape == (5,)
    np.testing.assert_allclose(norms, expected, rtol=1e-4)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("rnn_memory")
    return out, run_experiment("rnn-memory", out, seed=0, quick=True)


def test_quick_run_shows_long_term_memory(quick_run):
    out, r = quick_run
    assert "rnn-memory" in available()
    short, long = min(M.QUICK.lengths), max(M.QUICK.lengths)
    assert 0.12 < r["baseline_mse"] < 0.21                           # Var(u1 + u2) = 1/6
    assert short in r["solved"]["clipped"]["GRU"]                     # a gated cell bridges the gap
    for variant in M.VARIANTS:                                        # the vanilla RNN stays at the mean
        assert r["test_mse"][variant]["RNN"][long] > 0.5 * r["baseline_mse"]
    assert r["test_mse"]["clipped"]["GRU"][long] < 0.2 * r["test_mse"]["clipped"]["RNN"][long]
    ratio = r["gradient_first_over_last_init"]                         # vanishing gradients at initialisation
    assert ratio["RNN"] < 1e-3 and ratio["RNN"] < min(ratio["LSTM"], ratio["GRU"])
    assert len(r["gradient_norm_by_step"]["trained"]["GRU"]) == long
    trained = r["gradient_first_over_last_trained"]                    # the trained GRU carries it back
    assert trained["GRU"] > 100 * trained["RNN"] > 0
    assert max(f for c in M.CELLS for f in r["clipped_fraction"][c].values()) > 0  # clipping did act


def test_quick_run_writes_figures_and_report(quick_run):
    out, r = quick_run
    for name in ("success_vs_length.png", "gradient_by_time_step.png", "training_curves.png"):
        assert (out / name).stat().st_size > 10_000
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "Seed 0" in report and f"T = {max(M.QUICK.lengths)}" in report
    for name in ("success_vs_length.png", "gradient_by_time_step.png", "training_curves.png"):
        assert f"({name})" in report
    assert f"{r['test_mse']['clipped']['GRU'][min(M.QUICK.lengths)]:.4f}" in report
