"""Adadelta: trajectory parity with torch.optim.Adadelta, resuming."""
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
    dict(),
    dict(lr=0.5, rho=0.95, eps=1e-4),
    dict(weight_decay=0.1),
    dict(maximize=True),
    dict(lr=2.0, weight_decay=0.1, maximize=True),
]


@pytest.mark.parametrize("kind", PROBLEMS)
@pytest.mark.parametrize("options", CONFIGS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "defaults")
def test_trajectory_matches_torch(options, kind):
    assert_same_trajectory(optim.Adadelta, torch.optim.Adadelta, options, kind)


def test_defaults_are_pytorch():
    assert_defaults_are_pytorch("Adadelta")


def test_per_group_options():
    groups = [dict(lr=2.0, rho=0.5), dict(eps=1e-3)]
    assert_same_trajectory(optim.Adadelta, torch.optim.Adadelta, dict(), group_options=groups)


def test_state_dict_matches_torch():
    assert_state_dict_matches_torch("Adadelta", dict(lr=0.5))


def test_resume_from_state_dict():
    assert_resume_continues(optim.Adadelta, dict(weight_decay=0.1))
