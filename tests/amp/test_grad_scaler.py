"""GradScaler against torch.amp.GradScaler('cpu'): the same scales, skipped steps and parameters."""
import numpy as np
import pytest
import torch

import shendu as sd


def _trajectory(lib, poison_steps, steps=8, **kw):
    w0 = np.array([[0.5, -1.0], [2.0, 0.25]], dtype=np.float32)
    x = np.array([[1.0, 2.0], [-1.0, 0.5], [0.3, 0.3]], dtype=np.float32)
    w = lib.tensor(w0, requires_grad=True) if lib is sd else torch.tensor(w0, requires_grad=True)
    opt = lib.optim.SGD([w], lr=0.1)
    scaler = lib.amp.GradScaler("cpu", **kw)
    scales, weights = [], []
    for step in range(steps):
        opt.zero_grad()
        xs = lib.tensor(x) if lib is sd else torch.tensor(x)
        loss = ((xs @ w) ** 2).mean()
        if step in poison_steps:
            loss = loss * float("inf")
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        scales.append(scaler.get_scale())
        weights.append(w.detach().numpy().copy())
    return scales, np.stack(weights)


@pytest.mark.parametrize("kw", [{}, {"init_scale": 8.0, "growth_interval": 2}, {"enabled": False}])
def test_scales_and_skipped_steps_match_torch(kw):
    ours = _trajectory(sd, {1, 4}, **kw)
    ref = _trajectory(torch, {1, 4}, **kw)
    assert ours[0] == ref[0]
    np.testing.assert_allclose(ours[1], ref[1], rtol=1e-6, atol=1e-7)


def test_unscale_then_clip_and_state_dict_round_trip():
    w = sd.tensor([3.0, -4.0], requires_grad=True)
    opt = sd.optim.SGD([w], lr=1.0)
    scaler = sd.amp.GradScaler(init_scale=4.0, growth_interval=1)
    scaler.scale((w * w).sum()).backward()
    assert w.grad.tolist() == [24.0, -32.0]  # scaled by 4
    scaler.unscale_(opt)
    assert w.grad.tolist() == [6.0, -8.0]
    with pytest.raises(RuntimeError, match="unscale_\\(\\) has already been called"):
        scaler.unscale_(opt)
    sd.nn.utils.clip_grad_norm_([w], 1.0)
    scaler.step(opt)
    scaler.update()
    assert scaler.get_scale() == 8.0
    again = sd.amp.GradScaler()
    again.load_state_dict(scaler.state_dict())
    assert again.get_scale() == 8.0 and again.state_dict() == scaler.state_dict()


def test_update_without_a_step_is_a_clear_error():
    with pytest.raises(RuntimeError, match="no inf checks were recorded"):
        sd.amp.GradScaler().update()
