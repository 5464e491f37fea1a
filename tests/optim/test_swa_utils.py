"""Weight averaging: ExponentialMovingAverage against hand-computed values, AveragedModel against torch's."""
import numpy as np
import pytest
import torch

import shendu as sd
from shendu import nn
from shendu.io.serialization import dumps, loads
from shendu.nn import Parameter
from shendu.optim.swa_utils import AveragedModel, ExponentialMovingAverage, get_ema_multi_avg_fn


def test_ema_fixed_decay_by_hand():
    p = Parameter(sd.tensor([0.0, 10.0]))
    ema = ExponentialMovingAverage([p], decay=0.9, use_num_updates=False)
    for value in ([1.0, 10.0], [2.0, 20.0]):
        p._data[...] = value
        ema.update()
    # s1 = 0.9 * [0, 10] + 0.1 * [1, 10] = [0.1, 10];  s2 = 0.9 * s1 + 0.1 * [2, 20] = [0.29, 11]
    np.testing.assert_allclose(ema.shadow_params[0]._data, [0.29, 11.0], rtol=1e-6)
    assert ema.shadow_params[0].dtype == np.float32


def test_ema_decay_warms_up_with_the_update_count():
    p = Parameter(sd.tensor([0.0]))
    ema = ExponentialMovingAverage([p], decay=0.99)
    expected = 0.0
    for n, value in enumerate([4.0, 8.0, 2.0], start=1):
        p._data[...] = value
        ema.update()
        d = min(0.99, (1 + n) / (10 + n))  # 2/11, 3/12, 4/13
        expected = d * expected + (1 - d) * value
        np.testing.assert_allclose(ema.shadow_params[0]._data, [expected], rtol=1e-6)
    assert ema.num_updates == 3


def test_average_parameters_swaps_in_and_restores():
    w, b = Parameter(sd.ones(2, 2)), Parameter(sd.zeros(2))
    model_params = [w, b]
    ema = ExponentialMovingAverage(model_params, decay=0.5, use_num_updates=False)
    w._data[...] = 3.0
    b._data[...] = 4.0
    ema.update()  # shadows: w 2.0, b 2.0
    with ema.average_parameters():
        np.testing.assert_allclose(w._data, 2.0)
        np.testing.assert_allclose(b._data, 2.0)
    np.testing.assert_allclose(w._data, 3.0)
    np.testing.assert_allclose(b._data, 4.0)
    ema.store()
    ema.copy_to()
    np.testing.assert_allclose(w._data, 2.0)
    ema.restore()
    np.testing.assert_allclose(w._data, 3.0)


def test_ema_with_explicit_parameters_module_and_state_dict():
    model = nn.Linear(3, 2)
    ema = ExponentialMovingAverage(model, decay=0.8, use_num_updates=False)
    before = [p._data.copy() for p in model.parameters()]
    for p in model.parameters():
        p._data += 1.0
    ema.update(model.parameters())
    for s, b in zip(ema.shadow_params, before):
        np.testing.assert_allclose(s._data, b + 0.2, rtol=1e-6)
    saved = loads(dumps(ema.state_dict()))
    other = ExponentialMovingAverage(nn.Linear(3, 2), decay=0.1)
    other.load_state_dict(saved)
    assert other.decay == 0.8 and other.num_updates is None
    for a, b in zip(other.shadow_params, ema.shadow_params):
        np.testing.assert_array_equal(a._data, b._data)
    with pytest.raises(ValueError, match="shape"):
        ema.update([Parameter(sd.ones(5)), Parameter(sd.ones(2))])
    with pytest.raises(ValueError, match="decay must be in"):
        ExponentialMovingAverage(model, decay=1.5)
    with pytest.raises(RuntimeError, match="store"):
        ExponentialMovingAverage(model).restore()


def _torch_copy(model):
    ref = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    with torch.no_grad():
        for p, q in zip(model.parameters(), ref.parameters()):
            q.copy_(torch.from_numpy(p._data.copy()))
    return ref


@pytest.mark.parametrize("mode", ["swa", "ema"])
def test_averaged_model_matches_torch(mode):
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    ref_model = _torch_copy(model)
    if mode == "swa":
        avg, ref_avg = AveragedModel(model), torch.optim.swa_utils.AveragedModel(ref_model)
    else:
        avg = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(0.9))
        ref_avg = torch.optim.swa_utils.AveragedModel(ref_model,
                                                      multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(0.9))
    rng = np.random.default_rng(0)
    for _ in range(4):
        avg.update_parameters(model)
        ref_avg.update_parameters(ref_model)
        for p, q in zip(model.parameters(), ref_model.parameters()):
            delta = rng.standard_normal(p.shape).astype(np.float32)
            p._data += delta
            with torch.no_grad():
                q += torch.from_numpy(delta)
    for a, b in zip(avg.module.parameters(), ref_avg.module.parameters()):
        np.testing.assert_allclose(a._data, b.detach().numpy(), rtol=1e-5, atol=1e-6)
    assert int(avg.n_averaged._data) == 4
    x = sd.randn(5, 3)
    avg.eval()
    np.testing.assert_allclose(avg(x)._data, avg.module(x)._data)
