"""Residual: y = x + f(x) and y = P(x) + f(x): contract, parity with the same sum in PyTorch, gradcheck."""
import pytest
import torch
from layer_harness import check_layer_grad, check_parity, run_layer_test

import shendu as sd
from shendu import nn


class TorchResidual(torch.nn.Module):
    def __init__(self, fn, projection=None):
        super().__init__()
        self.fn, self.projection = fn, projection

    def forward(self, x):
        return (x if self.projection is None else self.projection(x)) + self.fn(x)


def _block():
    return nn.Residual(nn.Sequential(nn.Linear(4, 4), nn.Tanh()))


def _projected():
    return nn.Residual(nn.Sequential(nn.Linear(4, 3), nn.ReLU()), projection=nn.Linear(4, 3, bias=False))


def test_identity_shortcut():
    run_layer_test(_block, input_shape=(5, 4), expected_output_shape=(5, 4),
                   expected_param_names=["fn.0.weight", "fn.0.bias"], expected_num_params=20)
    check_parity(_block(), TorchResidual(torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Tanh())), (5, 4))
    check_layer_grad(_block(), (3, 4))
    m = _block()
    x = sd.randn(2, 4)
    assert sd.allclose(m(x), x + m.fn(x))


def test_projection_shortcut():
    run_layer_test(_projected, input_shape=(5, 4), expected_output_shape=(5, 3),
                   expected_param_names=["fn.0.weight", "fn.0.bias", "projection.weight"], expected_num_params=27)
    t = TorchResidual(torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU()), torch.nn.Linear(4, 3, bias=False))
    check_parity(_projected(), t, (2, 5, 4))
    check_layer_grad(_projected(), (3, 4))


def test_shape_mismatch_names_the_fix():
    with pytest.raises(RuntimeError, match="Residual: the branch gives shape \\(2, 3\\) but the shortcut gives "
                                           "\\(2, 4\\); pass a projection"):
        nn.Residual(nn.Linear(4, 3))(sd.randn(2, 4))
