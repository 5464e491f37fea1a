"""Adagrad: trajectory parity with torch.optim.Adagrad (lr decay, initial accumulator, weight decay), resuming."""
import numpy as np
import pytest
import torch
from optim_harness import (
    PROBLEMS,
    assert_defaults_are_pytorch,
    assert_resume_continues,
    assert_same_trajectory,
    assert_state_dict_matches_torch,
)

import shendu as sd
from shendu import optim
from shendu.nn import Parameter

CONFIGS = [
    dict(lr=0.1),
    dict(lr=0.1, lr_decay=0.05),
    dict(lr=0.1, initial_accumulator_value=0.5),
    dict(lr=0.1, weight_decay=0.1),
    dict(lr=0.1, eps=1e-3),
    dict(lr=0.1, maximize=True),
    dict(lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1, weight_decay=0.1, maximize=True),
]


@pytest.mark.parametrize("kind", PROBLEMS)
@pytest.mark.parametrize("options", CONFIGS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()))
def test_trajectory_matches_torch(options, kind):
    assert_same_trajectory(optim.Adagrad, torch.optim.Adagrad, options, kind)


def test_defaults_are_pytorch():
    assert_defaults_are_pytorch("Adagrad")


def test_per_group_options():
    groups = [dict(lr=0.2, lr_decay=0.1), dict(weight_decay=0.1, eps=1e-3)]
    assert_same_trajectory(optim.Adagrad, torch.optim.Adagrad, dict(lr=0.1), group_options=groups)


def test_group_initial_accumulator_value_is_used():
    """PyTorch fills every accumulator with the constructor's value; shendu honours a group's own."""
    a, b = Parameter(sd.zeros(2)), Parameter(sd.zeros(2))
    opt = optim.Adagrad([{"params": [a]}, {"params": [b], "initial_accumulator_value": 3.0}], lr=1.0)
    a.grad, b.grad = sd.tensor([1.0, 2.0]), sd.tensor([1.0, 2.0])
    opt.step()
    np.testing.assert_allclose(opt.state[b]["sum"]._data, [4.0, 7.0])
    np.testing.assert_allclose(b._data, [-1 / 2, -2 / np.sqrt(7)], rtol=1e-6)
    np.testing.assert_allclose(a._data, [-1.0, -1.0], rtol=1e-6)


def test_state_dict_matches_torch():
    assert_state_dict_matches_torch("Adagrad", dict(lr=0.1, initial_accumulator_value=0.1))


def test_resume_from_state_dict():
    assert_resume_continues(optim.Adagrad, dict(lr=0.1, lr_decay=0.05, weight_decay=0.1))
