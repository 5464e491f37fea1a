"""Activation layers: contract, PyTorch parity (forward, input and slope gradients), gradcheck, repr."""
import numpy as np
import pytest
import torch
from layer_harness import check_layer_grad, check_parity, run_layer_test

import shendu as sd
from shendu import nn

# (name, kwargs): the same class name and arguments exist in torch.nn
SPECS = [
    ("ReLU", {}), ("ReLU", {"inplace": True}), ("ReLU6", {}), ("LeakyReLU", {}), ("LeakyReLU", {"negative_slope": 0.2}),
    ("ELU", {}), ("ELU", {"alpha": 0.5}), ("CELU", {"alpha": 2.0}), ("GELU", {}), ("GELU", {"approximate": "tanh"}),
    ("SiLU", {}), ("Mish", {}), ("SELU", {}), ("Tanh", {}), ("Sigmoid", {}), ("LogSigmoid", {}),
    ("Softplus", {}), ("Softplus", {"beta": 2.0, "threshold": 1.0}), ("Hardtanh", {}),
    ("Hardtanh", {"min_val": -0.5, "max_val": 1.5}), ("Hardswish", {}), ("Hardsigmoid", {}), ("Softsign", {}),
    ("Tanhshrink", {}), ("Softmax", {"dim": 1}), ("Softmax", {"dim": -1}), ("LogSoftmax", {"dim": 1}),
    ("Softmin", {"dim": 0}), ("GLU", {}), ("GLU", {"dim": 1}), ("PReLU", {}), ("PReLU", {"num_parameters": 3}),
    ("Softmax2d", {}), ("Threshold", {"threshold": 0.3, "value": -1.0}), ("Hardshrink", {}),
    ("Softshrink", {"lambd": 0.7}),
]
IDS = [f"{n}{'-' + '-'.join(f'{k}={v}' for k, v in kw.items()) if kw else ''}" for n, kw in SPECS]
SHAPE = (2, 3, 4)


def _out_shape(name, kw):
    if name == "GLU":
        return (2, 3, 2) if kw.get("dim", -1) == -1 else None
    return SHAPE


@pytest.mark.parametrize("name,kw", SPECS, ids=IDS)
def test_contract_parity_gradcheck(name, kw):
    if name == "GLU" and kw.get("dim") == 1:
        shape = (2, 4, 3)
    else:
        shape = SHAPE
    n_params = {"PReLU": kw.get("num_parameters", 1)}.get(name, 0)
    assert repr(getattr(nn, name)(**kw)) == repr(getattr(torch.nn, name)(**kw))
    sd_layer, torch_layer = getattr(nn, name)(**kw), getattr(torch.nn, name)(**kw)
    if kw.get("inplace"):  # in both libraries an in-place layer cannot run on a leaf that requires grad
        sd_layer, torch_layer = _on_non_leaf(sd_layer, nn), _on_non_leaf(torch_layer, torch.nn)
    else:
        run_layer_test(getattr(nn, name), kw, input_shape=shape, expected_output_shape=_out_shape(name, kw),
                       expected_param_names=["weight"] if n_params else [], expected_num_params=n_params)
    if name == "PReLU":
        sd_layer.weight._data[...] = np.linspace(-0.5, 0.7, n_params)  # distinct slopes per channel
    check_parity(sd_layer, torch_layer, shape, low=-3.5, high=3.5)
    check_layer_grad(sd_layer, shape, low=-3.5, high=3.5)


def _on_non_leaf(layer, nn_module):
    """``layer`` applied to ``input * 1``: a non-leaf that an in-place layer may overwrite."""
    class OnNonLeaf(nn_module.Module):
        def __init__(self):
            super().__init__()
            self.inner = layer

        def forward(self, input):
            return self.inner(input * 1.0)
    return OnNonLeaf()


def test_prelu_init_and_errors():
    m = nn.PReLU(4, init=0.1)
    np.testing.assert_array_equal(m.weight._data, np.full(4, 0.1, np.float32))
    assert nn.PReLU().weight.item() == pytest.approx(0.25)
    with pytest.raises(RuntimeError, match=r"PReLU\(num_parameters=4\): expected input with 4 channels"):
        m(sd.randn(2, 3))


def test_prelu_2d_channels_parity():
    m = nn.PReLU(3)
    m.weight._data[...] = [0.1, -0.2, 0.4]
    check_parity(m, torch.nn.PReLU(3), (2, 3, 2, 2))


class TorchMaxout(torch.nn.Module):
    def __init__(self, d_in, d_out, pieces):
        super().__init__()
        self.d_out, self.pieces = d_out, pieces
        self.linear = torch.nn.Linear(d_in, d_out * pieces)

    def forward(self, x):
        return self.linear(x).unflatten(-1, (self.d_out, self.pieces)).amax(-1)


def test_maxout():
    run_layer_test(nn.Maxout, {"in_features": 4, "out_features": 3, "pieces": 2}, input_shape=(5, 4),
                   expected_output_shape=(5, 3), expected_param_names=["linear.weight", "linear.bias"],
                   expected_num_params=4 * 6 + 6)
    check_parity(nn.Maxout(4, 3, 2), TorchMaxout(4, 3, 2), (2, 5, 4))
    check_layer_grad(nn.Maxout(3, 2, 3), (4, 3))
    m = nn.Maxout(4, 3, 2)
    x = sd.randn(5, 4)
    z = m.linear(x)._data.reshape(5, 3, 2)
    np.testing.assert_allclose(m(x)._data, z.max(-1), rtol=1e-6)
    assert repr(m) == ("Maxout(\n  in_features=4, out_features=3, pieces=2\n"
                       "  (linear): Linear(in_features=4, out_features=6, bias=True)\n)")
    with pytest.raises(ValueError, match="pieces"):
        nn.Maxout(4, 3, 0)


def test_bad_arguments():
    with pytest.raises(ValueError, match="approximate"):
        nn.GELU(approximate="fast")
    with pytest.raises(ValueError, match="max_val"):
        nn.Hardtanh(1.0, -1.0)
    with pytest.raises(RuntimeError, match="(?i)glu"):
        nn.GLU()(sd.randn(2, 3))


def test_rrelu_layer():
    m, t = nn.RReLU(0.1, 0.3), torch.nn.RReLU(0.1, 0.3)
    assert repr(m) == repr(t)
    m.eval()
    t.eval()
    check_parity(m, t, SHAPE, low=-3.5, high=3.5)  # evaluation: the fixed slope (lower + upper) / 2
    check_layer_grad(m, SHAPE, low=-3.5, high=3.5)
    m.train()
    y = m(-sd.ones(400))
    assert y.numpy().min() >= -0.3 and y.numpy().max() <= -0.1 and y.numpy().std() > 0.02


@pytest.mark.parametrize("name,kw,at", [
    ("ReLU", {}, [0.0]), ("ReLU6", {}, [0.0, 6.0]), ("Hardtanh", {}, [-1.0, 1.0]), ("LeakyReLU", {}, [0.0]),
    ("ELU", {}, [0.0]), ("CELU", {"alpha": 2.0}, [0.0]), ("SELU", {}, [0.0]), ("Hardswish", {}, [-3.0, 3.0]),
    ("Hardsigmoid", {}, [-3.0, 3.0]), ("Threshold", {"threshold": 0.5, "value": 0.0}, [0.5]),
    ("Hardshrink", {}, [-0.5, 0.5]), ("Softshrink", {}, [-0.5, 0.5]), ("PReLU", {}, [0.0]),
])
def test_layers_at_kinks_match_torch(name, kw, at):
    """The modules inherit the functional kink behaviour: check them at the exact kink inputs."""
    x = np.array(at + [a + 0.25 for a in at] + [a - 0.25 for a in at], dtype=np.float32)
    sx, tx = sd.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    up = np.random.default_rng(0).standard_normal(x.shape).astype(np.float32)
    getattr(nn, name)(**kw)(sx).backward(sd.tensor(up))
    getattr(torch.nn, name)(**kw)(tx).backward(torch.tensor(up))
    np.testing.assert_allclose(sx.grad.numpy(), tx.grad.numpy(), rtol=1e-6, atol=0)
