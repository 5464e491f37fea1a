"""NewtonCG: Hessian-vector products from double backward; one step solves a quadratic; logistic regression."""
import numpy as np
import pytest
from scipy.optimize import minimize

import shendu as sd
import shendu.nn.functional as F
from shendu import optim
from shendu.nn import Parameter


def _spd(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    q = rng.standard_normal((n, n))
    return q @ q.T + 0.5 * np.eye(n), rng.standard_normal(n)


@pytest.mark.parametrize("dtype,tol", [(sd.float64, 1e-9), (sd.float32, 1e-3)], ids=["float64", "float32"])
def test_quadratic_in_one_step(dtype, tol):
    """f = ½ xᵀAx - bᵀx + ½ ||Y - C||² over two tensors: one Newton step lands on the minimum."""
    a, b = _spd(6)
    c = np.arange(4.0).reshape(2, 2)
    x, y = Parameter(sd.zeros(6, dtype=dtype)), Parameter(sd.ones(2, 2, dtype=dtype))
    sa, sb, sc = (sd.tensor(v, dtype=dtype) for v in (a, b, c))
    opt = optim.NewtonCG([x, y])
    loss = opt.step(lambda: 0.5 * (x @ (sa @ x)) - sb @ x + 0.5 * ((y - sc) ** 2).sum())
    assert float(loss) == pytest.approx(3.0, rel=1e-6)  # at the start: ½||1 - C||² = ½(1 + 0 + 1 + 4)
    np.testing.assert_allclose(x._data, np.linalg.solve(a, b), rtol=tol, atol=tol)
    np.testing.assert_allclose(y._data, c, atol=tol)
    assert x.dtype == dtype
    assert opt.state[x]["cg_iters"] <= 10  # n = 10 parameters: CG is exact in at most n iterations


def test_logistic_regression_minimum():
    """L2-regularised logistic regression: NewtonCG reaches scipy's minimum in a few steps."""
    rng = np.random.default_rng(0)
    n, d, lam = 80, 3, 0.1
    x = rng.standard_normal((n, d))
    y = (x @ np.array([1.5, -2.0, 0.5]) + 0.3 + rng.standard_normal(n) > 0).astype(np.float64)

    def objective(theta):
        w, c = theta[:d], theta[d]
        z = x @ w + c
        return np.mean(np.logaddexp(0, z) - y * z) + 0.5 * lam * w @ w

    expected = minimize(objective, np.zeros(d + 1), method="BFGS", options={"gtol": 1e-12}).x
    w, c = Parameter(sd.zeros(d, dtype=sd.float64)), Parameter(sd.zeros(1, dtype=sd.float64))
    sx, sy = sd.tensor(x, dtype=sd.float64), sd.tensor(y, dtype=sd.float64)

    def closure():
        return F.binary_cross_entropy_with_logits(sx @ w + c, sy) + 0.5 * lam * (w * w).sum()

    opt = optim.NewtonCG([w, c])
    losses = [float(opt.step(closure)) for _ in range(8)]
    assert all(later <= earlier + 1e-12 for earlier, later in zip(losses, losses[1:]))
    np.testing.assert_allclose(np.r_[w._data, c._data], expected, atol=1e-6)
    np.testing.assert_allclose(np.r_[w.grad._data, c.grad._data], 0.0, atol=1e-6)  # the last step's gradient


def test_backtracking_and_damping_on_a_nonconvex_start():
    """Rosenbrock from (-1.2, 1), where the Hessian is indefinite on the way: damping + backtracking converge."""
    p = Parameter(sd.tensor([-1.2, 1.0], dtype=sd.float64))

    def closure():
        return (1 - p[0]) ** 2 + 100 * (p[1] - p[0] ** 2) ** 2

    opt = optim.NewtonCG([p], damping=1e-3, line_search_fn="backtracking")
    for _ in range(60):
        opt.step(closure)
    np.testing.assert_allclose(p._data, [1.0, 1.0], atol=1e-5)


def test_constant_gradient_and_bad_closure():
    p = Parameter(sd.ones(3, dtype=sd.float64))
    opt = optim.NewtonCG([p], damping=2.0)
    opt.step(lambda: (p * sd.tensor([1.0, 2.0, 3.0], dtype=sd.float64)).sum())  # linear: H = 0, step = -g / damping
    np.testing.assert_allclose(p._data, [0.5, 0.0, -0.5])
    with pytest.raises(RuntimeError, match="closure"):
        opt.step(None)
    with pytest.raises(RuntimeError, match="scalar Tensor that requires grad"):
        opt.step(lambda: 1.0)
