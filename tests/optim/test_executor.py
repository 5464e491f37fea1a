"""The generic update executor (shendu.optim._parallel): every optimizer's traced, chunked, threaded update
gives bitwise the result of its formula run as written on whole arrays, whatever the chunking."""
import math

import numpy as np
import pytest

import shendu as sd
from shendu import optim, threads
from shendu.nn import Parameter
from shendu.optim import _parallel

# Every elementwise optimizer with options that take each branch of its formula.
CONFIGS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, maximize=True)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01, weight_decay=0.1, initial_accumulator_value=0.1)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, centered=True, momentum=0.5, weight_decay=0.1, maximize=True)),
    ("Adadelta", dict(lr=1.0, weight_decay=0.1)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, amsgrad=True, weight_decay=0.1, maximize=True)),
    ("AdamW", dict(lr=0.01, weight_decay=0.1)),
    ("Adamax", dict(lr=0.01, weight_decay=0.1)),
    ("NAdam", dict(lr=0.01, decoupled_weight_decay=True, weight_decay=0.1)),
    ("RAdam", dict(lr=0.01, weight_decay=0.1)),
    ("Lion", dict(lr=0.01, weight_decay=0.1, maximize=True)),
    ("Rprop", dict(lr=0.01, step_sizes=(1e-3, 0.05), maximize=True)),
    ("ASGD", dict(lr=0.01, t0=4, weight_decay=0.1)),
]
SHAPES = [(37, 29), (101,), (3, 4, 5), ()]  # odd sizes: chunks of 7 leave ragged tails; a 0-d parameter


def _run(name, options, steps=12):
    """Parameters after ``steps`` steps with fixed random gradients (different each step)."""
    rng = np.random.default_rng(0)
    params = [Parameter(sd.tensor(rng.standard_normal(s).astype(np.float32))) for s in SHAPES]
    opt = getattr(optim, name)(params, **options)
    for _ in range(steps):
        for p in params:
            p.grad = sd.tensor(rng.standard_normal(p.shape).astype(np.float32))
        opt.step()
    return [p._data.copy() for p in params], opt


def _as_written(monkeypatch):
    """Make run_updates run each formula as written on whole arrays (the CuPy path) for NumPy too."""
    def run(update, items):
        for item in items:
            _parallel._apply_as_written(update, item)
    monkeypatch.setattr("shendu.optim.optimizer.run_updates", run)


def _config_id(c):
    return c[0] + ":" + ",".join(f"{k}={v}" for k, v in c[1].items())


@pytest.mark.parametrize("name,options", CONFIGS, ids=[_config_id(c) for c in CONFIGS])
def test_tiny_chunks_on_two_threads_are_bitwise_the_formula(monkeypatch, name, options):
    with monkeypatch.context() as m:
        _as_written(m)
        expected, _ = _run(name, options)
    monkeypatch.setattr(_parallel, "CHUNK", 7)
    monkeypatch.setattr(_parallel, "PARALLEL_MIN", 0)
    monkeypatch.setattr(threads, "_num_threads", 2)
    got, opt = _run(name, options)
    for i, (a, b) in enumerate(zip(got, expected)):
        assert a.dtype == np.float32
        np.testing.assert_array_equal(a, b, err_msg=f"parameter {i} ({SHAPES[i]})")
    assert not np.allclose(got[0], _run(name, options, steps=0)[0][0]), "the optimizer did not move"
    for state in opt.state.values():  # the buffers stay float32 and keep their identity
        for key, value in state.items():
            if hasattr(value, "dtype") and key != "step" and value.shape:
                assert value.dtype == np.float32, key


@pytest.mark.parametrize("chunk", [1, 5, 64, 1 << 17])
def test_chunk_size_never_changes_the_result(monkeypatch, chunk):
    monkeypatch.setattr(_parallel, "PARALLEL_MIN", 0)
    monkeypatch.setattr(threads, "_num_threads", 2)
    results = []
    for size in (chunk, 3):
        monkeypatch.setattr(_parallel, "CHUNK", size)
        results.append(_run("Adam", dict(lr=0.01, amsgrad=True, weight_decay=0.1), steps=5)[0])
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def test_state_buffers_are_updated_in_place():
    p = Parameter(sd.ones(4))
    opt = optim.Adam([p], lr=0.1)
    p.grad = sd.full((4,), 0.5)
    opt.step()
    m, data = opt.state[p]["exp_avg"], p._data
    p.grad = sd.full((4,), -0.5)
    opt.step()
    assert opt.state[p]["exp_avg"] is m and p._data is data
    np.testing.assert_allclose(m._data, 0.9 * 0.05 - 0.05, rtol=1e-6)


def test_gradient_is_never_written():
    p = Parameter(sd.ones(5))
    g = np.arange(5, dtype=np.float32)
    p.grad = sd.tensor(g.copy())
    opt = optim.SGD([p], lr=0.1, momentum=0.9, weight_decay=0.1, maximize=True)
    opt.step(), opt.step()
    np.testing.assert_array_equal(p.grad._data, g)


def test_a_formula_may_not_branch_on_a_number():
    def bad(p, g, state, *, lr):
        return p - lr * g if lr > 0.5 else p

    with pytest.raises(TypeError, match="only known when the update runs"):
        _parallel.run_updates(bad, [(np.ones(3, np.float32), np.ones(3, np.float32), {}, {"lr": 1.0})])


def test_a_formula_may_test_a_number_setting_against_zero():
    def decay(p, g, state, *, lr, weight_decay):
        g = g + weight_decay * p if weight_decay != 0 else g
        return p - lr * g

    for wd in (0.0, 0.5):
        p = np.ones(3, np.float32)
        _parallel.run_updates(decay, [(p, np.full(3, 2.0, np.float32), {}, {"lr": 0.25, "weight_decay": wd})])
        np.testing.assert_allclose(p, 1.0 - 0.25 * (2.0 + wd))


def test_settings_arithmetic_runs_in_python_floats():
    """Scalars derived from settings (sqrt, products) are computed per parameter, in double precision."""
    def update(p, g, state, *, a, b):
        return p - np.sqrt(a) * b * g

    p = np.ones(2, np.float32)
    _parallel.run_updates(update, [(p, np.ones(2, np.float32), {}, {"a": 2.0, "b": 0.1})])
    np.testing.assert_array_equal(p, np.float32(1.0) - np.float32(math.sqrt(2.0) * 0.1))
    assert p.dtype == np.float32
