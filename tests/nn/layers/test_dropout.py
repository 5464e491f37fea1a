"""Dropout and channel dropout: train/eval, drop rate, scaling, gradients, errors."""
import numpy as np
import pytest
import torch
from layer_harness import check_parity, run_layer_test

import shendu as sd
from shendu import nn


@pytest.mark.parametrize("cls,shape", [(nn.Dropout, (4, 5)), (nn.Dropout1d, (4, 5, 3)),
                                       (nn.Dropout2d, (2, 4, 3, 3)), (nn.Dropout3d, (2, 4, 2, 2, 2))])
def test_contract_and_eval_parity(cls, shape):
    run_layer_test(cls, {"p": 0.5}, input_shape=shape, expected_output_shape=shape, train_differs=True)
    check_parity(cls(0.3), getattr(torch.nn, cls.__name__)(0.3), shape)  # eval mode: the identity
    assert repr(cls(0.3)) == repr(getattr(torch.nn, cls.__name__)(0.3))


@pytest.mark.parametrize("p", [0.2, 0.5, 0.9])
def test_dropout_rate_and_scaling(p):
    x = sd.ones(200, 500)
    y = nn.Dropout(p)(x)._data
    kept = y != 0
    assert abs(1 - kept.mean() - p) < 0.01
    np.testing.assert_allclose(y[kept], 1 / (1 - p), rtol=1e-6)
    assert y.dtype == np.float32


def test_dropout_gradient_is_the_mask():
    x = sd.randn(30, 40, requires_grad=True)
    y = nn.Dropout(0.4)(x)
    g = np.random.default_rng(0).standard_normal(y.shape).astype(np.float32)
    y.backward(sd.from_numpy(g.copy()))
    np.testing.assert_allclose(x.grad._data, g * (y._data / x._data), rtol=1e-5, atol=1e-6)


def test_dropout_gradcheck_with_a_fixed_mask():
    m = nn.Dropout(0.5)
    m2 = nn.Dropout2d(0.5)

    def fn(x):
        sd.manual_seed(3)  # the same mask at every evaluation
        return m2(m(x))

    x = sd.randn(2, 3, 2, 2, dtype=sd.float64, requires_grad=True)
    assert sd.gradcheck(fn, [x])


def test_eval_is_identity_and_edge_probabilities():
    x = sd.randn(3, 4)
    m = nn.Dropout(0.5).eval()
    assert m(x) is x
    np.testing.assert_array_equal(nn.Dropout(0.0)(x)._data, x._data)
    assert not np.any(nn.Dropout(1.0)(x)._data)
    assert not np.any(nn.Dropout2d(1.0)(sd.randn(2, 3, 2, 2))._data)


def test_seeded_masks_repeat():
    x = sd.ones(8, 8)
    sd.manual_seed(5)
    a = nn.Dropout()(x)._data
    sd.manual_seed(5)
    np.testing.assert_array_equal(nn.Dropout()(x)._data, a)


@pytest.mark.parametrize("cls,shape,lead", [(nn.Dropout2d, (40, 50, 3, 3), 2), (nn.Dropout2d, (40, 50, 6), 2),
                                            (nn.Dropout1d, (40, 50, 6), 2), (nn.Dropout1d, (500, 6), 1),
                                            (nn.Dropout3d, (40, 50, 2, 2, 2), 2)])
def test_channel_dropout_zeroes_whole_channels(cls, shape, lead):
    """``lead`` dims (batch, channel) get one draw each; the rest of each channel shares it."""
    p = 0.3
    y = cls(p)(sd.ones(*shape))._data
    per_channel = y.reshape(shape[:lead] + (-1,))
    assert np.all(per_channel == per_channel[..., :1])
    kept = per_channel[..., 0] != 0
    assert abs(1 - kept.mean() - p) < 0.05
    np.testing.assert_allclose(per_channel[kept], 1 / (1 - p), rtol=1e-6)


def test_bad_probability_and_rank():
    for cls in (nn.Dropout, nn.Dropout2d):
        with pytest.raises(ValueError, match="between 0 and 1, but got 1.5"):
            cls(1.5)
    with pytest.raises(RuntimeError, match=r"Dropout2d: expected a 3-D or 4-D input, got shape \(2, 3\)"):
        nn.Dropout2d()(sd.randn(2, 3))
    with pytest.raises(RuntimeError, match="Dropout1d"):
        nn.Dropout1d()(sd.randn(2, 3, 4, 5))
