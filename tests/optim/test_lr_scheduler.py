"""LR schedulers: the learning-rate (and momentum) sequence over 30 steps equals torch.optim.lr_scheduler's."""
import math
import warnings

import numpy as np
import pytest
import torch

import shendu as sd
from shendu import optim
from shendu.io.serialization import dumps, loads
from shendu.nn import Parameter
from shendu.optim import lr_scheduler

STEPS = 30


def _optimizer(framework: str, kind: str = "sgd"):
    """Two param groups (lr 0.1 and 0.05), SGD with momentum or Adam, in one framework."""
    if framework == "shendu":
        mod, params = optim, [Parameter(sd.zeros(2)), Parameter(sd.zeros(3))]
    else:
        mod, params = torch.optim, [torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(3))]
    groups = [{"params": [params[0]]}, {"params": [params[1]], "lr": 0.05}]
    return mod.SGD(groups, lr=0.1, momentum=0.9) if kind == "sgd" else mod.Adam(groups, lr=0.1)


def _sequence(framework: str, make, kind: str = "sgd", metrics=None, steps: int = STEPS) -> list:
    """[(last lrs, group lrs, momenta)] after construction and after each step."""
    opt = _optimizer(framework, kind)
    mod = lr_scheduler if framework == "shendu" else torch.optim.lr_scheduler
    scheds = make(mod, opt)
    scheds = scheds if isinstance(scheds, list) else [scheds]

    def record():
        momenta = [g["momentum"] if "momentum" in g else g["betas"][0] for g in opt.param_groups]
        return [float(v) for v in scheds[-1].get_last_lr()], [g["lr"] for g in opt.param_groups], momenta

    out = [record()]
    for i in range(steps):
        opt.step()
        for s in scheds:
            s.step(metrics[i]) if metrics is not None else s.step()
        out.append(record())
    return out


SPECS = {
    "LambdaLR": lambda m, o: m.LambdaLR(o, lambda e: 0.95 ** e),
    "LambdaLR-per-group": lambda m, o: m.LambdaLR(o, [lambda e: 1 / (e + 1), lambda e: 0.9 ** e]),
    "MultiplicativeLR": lambda m, o: m.MultiplicativeLR(o, lambda e: 0.9),
    "StepLR": lambda m, o: m.StepLR(o, step_size=7, gamma=0.5),
    "MultiStepLR": lambda m, o: m.MultiStepLR(o, milestones=[3, 10, 10, 22], gamma=0.3),
    "ConstantLR": lambda m, o: m.ConstantLR(o, factor=0.25, total_iters=6),
    "ExponentialLR": lambda m, o: m.ExponentialLR(o, gamma=0.9),
    "LinearLR": lambda m, o: m.LinearLR(o, start_factor=0.1, end_factor=0.8, total_iters=12),
    "PolynomialLR": lambda m, o: m.PolynomialLR(o, total_iters=20, power=2.0),
    "CosineAnnealingLR": lambda m, o: m.CosineAnnealingLR(o, T_max=10, eta_min=1e-3),  # past T_max: climbs back
    "CosineAnnealingWarmRestarts": lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=4, T_mult=2, eta_min=1e-3),
    "CosineAnnealingWarmRestarts-T_mult1": lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=7),
    "SequentialLR-warmup-cosine": lambda m, o: m.SequentialLR(
        o, [m.LinearLR(o, start_factor=0.1, total_iters=5), m.CosineAnnealingLR(o, T_max=25)], milestones=[5]),
    "SequentialLR-three": lambda m, o: m.SequentialLR(
        o, [m.ConstantLR(o, factor=0.5, total_iters=4), m.ExponentialLR(o, gamma=0.9), m.StepLR(o, 5)],
        milestones=[4, 15]),
    "chained-on-one-optimizer": lambda m, o: [m.StepLR(o, step_size=5, gamma=0.5), m.ExponentialLR(o, gamma=0.95)],
    "ChainedScheduler": lambda m, o: m.ChainedScheduler([m.LinearLR(o, 0.2, total_iters=8),
                                                         m.MultiStepLR(o, [6, 12], gamma=0.5)]),
    "OneCycleLR-cos": lambda m, o: m.OneCycleLR(o, max_lr=[1.0, 0.5], total_steps=STEPS),
    "OneCycleLR-linear-three-phase": lambda m, o: m.OneCycleLR(o, max_lr=0.8, epochs=3, steps_per_epoch=10,
                                                               anneal_strategy="linear", three_phase=True,
                                                               pct_start=0.25, div_factor=10.0),
    "OneCycleLR-no-momentum": lambda m, o: m.OneCycleLR(o, max_lr=0.3, total_steps=STEPS, cycle_momentum=False),
    "CyclicLR-triangular": lambda m, o: m.CyclicLR(o, base_lr=0.01, max_lr=[0.1, 0.2], step_size_up=4),
    "CyclicLR-triangular2-asymmetric": lambda m, o: m.CyclicLR(o, base_lr=[0.01, 0.02], max_lr=0.1, step_size_up=3,
                                                               step_size_down=5, mode="triangular2"),
    "CyclicLR-exp_range": lambda m, o: m.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=5, mode="exp_range",
                                                  gamma=0.97, base_momentum=0.7, max_momentum=0.95),
    "CyclicLR-scale_fn-iterations": lambda m, o: m.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=2,
                                                            scale_fn=lambda x: 1 / (1 + 0.1 * x),
                                                            scale_mode="iterations", cycle_momentum=False),
}


# every scheduler with SGD (momentum); the momentum-cycling ones also with Adam (beta1)
CASES = [(name, "sgd") for name in SPECS]
CASES += [(name, "adam") for name in SPECS if name.startswith(("OneCycle", "Cyclic"))]


@pytest.mark.parametrize("name,kind", CASES, ids=[f"{n}-{k}" for n, k in CASES])
def test_sequence_matches_torch(name, kind):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = _sequence("torch", SPECS[name], kind)
    got = _sequence("shendu", SPECS[name], kind)
    for step, (a, b) in enumerate(zip(got, expected)):
        np.testing.assert_allclose(a[0], b[0], rtol=1e-12, atol=1e-15, err_msg=f"get_last_lr at step {step}")
        np.testing.assert_allclose(a[1], b[1], rtol=1e-12, atol=1e-15, err_msg=f"group lr at step {step}")
        np.testing.assert_allclose(a[2], b[2], rtol=1e-12, atol=1e-15, err_msg=f"momentum at step {step}")


PLATEAU = {
    "min-rel": dict(),
    "min-abs-cooldown": dict(patience=2, threshold=0.05, threshold_mode="abs", cooldown=3, factor=0.5),
    "max-rel-min_lr": dict(mode="max", patience=1, factor=0.3, min_lr=[0.01, 0.02]),
    "max-abs": dict(mode="max", patience=0, threshold=0.01, threshold_mode="abs", min_lr=1e-3),
}


@pytest.mark.parametrize("name", list(PLATEAU))
def test_reduce_on_plateau_matches_torch(name):
    rng = np.random.default_rng(3)
    metrics = list(1.0 / np.arange(1, STEPS + 1) + 0.3 + 0.02 * rng.standard_normal(STEPS))
    metrics[10:20] = [0.5] * 10  # a plateau
    make = lambda m, o: m.ReduceLROnPlateau(o, **PLATEAU[name])  # noqa: E731
    expected, got = _sequence("torch", make, metrics=metrics), _sequence("shendu", make, metrics=metrics)
    assert [g[1] for g in got] == [e[1] for e in expected]
    assert [g[0] for g in got] == [e[0] for e in expected]
    assert len({tuple(g[1]) for g in got}) > 1, "the metric sequence never reduced the lr"


@pytest.mark.parametrize("name", ["StepLR", "CosineAnnealingLR", "SequentialLR-warmup-cosine", "OneCycleLR-cos",
                                  "CosineAnnealingWarmRestarts", "ChainedScheduler", "LambdaLR",
                                  "CyclicLR-triangular2-asymmetric"])
def test_resume_from_state_dict(name):
    """Optimizer and scheduler state dicts taken at step 12 (through the file format) continue the sequence."""
    full = _sequence("shendu", SPECS[name])
    opt = _optimizer("shendu")
    sched = SPECS[name](lr_scheduler, opt)
    for _ in range(12):
        opt.step(), sched.step()
    saved_opt, saved_sched = loads(dumps(opt.state_dict())), loads(dumps(sched.state_dict()))
    opt2 = _optimizer("shendu")
    sched2 = SPECS[name](lr_scheduler, opt2)
    opt2.load_state_dict(saved_opt)
    sched2.load_state_dict(saved_sched)
    for step in range(12, STEPS):
        opt2.step(), sched2.step()
        assert [g["lr"] for g in opt2.param_groups] == pytest.approx(full[step + 1][1], rel=1e-12)


def test_plateau_state_dict_round_trip():
    opt = _optimizer("shendu")
    sched = lr_scheduler.ReduceLROnPlateau(opt, patience=1)
    for m in (1.0, 1.0, 1.0):
        sched.step(m)
    opt2 = _optimizer("shendu")
    sched2 = lr_scheduler.ReduceLROnPlateau(opt2, patience=1)
    opt2.load_state_dict(opt.state_dict())
    sched2.load_state_dict(loads(dumps(sched.state_dict())))
    assert sched2.best == 1.0 and sched2.num_bad_epochs == sched.num_bad_epochs
    sched.step(1.0), sched2.step(1.0)
    assert sched.get_last_lr() == sched2.get_last_lr()


@pytest.mark.parametrize("min_lr_ratio", [0.0, 0.1])
def test_warmup_cosine(min_lr_ratio):
    opt = _optimizer("shendu")
    sched = lr_scheduler.warmup_cosine(opt, warmup_steps=5, total_steps=25, min_lr_ratio=min_lr_ratio)
    assert isinstance(sched, lr_scheduler.LambdaLR)
    lrs = [opt.param_groups[0]["lr"]]
    for _ in range(STEPS):
        opt.step(), sched.step()
        lrs.append(opt.param_groups[0]["lr"])
    expected = [0.1 * t / 5 for t in range(5)]
    expected += [0.1 * (min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(1.0, (t - 5) / 20))))
                 for t in range(5, STEPS + 1)]
    np.testing.assert_allclose(lrs, expected, rtol=1e-12, atol=1e-15)
    assert lrs[5] == pytest.approx(0.1) and lrs[25] == pytest.approx(0.1 * min_lr_ratio, abs=1e-15)
    assert opt.param_groups[1]["lr"] == pytest.approx(0.05 * lrs[-1] / 0.1)


def test_invalid_arguments():
    opt = _optimizer("shendu")
    with pytest.raises(TypeError, match="expected a shendu.optim.Optimizer"):
        lr_scheduler.StepLR(object(), 3)
    with pytest.raises(ValueError, match="factor must be < 1.0"):
        lr_scheduler.ReduceLROnPlateau(opt, factor=1.5)
    with pytest.raises(ValueError, match="total_steps"):
        lr_scheduler.OneCycleLR(opt, max_lr=1.0)
    with pytest.raises(ValueError, match="cycle_momentum"):
        lr_scheduler.OneCycleLR(optim.Adagrad([Parameter(sd.zeros(1))]), max_lr=1.0, total_steps=10)
    with pytest.raises(KeyError, match="initial_lr"):
        lr_scheduler.StepLR(_optimizer("shendu"), 3, last_epoch=4)
    with pytest.raises(ValueError, match="milestones"):
        lr_scheduler.SequentialLR(opt, [lr_scheduler.StepLR(opt, 3)], milestones=[2])
    sched = lr_scheduler.OneCycleLR(_optimizer("shendu"), max_lr=1.0, total_steps=2)
    sched.step(), sched.step()
    with pytest.raises(ValueError, match="tried to step 3 times"):
        sched.step()


# step(epoch): the closed forms, with epochs out of order, repeated, fractional, and mixed with plain step()
# (None), against PyTorch's (whose deprecation warning is filtered; ours warns the same way).
EPOCHS = [3, 0, 7, 7, 2.5, None, None, 12, 30, 11.75, None, 5, 1, 19.5, None]
CLOSED_FORMS = {
    "StepLR": lambda m, o: m.StepLR(o, step_size=4, gamma=0.5),
    "MultiStepLR": lambda m, o: m.MultiStepLR(o, milestones=[2, 6, 6, 13], gamma=0.3),
    "ExponentialLR": lambda m, o: m.ExponentialLR(o, gamma=0.9),
    "CosineAnnealingLR": lambda m, o: m.CosineAnnealingLR(o, T_max=9, eta_min=1e-3),
    "CosineAnnealingWarmRestarts-T_mult2": lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2, eta_min=1e-3),
    "CosineAnnealingWarmRestarts-T_mult3": lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=2, T_mult=3),
    "CosineAnnealingWarmRestarts-T_mult1": lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=5),
    "ConstantLR": lambda m, o: m.ConstantLR(o, factor=0.25, total_iters=6),
    "LinearLR": lambda m, o: m.LinearLR(o, start_factor=0.1, end_factor=0.8, total_iters=12),
    "PolynomialLR": lambda m, o: m.PolynomialLR(o, total_iters=20, power=2.0),
}


def _epoch_sequence(framework: str, make, epochs) -> list:
    opt = _optimizer(framework)
    mod = lr_scheduler if framework == "shendu" else torch.optim.lr_scheduler
    sched = make(mod, opt)
    out = [(list(sched.get_last_lr()), [g["lr"] for g in opt.param_groups], sched.last_epoch)]
    for epoch in epochs:
        opt.step()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sched.step() if epoch is None else sched.step(epoch)
        out.append((list(sched.get_last_lr()), [g["lr"] for g in opt.param_groups], sched.last_epoch))
    return out


@pytest.mark.parametrize("name", list(CLOSED_FORMS))
def test_step_with_epoch_matches_torch(name):
    expected = _epoch_sequence("torch", CLOSED_FORMS[name], EPOCHS)
    got = _epoch_sequence("shendu", CLOSED_FORMS[name], EPOCHS)
    for i, (a, b) in enumerate(zip(got, expected)):
        step = "construction" if i == 0 else f"step({EPOCHS[i - 1]})"
        np.testing.assert_allclose(a[0], b[0], rtol=1e-12, atol=1e-15, err_msg=f"get_last_lr after {step}")
        np.testing.assert_allclose(a[1], b[1], rtol=1e-12, atol=1e-15, err_msg=f"group lr after {step}")
        assert a[2] == b[2], f"last_epoch after {step}"
    distinct = 2 if name == "ConstantLR" else 4  # ConstantLR has only its two values
    assert len({tuple(g[1]) for g in got}) >= distinct, "the lr hardly changed: the test would prove little"


def test_warm_restarts_fractional_epochs_within_cycles():
    """Fractional epochs across T_mult=2 cycles (T_i = 2, 4, 8 ...): the lr at epoch e is the cosine of the
    position of e within its cycle, as in PyTorch (and as the SGDR formula says)."""
    epochs = [0.5 * k for k in range(0, 30)]
    expected = _epoch_sequence("torch", lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=2, T_mult=2), epochs)
    got = _epoch_sequence("shendu", lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=2, T_mult=2), epochs)
    np.testing.assert_allclose([g[1] for g in got], [e[1] for e in expected], rtol=1e-12, atol=1e-15)
    start, length = 0, 2
    for e, (_, lrs, _) in zip(epochs, got[1:]):
        while e >= start + length:
            start, length = start + length, length * 2
        assert lrs[0] == pytest.approx(0.1 * (1 + math.cos(math.pi * (e - start) / length)) / 2, rel=1e-12, abs=1e-15)


def test_step_with_epoch_warns_as_pytorch():
    sched = lr_scheduler.StepLR(_optimizer("shendu"), step_size=2)
    with pytest.warns(UserWarning, match="deprecated"):
        sched.step(3)


def test_modules_import_first_in_a_fresh_interpreter():
    """Every scheduler module imports on its own (no module imports back into the package)."""
    import subprocess
    import sys
    modules = ["_base", "lambda_lr", "step", "cosine", "cyclic", "plateau", "composite"]
    for name in modules:
        code = f"import shendu.optim.lr_scheduler.{name} as m; print(m.__name__)"
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, f"{name}: {result.stderr[-2000:]}"


def test_cyclic_lr_invalid_arguments():
    opt = _optimizer("shendu")
    with pytest.raises(ValueError, match="CyclicLR: mode must be"):
        lr_scheduler.CyclicLR(opt, base_lr=0.01, max_lr=0.1, mode="sawtooth")
    with pytest.raises(ValueError, match="max_lr must have one value per param group"):
        lr_scheduler.CyclicLR(opt, base_lr=0.01, max_lr=[0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="cycle_momentum"):
        lr_scheduler.CyclicLR(optim.Adagrad([Parameter(sd.zeros(1))]), base_lr=0.01, max_lr=0.1)
