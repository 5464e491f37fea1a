"""shendu.nn.init: statistics against the formulas, orthogonality, eye/dirac, gains, generators, errors."""
import math

import numpy as np
import pytest
import torch

import shendu as sd
from shendu import nn
from shendu.nn import init

SHAPE = (400, 250)  # 100k draws: means and stds within ~1% of the formulas
FAN_IN, FAN_OUT = 250, 400


def _p(*shape, dtype=sd.float32):
    return nn.Parameter(sd.zeros(*shape, dtype=dtype))


def _check_uniform(t, bound, mean=0.0):
    a = t._data
    assert a.min() >= mean - bound and a.max() <= mean + bound
    assert a.max() > mean + 0.99 * bound and a.min() < mean - 0.99 * bound
    np.testing.assert_allclose(a.std(), bound / math.sqrt(3), rtol=0.02)
    assert abs(a.mean() - mean) < 0.02 * bound


def _check_normal(t, std, mean=0.0):
    a = t._data
    np.testing.assert_allclose(a.std(), std, rtol=0.02)
    assert abs(a.mean() - mean) < 0.02 * std


def test_gains_match_pytorch():
    for name, param in [("linear", None), ("conv2d", None), ("sigmoid", None), ("tanh", None), ("relu", None),
                        ("leaky_relu", None), ("leaky_relu", 0.2), ("selu", None), ("conv_transpose1d", None)]:
        assert init.calculate_gain(name, param) == pytest.approx(torch.nn.init.calculate_gain(name, param))
    with pytest.raises(ValueError, match="unsupported nonlinearity 'swish'"):
        init.calculate_gain("swish")


def test_in_place_under_no_grad_returns_tensor_and_keeps_dtype():
    p = _p(*SHAPE)
    arr = p._data
    fns = [lambda t: init.uniform_(t), lambda t: init.normal_(t), lambda t: init.trunc_normal_(t),
           lambda t: init.constant_(t, 0.5), lambda t: init.ones_(t), lambda t: init.zeros_(t), init.eye_,
           init.orthogonal_, init.xavier_uniform_, init.xavier_normal_, init.kaiming_uniform_, init.kaiming_normal_,
           lambda t: init.sparse_(t, 0.1)]
    for fn in fns:
        assert fn(p) is p
        assert p._data is arr and p.dtype == np.float32 and p.requires_grad and p.grad_fn is None
    d = _p(3, 3, dtype=sd.float64)
    init.normal_(d)
    assert d.dtype == np.float64


def test_uniform_normal_constant():
    _check_uniform(init.uniform_(_p(*SHAPE), -0.5, 1.5), 1.0, mean=0.5)
    _check_normal(init.normal_(_p(*SHAPE), 2.0, 0.5), 0.5, mean=2.0)
    assert np.all(init.constant_(_p(2, 3), 0.7)._data == np.float32(0.7))
    assert np.all(init.ones_(_p(4))._data == 1) and not np.any(init.zeros_(sd.ones(4))._data)


def test_trunc_normal():
    t = init.trunc_normal_(_p(*SHAPE), mean=0.0, std=1.0, a=-2.0, b=2.0)
    assert t._data.min() >= -2 and t._data.max() <= 2
    np.testing.assert_allclose(t._data.std(), 0.8796, rtol=0.02)  # std of N(0,1) truncated to [-2, 2]
    t = init.trunc_normal_(_p(*SHAPE), mean=1.0, std=0.02, a=0.99, b=1.5)
    assert t._data.min() >= 0.99 and t._data.max() <= 1.5


def test_xavier():
    _check_uniform(init.xavier_uniform_(_p(*SHAPE)), math.sqrt(6 / (FAN_IN + FAN_OUT)))
    _check_uniform(init.xavier_uniform_(_p(*SHAPE), gain=2.0), 2 * math.sqrt(6 / (FAN_IN + FAN_OUT)))
    _check_normal(init.xavier_normal_(_p(*SHAPE), gain=init.calculate_gain("tanh")),
                  5 / 3 * math.sqrt(2 / (FAN_IN + FAN_OUT)))
    conv = _p(64, 32, 3, 3)  # fan_in = 32*9, fan_out = 64*9
    _check_normal(init.xavier_normal_(conv), math.sqrt(2 / (32 * 9 + 64 * 9)))


@pytest.mark.parametrize("mode,fan", [("fan_in", FAN_IN), ("fan_out", FAN_OUT)])
def test_kaiming(mode, fan):
    _check_uniform(init.kaiming_uniform_(_p(*SHAPE), mode=mode, nonlinearity="relu"), math.sqrt(6 / fan))
    _check_normal(init.kaiming_normal_(_p(*SHAPE), mode=mode, nonlinearity="relu"), math.sqrt(2 / fan))
    # PyTorch's defaults: a=0, nonlinearity='leaky_relu' -> gain sqrt(2)
    _check_normal(init.kaiming_normal_(_p(*SHAPE), mode=mode), math.sqrt(2 / fan))
    _check_uniform(init.kaiming_uniform_(_p(*SHAPE), a=math.sqrt(5), mode=mode), 1 / math.sqrt(fan))


def test_orthogonal():
    for shape in [(6, 4), (4, 6), (5, 5), (4, 2, 3)]:
        w = init.orthogonal_(_p(*shape, dtype=sd.float64), gain=2.0)._data.reshape(shape[0], -1)
        rows, cols = w.shape
        if rows >= cols:
            np.testing.assert_allclose(w.T @ w, 4 * np.eye(cols), atol=1e-10)
        else:
            np.testing.assert_allclose(w @ w.T, 4 * np.eye(rows), atol=1e-10)
    with pytest.raises(ValueError, match="2 or more dimensions"):
        init.orthogonal_(_p(3))


def test_eye_and_dirac():
    np.testing.assert_array_equal(init.eye_(_p(3, 5))._data, np.eye(3, 5))
    with pytest.raises(ValueError, match="2-dimensional"):
        init.eye_(_p(2, 2, 2))
    for shape, groups in [((4, 3, 3, 3), 1), ((6, 2, 3), 2), ((2, 2, 1, 3, 3), 1)]:
        ours = init.dirac_(_p(*shape), groups)._data
        ref = torch.nn.init.dirac_(torch.zeros(shape), groups).numpy()
        np.testing.assert_array_equal(ours, ref)


def test_sparse():
    t = init.sparse_(_p(100, 300), sparsity=0.25, std=0.5)
    zeros_per_col = (t._data == 0).sum(0)
    assert np.all(zeros_per_col == 25)
    _check_normal(sd.tensor(t._data[t._data != 0]), 0.5)


def test_generator_makes_draws_repeatable():
    g1, g2 = sd.Generator().manual_seed(7), sd.Generator().manual_seed(7)
    for fn in (init.uniform_, init.normal_, init.xavier_uniform_, init.kaiming_normal_, init.orthogonal_,
               init.trunc_normal_):
        a, b = fn(_p(5, 4), generator=g1), fn(_p(5, 4), generator=g2)
        np.testing.assert_array_equal(a._data, b._data)
    sd.manual_seed(3)
    a = init.normal_(_p(4, 4))._data.copy()
    sd.manual_seed(3)
    np.testing.assert_array_equal(init.normal_(_p(4, 4))._data, a)


def test_errors():
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init.xavier_uniform_(_p(5))
    with pytest.raises(ValueError, match="Mode 'fan_avg' not supported"):
        init.kaiming_uniform_(_p(3, 3), mode="fan_avg")
    assert init.kaiming_uniform_(_p(0, 3)).shape == (0, 3)  # empty: nothing to fill, no error
