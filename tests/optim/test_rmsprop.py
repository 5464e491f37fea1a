"""RMSprop: trajectory parity with torch.optim.RMSprop (centered, momentum, weight decay, maximize), resuming."""
import pytest
import torch
from optim_harness import (
    PROBLEMS,
    assert_defaults_are_pytorch,
    assert_resume_continues,
    assert_same_trajectory,
    assert_state_dict_matches_torch,
)

from shendu import optim

CONFIGS = [
    dict(lr=0.01),
    dict(lr=0.01, alpha=0.9, eps=1e-6),
    dict(lr=0.01, centered=True),
    dict(lr=0.01, momentum=0.5),
    dict(lr=0.01, centered=True, momentum=0.5),
    dict(lr=0.01, weight_decay=0.1),
    dict(lr=0.01, maximize=True),
    dict(lr=0.01, centered=True, momentum=0.5, weight_decay=0.1, maximize=True),
]


@pytest.mark.parametrize("kind", PROBLEMS)
@pytest.mark.parametrize("options", CONFIGS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()))
def test_trajectory_matches_torch(options, kind):
    assert_same_trajectory(optim.RMSprop, torch.optim.RMSprop, options, kind)


def test_defaults_are_pytorch():
    assert_defaults_are_pytorch("RMSprop")


def test_per_group_options():
    groups = [dict(lr=0.02, centered=True), dict(momentum=0.9, alpha=0.8)]
    assert_same_trajectory(optim.RMSprop, torch.optim.RMSprop, dict(lr=0.01), group_options=groups)


@pytest.mark.parametrize("options", [dict(lr=0.01), dict(lr=0.01, centered=True, momentum=0.5)])
def test_state_dict_matches_torch(options):
    assert_state_dict_matches_torch("RMSprop", options)


def test_resume_from_state_dict():
    assert_resume_continues(optim.RMSprop, dict(lr=0.01, centered=True, momentum=0.5, weight_decay=0.1))
