"""Convolutions: conv1d/conv2d/conv_transpose1d/conv_transpose2d, unfold/fold — PyTorch parity and gradcheck.

One spec table over stride / padding ('same' with even kernels included) / dilation / groups
(depthwise too); each case runs float32 parity (values, dtype, input/weight/bias gradients under a
random upstream gradient) and a float64 central-difference gradcheck.
"""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from helpers import case, check_op, grad_cases, ids

import shendu as sd
import shendu.nn.functional as F
from shendu import threads
from shendu.ops import conv as conv_ops

TOL = {"atol": 1e-5, "grad_atol": 1e-4}


def conv(name, x, w, bias=True, **kw):
    O = w[1] * kw.get("groups", 1) if name.startswith("conv_transpose") else w[0]  # bias size
    shapes = [x, w, (O,)] if bias else [x, w, None]
    sd_fn, t_fn = getattr(F, name), getattr(TF, name)
    tag = ",".join(f"{k}={v}" for k, v in kw.items()) or "default"
    return case(f"{name}[{x}x{w},{tag}{'' if bias else ',nobias'}]",
                lambda a, b, c: sd_fn(a, b, c, **kw), lambda a, b, c: t_fn(a, b, c, **kw), shapes, **TOL)


CASES = [
    conv("conv2d", (2, 3, 7, 6), (4, 3, 3, 3)),
    conv("conv2d", (2, 3, 7, 6), (4, 3, 3, 3), bias=False, stride=2, padding=1),
    conv("conv2d", (2, 3, 7, 8), (4, 3, 3, 2), stride=(2, 1), padding=(1, 2)),
    conv("conv2d", (1, 2, 8, 7), (3, 2, 3, 3), dilation=2, padding=2),
    conv("conv2d", (1, 2, 9, 8), (3, 2, 2, 3), dilation=(2, 1), stride=(1, 2)),
    conv("conv2d", (2, 4, 6, 6), (6, 2, 3, 3), groups=2, padding=1),
    conv("conv2d", (2, 3, 6, 5), (6, 1, 3, 3), groups=3, padding=1),  # depthwise, channel multiplier 2
    conv("conv2d", (2, 4, 6, 6), (4, 1, 3, 3), groups=4, stride=2),  # depthwise
    conv("conv2d", (1, 3, 6, 7), (4, 3, 2, 4), padding="same"),  # even kernels: the extra pixel goes last
    conv("conv2d", (1, 3, 7, 6), (2, 3, 3, 2), padding="same", dilation=(2, 3)),
    conv("conv2d", (1, 3, 5, 6), (2, 3, 3, 3), padding="valid"),
    conv("conv2d", (2, 3, 5, 5), (4, 3, 1, 1), stride=2),
    conv("conv2d", (2, 2, 4, 5), (3, 2, 4, 5)),  # kernel = input: one output pixel
    conv("conv2d", (1, 2, 7, 7), (3, 2, 3, 3), stride=3, padding=1),  # windows skip the last row
    conv("conv1d", (2, 3, 9), (4, 3, 3)),
    conv("conv1d", (2, 3, 9), (4, 3, 3), bias=False, stride=2, padding=1),
    conv("conv1d", (2, 4, 10), (6, 2, 3), groups=2, dilation=2),
    conv("conv1d", (2, 3, 8), (3, 1, 4), groups=3, padding="same"),
    conv("conv_transpose2d", (2, 3, 4, 5), (3, 4, 3, 3)),
    conv("conv_transpose2d", (2, 3, 4, 4), (3, 2, 3, 3), bias=False, stride=2, padding=1, output_padding=1),
    conv("conv_transpose2d", (1, 2, 3, 4), (2, 3, 2, 3), stride=(2, 3), output_padding=(1, 2)),
    conv("conv_transpose2d", (1, 4, 4, 3), (4, 2, 3, 3), groups=2, stride=2, dilation=2, padding=2),
    conv("conv_transpose2d", (2, 3, 4, 4), (3, 1, 3, 3), groups=3, stride=2, padding=1),  # depthwise
    conv("conv_transpose2d", (1, 2, 3, 3), (2, 3, 3, 3), stride=1, dilation=2, output_padding=1),
    conv("conv_transpose1d", (2, 3, 5), (3, 4, 3), stride=2, padding=1, output_padding=1),
    conv("conv_transpose1d", (2, 4, 5), (4, 3, 2), groups=2, dilation=3),
    case("unfold", lambda x: F.unfold(x, (2, 3), dilation=(1, 2), padding=1, stride=2),
         lambda x: TF.unfold(x, (2, 3), dilation=(1, 2), padding=1, stride=2), [(2, 3, 7, 8)]),
    case("unfold_default", lambda x: F.unfold(x, 3), lambda x: TF.unfold(x, 3), [(1, 2, 4, 5)]),
    case("fold", lambda x: F.fold(x, (6, 7), 3, padding=1, stride=2), lambda x: TF.fold(x, (6, 7), 3, padding=1,
                                                                                          stride=2), [(2, 18, 12)]),
    case("fold_overlap", lambda x: F.fold(x, (4, 5), (2, 2)), lambda x: TF.fold(x, (4, 5), (2, 2)), [(1, 8, 12)]),
]


@pytest.fixture(params=["per_image", "one_product"])
def layout(request, monkeypatch):
    """Run a case under both product layouts of the kernels (normally chosen by the reduction length)."""
    monkeypatch.setattr(conv_ops, "_PER_IMAGE_MAX_K", 10 ** 9 if request.param == "per_image" else 0)


@pytest.fixture
def split(monkeypatch):
    """Cut every kernel's batch work over three pool threads, however small (uneven ranges included)."""
    monkeypatch.setattr(threads, "MIN_SPLIT_ELEMENTS", 1)
    monkeypatch.setattr(threads, "_num_threads", 3)


@pytest.fixture
def chunks(monkeypatch):
    """The fused one-product kernels in chunks of about one image's window matrix (uneven last chunks)."""
    monkeypatch.setattr("shendu.ops.im2col._CHUNK_ELEMENTS", 1)


@pytest.mark.parametrize("c", CASES, ids=ids(CASES))
def test_parity(c, layout):
    c.parity()


@pytest.mark.parametrize("c", CASES, ids=ids(CASES))
def test_parity_chunk_by_chunk(c, chunks):
    c.parity()


@pytest.mark.parametrize("per_chunk", [1, 2, 3])
@pytest.mark.parametrize("threaded", [False, True])
def test_fused_kernels_chunks_cover_the_batch(per_chunk, threaded, monkeypatch):
    """Chunks of 1, 2 and 3 images over a batch of 7 (split over three threads too): every image once."""
    monkeypatch.setattr(conv_ops, "_PER_IMAGE_MAX_K", 0)
    monkeypatch.setattr("shendu.ops.im2col._CHUNK_ELEMENTS", per_chunk * 5 * 4 * 3 * 9)  # Ho*Wo*Kg per image
    if threaded:
        monkeypatch.setattr(threads, "MIN_SPLIT_ELEMENTS", 1)
        monkeypatch.setattr(threads, "_num_threads", 3)
    check_op(lambda x, w, b: F.conv2d(x, w, b, padding=1, stride=(1, 2)),
             lambda x, w, b: TF.conv2d(x, w, b, padding=1, stride=(1, 2)),
             [(7, 3, 5, 8), (4, 3, 3, 3), (4,)], **TOL)


@pytest.mark.parametrize("c", CASES, ids=ids(CASES))
def test_parity_split_over_threads(c, layout, split):
    c.parity()


@pytest.mark.parametrize("c", grad_cases(CASES), ids=ids(grad_cases(CASES)))
def test_gradcheck(c, layout):
    c.gradcheck()


@pytest.mark.usefixtures("layout")
@pytest.mark.parametrize("needs", ["x", "w", "b", "xb", "wb"])
def test_gradients_of_only_some_inputs(needs):
    """A frozen weight, a frozen input, a lone bias: each backward computes only what is asked for."""
    rng = np.random.default_rng(5)
    arrays = [rng.standard_normal(s).astype(np.float32) for s in ((3, 4, 6, 5), (5, 4, 3, 3), (5,))]
    up = rng.standard_normal((3, 5, 6, 5)).astype(np.float32)
    grads = []
    for lib, f in ((sd, F), (torch, TF)):
        ins = [lib.tensor(a, requires_grad=k in needs) for a, k in zip(arrays, "xwb")]
        f.conv2d(*ins, padding=1).backward(lib.tensor(up))
        grads.append([None if t.grad is None else np.asarray(t.grad._data if lib is sd else t.grad.numpy())
                      for t in ins])
    for ours, theirs in zip(*grads):
        assert (ours is None) == (theirs is None)
        if ours is not None:
            np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4)


def test_noncontiguous_input_and_weight():
    check_op(lambda x, w: F.conv2d(x, w, padding=1), lambda x, w: TF.conv2d(x, w, padding=1),
             [(2, 3, 5, 6), (4, 3, 3, 3)], noncontig=True, **TOL)


def test_float32_stays_float32_and_float64_stays_float64():
    for dt in (sd.float32, sd.float64):
        x, w = sd.randn(1, 2, 5, 5, dtype=dt), sd.randn(3, 2, 3, 3, dtype=dt)
        assert F.conv2d(x, w, sd.randn(3, dtype=dt)).dtype == dt
        assert F.conv_transpose2d(x, sd.randn(2, 3, 3, 3, dtype=dt)).dtype == dt


@pytest.mark.parametrize("threaded", [False, True])
def test_w2_shapes_match_torch(threaded, monkeypatch):
    """The benchmark's layers (batch 8 here): 1->32 at 28x28 and 32->64 at 14x14, 3x3, padding 1."""
    if threaded:
        monkeypatch.setattr(threads, "MIN_SPLIT_ELEMENTS", 1)
        monkeypatch.setattr(threads, "_num_threads", 3)
    check_op(lambda x, w, b: F.conv2d(x, w, b, padding=1), lambda x, w, b: TF.conv2d(x, w, b, padding=1),
             [(8, 1, 28, 28), (32, 1, 3, 3), (32,)], **TOL)
    check_op(lambda x, w, b: F.conv2d(x, w, b, padding=1), lambda x, w, b: TF.conv2d(x, w, b, padding=1),
             [(8, 32, 14, 14), (64, 32, 3, 3), (64,)], atol=1e-4, grad_atol=5e-4, grad_rtol=1e-4)


def _gradgrad(fn, shapes):
    rng = np.random.default_rng(0)
    xs = [sd.tensor(rng.standard_normal(s), dtype=sd.float64, requires_grad=True) for s in shapes]
    assert sd.gradgradcheck(fn, xs)


@pytest.mark.usefixtures("layout")
@pytest.mark.parametrize("name,fn,shapes", [
    ("conv2d", lambda x, w: F.conv2d(x, w, stride=2, padding=1, groups=2), [(1, 4, 5, 5), (2, 2, 3, 3)]),
    ("conv_transpose2d", lambda x, w: F.conv_transpose2d(x, w, stride=2, padding=1, output_padding=1),
     [(1, 2, 3, 3), (2, 3, 3, 3)]),
], ids=lambda v: v if isinstance(v, str) else "")
def test_second_derivatives(name, fn, shapes):
    _gradgrad(fn, shapes)


def test_second_derivative_matches_torch():
    """A gradient penalty (create_graph) through conv2d: d/dw |dL/dx|²."""
    rng = np.random.default_rng(1)
    xa, wa = rng.standard_normal((2, 3, 5, 5)).astype(np.float32), rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    grads = []
    for lib, f in ((sd, F), (torch, TF)):
        x, w = lib.tensor(xa, requires_grad=True), lib.tensor(wa, requires_grad=True)
        y = f.conv2d(x, w, padding=1, stride=2)
        (gx,) = lib.autograd.grad((y * y).sum(), [x], create_graph=True)
        (gx * gx).sum().backward()
        grads.append(np.asarray(w.grad.detach().numpy() if lib is torch else w.grad._data))
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("call,match", [
    (lambda: F.conv2d(sd.randn(8, 8), sd.randn(4, 3, 3, 3)), r"conv2d: expected a 3-D .* or 4-D .*got shape \(8, 8\)"),
    (lambda: F.conv2d(sd.randn(1, 2, 8, 8), sd.randn(4, 3, 3, 3)), r"expects input with 3 channels.*\(1, 2, 8, 8\)"),
    (lambda: F.conv2d(sd.randn(1, 4, 8, 8), sd.randn(3, 2, 3, 3), groups=2), r"divisible by 2"),
    (lambda: F.conv2d(sd.randn(1, 3, 2, 2), sd.randn(4, 3, 3, 3)), r"kernel size \(3, 3\) is larger than the padded"),
    (lambda: F.conv2d(sd.randn(1, 3, 8, 8), sd.randn(4, 3, 3, 3), stride=2, padding="same"), r"strided"),
    (lambda: F.conv2d(sd.randn(1, 3, 8, 8), sd.randn(4, 3, 3, 3), sd.randn(3)), r"bias of shape \(4,\)"),
    (lambda: F.conv1d(sd.randn(8), sd.randn(4, 3, 3)), r"conv1d: expected a 2-D .* or 3-D"),
    (lambda: F.conv_transpose2d(sd.randn(1, 2, 4, 4), sd.randn(2, 2, 3, 3), stride=2, output_padding=2),
     r"output_padding must be smaller"),
])
def test_bad_arguments_raise_naming_the_op(call, match):
    with pytest.raises((RuntimeError, ValueError), match=match):
        call()


@pytest.mark.usefixtures("layout")
def test_backward_twice_with_retain_graph_and_reused_buffers():
    """The forward's cached window matrix goes back to the scratch pool after the first backward; a second
    backward (retain_graph) rebuilds it, and later convolutions reusing the buffers leave earlier results intact."""
    rng = np.random.default_rng(2)
    x = sd.tensor(rng.standard_normal((2, 8, 6, 6)).astype(np.float32), requires_grad=True)
    w = sd.tensor(rng.standard_normal((4, 8, 3, 3)).astype(np.float32), requires_grad=True)
    y = F.conv2d(x, w, padding=1)
    kept = y._data.copy()
    g = sd.tensor(rng.standard_normal(y.shape).astype(np.float32))
    y.backward(g, retain_graph=True)
    first = (x.grad._data.copy(), w.grad._data.copy())
    F.conv2d(sd.randn(2, 8, 6, 6), sd.randn(4, 8, 3, 3), padding=1)  # takes the pooled buffers
    x.grad = w.grad = None
    y.backward(g)
    np.testing.assert_allclose(x.grad._data, first[0], rtol=1e-6)
    np.testing.assert_allclose(w.grad._data, first[1], rtol=1e-6)
    np.testing.assert_array_equal(y._data, kept)
