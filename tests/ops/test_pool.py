"""Pooling and resampling: max/avg pools (1-D, 2-D), adaptive pools, interpolate — PyTorch parity and gradcheck."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from helpers import case, check_op, grad_cases, ids

import shendu as sd
import shendu.nn.functional as F
from shendu import threads


def pair(name, shape, *args, **kw):
    """A case calling F.<name>(x, *args, **kw) in both libraries (with return_indices, indices must match)."""
    tag = ",".join([str(a) for a in args] + [f"{k}={v}" for k, v in kw.items()])
    return case(f"{name}[{shape},{tag}]", lambda x: getattr(F, name)(x, *args, **kw),
                lambda x: getattr(TF, name)(x, *args, **kw), [shape])


X = (2, 3, 9, 8)
CASES = [
    pair("max_pool2d", X, 2),
    pair("max_pool2d", X, 3, stride=2, padding=1),
    pair("max_pool2d", X, 3, stride=2, ceil_mode=True),
    pair("max_pool2d", X, 2, stride=3, padding=1, ceil_mode=True, return_indices=True),
    pair("max_pool2d", X, (3, 2), stride=(1, 2), dilation=2, padding=1, return_indices=True),
    pair("max_pool2d", X, 3, stride=1, return_indices=True),  # overlapping windows
    pair("max_pool2d", (3, 7, 7), 2),  # unbatched
    pair("max_pool1d", (2, 3, 9), 2),
    pair("max_pool1d", (2, 3, 10), 3, stride=2, padding=1, ceil_mode=True, return_indices=True),
    pair("avg_pool2d", X, 2),
    pair("avg_pool2d", X, 3, stride=2, padding=1),
    pair("avg_pool2d", X, 3, stride=2, padding=1, count_include_pad=False),
    pair("avg_pool2d", X, 3, stride=2, padding=1, ceil_mode=True),
    pair("avg_pool2d", X, (3, 2), stride=(2, 3), padding=(1, 1), ceil_mode=True, count_include_pad=False),
    pair("avg_pool2d", X, 3, divisor_override=5),
    pair("avg_pool1d", (2, 3, 10), 3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
    pair("avg_pool1d", (2, 3, 10), 4),
    pair("adaptive_avg_pool2d", X, (3, 4)),  # divides evenly: an ordinary average pool
    pair("adaptive_avg_pool2d", X, (5, 3)),  # uneven, overlapping windows
    pair("adaptive_avg_pool2d", X, 1),  # global average pooling
    pair("adaptive_avg_pool2d", X, (None, 5)),
    pair("adaptive_avg_pool2d", (2, 3, 4, 5), (7, 6)),  # larger than the input
    pair("adaptive_avg_pool1d", (2, 3, 10), 4),
    pair("adaptive_max_pool2d", X, (3, 4), return_indices=True),
    pair("adaptive_max_pool2d", X, (5, 3), return_indices=True),
    pair("adaptive_max_pool2d", X, 1),
    pair("adaptive_max_pool1d", (2, 3, 10), 4, return_indices=True),
    pair("interpolate", X, scale_factor=2),
    pair("interpolate", X, size=(5, 7)),
    pair("interpolate", X, scale_factor=1.7),
    pair("interpolate", X, scale_factor=(0.5, 1.5), recompute_scale_factor=True),
    pair("interpolate", X, size=(13, 3), mode="nearest-exact"),
    pair("interpolate", X, scale_factor=(2, 3), mode="bilinear"),
    pair("interpolate", X, size=(5, 11), mode="bilinear", align_corners=True),
    pair("interpolate", X, scale_factor=0.6, mode="bilinear"),
    pair("interpolate", X, size=(4, 3), mode="area"),
    pair("interpolate", (2, 3, 9), scale_factor=2.5, mode="linear"),
    pair("interpolate", (2, 3, 9), size=4, mode="nearest"),
]
GRAD_OPTS = {"atol": 1e-5, "rtol": 1e-3}


@pytest.fixture(params=["serial", "split"])
def split(request, monkeypatch):
    """Run a test as is, and with the max pool's work cut over three pool threads however small it is."""
    if request.param == "split":
        monkeypatch.setattr(threads, "MIN_SPLIT_ELEMENTS", 1)
        monkeypatch.setattr(threads, "_num_threads", 3)


@pytest.mark.parametrize("c", CASES, ids=ids(CASES))
def test_parity(c, split):
    c.parity(atol=1e-5)


@pytest.mark.parametrize("c", grad_cases(CASES), ids=ids(grad_cases(CASES)))
def test_gradcheck(c):
    c.gradcheck()


def _ties(shape):
    """Integer-valued inputs: most windows hold several equal maxima."""
    return np.random.default_rng(3).integers(0, 3, shape).astype(np.float32)


@pytest.mark.parametrize("kw", [{"kernel_size": 2}, {"kernel_size": 3, "stride": 1, "padding": 1},
                                {"kernel_size": (2, 3), "stride": 2, "ceil_mode": True}])
def test_max_pool_ties_send_the_gradient_to_the_first_maximum(kw, split):
    check_op(lambda x: F.max_pool2d(x, return_indices=True, **kw),
             lambda x: TF.max_pool2d(x, return_indices=True, **kw), [_ties((2, 2, 6, 7))])


def test_adaptive_max_pool_ties(split):
    check_op(lambda x: F.adaptive_max_pool2d(x, (4, 3), True), lambda x: TF.adaptive_max_pool2d(x, (4, 3), True),
             [_ties((2, 2, 7, 7))])


def test_max_pool_propagates_nan(split):
    x = np.arange(32, dtype=np.float32).reshape(1, 2, 4, 4)
    x[0, 0, 1, 1] = x[0, 0, 0, 1] = x[0, 1, 2, 2] = np.nan
    (ours, idx), (theirs, tidx) = (F.max_pool2d(sd.tensor(x), 2, return_indices=True),
                                   TF.max_pool2d(torch.tensor(x), 2, return_indices=True))
    np.testing.assert_array_equal(ours._data, theirs.numpy())
    np.testing.assert_array_equal(idx._data, tidx.numpy())  # a NaN window points at its last NaN


def test_w2_max_pool_shape_matches_torch(split):
    check_op(lambda x: F.max_pool2d(F.relu(x), 2), lambda x: TF.max_pool2d(TF.relu(x), 2), [(4, 32, 28, 28)])


@pytest.mark.parametrize("fn", [
    lambda x: F.max_pool2d(x, 3, stride=2, padding=1),
    lambda x: F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False),
    lambda x: F.adaptive_avg_pool2d(x, (3, 2)),
    lambda x: F.interpolate(x, scale_factor=1.5, mode="bilinear"),
], ids=["max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "bilinear"])
def test_second_derivatives(fn):
    x = sd.tensor(np.random.default_rng(0).standard_normal((1, 2, 5, 5)), dtype=sd.float64, requires_grad=True)
    assert sd.gradgradcheck(lambda t: fn(t) ** 2, [x])


def test_dtypes_are_kept():
    for dt in (sd.float32, sd.float64):
        x = sd.randn(1, 2, 6, 6, dtype=dt)
        for y in (F.max_pool2d(x, 2), F.avg_pool2d(x, 3, 1, 1), F.adaptive_avg_pool2d(x, 4),
                  F.interpolate(x, scale_factor=2), F.interpolate(x, size=5, mode="bilinear")):
            assert y.dtype == dt


@pytest.mark.parametrize("call,match", [
    (lambda: F.max_pool2d(sd.randn(1, 1, 6, 6), 2, padding=2), r"max_pool2d: padding should be .*at most half"),
    (lambda: F.max_pool2d(sd.randn(6, 6), 2), r"max_pool2d: expected a 3-D or 4-D input"),
    (lambda: F.avg_pool2d(sd.randn(1, 1, 2, 2), 3), r"avg_pool2d: input of shape \(1, 1, 2, 2\) is too small"),
    (lambda: F.adaptive_avg_pool2d(sd.randn(1, 1, 4, 4), (0, 2)), r"output_size must be positive"),
    (lambda: F.interpolate(sd.randn(1, 1, 4, 4)), r"interpolate: only one of size or scale_factor"),
    (lambda: F.interpolate(sd.randn(1, 1, 4, 4), scale_factor=2, mode="linear"), r"mode 'linear' needs a 3-D input"),
    (lambda: F.interpolate(sd.randn(1, 1, 4, 4), scale_factor=2, mode="nope"), r"mode 'nope' is not supported"),
])
def test_bad_arguments_raise_naming_the_op(call, match):
    with pytest.raises((RuntimeError, ValueError, NotImplementedError), match=match):
        call()


@pytest.mark.parametrize("kw", [{"kernel_size": 2}, {"kernel_size": 3, "stride": 1, "padding": 1}])
def test_max_pool_non_finite_gradient_stays_at_the_maximum(kw, split):
    x = np.random.default_rng(4).standard_normal((1, 2, 4, 4)).astype(np.float32)
    g = np.ones(TF.max_pool2d(torch.tensor(x), **kw).shape, dtype=np.float32)
    g[0, 0, 0, 0], g[0, 1, 1, 1] = np.inf, np.nan
    grads = []
    for lib, f in ((sd, F), (torch, TF)):
        t = lib.tensor(x, requires_grad=True)
        f.max_pool2d(t, **kw).backward(lib.tensor(g))
        grads.append(np.asarray(t.grad._data if lib is sd else t.grad.numpy()))
    np.testing.assert_array_equal(grads[0], grads[1])
