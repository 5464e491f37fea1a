"""Conv1d, Conv2d, ConvTranspose1d/2d, Unfold, Fold: contract, PyTorch parity with copied weights, init, errors."""
import math

import numpy as np
import pytest
import torch
from layer_harness import check_layer_grad, check_parity, run_layer_test

import shendu as sd
from shendu import nn

TOL = {"atol": 1e-5, "grad_atol": 1e-4}


@pytest.mark.parametrize("bias", [True, False])
def test_conv2d_contract(bias):
    run_layer_test(nn.Conv2d, {"in_channels": 3, "out_channels": 4, "kernel_size": 3, "padding": 1, "bias": bias},
                   input_shape=(2, 3, 5, 5), expected_output_shape=(2, 4, 5, 5),
                   expected_param_names=["weight", "bias"] if bias else ["weight"],
                   expected_num_params=4 * 3 * 9 + (4 if bias else 0))


def test_other_layers_contract():
    run_layer_test(nn.Conv1d, {"in_channels": 2, "out_channels": 4, "kernel_size": 3, "stride": 2},
                   input_shape=(2, 2, 9), expected_output_shape=(2, 4, 4), expected_num_params=4 * 2 * 3 + 4)
    run_layer_test(nn.ConvTranspose2d, {"in_channels": 4, "out_channels": 2, "kernel_size": 3, "stride": 2,
                                        "padding": 1, "output_padding": 1},
                   input_shape=(2, 4, 3, 3), expected_output_shape=(2, 2, 6, 6), expected_num_params=4 * 2 * 9 + 2)


CONV2D = [
    dict(in_channels=3, out_channels=4, kernel_size=3),
    dict(in_channels=3, out_channels=4, kernel_size=(3, 2), stride=(2, 1), padding=(1, 0), bias=False),
    dict(in_channels=4, out_channels=6, kernel_size=3, groups=2, dilation=2, padding=2),
    dict(in_channels=4, out_channels=8, kernel_size=3, groups=4, padding=1),  # depthwise
    dict(in_channels=3, out_channels=4, kernel_size=4, padding="same"),  # even kernel
    dict(in_channels=3, out_channels=4, kernel_size=3, padding=1, padding_mode="reflect"),
    dict(in_channels=3, out_channels=4, kernel_size=3, padding=(1, 2), padding_mode="replicate"),
    dict(in_channels=3, out_channels=4, kernel_size=3, padding=1, padding_mode="circular", stride=2),
    dict(in_channels=3, out_channels=2, kernel_size=(2, 3), padding="same", padding_mode="reflect"),
]


@pytest.mark.parametrize("kw", CONV2D, ids=[str(i) for i in range(len(CONV2D))])
def test_conv2d_parity(kw):
    check_parity(nn.Conv2d(**kw), torch.nn.Conv2d(**kw), (2, kw["in_channels"], 7, 6), **TOL)


@pytest.mark.parametrize("kw", [dict(in_channels=3, out_channels=4, kernel_size=3, padding=1),
                                dict(in_channels=4, out_channels=2, kernel_size=2, groups=2, padding="same",
                                     padding_mode="circular")])
def test_conv1d_parity(kw):
    check_parity(nn.Conv1d(**kw), torch.nn.Conv1d(**kw), (2, kw["in_channels"], 9), **TOL)


@pytest.mark.parametrize("kw", [dict(in_channels=3, out_channels=4, kernel_size=3),
                                dict(in_channels=4, out_channels=6, kernel_size=3, stride=2, padding=1,
                                     output_padding=1, groups=2, bias=False),
                                dict(in_channels=2, out_channels=3, kernel_size=(2, 3), stride=(2, 1),
                                     dilation=(1, 2))])
def test_conv_transpose2d_parity(kw):
    check_parity(nn.ConvTranspose2d(**kw), torch.nn.ConvTranspose2d(**kw), (2, kw["in_channels"], 4, 5), **TOL)


def test_conv_transpose_output_size_and_1d():
    sd_layer, t_layer = nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1), torch.nn.ConvTranspose2d(3, 2, 3, 2, 1)
    x = np.random.default_rng(0).standard_normal((1, 3, 4, 4)).astype(np.float32)
    t_layer.load_state_dict({k: torch.tensor(v._data) for k, v in sd_layer.state_dict().items()})
    for size in [(7, 7), (8, 8), (1, 2, 8, 7)]:
        y, yt = sd_layer(sd.tensor(x), output_size=size), t_layer(torch.tensor(x), output_size=size)
        np.testing.assert_allclose(y._data, yt.detach().numpy(), atol=1e-5)
    with pytest.raises(ValueError, match="not reachable"):
        sd_layer(sd.tensor(x), output_size=(10, 10))
    kw = dict(in_channels=3, out_channels=2, kernel_size=3, stride=2, padding=1, output_padding=1)
    check_parity(nn.ConvTranspose1d(**kw), torch.nn.ConvTranspose1d(**kw), (2, 3, 5), **TOL)


def test_gradcheck_with_parameters():
    check_layer_grad(nn.Conv2d(2, 3, 3, stride=2, padding=1, groups=1), (1, 2, 5, 4))
    check_layer_grad(nn.ConvTranspose2d(2, 2, 3, stride=2, groups=2), (1, 2, 3, 3))
    check_layer_grad(nn.Conv1d(2, 4, 2, groups=2, padding="same"), (2, 2, 5))


def test_default_init_matches_pytorch_bounds():
    m = nn.Conv2d(16, 32, 3)
    bound = 1 / math.sqrt(16 * 9)  # kaiming_uniform_(a=sqrt(5)) on fan_in = C_in * kH * kW
    w = m.weight._data
    assert w.dtype == np.float32 and w.shape == (32, 16, 3, 3)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.98 * bound
    np.testing.assert_allclose(w.std(), bound / math.sqrt(3), rtol=0.03)
    assert np.abs(m.bias._data).max() <= bound
    t = nn.ConvTranspose2d(8, 4, 3, groups=2)  # fan_in from weight (8, 2, 3, 3): 2 * 9
    assert t.weight.shape == (8, 2, 3, 3) and np.abs(t.weight._data).max() <= 1 / math.sqrt(18)


@pytest.mark.parametrize("make", [
    lambda lib: lib.nn.Conv2d(3, 8, 3),
    lambda lib: lib.nn.Conv2d(4, 8, (3, 2), stride=2, padding=1, dilation=2, groups=2, bias=False,
                              padding_mode="reflect"),
    lambda lib: lib.nn.Conv2d(3, 8, 2, padding="same"),
    lambda lib: lib.nn.Conv1d(3, 6, 5, stride=2, padding=2),
    lambda lib: lib.nn.ConvTranspose2d(4, 6, 3, stride=2, output_padding=1, groups=2),
    lambda lib: lib.nn.Unfold(3, padding=1),
    lambda lib: lib.nn.Fold((4, 5), 2),
])
def test_repr_matches_pytorch(make):
    assert repr(make(sd)) == repr(make(torch))


def test_unfold_fold_layers():
    check_parity(nn.Unfold((2, 3), stride=2, padding=1), torch.nn.Unfold((2, 3), stride=2, padding=1), (2, 3, 6, 7))
    check_parity(nn.Fold((5, 6), 2), torch.nn.Fold((5, 6), 2), (2, 12, 20))


def test_bad_input_names_the_layer_and_shape():
    m = nn.Conv2d(3, 8, 3)
    with pytest.raises(RuntimeError, match=r"^Conv2d\(3, 8, kernel_size=\(3, 3\)\): expected a 3-D \(unbatched\) or "
                                           r"4-D input \(N, C, H, W\), got shape \(32, 32\)"):
        m(sd.randn(32, 32))
    with pytest.raises(RuntimeError, match=r"Conv2d\(3, 8, kernel_size=\(3, 3\)\): expected input with 3 channels.*"
                                           r"\(2, 4, 8, 8\)"):
        m(sd.randn(2, 4, 8, 8))
    with pytest.raises(RuntimeError, match=r"Conv2d\(3, 8, kernel_size=\(3, 3\)\): .*kernel size \(3, 3\) is larger "
                                           r"than the padded input size \(2, 2\)"):
        m(sd.randn(1, 3, 2, 2))
    with pytest.raises(RuntimeError, match=r"Conv1d\(2, 4, kernel_size=\(3,\)\): expected a 2-D \(unbatched\) or 3-D "
                                           r"input \(N, C, L\)"):
        nn.Conv1d(2, 4, 3)(sd.randn(9))


@pytest.mark.parametrize("layer,shape", [
    ("Conv2d(3, 4, 3, padding=1)", (3, 6, 5)),
    ("Conv2d(3, 4, 3, padding=1, padding_mode='reflect')", (3, 6, 5)),
    ("Conv1d(2, 4, 3, stride=2)", (2, 9)),
    ("ConvTranspose2d(3, 2, 3, stride=2)", (3, 4, 4)),
    ("ConvTranspose1d(2, 3, 3)", (2, 7)),
    ("MaxPool2d(2)", (3, 6, 4)),
    ("AvgPool2d(2, stride=1)", (3, 5, 4)),
    ("MaxPool1d(2)", (3, 8)),
    ("AvgPool1d(3)", (2, 9)),
    ("AdaptiveAvgPool2d((2, 3))", (3, 5, 7)),
    ("AdaptiveMaxPool2d(2)", (3, 5, 7)),
])
def test_unbatched_input_matches_pytorch(layer, shape):
    """Conv and pooling layers take input without the batch dim, as PyTorch's do."""
    import torch
    torch.manual_seed(0)
    t_layer = eval("torch.nn." + layer)
    s_layer = eval("nn." + layer)
    s_layer.load_state_dict({k: sd.tensor(v.detach().numpy()) for k, v in t_layer.state_dict().items()})
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    tx, sx = torch.tensor(x, requires_grad=True), sd.tensor(x, requires_grad=True)
    t_out, s_out = t_layer(tx), s_layer(sx)
    assert s_out.shape == tuple(t_out.shape)
    np.testing.assert_allclose(s_out.detach().numpy(), t_out.detach().numpy(), rtol=1e-5, atol=1e-5)
    g = np.random.default_rng(1).standard_normal(t_out.shape).astype(np.float32)
    t_out.backward(torch.tensor(g))
    s_out.backward(sd.tensor(g))
    np.testing.assert_allclose(sx.grad.numpy(), tx.grad.numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kw,match", [
    (dict(in_channels=3, out_channels=8, kernel_size=3, groups=2), "divisible by groups"),
    (dict(in_channels=4, out_channels=6, kernel_size=3, groups=4), "divisible by groups"),
    (dict(in_channels=4, out_channels=6, kernel_size=3, groups=0), "groups must be a positive integer"),
    (dict(in_channels=3, out_channels=6, kernel_size=3, stride=2, padding="same"), "strided"),
    (dict(in_channels=3, out_channels=6, kernel_size=3, padding="full"), "padding must be"),
    (dict(in_channels=3, out_channels=6, kernel_size=3, padding_mode="mirror"), "padding_mode"),
])
def test_bad_arguments(kw, match):
    with pytest.raises(ValueError, match=match):
        nn.Conv2d(**kw)


def test_one_training_step_of_a_small_cnn_matches_torch():
    """Conv -> ReLU -> MaxPool -> Conv -> AdaptiveAvgPool -> Flatten -> Linear, weights copied, one SGD step."""
    def build(lib):
        return lib.nn.Sequential(lib.nn.Conv2d(1, 4, 3, padding=1), lib.nn.ReLU(), lib.nn.MaxPool2d(2),
                                 lib.nn.Conv2d(4, 6, 3, padding=1), lib.nn.ReLU(), lib.nn.AdaptiveAvgPool2d(1),
                                 lib.nn.Flatten(), lib.nn.Linear(6, 3))
    ours, theirs = build(sd), build(torch)
    theirs.load_state_dict({k: torch.tensor(v._data) for k, v in ours.state_dict().items()})
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((4, 1, 8, 8)).astype(np.float32), rng.integers(0, 3, 4)
    for model, lib in ((ours, sd), (theirs, torch)):
        loss = lib.nn.functional.cross_entropy(model(lib.tensor(x)), lib.tensor(y))
        loss.backward()
    for (name, p), (_, tp) in zip(ours.named_parameters(), theirs.named_parameters()):
        np.testing.assert_allclose(p.grad._data, tp.grad.numpy(), rtol=1e-4, atol=1e-6, err_msg=name)
