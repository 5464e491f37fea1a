"""The Optimizer base: parameter groups, option validation, zero_grad, closures, state_dict layout."""
import re

import numpy as np
import pytest
import torch

import shendu as sd
from shendu import optim
from shendu.nn import Parameter

# (optimizer, options, message): each invalid option raises ValueError naming the optimizer and the value.
INVALID = [
    ("Adam", dict(lr=-0.1), "Adam: invalid learning rate -0.1 (expected lr >= 0)"),
    ("Adam", dict(betas=(1.0, 0.999)), "Adam: invalid beta parameter at index 0: 1.0 (expected 0 <= betas[0] < 1)"),
    ("Adam", dict(betas=(0.9, -0.1)), "Adam: invalid beta parameter at index 1: -0.1"),
    ("Adam", dict(eps=-1e-8), "Adam: invalid epsilon value -1e-08 (expected eps >= 0)"),
    ("Adam", dict(weight_decay=-1), "Adam: invalid weight_decay value -1"),
    ("AdamW", dict(lr=-1.0), "AdamW: invalid learning rate -1.0"),
    ("Adamax", dict(betas=(0.9, 1.5)), "Adamax: invalid beta parameter at index 1: 1.5"),
    ("NAdam", dict(momentum_decay=-1.0), "NAdam: invalid momentum_decay value -1.0"),
    ("SGD", dict(lr=-0.5), "SGD: invalid learning rate -0.5"),
    ("SGD", dict(momentum=-0.9), "SGD: invalid momentum value -0.9"),
    ("RMSprop", dict(alpha=-0.1), "RMSprop: invalid alpha value -0.1"),
    ("RMSprop", dict(eps=-1.0), "RMSprop: invalid epsilon value -1.0"),
    ("Adagrad", dict(lr_decay=-1.0), "Adagrad: invalid lr_decay value -1.0"),
    ("Adagrad", dict(initial_accumulator_value=-1.0), "Adagrad: invalid initial_accumulator_value -1.0"),
    ("Adadelta", dict(rho=1.5), "Adadelta: invalid rho value 1.5 (expected 0 <= rho <= 1)"),
    ("Lion", dict(betas=(0.9, 1.0)), "Lion: invalid beta parameter at index 1: 1.0"),
    ("LBFGS", dict(lr=-1.0), "LBFGS: invalid learning rate -1.0"),
    ("LBFGS", dict(line_search_fn="armijo"), "LBFGS: invalid line_search_fn 'armijo'"),
    ("NewtonCG", dict(damping=-1.0), "NewtonCG: invalid damping -1.0"),
]


def _params(*shapes):
    return [Parameter(sd.ones(*s)) for s in shapes]


@pytest.mark.parametrize("name,options,message", INVALID, ids=[f"{n}-{m}" for n, _, m in INVALID])
def test_invalid_options_raise(name, options, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        getattr(optim, name)(_params((2,)), **options)


def test_invalid_group_option_raises():
    p, q = _params((2,), (3,))
    opt = optim.Adam([p], lr=0.1)
    with pytest.raises(ValueError, match=re.escape("Adam: invalid learning rate -1")):
        opt.add_param_group({"params": [q], "lr": -1})


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "Adamax", "NAdam", "RAdam", "RMSprop", "Rprop", "Adagrad",
                                  "Adadelta", "ASGD", "Lion", "LBFGS", "NewtonCG"])
def test_empty_parameter_list_raises(name):
    with pytest.raises(ValueError, match=f"{name}: got an empty parameter list"):
        getattr(optim, name)([])


def test_integer_parameters_are_rejected():
    with pytest.raises(ValueError, match="Adam: can only optimize floating-point tensors.*int64"):
        optim.Adam([sd.tensor([1, 2, 3])])


def test_non_tensor_and_non_leaf_and_set_are_rejected():
    p = Parameter(sd.ones(2))
    with pytest.raises(TypeError, match="SGD: can only optimize Tensors, but parameter 0 is a ndarray"):
        optim.SGD([np.ones(2)], lr=0.1)
    with pytest.raises(ValueError, match="non-leaf"):
        optim.SGD([p * 2], lr=0.1)
    with pytest.raises(TypeError, match="not a set"):
        optim.SGD({p}, lr=0.1)
    with pytest.raises(TypeError, match="wrap it in a list"):
        optim.SGD(p, lr=0.1)


def test_parameter_in_two_groups_raises():
    p, q = _params((2,), (2,))
    with pytest.raises(ValueError, match="more than one parameter group"):
        optim.SGD([{"params": [p, q]}, {"params": [q]}], lr=0.1)


def test_groups_take_defaults_and_keep_overrides():
    p, q = _params((2,), (3,))
    opt = optim.SGD([{"params": [p]}, {"params": q, "lr": 0.5, "momentum": 0.9}], lr=0.1)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5]
    assert [g["momentum"] for g in opt.param_groups] == [0, 0.9]
    assert opt.param_groups[1]["params"] == [q] or opt.param_groups[1]["params"][0] is q
    r = Parameter(sd.ones(4))
    opt.add_param_group({"params": [r], "weight_decay": 0.1})
    assert opt.param_groups[2]["lr"] == 0.1 and opt.param_groups[2]["weight_decay"] == 0.1


def test_named_parameters_record_names():
    p, q = _params((2,), (3,))
    opt = optim.Adam([("w", p), ("b", q)], lr=0.1)
    assert opt.param_groups[0]["param_names"] == ["w", "b"]
    assert opt.param_groups[0]["params"][0] is p
    assert opt.state_dict()["param_groups"][0]["param_names"] == ["w", "b"]


@pytest.mark.parametrize("set_to_none", [True, False])
def test_zero_grad(set_to_none):
    p = Parameter(sd.ones(3))
    (p * p).sum().backward()
    opt = optim.SGD([p], lr=0.1)
    opt.zero_grad(set_to_none=set_to_none)
    if set_to_none:
        assert p.grad is None
    else:
        np.testing.assert_array_equal(p.grad._data, 0.0)


def test_step_returns_closure_loss_computed_with_grad_enabled():
    p = Parameter(sd.tensor([3.0]))
    opt = optim.SGD([p], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    with sd.no_grad():
        loss = opt.step(closure)
    assert float(loss) == 9.0
    np.testing.assert_allclose(p._data, [3.0 - 0.25 * 6.0])


def test_state_dict_is_a_snapshot_and_load_checks_groups():
    p, q = _params((2,), (3,))
    opt = optim.Adam([p, q], lr=0.1)
    p.grad, q.grad = sd.ones(2), sd.ones(3)
    opt.step()
    saved = opt.state_dict()
    opt.step()
    assert float(saved["state"][0]["step"]._data) == 1.0  # later steps don't change a taken snapshot
    other = optim.Adam([{"params": [p]}, {"params": [q]}], lr=0.1)
    with pytest.raises(ValueError, match="the state dict has 1 parameter groups, the optimizer has 2"):
        other.load_state_dict(saved)
    other = optim.Adam([p], lr=0.1)
    with pytest.raises(ValueError, match="group 0 has 1 parameters"):
        other.load_state_dict(saved)


def test_load_state_dict_restores_options_and_state():
    p = Parameter(sd.ones(2))
    opt = optim.Adam([p], lr=0.1, betas=(0.8, 0.9))
    p.grad = sd.ones(2)
    opt.step()
    saved = opt.state_dict()
    fresh = optim.Adam([p], lr=1e-3)
    fresh.load_state_dict(saved)
    assert fresh.param_groups[0]["lr"] == 0.1 and tuple(fresh.param_groups[0]["betas"]) == (0.8, 0.9)
    assert fresh.param_groups[0]["params"][0] is p
    np.testing.assert_array_equal(fresh.state[p]["exp_avg"]._data, opt.state[p]["exp_avg"]._data)
    assert fresh.state[p]["exp_avg"]._data is not opt.state[p]["exp_avg"]._data


def test_state_dict_saves_to_file(tmp_path):
    p = Parameter(sd.ones(2, 3))
    opt = optim.Adam([p], lr=0.1, amsgrad=True)
    p.grad = sd.full((2, 3), 0.5)
    opt.step()
    sd.save(opt.state_dict(), tmp_path / "opt.safetensors")
    fresh = optim.Adam([Parameter(sd.ones(2, 3))], lr=0.1, amsgrad=True)
    fresh.load_state_dict(sd.load(tmp_path / "opt.safetensors"))
    state = fresh.state[fresh.param_groups[0]["params"][0]]
    assert set(state) == {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"}
    np.testing.assert_allclose(state["exp_avg"]._data, 0.05, rtol=1e-6)


def test_torch_state_dict_layout_for_two_groups():
    """Indices run across groups in order, as in PyTorch."""
    ps = _params((2,), (3,), (4,))
    tps = [torch.nn.Parameter(torch.ones(n)) for n in (2, 3, 4)]
    ours = optim.SGD([{"params": ps[:2]}, {"params": ps[2:], "lr": 0.5}], lr=0.1, momentum=0.9)
    ref = torch.optim.SGD([{"params": tps[:2]}, {"params": tps[2:], "lr": 0.5}], lr=0.1, momentum=0.9)
    for p, tp in zip(ps, tps):
        p.grad, tp.grad = sd.ones(*p.shape), torch.ones(tp.shape)
    ours.step(), ref.step()
    a, b = ours.state_dict(), ref.state_dict()
    assert [g["params"] for g in a["param_groups"]] == [g["params"] for g in b["param_groups"]] == [[0, 1], [2]]
    assert sorted(a["state"]) == sorted(b["state"])


def test_repr_lists_groups():
    text = repr(optim.SGD(_params((2,)), lr=0.1, momentum=0.9))
    assert text.startswith("SGD (") and "Parameter Group 0" in text and "momentum: 0.9" in text


@pytest.mark.parametrize("name,options", [("Adam", dict(lr=0.05, amsgrad=True, weight_decay=0.1)),
                                          ("NAdam", dict(lr=0.05, decoupled_weight_decay=True, weight_decay=0.1)),
                                          ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True)),
                                          ("RMSprop", dict(lr=0.01, centered=True, momentum=0.5))])
def test_chunked_threaded_updates_match_torch(monkeypatch, name, options):
    """Tiny chunks and a zero threshold force the chunked, two-thread path of every step."""
    from optim_harness import assert_same_trajectory

    from shendu import threads
    from shendu.optim import _parallel
    monkeypatch.setattr(_parallel, "CHUNK", 5)
    monkeypatch.setattr(_parallel, "PARALLEL_MIN", 0)
    monkeypatch.setattr(threads, "_num_threads", 2)
    assert_same_trajectory(getattr(optim, name), getattr(torch.optim, name), options, steps=6)


def test_threads_give_bitwise_the_same_result(monkeypatch):
    """A parameter large enough for the default chunking: one thread and two give identical parameters;
    a non-contiguous (transposed) parameter is updated whole."""
    from shendu import threads
    rng = np.random.default_rng(0)
    init = [rng.standard_normal((300, 1000)).astype(np.float32), rng.standard_normal((700, 300)).astype(np.float32).T]
    grads = [rng.standard_normal(a.shape).astype(np.float32) for a in init]
    results = []
    for n_threads in (1, 2):
        monkeypatch.setattr(threads, "_num_threads", n_threads)
        params = [Parameter(sd.tensor(a.copy())) for a in init]
        params[1]._data = init[1].T.copy().T  # a transposed view of a copy: not C-contiguous
        opt = optim.Adam(params, lr=0.01)
        for _ in range(3):
            for p, g in zip(params, grads):
                p.grad = sd.tensor(g)
            opt.step()
        results.append([p._data.copy() for p in params])
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(results[0][0], init[0]) and not np.array_equal(results[0][1], init[1])
