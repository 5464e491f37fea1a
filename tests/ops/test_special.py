"""Special functions (shendu/ops/special.py): erf, erfc, erfinv, logit, xlogy, logaddexp,
logaddexp2. PyTorch parity, float64 gradcheck, edge points, and the SciPy-free fallbacks."""
import numpy as np
import pytest
import torch
from helpers import Const, case, ids, spec_tests

import shendu as sd
from shendu.ops import special

PROB = {"low": 0.05, "high": 0.95}


def _fn(name, shape=(3, 4), **opts):
    return [case(f"torch.{name}", lambda x: getattr(sd, name)(x), lambda x: getattr(torch, name)(x), [shape], **opts),
            case(f"method.{name}", lambda x: getattr(x, name)(), None, [shape], **opts)]


CASES = [
    *_fn("erf"), *_fn("erfc", low=-3.0, high=3.0), *_fn("erfinv", low=-0.95, high=0.95, grad_rtol=1e-3),
    *_fn("logit", **PROB),
    case("logit_eps", lambda x: sd.logit(x, eps=0.2), lambda x: torch.logit(x, eps=0.2),
         [np.array([[0.05, 0.13, 0.31, 0.47], [0.52, 0.66, 0.74, 0.93]])]),
    case("xlogy", lambda x, y: sd.xlogy(x, y), lambda x, y: torch.xlogy(x, y), [(3, 4), (3, 4)], low=0.1),
    case("xlogy_bcast", lambda x, y: x.xlogy(y), None, [(3, 1), (4,)], low=0.1),
    case("xlogy_scalar_other", lambda x: sd.xlogy(x, 2.5), lambda x: torch.xlogy(x, 2.5), [(3, 4)]),
    case("xlogy_scalar_self", lambda y: sd.xlogy(2.5, y), lambda y: torch.xlogy(2.5, y), [(3, 4)], low=0.1),
    case("logaddexp", lambda a, b: sd.logaddexp(a, b), lambda a, b: torch.logaddexp(a, b), [(3, 4), (3, 4)]),
    case("logaddexp_bcast", lambda a, b: a.logaddexp(b), None, [(3, 1), (4,)], low=-30.0, high=30.0),
    case("logaddexp2", lambda a, b: sd.logaddexp2(a, b), lambda a, b: torch.logaddexp2(a, b), [(3, 4), (3, 4)]),
    case("logaddexp2_method", lambda a, b: a.logaddexp2(b), None, [(2, 3), (2, 3)], low=-30.0, high=30.0),
]

test_parity, test_gradcheck, test_gradgradcheck = spec_tests(CASES)


def _edge(label, sd_fn, torch_fn, *values):
    return case(label, sd_fn, torch_fn, [v if isinstance(v, Const) else np.array(v, dtype=np.float64) for v in values])


EDGES = [
    _edge("logit_eps_bounds", lambda x: sd.logit(x, eps=0.25), lambda x: torch.logit(x, eps=0.25),
          [0.25, 0.75, 0.1, 0.9, 0.5]),
    _edge("logit_at_0_1", lambda x: sd.logit(x), lambda x: torch.logit(x), [0.0, 1.0, 0.5]),
    _edge("xlogy_x0", lambda x, y: sd.xlogy(x, y), lambda x, y: torch.xlogy(x, y),
          [0.0, 0.0, 1.0, 2.0], [0.0, 3.0, 0.0, 3.0]),
    _edge("xlogy_nan_other", lambda x, y: sd.xlogy(x, y), lambda x, y: torch.xlogy(x, y),
          [0.0, 1.0], Const(np.array([np.nan, np.nan]))),
    _edge("logaddexp_inf", lambda a, b: sd.logaddexp(a, b), lambda a, b: torch.logaddexp(a, b),
          [-np.inf, np.inf, -np.inf, 0.0, 1.0, 800.0], [-np.inf, np.inf, 1.0, 0.0, -np.inf, 800.0]),
    _edge("logaddexp2_inf", lambda a, b: sd.logaddexp2(a, b), lambda a, b: torch.logaddexp2(a, b),
          [-np.inf, np.inf, -np.inf, 0.0, 1.0], [-np.inf, np.inf, 1.0, 0.0, -np.inf]),
    _edge("erfinv_at_1", lambda x: sd.erfinv(x), lambda x: torch.erfinv(x), [1.0, -1.0, 0.0]),
    _edge("erfc_tail", lambda x: sd.erfc(x), lambda x: torch.erfc(x), [5.0, 9.0, -5.0, 0.0]),
]


@pytest.mark.parametrize("c", EDGES, ids=ids(EDGES))
def test_edge_points_match_torch(c):
    with np.errstate(all="ignore"):
        c.parity(grad_rtol=1e-5)


@pytest.mark.parametrize("name", ["erf", "erfc", "erfinv"])
def test_fallback_without_scipy(name, monkeypatch):
    """The approximations used when SciPy is missing agree with SciPy to float32 accuracy."""
    x = np.linspace(-0.999, 0.999, 401) if name == "erfinv" else np.linspace(-6, 6, 401)
    exact = getattr(special, f"{name}_array")(x)
    monkeypatch.setattr(special, "_scipy_special", False)
    approx = getattr(special, f"{name}_array")(x)
    np.testing.assert_allclose(approx, exact, rtol=2e-6 if name == "erfinv" else 1e-6, atol=2e-7)
    f32 = getattr(special, f"{name}_array")(x.astype(np.float32))
    assert f32.dtype == np.float32


@pytest.mark.parametrize("fn", [lambda lib: lib.erf(lib.arange(3)), lambda lib: lib.logit(lib.ones(2) * 0.5),
                                lambda lib: lib.xlogy(lib.arange(3), 2),
                                lambda lib: lib.xlogy(lib.arange(3), lib.arange(3)),
                                lambda lib: lib.logaddexp(lib.ones(2), lib.ones(2, dtype=lib.float64))])
def test_dtypes(fn):
    with np.errstate(all="ignore"):
        s = fn(sd)
    t = fn(torch)
    assert s.dtype == t.numpy().dtype
    np.testing.assert_allclose(s.numpy(), t.numpy(), rtol=1e-6)
