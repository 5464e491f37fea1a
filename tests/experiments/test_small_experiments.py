"""perceptron-and-backprop, initialization and optimizers: what each experiment must show."""
import numpy as np

from shendu.experiments import available, run_experiment


def test_registry_lists_experiments():
    names = available()
    for name in ("curve-fitting", "perceptron-and-backprop", "initialization", "optimizers"):
        assert name in names


def test_perceptron_and_backprop(tmp_path):
    r = run_experiment("perceptron-and-backprop", tmp_path, seed=0, quick=True)
    assert r["perceptron_separable_final_errors"] == 0       # Novikoff: converges on separable data
    assert r["perceptron_xor_min_errors"] >= 1                # never solves XOR
    assert r["mlp_xor_accuracy"] == 1.0                       # backprop does
    out = np.array(r["mlp_xor_outputs"])
    assert out[[1, 2]].min() > 0.8 and out[[0, 3]].max() < 0.2
    assert (tmp_path / "perceptron_and_xor.png").exists() and (tmp_path / "report.md").exists()


def test_initialization_statistics(tmp_path):
    r = run_experiment("initialization", tmp_path, seed=0, quick=True)
    assert r["tanh/small random/last_activation_std"] < 1e-4       # the signal vanishes
    assert 0.1 < r["tanh/Xavier/last_activation_std"] < 1.0        # Xavier keeps tanh alive
    assert 0.3 < r["relu/He/last_activation_std"] < 3.0            # He keeps ReLU at scale
    assert r["relu/Xavier/last_activation_std"] < 0.5 * r["relu/He/last_activation_std"]
    assert r["relu/small random/first_grad_std"] < 1e-6 * r["relu/He/first_grad_std"]


def test_optimizers(tmp_path):
    r = run_experiment("optimizers", tmp_path, seed=0, quick=True)
    quad = r["quadratic_final_loss"]
    assert quad["momentum"] < quad["SGD"] and quad["Nesterov"] < quad["SGD"]
    rosen = r["rosenbrock_final_loss"]
    assert min(rosen["Adam"], rosen["momentum"]) < rosen["SGD"]
    mlp = r["mlp_final_train_loss"]
    assert mlp["Adam"] < mlp["SGD"] and all(np.isfinite(v) for v in mlp.values())
    assert (tmp_path / "optimizer_trajectories.png").exists()
