"""Linear, Bilinear, Identity, Flatten, Unflatten: contract, PyTorch parity, gradcheck, init and errors."""
import math

import numpy as np
import pytest
import torch
from layer_harness import check_layer_grad, check_parity, run_layer_test

import shendu as sd
from shendu import nn


@pytest.mark.parametrize("bias", [True, False])
def test_linear_contract(bias):
    run_layer_test(nn.Linear, {"in_features": 4, "out_features": 3, "bias": bias}, input_shape=(5, 4),
                   expected_output_shape=(5, 3), expected_param_names=["weight", "bias"] if bias else ["weight"],
                   expected_num_params=15 if bias else 12)


@pytest.mark.parametrize("shape", [(5, 4), (2, 3, 4), (4,)], ids=["2d", "3d", "1d"])
def test_linear_parity(shape):
    check_parity(nn.Linear(4, 3), torch.nn.Linear(4, 3), shape)


def test_linear_no_bias_parity_and_gradcheck():
    check_parity(nn.Linear(4, 3, bias=False), torch.nn.Linear(4, 3, bias=False), (2, 4))
    check_layer_grad(nn.Linear(4, 3), (2, 3, 4))


def test_linear_uses_fused_op():
    y = nn.Linear(4, 3)(sd.randn(2, 4, requires_grad=True))
    assert type(y.grad_fn).__name__ == "Linear"


def test_linear_init_matches_pytorch_bounds():
    m = nn.Linear(400, 300)
    bound = 1 / math.sqrt(400)  # kaiming_uniform_(a=sqrt(5)) gives U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    w = m.weight._data
    assert w.dtype == np.float32 and np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
    np.testing.assert_allclose(w.std(), bound / math.sqrt(3), rtol=0.02)
    assert np.abs(m.bias._data).max() <= bound and m.bias._data.std() > 0.5 * bound / math.sqrt(3)


def test_linear_dtype_and_repr():
    m = nn.Linear(4, 3, dtype=sd.float64)
    assert m.weight.dtype == np.float64 and m.bias.dtype == np.float64
    assert repr(m) == repr(torch.nn.Linear(4, 3))
    assert repr(nn.Linear(2, 1, bias=False)) == "Linear(in_features=2, out_features=1, bias=False)"


def test_linear_wrong_features_names_the_layer():
    with pytest.raises(RuntimeError, match=r"Linear\(in_features=4, out_features=3.*expected input with 4 "
                                           r"features in the last dim, got shape \(2, 5\)"):
        nn.Linear(4, 3)(sd.randn(2, 5))


def test_bilinear():
    run_layer_test(nn.Bilinear, {"in1_features": 3, "in2_features": 2, "out_features": 4},
                   input_shape=[(5, 3), (5, 2)], expected_output_shape=(5, 4),
                   expected_param_names=["weight", "bias"], expected_num_params=4 * 3 * 2 + 4)
    check_parity(nn.Bilinear(3, 2, 4), torch.nn.Bilinear(3, 2, 4), [(5, 3), (5, 2)])
    check_parity(nn.Bilinear(3, 2, 4, bias=False), torch.nn.Bilinear(3, 2, 4, bias=False), [(2, 5, 3), (2, 5, 2)])
    check_layer_grad(nn.Bilinear(3, 2, 2), [(2, 3), (2, 2)])
    assert repr(nn.Bilinear(3, 2, 4)) == repr(torch.nn.Bilinear(3, 2, 4))
    m = nn.Bilinear(300, 2, 400)
    assert np.abs(m.weight._data).max() <= 1 / math.sqrt(300)
    with pytest.raises(RuntimeError, match="Bilinear"):
        m(sd.randn(2, 300), sd.randn(3, 2))


def test_identity_flatten_unflatten():
    run_layer_test(nn.Identity, {"ignored": 1}, input_shape=(2, 3), expected_output_shape=(2, 3),
                   expected_param_names=[])
    run_layer_test(nn.Flatten, {}, input_shape=(2, 3, 4, 5), expected_output_shape=(2, 60))
    run_layer_test(nn.Unflatten, {"dim": 1, "unflattened_size": (3, 4)}, input_shape=(2, 12),
                   expected_output_shape=(2, 3, 4))
    check_parity(nn.Flatten(0, 1), torch.nn.Flatten(0, 1), (2, 3, 4))
    check_parity(nn.Unflatten(-1, (2, 2)), torch.nn.Unflatten(-1, (2, 2)), (3, 4))
    for m, t in [(nn.Flatten(), torch.nn.Flatten()), (nn.Unflatten(1, (2, 3)), torch.nn.Unflatten(1, (2, 3))),
                 (nn.Identity(), torch.nn.Identity())]:
        assert repr(m) == repr(t)
    check_layer_grad(nn.Flatten(), (2, 2, 3), params=False)
