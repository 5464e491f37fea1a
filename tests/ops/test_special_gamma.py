"""The gamma family of shendu/ops/special.py: lgamma, digamma, polygamma, mvlgamma.
PyTorch parity (values, dtypes, gradients under a random upstream gradient), float64 gradcheck and
gradgradcheck, the poles, and the SciPy-free series against SciPy."""
import numpy as np
import pytest
import torch
from helpers import case, spec_tests

import shendu as sd
from shendu.ops import special

POS = {"low": 0.3, "high": 4.0}

CASES = [
    case("lgamma", lambda x: sd.lgamma(x), lambda x: torch.lgamma(x), [(3, 4)], **POS),
    case("lgamma_negative", lambda x: x.lgamma(), lambda x: x.lgamma(), [np.array([-0.5, -1.7, -2.3, -3.6])]),
    case("digamma", lambda x: sd.digamma(x), lambda x: torch.digamma(x), [(3, 4)], **POS),
    case("digamma_negative", lambda x: x.digamma(), lambda x: x.digamma(), [np.array([-0.5, -1.7, -2.3, -3.6])]),
    case("polygamma1", lambda x: sd.polygamma(1, x), lambda x: torch.polygamma(1, x), [(3, 4)], **POS),
    case("polygamma2_method", lambda x: x.polygamma(2), lambda x: x.polygamma(2), [(3, 4)], **POS),
    case("polygamma0", lambda x: sd.polygamma(0, x), lambda x: torch.polygamma(0, x), [(5,)], **POS),
    case("mvlgamma", lambda x: sd.mvlgamma(x, 3), lambda x: torch.mvlgamma(x, 3), [(2, 3)], low=1.2, high=4.0),
    case("mvlgamma_method", lambda x: x.mvlgamma(1), lambda x: x.mvlgamma(1), [(4,)], **POS),
]

test_parity, test_gradcheck, test_gradgradcheck = spec_tests(CASES)


@pytest.mark.parametrize("name", ["lgamma", "digamma"])
def test_poles_match_torch(name):
    x = np.array([0.0, -1.0, -2.0, 1.0, 2.0, 0.5, -0.5])
    got = getattr(sd, name)(sd.tensor(x))
    want = getattr(torch, name)(torch.tensor(x))
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12, equal_nan=True)


@pytest.mark.parametrize("fn", [lambda lib: lib.lgamma(lib.arange(1, 4)), lambda lib: lib.digamma(lib.arange(1, 4)),
                                lambda lib: lib.polygamma(1, lib.arange(1, 4)),
                                lambda lib: lib.lgamma(lib.ones(2, dtype=lib.float64))])
def test_dtypes(fn):
    assert fn(sd).dtype == fn(torch).numpy().dtype


@pytest.mark.parametrize("name", ["lgamma", "digamma", "polygamma1", "polygamma3"])
def test_fallback_without_scipy(name, monkeypatch):
    """The series used without SciPy agree with SciPy to ~1e-12 (poles excluded)."""
    x = np.concatenate([np.linspace(0.01, 40, 300), np.linspace(-7.95, -0.05, 80)])
    x = x[np.abs(x - np.round(x)) > 1e-3]
    fn = {"lgamma": special.lgamma_array, "digamma": special.digamma_array,
          "polygamma1": lambda v: special.polygamma_array(1, v), "polygamma3": lambda v: special.polygamma_array(3, v)}
    exact = fn[name](x)
    monkeypatch.setattr(special, "_scipy_special", False)
    approx = fn[name](x)
    np.testing.assert_allclose(approx, exact, rtol=1e-11, atol=1e-12)
    assert fn[name](x.astype(np.float32)).dtype == np.float32


def test_bad_arguments():
    with pytest.raises(RuntimeError, match="negative n"):
        sd.polygamma(-1, sd.ones(2))
    with pytest.raises(TypeError, match="polygamma"):
        sd.polygamma(1.5, sd.ones(2))
    with pytest.raises(RuntimeError, match="p has to be greater than or equal to 1"):
        sd.mvlgamma(sd.ones(2), 0)
