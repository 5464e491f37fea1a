"""Rprop and ASGD: trajectory parity with torch.optim for every option, state layout, resuming."""
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
    ("Rprop", dict()),
    ("Rprop", dict(lr=0.05, etas=(0.3, 1.5))),
    ("Rprop", dict(lr=0.5, step_sizes=(1e-3, 0.2))),  # the bounds clamp
    ("Rprop", dict(lr=0.05, maximize=True)),
    ("ASGD", dict(lr=0.05)),
    ("ASGD", dict(lr=0.05, t0=3)),  # averaging starts at step 3
    ("ASGD", dict(lr=0.1, lambd=1e-2, alpha=0.5, t0=0, weight_decay=0.1)),
    ("ASGD", dict(lr=0.05, t0=5, maximize=True)),
]


def _id(config):
    name, options = config
    return name + ":" + ",".join(f"{k}={v}" for k, v in options.items())


@pytest.mark.parametrize("kind", PROBLEMS)
@pytest.mark.parametrize("config", CONFIGS, ids=_id)
def test_trajectory_matches_torch(config, kind):
    name, options = config
    assert_same_trajectory(getattr(optim, name), getattr(torch.optim, name), options, kind, steps=15)


@pytest.mark.parametrize("name", ["Rprop", "ASGD"])
def test_defaults_are_pytorch(name):
    assert_defaults_are_pytorch(name)


@pytest.mark.parametrize("name,options", [("Rprop", dict(lr=0.05)), ("ASGD", dict(lr=0.05, t0=2))])
def test_state_dict_matches_torch(name, options):
    assert_state_dict_matches_torch(name, options)


@pytest.mark.parametrize("name,options", [("Rprop", dict(lr=0.05)), ("ASGD", dict(lr=0.05, t0=3))])
def test_resume_from_state_dict(name, options):
    assert_resume_continues(getattr(optim, name), options)


def test_asgd_average_follows_the_iterates():
    """From t0 on, ax is the running mean of the iterates (mu = 1 / (t - t0))."""
    import numpy as np
    from optim_harness import Run
    run = Run("shendu", optim.ASGD, dict(lr=0.05, t0=0))
    iterates = [run.step()[0] for _ in range(8)]
    ax = run.opt.state[run.params[0]]["ax"]._data
    np.testing.assert_allclose(ax, np.mean(iterates[1:], axis=0), rtol=1e-5, atol=1e-6)


def test_invalid_options():
    import shendu as sd
    from shendu.nn import Parameter
    with pytest.raises(ValueError, match=r"Rprop: invalid eta values \(1.5, 1.2\)"):
        optim.Rprop([Parameter(sd.zeros(1))], etas=(1.5, 1.2))
    with pytest.raises(ValueError, match="ASGD: invalid weight_decay value -1"):
        optim.ASGD([Parameter(sd.zeros(1))], weight_decay=-1)
