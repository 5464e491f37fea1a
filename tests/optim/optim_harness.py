"""Trajectory parity with ``torch.optim``: one small problem, the same weights and options in both frameworks.

The problem has two parameter tensors, W (6, 3) and b (3,): least squares ``mean((XW + b - Y)²)`` or a
multi-label logistic regression ``BCEWithLogits(XW + b, Y)``. Each framework computes its own gradients
with its own autograd; ``trajectories`` returns the parameters after every step.
"""
from __future__ import annotations

import numpy as np
import torch

import shendu as sd
import shendu.nn.functional as F
from shendu.io.serialization import dumps, loads
from shendu.nn import Parameter

PROBLEMS = ("lsq", "logistic")


def problem(kind: str, seed: int = 0):
    """(X, Y, [W0, b0]) as float64 arrays."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((32, 6))
    w = rng.standard_normal((6, 3)) * 0.5
    b = rng.standard_normal(3) * 0.1
    y = rng.standard_normal((32, 3)) if kind == "lsq" else (rng.random((32, 3)) < 0.5).astype(np.float64)
    return x, y, [w, b]


def sd_loss(kind: str, x, y, params):
    z = x @ params[0] + params[1]
    return ((z - y) ** 2).mean() if kind == "lsq" else F.binary_cross_entropy_with_logits(z, y)


def torch_loss(kind: str, x, y, params):
    z = x @ params[0] + params[1]
    if kind == "lsq":
        return ((z - y) ** 2).mean()
    return torch.nn.functional.binary_cross_entropy_with_logits(z, y)


def _groups(params, group_options):
    if group_options is None:
        return params
    return [{"params": [p], **opts} for p, opts in zip(params, group_options)]


class Run:
    """One optimizer on the problem in one framework; ``step()`` computes gradients and steps."""

    def __init__(self, framework: str, cls, options: dict, kind: str = "lsq", dtype=np.float32,
                 group_options=None, init=None):
        self.framework, self.kind = framework, kind
        x, y, weights = problem(kind)
        weights = weights if init is None else init
        if framework == "shendu":
            sd_dtype = sd.float32 if dtype == np.float32 else sd.float64
            self.x, self.y = sd.tensor(x, dtype=sd_dtype), sd.tensor(y, dtype=sd_dtype)
            self.params = [Parameter(sd.tensor(np.asarray(w), dtype=sd_dtype)) for w in weights]
            self.loss_fn = sd_loss
        else:
            t_dtype = torch.float32 if dtype == np.float32 else torch.float64
            self.x, self.y = torch.tensor(x, dtype=t_dtype), torch.tensor(y, dtype=t_dtype)
            self.params = [torch.nn.Parameter(torch.tensor(np.asarray(w), dtype=t_dtype)) for w in weights]
            self.loss_fn = torch_loss
        self.opt = cls(_groups(self.params, group_options), **options)

    def closure(self):
        self.opt.zero_grad()
        loss = self.loss_fn(self.kind, self.x, self.y, self.params)
        loss.backward()
        return loss

    def step(self) -> list[np.ndarray]:
        self.opt.step(self.closure)
        return self.values()

    def values(self) -> list[np.ndarray]:
        if self.framework == "shendu":
            return [p._data.copy() for p in self.params]
        return [p.detach().numpy().copy() for p in self.params]


def assert_same_trajectory(sd_cls, torch_cls, options: dict, kind: str = "lsq", steps: int = 12,
                           group_options=None, rtol: float = 1e-5, atol: float = 1e-6) -> None:
    """Both frameworks' parameters agree (float32 tolerance) after each of ``steps`` steps, with float32 kept."""
    ours = Run("shendu", sd_cls, options, kind, group_options=group_options)
    ref = Run("torch", torch_cls, options, kind, group_options=group_options)
    moved = False
    for step in range(steps):
        a, b = ours.step(), ref.step()
        for i, (pa, pb) in enumerate(zip(a, b)):
            assert pa.dtype == np.float32, f"parameter {i} became {pa.dtype}"
            np.testing.assert_allclose(pa, pb, rtol=rtol, atol=atol,
                                       err_msg=f"step {step + 1}, parameter {i}, options {options}")
        moved = moved or not np.allclose(a[0], problem(kind)[2][0].astype(np.float32))
    assert moved, "the optimizer did not move the parameters: the test would prove nothing"


def roundtrip(state_dict: dict) -> dict:
    """The state dict after a trip through shendu's file format (a copy sharing no arrays)."""
    return loads(dumps(state_dict))


def assert_resume_continues(cls, options: dict, kind: str = "lsq", before: int = 6, after: int = 6,
                            group_options=None) -> None:
    """state_dict taken mid-trajectory, loaded into a fresh optimizer over fresh parameters holding the
    same values, continues exactly as the uninterrupted optimizer does."""
    full = Run("shendu", cls, options, kind, group_options=group_options)
    for _ in range(before):
        full.step()
    saved = roundtrip(full.opt.state_dict())
    resumed = Run("shendu", cls, options, kind, group_options=group_options, init=full.values())
    resumed.opt.load_state_dict(saved)
    for step in range(after):
        a, b = full.step(), resumed.step()
        for pa, pb in zip(a, b):
            np.testing.assert_array_equal(pa, pb, err_msg=f"step {before + step + 1} after resuming")


def assert_state_dict_matches_torch(name: str, options: dict, steps: int = 5) -> None:
    """Same parameter indices, state keys and values, and group keys as PyTorch's state_dict."""
    import shendu.optim as sd_optim
    ours, ref = Run("shendu", getattr(sd_optim, name), options), Run("torch", getattr(torch.optim, name), options)
    for _ in range(steps):
        ours.step(), ref.step()
    a, b = ours.opt.state_dict(), ref.opt.state_dict()
    assert sorted(a["state"]) == sorted(b["state"])
    for i, t_state in b["state"].items():
        assert set(a["state"][i]) == set(t_state), f"state[{i}] keys"
        for key, value in t_state.items():
            np.testing.assert_allclose(np.asarray(a["state"][i][key]._data), value.numpy(), rtol=1e-5, atol=1e-5,
                                       err_msg=f"state[{i}][{key!r}]")
    assert [g["params"] for g in a["param_groups"]] == [g["params"] for g in b["param_groups"]]
    assert set(a["param_groups"][0]) == set(b["param_groups"][0]), "param group keys"


def assert_defaults_are_pytorch(name: str) -> None:
    import shendu.optim as sd_optim
    ours = getattr(sd_optim, name)([Parameter(sd.zeros(1))])
    ref = getattr(torch.optim, name)([torch.nn.Parameter(torch.zeros(1))])
    for key, value in ref.defaults.items():
        if key in ("foreach", "fused", "capturable", "differentiable"):
            continue
        assert ours.defaults[key] == value, f"{name}.{key}: {ours.defaults[key]} != PyTorch's {value}"
