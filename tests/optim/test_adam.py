"""Adam, AdamW, Adamax, NAdam, RAdam: trajectory parity with torch.optim for every option, state layout, resuming."""
import numpy as np
import pytest
import torch
from optim_harness import (
    PROBLEMS,
    Run,
    assert_defaults_are_pytorch,
    assert_resume_continues,
    assert_same_trajectory,
    assert_state_dict_matches_torch,
)

import shendu as sd
from shendu import optim
from shendu.nn import Parameter

CONFIGS = [
    ("Adam", dict(lr=0.05)),
    ("Adam", dict(lr=0.05, amsgrad=True)),
    ("Adam", dict(lr=0.05, weight_decay=0.1)),
    ("Adam", dict(lr=0.05, maximize=True)),
    ("Adam", dict(lr=0.05, betas=(0.8, 0.99), eps=1e-6, amsgrad=True, weight_decay=0.1, maximize=True)),
    ("Adam", dict(lr=0.05, weight_decay=0.1, decoupled_weight_decay=True)),
    ("AdamW", dict(lr=0.05)),
    ("AdamW", dict(lr=0.05, weight_decay=0.1, amsgrad=True)),
    ("AdamW", dict(lr=0.05, weight_decay=0.1, maximize=True)),
    ("Adamax", dict(lr=0.05)),
    ("Adamax", dict(lr=0.05, betas=(0.8, 0.99), weight_decay=0.1)),
    ("Adamax", dict(lr=0.05, maximize=True)),
    ("NAdam", dict(lr=0.05)),
    ("NAdam", dict(lr=0.05, momentum_decay=1e-2, weight_decay=0.1)),
    ("NAdam", dict(lr=0.05, weight_decay=0.1, decoupled_weight_decay=True)),
    ("NAdam", dict(lr=0.05, betas=(0.8, 0.99), maximize=True)),
    # RAdam runs momentum SGD for its first 5 steps (rho_t <= 5 with beta2 = 0.999), then rectified Adam
    ("RAdam", dict(lr=0.05)),
    ("RAdam", dict(lr=0.05, betas=(0.8, 0.9), eps=1e-6)),
    ("RAdam", dict(lr=0.05, weight_decay=0.1)),
    ("RAdam", dict(lr=0.05, weight_decay=0.1, decoupled_weight_decay=True)),
    ("RAdam", dict(lr=0.05, weight_decay=0.1, maximize=True)),
]
NAMES = ("Adam", "AdamW", "Adamax", "NAdam", "RAdam")


def _id(config):
    name, options = config
    return name + ":" + ",".join(f"{k}={v}" for k, v in options.items())


@pytest.mark.parametrize("kind", PROBLEMS)
@pytest.mark.parametrize("config", CONFIGS, ids=_id)
def test_trajectory_matches_torch(config, kind):
    name, options = config
    assert_same_trajectory(getattr(optim, name), getattr(torch.optim, name), options, kind)


@pytest.mark.parametrize("name", NAMES)
def test_defaults_are_pytorch(name):
    assert_defaults_are_pytorch(name)


@pytest.mark.parametrize("name", NAMES)
def test_per_group_options(name):
    groups = [dict(lr=0.1, betas=(0.8, 0.9)), dict(weight_decay=0.2)]
    assert_same_trajectory(getattr(optim, name), getattr(torch.optim, name), dict(lr=0.02), group_options=groups)


@pytest.mark.parametrize("name,options", [("Adam", dict(lr=0.05, amsgrad=True)), ("AdamW", dict(lr=0.05)),
                                          ("Adamax", dict(lr=0.05)), ("NAdam", dict(lr=0.05, weight_decay=0.1)),
                                          ("RAdam", dict(lr=0.05))])
def test_state_dict_matches_torch(name, options):
    assert_state_dict_matches_torch(name, options)


@pytest.mark.parametrize("name,options", [("Adam", dict(lr=0.05, amsgrad=True, weight_decay=0.1)),
                                          ("AdamW", dict(lr=0.05)), ("Adamax", dict(lr=0.05)),
                                          ("NAdam", dict(lr=0.05)), ("RAdam", dict(lr=0.05))])
def test_resume_from_state_dict(name, options):
    assert_resume_continues(getattr(optim, name), options, group_options=[dict(lr=0.1), dict()])


def test_float64_parameters_stay_float64():
    p = Parameter(sd.tensor(np.ones((3, 2)), dtype=sd.float64))
    opt = optim.Adam([p], lr=0.1)
    p.grad = sd.tensor(np.full((3, 2), 0.5), dtype=sd.float64)
    opt.step()
    assert p.dtype == np.float64 and opt.state[p]["exp_avg"].dtype == np.float64
    np.testing.assert_allclose(p._data, 1.0 - 0.1 * 0.5 / (0.5 + 1e-8), rtol=1e-14)  # first step: lr * g / (|g| + eps)


def test_state_is_lazy_and_skips_parameters_without_grad():
    a, b = Parameter(sd.ones(2)), Parameter(sd.ones(3))
    opt = optim.Adam([a, b], lr=0.1)
    a.grad = sd.ones(2)
    opt.step()
    assert set(opt.state) == {a}
    np.testing.assert_array_equal(b._data, 1.0)
    assert float(opt.state[a]["step"]._data) == 1.0 and opt.state[a]["step"].dtype == np.float32


@pytest.mark.parametrize("name", NAMES)
def test_implementation_switches_are_accepted_and_change_nothing(name):
    """foreach / capturable select PyTorch kernels; shendu has one implementation, so they change nothing."""
    switches = dict(foreach=True, capturable=True)
    ours = {"lr": 0.05, **switches}
    run = Run("shendu", getattr(optim, name), ours)
    ref = Run("torch", getattr(torch.optim, name), dict(lr=0.05))
    for step in range(10):
        for a, b in zip(run.step(), ref.step()):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=f"step {step + 1}")
    assert run.opt.defaults["foreach"] is True


@pytest.mark.parametrize("name", NAMES)
def test_differentiable_is_refused(name):
    with pytest.raises(NotImplementedError, match=f"{name}: differentiable=True is not supported"):
        getattr(optim, name)([Parameter(sd.zeros(1))], differentiable=True)
