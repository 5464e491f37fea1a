"""Unary elementwise ops (shendu/ops/elementwise.py): exponentials, logs, powers, rounding, signs,
clamping, NaN/inf handling, where. PyTorch parity, float64 gradcheck, exact kinks, dtypes."""
import numpy as np
import pytest
import torch
from helpers import Const, case, check_op, ids, spec_tests

import shendu as sd

POS = {"low": 0.1, "high": 3.0}
# Keep gradcheck's finite differences away from kinks (abs at 0, clamp at ±0.4) and from integers
# and half-integers (the rounding ops).
AWAY0 = np.array([[-1.5, -0.7, -0.2, 0.3], [0.8, 1.7, -1.1, 0.05], [-0.05, 2.2, -2.5, 0.6]]) + 0.01


def _method(name, shape=(3, 4), **opts):
    return case(name, lambda x: getattr(x, name)(), None, [shape], **opts)


def _torch(name, shape=(3, 4), **opts):
    """``shendu.name(x)`` against ``torch.name(x)``."""
    return case(f"torch.{name}", lambda x: getattr(sd, name)(x), lambda x: getattr(torch, name)(x), [shape], **opts)


CASES = [
    _method("exp"),
    _method("exp2"),
    _torch("exp2"),
    _method("expm1"),
    _method("log", **POS),
    _method("log2", **POS),
    _method("log10", **POS),
    _torch("log10", **POS),
    _method("log1p", low=-0.5, high=2.0),
    _method("sqrt", **POS),
    _method("rsqrt", **POS, rtol=1e-5, atol=1e-5),
    _method("square"),
    _torch("square"),
    _method("reciprocal", **POS),
    case("reciprocal_neg", lambda x: sd.reciprocal(x), lambda x: torch.reciprocal(x), [(3, 4)], low=-3.0, high=-0.2),
    case("neg", lambda x: -x, None, [(3, 4)]),
    case("negative", lambda x: sd.negative(x), lambda x: torch.negative(x), [(3, 4)]),
    case("positive", lambda x: sd.positive(x) * 2.0, lambda x: torch.positive(x) * 2.0, [(3, 4)]),
    case("abs", lambda x: x.abs(), None, [AWAY0]),
    case("absolute", lambda x: sd.absolute(x), lambda x: torch.absolute(x), [AWAY0]),
    case("frac", lambda x: x.frac(), None, [AWAY0 * 2.3]),
    case("torch.frac", lambda x: sd.frac(x), lambda x: torch.frac(x), [AWAY0 * 2.3]),
    case("clamp_min", lambda x: x.clamp(min=-0.4), None, [AWAY0]),
    case("clamp_max", lambda x: x.clamp(max=0.4), None, [AWAY0]),
    case("clamp_both", lambda x: x.clamp(-0.4, 0.4), None, [AWAY0]),
    case("clip", lambda x: x.clip(-0.4, 0.4), None, [AWAY0]),
    case("clamp_min_fn", lambda x: sd.clamp_min(x, -0.4), lambda x: torch.clamp_min(x, -0.4), [AWAY0]),
    case("clamp_max_fn", lambda x: sd.clamp_max(x, 0.4), lambda x: torch.clamp_max(x, 0.4), [AWAY0]),
    case("clamp_min_method", lambda x: x.clamp_min(0.1), None, [AWAY0]),
    case("clamp_max_method", lambda x: x.clamp_max(0.1), None, [AWAY0]),
    case("clamp_tensor_bounds_const", lambda x, lo, hi: x.clamp(lo, hi), None,
         [AWAY0, Const(np.full((3, 4), -0.4, dtype=np.float32)), Const(np.float32([0.5, 1.0, 0.2, 2.0]))]),
    # bounds that need gradients, broadcast, one row with min > max (then max wins everywhere)
    case("clamp_tensor_bounds_grad", lambda x, lo, hi: sd.clamp(x, lo, hi), lambda x, lo, hi: torch.clamp(x, lo, hi),
         [AWAY0, np.array([[-0.45], [0.33], [0.9]]), np.array([0.51, 1.03, 0.21, 0.48])]),
    case("clamp_min_tensor", lambda x, lo: sd.clamp_min(x, lo), lambda x, lo: torch.clamp_min(x, lo),
         [AWAY0, np.array([0.22, -0.33, 0.45, -0.1])]),
    case("clamp_max_tensor", lambda x, hi: x.clamp(max=hi), None, [AWAY0, np.array([0.22, -0.33, 0.45, -0.1])]),
    case("nan_to_num_finite", lambda x: x.nan_to_num(), None, [(3, 4)]),
    case("where", lambda x, y: sd.where(x > 0, x, y), lambda x, y: torch.where(x > 0, x, y), [AWAY0, (3, 4)]),
    case("where_bcast", lambda x, y: sd.where(y > 0, x, y), lambda x, y: torch.where(y > 0, x, y),
         [(3, 1), (1, 4)]),
    case("where_cond_bcast", lambda c, x, y: sd.where(c, x, y), lambda c, x, y: torch.where(c, x, y),
         [Const(np.array([True, False, True, False])), (3, 4), (3, 1)]),
    case("where_scalar", lambda x: sd.where(x > 0, x, 0.0), lambda x: torch.where(x > 0, x, 0.0), [AWAY0]),
    case("where_scalar_first", lambda x: sd.where(x > 0, 1.5, x), lambda x: torch.where(x > 0, 1.5, x), [AWAY0]),
    case("method_where", lambda x, y: x.where(x > 0, y), None, [AWAY0, (3, 4)]),
    case("sigmoid", lambda x: x.sigmoid(), None, [(3, 4)]),
    case("relu", lambda x: x.relu(), None, [AWAY0]),
    case("torch.relu", lambda x: sd.relu(x), lambda x: torch.relu(x), [AWAY0]),
    # piecewise-constant: zero gradients, compared with PyTorch's (forward and gradient)
    case("sign", lambda x: x.sign(), None, [AWAY0], grad=False),
    # (PyTorch's sgn gradient is a ZeroTensor, which has no NumPy view: add an ordinary zero)
    case("sgn", lambda x: x.sgn(), lambda x: x.sgn() + x * 0.0, [AWAY0], grad=False),
    case("floor", lambda x: x.floor(), None, [AWAY0 * 2.3], grad=False),
    case("ceil", lambda x: x.ceil(), None, [AWAY0 * 2.3], grad=False),
    case("trunc", lambda x: x.trunc(), None, [AWAY0 * 2.3], grad=False),
    case("fix", lambda x: sd.fix(x), lambda x: torch.fix(x), [AWAY0 * 2.3], grad=False),
    case("round", lambda x: x.round(), None, [AWAY0 * 2.3], grad=False),
    case("round_decimals", lambda x: x.round(decimals=2), None, [(3, 4)], grad=False, high=20.0),
    case("round_neg_decimals", lambda x: sd.round(x, decimals=-1), lambda x: torch.round(x, decimals=-1),
         [(3, 4)], grad=False, low=-200.0, high=200.0),
    case("chain_noncontig", lambda x: x.mT.exp().sigmoid(), None, [(4, 3)], noncontig=True),
    case("empty", lambda x: x.exp() * x.sigmoid(), None, [(0, 3)]),
]


test_parity, test_gradcheck, test_gradgradcheck = spec_tests(CASES)


def _kink(label, sd_fn, torch_fn, *values):
    return case(label, sd_fn, torch_fn, [np.array(v, dtype=np.float64) for v in values])


# Exact kinks, bounds and rounding ties: forward values and the gradient PyTorch gives there.
KINKS = [
    _kink("abs_at_0", lambda x: x.abs(), None, [0.0, -0.0, 1.0, -1.0]),
    _kink("sign_at_0", lambda x: x.sign(), None, [0.0, -0.0, 2.0, -2.0]),
    _kink("sgn_at_0", lambda x: x.sgn(), lambda x: x.sgn() + x * 0.0, [0.0, 2.0]),
    _kink("relu_at_0", lambda x: x.relu(), None, [0.0, -0.0, 1.0]),
    _kink("clamp_at_bounds", lambda x: x.clamp(-1.0, 1.0), None, [-1.0, 1.0, 0.0, -2.0, 2.0]),
    _kink("clamp_min_at_bound", lambda x: x.clamp(min=0.5), None, [0.5, 0.0, 1.0]),
    _kink("clamp_max_at_bound", lambda x: x.clamp(max=0.5), None, [0.5, 0.0, 1.0]),
    _kink("clamp_min_gt_max", lambda x: x.clamp(1.0, 0.0), None, [-1.0, 0.0, 0.5, 1.0, 3.0]),
    _kink("clamp_equal_bounds", lambda x: x.clamp(0.5, 0.5), None, [0.5, 0.0, 1.0]),
    _kink("clamp_tensor_at_bounds", lambda x, lo, hi: sd.clamp(x, lo, hi), lambda x, lo, hi: torch.clamp(x, lo, hi),
          [1.0, 2.0, 2.5, 0.0, -1.0, 4.0], [1.0, 3.0, 0.0, 0.0, 0.0, 0.0], [2.0, 2.5, 2.5, 0.0, 1.0, 1.0]),
    _kink("clamp_min_tensor_at_bound", lambda x, lo: sd.clamp(x, min=lo), lambda x, lo: torch.clamp(x, min=lo),
          [1.0, 2.0, 0.0], [1.0, 3.0, -1.0]),
    _kink("clamp_max_tensor_at_bound", lambda x, hi: sd.clamp(x, max=hi), lambda x, hi: torch.clamp(x, max=hi),
          [1.0, 2.0, 0.0], [1.0, 3.0, -1.0]),
    _kink("floor_at_int", lambda x: x.floor(), None, [1.0, -1.0, 0.0, 1.5]),
    _kink("ceil_at_int", lambda x: x.ceil(), None, [1.0, -1.0, 0.0, 1.5]),
    _kink("round_half_even", lambda x: x.round(), None, [0.5, 1.5, 2.5, -0.5, -1.5, 0.49]),
    _kink("round_decimals_ties", lambda x: x.round(decimals=1), None, [0.25, 0.35, -0.25, 1.05]),
    _kink("frac_at_int", lambda x: x.frac(), None, [1.0, -1.0, 0.0, -1.5]),
    _kink("trunc_at_int", lambda x: x.trunc(), None, [1.0, -1.0, -0.5, 0.5]),
    _kink("sqrt_at_0", lambda x: x.sqrt(), None, [0.0, 1.0]),
    _kink("nan_to_num", lambda x: x.nan_to_num(), None, [np.nan, np.inf, -np.inf, 1.5]),
    _kink("nan_to_num_values", lambda x: sd.nan_to_num(x, nan=1.0, posinf=2.0, neginf=-3.0),
          lambda x: torch.nan_to_num(x, nan=1.0, posinf=2.0, neginf=-3.0), [np.nan, np.inf, -np.inf, 1.5]),
    _kink("where_at_tie", lambda x: sd.where(x >= 0, x, -x), lambda x: torch.where(x >= 0, x, -x), [0.0, 1.0, -1.0]),
]


@pytest.mark.parametrize("c", KINKS, ids=ids(KINKS))
def test_gradient_at_kinks_matches_torch(c):
    with np.errstate(all="ignore"):
        c.parity(grad_atol=0.0, grad_rtol=1e-6)


def test_abs_and_clamp_kink_gradients_literal():
    x = sd.tensor([0.0, -1.0, 1.0], requires_grad=True)
    x.abs().backward(sd.ones(3))
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, -1.0, 1.0])
    x = sd.tensor([-1.0, 1.0, 0.0, 2.0], requires_grad=True)
    x.clamp(-1.0, 1.0).backward(sd.ones(4))
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 1.0, 1.0, 0.0])


TESTS = [
    ("isnan", None), ("isinf", None), ("isfinite", None), ("isposinf", None), ("isneginf", None),
    ("signbit", None), ("logical_not", None),
]
SPECIAL_VALUES = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.5, -2.0], dtype=np.float32)


@pytest.mark.parametrize("name", [t[0] for t in TESTS])
def test_bool_valued_tests(name):
    x = sd.tensor(SPECIAL_VALUES, requires_grad=True)
    s, t = getattr(sd, name)(x), getattr(torch, name)(torch.from_numpy(SPECIAL_VALUES))
    assert s.dtype == sd.bool and not s.requires_grad
    np.testing.assert_array_equal(s.numpy(), t.numpy())
    np.testing.assert_array_equal(getattr(x, name)().numpy(), t.numpy())


INT = np.array([-3, -1, 0, 2, 5])
INT_RESULTS = ["exp", "exp2", "expm1", "log1p", "sqrt", "rsqrt", "reciprocal", "sigmoid", "abs", "sign",
               "square", "floor", "ceil", "trunc", "round", "neg", "relu", "nan_to_num", "log2"]


@pytest.mark.parametrize("name", INT_RESULTS)
def test_integer_inputs_dtype_and_values(name):
    """Float-valued ops give the default float for integer input; integer-valued ones stay int64."""
    with np.errstate(all="ignore"):
        s = getattr(sd, name)(sd.tensor(INT))
    t = getattr(torch, name)(torch.tensor(INT))
    assert s.dtype == t.numpy().dtype, f"{name}: {s.dtype} vs torch {t.dtype}"
    np.testing.assert_allclose(s.numpy(), t.numpy(), rtol=1e-6, equal_nan=True)


@pytest.mark.parametrize("fn", [lambda lib: lib.clamp(lib.arange(4), 0.5, 2.5),
                                lambda lib: lib.clamp(lib.arange(4), min=1),
                                lambda lib: lib.clamp(lib.arange(4), max=lib.tensor([0.5, 1.5, 2.5, 3.5])),
                                lambda lib: lib.clamp(lib.ones(3), min=lib.tensor([0.5, 2.0, 1.0], dtype=lib.float64)),
                                lambda lib: lib.where(lib.arange(3) > 0, lib.arange(3), 0.5),
                                lambda lib: lib.where(lib.arange(3) > 0, 1.5, 0.0),
                                lambda lib: lib.where(lib.arange(3) > 0, lib.ones(3), lib.zeros(3, dtype=lib.float64))])
def test_clamp_and_where_dtypes(fn):
    s, t = fn(sd), fn(torch)
    assert s.dtype == t.numpy().dtype, f"{s.dtype} vs torch {t.dtype}"
    np.testing.assert_allclose(s.numpy(), t.numpy(), rtol=1e-6)


def test_float32_stays_float32():
    x = sd.randn(3, 4)
    for fn in (sd.exp, sd.exp2, sd.sigmoid, sd.log2, sd.reciprocal, sd.square, sd.frac, sd.nan_to_num,
               lambda t: t.clamp(-1, 1), lambda t: t.clamp(np.float64(-1.0)), sd.rsqrt, lambda t: t.round(decimals=3)):
        assert fn(x.abs() + 0.1).dtype == sd.float32


def test_errors():
    with pytest.raises(ValueError, match="clamp"):
        sd.ones(3).clamp()
    with pytest.raises(RuntimeError, match=r"where.*\(3,\).*\(2, 4\)"):
        sd.where(sd.ones(3) > 0, sd.ones(2, 4, requires_grad=True), 0.0)
    with pytest.raises(RuntimeError, match="frac.*int64"):
        sd.frac(sd.arange(3))
    with pytest.raises(RuntimeError, match="positive.*bool"):
        sd.positive(sd.ones(2) > 0)
    with pytest.raises(RuntimeError, match="neg.*bool"):
        -(sd.ones(2) > 0)
    with pytest.raises(RuntimeError, match="round: decimals.*int64"):
        sd.round(sd.arange(3), decimals=1)


def test_positive_is_identity():
    x = sd.ones(3)
    assert sd.positive(x) is x
    check_op(lambda t: +t * 3.0, None, [(2, 3)])


@pytest.mark.parametrize("bounds", [dict(min=-1.0, max=1.0), dict(min=-1.0), dict(max=1.0), "tensors"])
def test_clamp_passes_no_gradient_at_clamped_points_even_an_infinite_one(bounds):
    x = np.array([-2.0, 0.5, 3.0], dtype=np.float32)
    up = np.array([np.inf, 1.0, -np.inf], dtype=np.float32)
    xs, xt = sd.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    if bounds == "tensors":
        ys, yt = xs.clamp(sd.tensor(-1.0), sd.tensor(1.0)), xt.clamp(torch.tensor(-1.0), torch.tensor(1.0))
    else:
        ys, yt = xs.clamp(**bounds), xt.clamp(**bounds)
    ys.backward(sd.tensor(up))
    yt.backward(torch.tensor(up))
    np.testing.assert_array_equal(xs.grad.numpy(), xt.grad.numpy())
