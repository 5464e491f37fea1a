"""clip_grad_norm_ / clip_grad_value_: clipped gradients and returned norm equal PyTorch's."""
import math

import numpy as np
import pytest
import torch

import shendu as sd
from shendu.nn import Parameter
from shendu.nn.utils import clip_grad_norm_, clip_grad_value_


def _pairs(scale: float = 1.0, shapes=((4, 3), (3,), (2, 2, 2))):
    rng = np.random.default_rng(0)
    grads = [(rng.standard_normal(s) * scale).astype(np.float32) for s in shapes]
    ours, ref = [], []
    for g in grads:
        p, tp = Parameter(sd.zeros(*g.shape)), torch.nn.Parameter(torch.zeros(g.shape))
        p.grad, tp.grad = sd.tensor(g.copy()), torch.tensor(g.copy())
        ours.append(p), ref.append(tp)
    return ours, ref


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf, 0.5])
@pytest.mark.parametrize("max_norm", [0.5, 1e3], ids=["clips", "no-op"])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    ours, ref = _pairs()
    total = clip_grad_norm_(ours, max_norm, norm_type=norm_type)
    ref_total = torch.nn.utils.clip_grad_norm_(ref, max_norm, norm_type=norm_type)
    assert total.dtype == np.float32 and total.shape == ()
    np.testing.assert_allclose(float(total._data), ref_total.item(), rtol=1e-5)
    for p, tp in zip(ours, ref):
        np.testing.assert_allclose(p.grad._data, tp.grad.numpy(), rtol=1e-5, atol=1e-7)
        assert p.grad.dtype == np.float32


def test_clip_grad_norm_single_tensor_and_missing_grads():
    p, q = Parameter(sd.zeros(2)), Parameter(sd.zeros(2))
    p.grad = sd.tensor([3.0, 4.0])
    total = clip_grad_norm_(p, 1.0)
    assert float(total._data) == pytest.approx(5.0)
    np.testing.assert_allclose(p.grad._data, [3 / (5 + 1e-6), 4 / (5 + 1e-6)], rtol=1e-6)
    assert float(clip_grad_norm_([q], 1.0)._data) == 0.0  # no gradients: nothing to clip
    assert q.grad is None


def test_clip_grad_norm_nonfinite():
    ours, _ = _pairs()
    ours[0].grad._data[0, 0] = np.inf
    with pytest.raises(RuntimeError, match="non-finite"):
        clip_grad_norm_(ours, 1.0, error_if_nonfinite=True)
    assert math.isinf(float(clip_grad_norm_(ours, 1.0)._data))


@pytest.mark.parametrize("clip_value", [0.3, 10.0])
def test_clip_grad_value_matches_torch(clip_value):
    ours, ref = _pairs(scale=2.0)
    assert clip_grad_value_(ours, clip_value) is None
    torch.nn.utils.clip_grad_value_(ref, clip_value)
    for p, tp in zip(ours, ref):
        np.testing.assert_array_equal(p.grad._data, tp.grad.numpy())
