"""LBFGS: the same iterates as torch.optim.LBFGS and the same minimum, on Rosenbrock and a quadratic."""
import numpy as np
import pytest
import torch

import shendu as sd
from shendu import optim
from shendu.nn import Parameter


def rosenbrock(p):
    return (1 - p[0]) ** 2 + 100 * (p[1] - p[0] ** 2) ** 2


def _quadratic_problem(n: int = 8):
    rng = np.random.default_rng(1)
    q = rng.standard_normal((n, n))
    a = q @ q.T + n * np.eye(n)  # SPD, condition number ~ a few
    b = rng.standard_normal(n)
    return a, b


def _pair(fn_sd, fn_torch, x0, dtype, **options):
    """Our LBFGS and PyTorch's on the same function; each returns a closure-driven step."""
    p = Parameter(sd.tensor(x0, dtype=dtype))
    tp = torch.nn.Parameter(torch.tensor(x0, dtype=torch.float64 if dtype == sd.float64 else torch.float32))
    ours, ref = optim.LBFGS([p], **options), torch.optim.LBFGS([tp], **options)

    def closure():
        ours.zero_grad()
        loss = fn_sd(p)
        loss.backward()
        return loss

    def torch_closure():
        ref.zero_grad()
        loss = fn_torch(tp)
        loss.backward()
        return loss
    return p, tp, lambda: ours.step(closure), lambda: ref.step(torch_closure), ours, ref


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_rosenbrock_first_step_matches_torch(line_search_fn):
    """One step() is max_iter iterations: in float64 the iterates match PyTorch's."""
    p, tp, step, torch_step, ours, ref = _pair(rosenbrock, rosenbrock, [-1.5, 2.0], sd.float64,
                                               line_search_fn=line_search_fn, history_size=10)
    loss, torch_loss = step(), torch_step()
    assert float(loss) == pytest.approx(float(torch_loss.detach()))
    np.testing.assert_allclose(p._data, tp.detach().numpy(), rtol=1e-8, atol=1e-10)
    assert ours.state[p]["func_evals"] == ref.state[tp]["func_evals"]
    assert ours.state[p]["n_iter"] == ref.state[tp]["n_iter"]


@pytest.mark.parametrize("dtype", [sd.float64, sd.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_rosenbrock_reaches_torchs_minimum(line_search_fn, dtype):
    tight = dict(tolerance_grad=1e-12, tolerance_change=1e-15) if dtype == sd.float64 else {}
    p, tp, step, torch_step, _, _ = _pair(rosenbrock, rosenbrock, [-1.5, 2.0], dtype,
                                          line_search_fn=line_search_fn, history_size=10, **tight)
    for _ in range(8):
        step(), torch_step()
    tol = 1e-7 if dtype == sd.float64 else 1e-3
    np.testing.assert_allclose(p._data, [1.0, 1.0], atol=tol)
    np.testing.assert_allclose(p._data, tp.detach().numpy(), atol=tol)
    assert p.dtype == dtype


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_quadratic_minimum_matches_solve_and_torch(line_search_fn):
    a, b = _quadratic_problem()
    sa, sb = sd.tensor(a, dtype=sd.float64), sd.tensor(b, dtype=sd.float64)
    ta, tb = torch.tensor(a), torch.tensor(b)
    p, tp, step, torch_step, _, _ = _pair(lambda x: 0.5 * (x @ (sa @ x)) - sb @ x,
                                          lambda x: 0.5 * (x @ (ta @ x)) - tb @ x, np.zeros(len(b)), sd.float64,
                                          line_search_fn=line_search_fn, tolerance_grad=1e-12, tolerance_change=0.0)
    for _ in range(3):
        step(), torch_step()
    np.testing.assert_allclose(p._data, np.linalg.solve(a, b), rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(p._data, tp.detach().numpy(), rtol=1e-7, atol=1e-9)


def test_two_parameter_tensors_and_state_dict_resume():
    """A multi-tensor problem (flattened internally); resuming from state_dict continues identically."""
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((20, 4)), rng.standard_normal(20)

    def make():
        w, c = Parameter(sd.zeros(4, dtype=sd.float64)), Parameter(sd.zeros(1, dtype=sd.float64))
        opt = optim.LBFGS([w, c], max_iter=3, line_search_fn="strong_wolfe", tolerance_change=1e-15)

        def closure():
            opt.zero_grad()
            loss = ((sd.tensor(x, dtype=sd.float64) @ w + c - sd.tensor(y, dtype=sd.float64)) ** 2).mean()
            loss.backward()
            return loss
        return w, c, opt, closure

    w, c, opt, closure = make()
    opt.step(closure)
    saved = sd.io.serialization.loads(sd.io.serialization.dumps(opt.state_dict()))
    w2, c2, opt2, closure2 = make()
    w2._data[...], c2._data[...] = w._data, c._data
    opt2.load_state_dict(saved)
    for _ in range(2):
        opt.step(closure), opt2.step(closure2)
    np.testing.assert_array_equal(w._data, w2._data)
    design = np.c_[x, np.ones(20)]
    expected = np.linalg.lstsq(design, y, rcond=None)[0]
    for _ in range(5):
        opt.step(closure)
    np.testing.assert_allclose(np.r_[w._data, c._data], expected, atol=1e-8)


def test_needs_a_closure_and_one_group():
    p, q = Parameter(sd.ones(2)), Parameter(sd.ones(2))
    with pytest.raises(RuntimeError, match="closure"):
        optim.LBFGS([p]).step(None)
    with pytest.raises(ValueError, match="parameter groups"):
        optim.LBFGS([{"params": [p]}, {"params": [q]}])
    assert optim.LBFGS([p], max_iter=8).defaults["max_eval"] == 10
