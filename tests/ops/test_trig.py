"""Trigonometric and hyperbolic functions, their inverses, atan2, hypot, sinc, angle units
(shendu/ops/trig.py): PyTorch parity, float64 gradcheck, edge points, integer inputs."""
import numpy as np
import pytest
import torch
from helpers import case, ids, spec_tests

import shendu as sd

UNIT = {"low": -0.9, "high": 0.9}  # inside the domain of asin, acos, atanh


def _fn(name, shape=(3, 4), **opts):
    """``shendu.name(x)`` against ``torch.name(x)``, and the Tensor method against itself."""
    return [case(f"torch.{name}", lambda x: getattr(sd, name)(x), lambda x: getattr(torch, name)(x), [shape], **opts),
            case(f"method.{name}", lambda x: getattr(x, name)(), None, [shape], **opts)]


CASES = [
    *_fn("sin"), *_fn("cos"), *_fn("tan", low=-1.2, high=1.2),
    *_fn("asin", **UNIT), *_fn("acos", **UNIT), *_fn("atan", low=-3.0, high=3.0),
    *_fn("arcsin", **UNIT), *_fn("arccos", **UNIT), *_fn("arctan"),
    *_fn("sinh"), *_fn("cosh"), *_fn("tanh"),
    *_fn("asinh", low=-3.0, high=3.0), *_fn("acosh", low=1.1, high=4.0), *_fn("atanh", **UNIT),
    *_fn("arcsinh"), *_fn("arccosh", low=1.1, high=4.0), *_fn("arctanh", **UNIT),
    *_fn("sinc", low=-2.5, high=2.5), *_fn("deg2rad", low=-360.0, high=360.0), *_fn("rad2deg"),
    case("atan2", lambda y, x: sd.atan2(y, x), lambda y, x: torch.atan2(y, x), [(3, 4), (3, 4)]),
    case("arctan2_bcast", lambda y, x: sd.arctan2(y, x), lambda y, x: torch.arctan2(y, x), [(3, 1), (4,)]),
    case("atan2_method", lambda y, x: y.atan2(x), None, [(2, 3), (2, 3)]),
    case("hypot", lambda a, b: sd.hypot(a, b), lambda a, b: torch.hypot(a, b), [(3, 4), (3, 4)]),
    case("hypot_bcast_method", lambda a, b: a.hypot(b), None, [(2, 1, 3), (4, 3)]),
]

test_parity, test_gradcheck, test_gradgradcheck = spec_tests(CASES)


def _edge(label, sd_fn, torch_fn, *values):
    return case(label, sd_fn, torch_fn, [np.array(v, dtype=np.float64) for v in values])


EDGES = [
    _edge("atan2_origin", lambda y, x: sd.atan2(y, x), lambda y, x: torch.atan2(y, x),
          [0.0, 0.0, 1.0, -1.0, 0.0], [0.0, 1.0, 0.0, 0.0, -1.0]),
    _edge("hypot_origin", lambda a, b: sd.hypot(a, b), lambda a, b: torch.hypot(a, b), [0.0, 3.0], [0.0, 4.0]),
    _edge("sinc_at_0", lambda x: sd.sinc(x), lambda x: torch.sinc(x), [0.0, 1.0, -1.0, 0.5]),
    _edge("asin_at_1", lambda x: sd.asin(x), lambda x: torch.asin(x), [1.0, -1.0, 0.0]),
    _edge("acosh_at_1", lambda x: sd.acosh(x), lambda x: torch.acosh(x), [1.0, 2.0]),
    _edge("atanh_at_1", lambda x: sd.atanh(x), lambda x: torch.atanh(x), [1.0, -1.0, 0.5]),
]


@pytest.mark.parametrize("c", EDGES, ids=ids(EDGES))
def test_edge_points_match_torch(c):
    with np.errstate(all="ignore"):
        c.parity()


@pytest.mark.parametrize("name", ["sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh",
                                  "asinh", "acosh", "atanh", "sinc", "deg2rad", "rad2deg"])
def test_integer_input_gives_default_float(name):
    a = np.array([-1, 0, 1, 2])
    with np.errstate(all="ignore"):
        s = getattr(sd, name)(sd.tensor(a))
    t = getattr(torch, name)(torch.tensor(a))
    assert s.dtype == t.numpy().dtype == np.float32
    np.testing.assert_allclose(s.numpy(), t.numpy(), rtol=1e-6, atol=1e-7, equal_nan=True)


@pytest.mark.parametrize("fn", [lambda lib: lib.atan2(lib.arange(3), lib.arange(1, 4)),
                                lambda lib: lib.hypot(lib.ones(3), lib.ones(3, dtype=lib.float64)),
                                lambda lib: lib.atan2(lib.ones(3), lib.tensor(2.0, dtype=lib.float64))])
def test_binary_dtypes(fn):
    s, t = fn(sd), fn(torch)
    assert s.dtype == t.numpy().dtype
    np.testing.assert_allclose(s.numpy(), t.numpy(), rtol=1e-6)


def test_broadcast_error_names_op():
    with pytest.raises(RuntimeError, match=r"atan2.*\(3, 4\).*\(5, 4\)"):
        sd.atan2(sd.ones(3, 4), sd.ones(5, 4))
