"""Pooling layers: contract, PyTorch parity (values, input gradients, returned indices), repr."""
import numpy as np
import pytest
import torch
from layer_harness import check_layer_grad, check_parity, run_layer_test

import shendu as sd
from shendu import nn

LAYERS = [
    ("MaxPool2d", dict(kernel_size=2), (2, 3, 6, 7)),
    ("MaxPool2d", dict(kernel_size=3, stride=2, padding=1, ceil_mode=True), (2, 3, 7, 6)),
    ("MaxPool2d", dict(kernel_size=(2, 3), stride=1, dilation=(2, 1)), (2, 3, 6, 7)),
    ("MaxPool1d", dict(kernel_size=3, stride=2), (2, 3, 9)),
    ("AvgPool2d", dict(kernel_size=2), (2, 3, 6, 7)),
    ("AvgPool2d", dict(kernel_size=3, stride=2, padding=1, count_include_pad=False, ceil_mode=True), (2, 3, 7, 6)),
    ("AvgPool1d", dict(kernel_size=3, stride=2, padding=1), (2, 3, 9)),
    ("AdaptiveAvgPool2d", dict(output_size=(3, 2)), (2, 3, 7, 6)),
    ("AdaptiveAvgPool2d", dict(output_size=1), (2, 3, 7, 6)),
    ("AdaptiveAvgPool1d", dict(output_size=4), (2, 3, 9)),
    ("AdaptiveMaxPool2d", dict(output_size=(3, 4)), (2, 3, 7, 6)),
    ("AdaptiveMaxPool1d", dict(output_size=4), (2, 3, 9)),
]
IDS = [f"{n}{i}" for i, (n, _, _) in enumerate(LAYERS)]


@pytest.mark.parametrize("name,kw,shape", LAYERS, ids=IDS)
def test_parity_and_repr(name, kw, shape):
    ours, theirs = getattr(nn, name)(**kw), getattr(torch.nn, name)(**kw)
    check_parity(ours, theirs, shape, atol=1e-6)
    assert repr(ours) == repr(theirs)


@pytest.mark.parametrize("name,kw,shape", LAYERS[:1] + LAYERS[4:5] + LAYERS[7:8], ids=["max", "avg", "adaptive"])
def test_contract_and_gradcheck(name, kw, shape):
    out_shape = tuple(getattr(torch.nn, name)(**kw)(torch.zeros(shape)).shape)
    layer = run_layer_test(getattr(nn, name), kw, input_shape=shape, expected_output_shape=out_shape,
                           expected_num_params=0)
    check_layer_grad(layer, shape)


@pytest.mark.parametrize("name,kw", [("MaxPool2d", dict(kernel_size=3, stride=2, padding=1, return_indices=True)),
                                     ("MaxPool1d", dict(kernel_size=2, return_indices=True)),
                                     ("AdaptiveMaxPool2d", dict(output_size=(4, 3), return_indices=True))])
def test_return_indices_match_torch(name, kw):
    shape = (2, 3, 8) if name.endswith("1d") else (2, 3, 7, 8)
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    (y, idx), (yt, it) = getattr(nn, name)(**kw)(sd.tensor(x)), getattr(torch.nn, name)(**kw)(torch.tensor(x))
    np.testing.assert_array_equal(y._data, yt.numpy())
    assert idx.dtype == np.int64
    np.testing.assert_array_equal(idx._data, it.numpy())


def test_global_average_pooling_head():
    x = sd.randn(4, 8, 5, 5)
    out = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())(x)
    np.testing.assert_allclose(out._data, x._data.mean((2, 3)), rtol=1e-5, atol=1e-6)
