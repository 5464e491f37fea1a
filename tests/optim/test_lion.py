"""Lion (not in PyTorch): trajectory against a float64 NumPy transcription of the paper's Algorithm 2."""
import numpy as np
import pytest
from optim_harness import Run, assert_resume_continues, problem

from shendu import optim


def reference(options: dict, kind: str, steps: int) -> list:
    """The paper's update on the same problem, gradients in closed form (float64)."""
    lr, (b1, b2), wd = options.get("lr", 1e-4), options.get("betas", (0.9, 0.99)), options.get("weight_decay", 0.0)
    sign = -1.0 if options.get("maximize", False) else 1.0
    x, y, (w, b) = problem(kind)
    w, b = w.astype(np.float32).astype(np.float64), b.astype(np.float32).astype(np.float64)
    m = [np.zeros_like(w), np.zeros_like(b)]
    out = []
    for _ in range(steps):
        z = x @ w + b
        dz = 2 * (z - y) / z.size if kind == "lsq" else (1 / (1 + np.exp(-z)) - y) / z.size
        grads = [sign * x.T @ dz, sign * dz.sum(0)]
        params = [w, b]
        for i, (p, g) in enumerate(zip(params, grads)):
            c = b1 * m[i] + (1 - b1) * g
            p *= 1 - lr * wd
            p -= lr * np.sign(c)
            m[i] = b2 * m[i] + (1 - b2) * g
        out.append([w.copy(), b.copy()])
    return out


@pytest.mark.parametrize("kind", ["lsq", "logistic"])
@pytest.mark.parametrize("options", [dict(lr=0.01), dict(lr=0.01, betas=(0.8, 0.9), weight_decay=0.5),
                                     dict(lr=0.01, maximize=True)], ids=["plain", "betas-wd", "maximize"])
def test_trajectory_matches_reference(options, kind):
    run = Run("shendu", optim.Lion, options, kind)
    for step, expected in enumerate(reference(options, kind, 12)):
        for got, want in zip(run.step(), expected):
            assert got.dtype == np.float32
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=f"step {step + 1}")


def test_defaults_and_resume():
    opt = Run("shendu", optim.Lion, {}).opt
    assert opt.defaults["lr"] == 1e-4 and opt.defaults["betas"] == (0.9, 0.99) and opt.defaults["weight_decay"] == 0
    assert_resume_continues(optim.Lion, dict(lr=0.01, weight_decay=0.1))
