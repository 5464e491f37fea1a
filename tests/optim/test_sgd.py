"""SGD: trajectory parity with torch.optim.SGD for every option combination, groups, resuming."""
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

from shendu import optim

CONFIGS = [
    dict(lr=0.05),
    dict(lr=0.05, momentum=0.9),
    dict(lr=0.05, momentum=0.9, dampening=0.5),
    dict(lr=0.05, momentum=0.9, nesterov=True),
    dict(lr=0.05, weight_decay=0.1),
    dict(lr=0.05, momentum=0.8, weight_decay=0.1, nesterov=True),
    dict(lr=0.05, maximize=True),
    dict(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.05, maximize=True),
    dict(lr=0.05, momentum=0.9, nesterov=True, maximize=True),
]


@pytest.mark.parametrize("kind", PROBLEMS)
@pytest.mark.parametrize("options", CONFIGS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()))
def test_trajectory_matches_torch(options, kind):
    assert_same_trajectory(optim.SGD, torch.optim.SGD, options, kind)


def test_defaults_are_pytorch():
    assert_defaults_are_pytorch("SGD")


def test_per_group_options():
    groups = [dict(lr=0.1, momentum=0.9, nesterov=True), dict(weight_decay=0.2)]
    assert_same_trajectory(optim.SGD, torch.optim.SGD, dict(lr=0.02), group_options=groups)


@pytest.mark.parametrize("options", [dict(lr=0.05), dict(lr=0.05, momentum=0.9)])
def test_state_dict_matches_torch(options):
    assert_state_dict_matches_torch("SGD", options)


@pytest.mark.parametrize("options", [dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.1)])
def test_resume_from_state_dict(options):
    assert_resume_continues(optim.SGD, options)


def test_nesterov_needs_momentum_and_no_dampening():
    p = Run("shendu", optim.SGD, {}).params
    with pytest.raises(ValueError, match="SGD: Nesterov momentum requires a momentum > 0 and zero dampening"):
        optim.SGD(p, lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.1, nesterov=True)
