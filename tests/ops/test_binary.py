"""Binary arithmetic: + - * / ** neg, maximum/minimum, broadcasting, scalars, in-place, dtype promotion."""
import numpy as np
import pytest
import torch
from helpers import case, check_grad, check_op, ids, spec_tests

import shendu as sd

POS = {"low": 0.5, "high": 2.0}

CASES = [
    case("add", lambda x, y: x + y, None, [(3, 4), (3, 4)]),
    case("add_bcast", lambda x, y: x + y, None, [(3, 1, 4), (5, 4)]),
    case("add_alpha", lambda x, y: x.add(y, alpha=2.5), None, [(3, 4), (4,)]),
    case("sub_bcast", lambda x, y: x - y, None, [(3, 1, 4), (5, 4)]),
    case("sub_alpha", lambda x, y: x.sub(y, alpha=0.5), None, [(2, 3), (2, 3)]),
    case("mul_bcast", lambda x, y: x * y, None, [(3, 1, 4), (5, 4)]),
    case("div_bcast", lambda x, y: x / y, None, [(3, 1, 4), (5, 4)], **POS),
    case("div_self", lambda x: x / x, None, [(3, 4)], **POS),
    case("mul_self", lambda x: x * x, None, [(3, 4)]),
    case("pow_tensor", lambda x, y: x ** y, None, [(3, 4), (3, 4)], **POS),
    case("pow_bcast", lambda x, y: x ** y, None, [(2, 1, 3), (4, 3)], **POS),
    case("pow_2", lambda x: x ** 2, None, [(3, 4)]),
    case("pow_3", lambda x: x ** 3, None, [(3, 4)]),
    case("pow_half", lambda x: x ** 0.5, None, [(3, 4)], **POS),
    case("pow_neg", lambda x: x ** -1.5, None, [(3, 4)], **POS),
    case("pow_0", lambda x: x ** 0, None, [(3, 4)]),
    case("neg", lambda x: -x, None, [(3, 4)]),
    case("scalar_add", lambda x: x + 2.5, None, [(3, 4)]),
    case("scalar_radd", lambda x: 2.5 + x, None, [(3, 4)]),
    case("scalar_rsub", lambda x: 2 - x, None, [(3, 4)]),
    case("scalar_rmul", lambda x: 3 * x, None, [(3, 4)]),
    case("scalar_rdiv", lambda x: 2 / x, None, [(3, 4)], **POS),
    case("scalar_div", lambda x: x / 4, None, [(3, 4)]),
    case("scalar_rpow", lambda x: 2 ** x, None, [(3, 4)]),
    case("scalar_rpow_float", lambda x: 1.5 ** x, None, [(3, 4)]),
    case("np_scalar_mul", lambda x: x * np.float64(1.5), None, [(3, 4)]),
    case("np_scalar_rmul", lambda x: np.float32(1.5) * x, lambda x: x * 1.5, [(3, 4)]),
    case("zero_dim", lambda x, y: x * y + y, None, [(), (3, 4)]),
    case("maximum", lambda x, y: x.maximum(y), None, [(3, 4), (3, 4)]),
    case("maximum_bcast", lambda x, y: x.maximum(y), None, [(3, 1), (1, 4)]),
    case("minimum", lambda x, y: x.minimum(y), None, [(3, 4), (4,)]),
    case("maximum_ties", lambda x, y: x.maximum(y), None,
         [np.array([1.0, 2.0, 3.0, -1.0]), np.array([1.0, 0.0, 3.0, 2.0])], grad=False),
    case("minimum_ties", lambda x, y: x.minimum(y), None,
         [np.array([1.0, 2.0, 3.0, -1.0]), np.array([1.0, 0.0, 3.0, 2.0])], grad=False),
    case("chain", lambda x, y: (x * y - y / (x * x + 1)) ** 2, None, [(2, 3), (2, 3)]),
]


test_parity, test_gradcheck, test_gradgradcheck = spec_tests(CASES)


def test_noncontiguous_inputs():
    check_op(lambda x, y: x * y + x / (y * y + 1), None, [(3, 4), (3, 4)], noncontig=True)
    check_op(lambda x, y: x.mT - y, None, [(4, 3), (3, 4)])


@pytest.mark.parametrize("op", ["add_", "sub_", "mul_", "div_", "iadd", "isub", "imul", "idiv"])
def test_inplace_on_non_grad_tensors(op):
    a = np.random.default_rng(0).uniform(0.5, 2, (3, 4)).astype(np.float32)
    b = np.random.default_rng(1).uniform(0.5, 2, (4,)).astype(np.float32)
    results = []
    for lib in (sd, torch):
        x, y = lib.tensor(a.copy()), lib.tensor(b.copy())
        before = x
        if op.endswith("_"):
            out = getattr(x, op)(y)
            assert out is x
        elif op == "iadd":
            x += y
        elif op == "isub":
            x -= y
        elif op == "imul":
            x *= y
        else:
            x /= y
        assert x is before
        results.append(np.asarray(x.numpy()))
    assert results[0].dtype == np.float32
    np.testing.assert_allclose(results[0], results[1], rtol=1e-6)


def test_inplace_scalar_keeps_float32():
    x = sd.ones(2, 3)
    x.mul_(2)
    x += 1.5
    x.add_(sd.ones(3), alpha=2)
    assert x.dtype == sd.float32
    np.testing.assert_allclose(x.numpy(), np.full((2, 3), 5.5, dtype=np.float32))


def test_inplace_on_grad_leaf_raises():
    x = sd.ones(2, 3, requires_grad=True)
    with pytest.raises(RuntimeError, match="in-place"):
        x += 1
    with pytest.raises(RuntimeError, match="mul_"):
        x.mul_(2)


PROMOTIONS = [
    ("f32*py_float", lambda lib: lib.ones(2, dtype=lib.float32) * 2.5),
    ("f32*py_int", lambda lib: lib.ones(2, dtype=lib.float32) * 3),
    ("f32*np_f64", lambda lib: lib.ones(2, dtype=lib.float32) * np.float64(2.5)),
    ("np_f64*f32", lambda lib: np.float64(2.5) * lib.ones(2, dtype=lib.float32)),
    ("f32+np_f32", lambda lib: lib.ones(2, dtype=lib.float32) + np.float32(2.5)),
    ("f32/np_i64", lambda lib: lib.ones(2, dtype=lib.float32) / np.int64(2)),
    ("int*float", lambda lib: lib.arange(3) * 1.5),
    ("int*int", lambda lib: lib.arange(3) * 2),
    ("int/int", lambda lib: lib.arange(3) / lib.arange(1, 4)),
    ("int/py_int", lambda lib: lib.arange(3) / 2),
    ("int+f32", lambda lib: lib.arange(3) + lib.ones(3)),
    ("f32+f64", lambda lib: lib.ones(3) + lib.ones(3, dtype=lib.float64)),
    ("f32**py_int", lambda lib: lib.ones(3) ** 2),
    ("py_float**f32", lambda lib: 2.0 ** lib.ones(3)),
    ("int**py_float", lambda lib: lib.arange(3) ** 0.5),
    ("rsub_int", lambda lib: 2 - lib.arange(3)),
    ("rdiv_int", lambda lib: 2 / lib.arange(1, 4)),
    ("bool+int", lambda lib: lib.ones(3, dtype=lib.bool) + lib.arange(3)),
    ("maximum_int_f32", lambda lib: lib.maximum(lib.arange(3), lib.ones(3))),
    ("where_f32_py", lambda lib: lib.where(lib.arange(3) > 0, lib.ones(3), 0.0)),
    ("int_tensor_floordiv", lambda lib: lib.arange(7) // 2),
    ("int_tensor_mod", lambda lib: lib.arange(7) % 3),
]


@pytest.mark.parametrize("name,fn", PROMOTIONS, ids=[p[0] for p in PROMOTIONS])
def test_dtype_promotion(name, fn):
    s, t = fn(sd), fn(torch)
    assert s.dtype == t.numpy().dtype, f"{name}: {s.dtype} vs torch {t.dtype}"
    assert s.shape == tuple(t.shape)
    np.testing.assert_allclose(s.numpy(), t.numpy(), rtol=1e-6)


def test_comparisons_match_torch():
    a = np.array([1.0, 2.0, 3.0], dtype=np.float32)
    b = np.array([2.0, 2.0, 1.0], dtype=np.float32)
    for name in ("eq", "ne", "lt", "le", "gt", "ge"):
        s = getattr(sd.tensor(a), name)(sd.tensor(b))
        t = getattr(torch.tensor(a), name)(torch.tensor(b))
        assert s.dtype == np.bool_
        np.testing.assert_array_equal(s.numpy(), t.numpy())
    x = sd.tensor(a, requires_grad=True)
    assert not (x > 1).requires_grad


@pytest.mark.parametrize("op,fn", [("add", lambda a, b: a + b), ("sub", lambda a, b: a - b),
                                   ("mul", lambda a, b: a * b), ("div", lambda a, b: a / b),
                                   ("pow", lambda a, b: a ** b), ("maximum", sd.maximum), ("minimum", sd.minimum),
                                   ("lt", lambda a, b: a < b)])
def test_broadcast_error_names_op_and_shapes(op, fn):
    with pytest.raises(RuntimeError, match=rf"{op}.*\(3, 4\).*\(5, 4\)"):
        fn(sd.ones(3, 4), sd.ones(5, 4))


POW_EDGE = [
    case("pow_base0", lambda x, y: x ** y, None, [np.array([0.0, 1.0, 2.0, 0.0]), np.array([0.5, 2.0, 1.0, 0.0])],
         grad=False),
    case("pow_exp0_at0", lambda x: x ** 0, None, [np.array([0.0, 1.0, -2.0])], grad=False),
    case("pow_tensor_exp0_at0", lambda x, y: x ** y, None, [np.array([0.0, 1.0, -2.0]), np.zeros(3)], grad=False),
    case("rpow_at0", lambda x: 0.0 ** x, None, [np.array([0.5, 1.0, 2.0])], grad=False),
]


@pytest.mark.parametrize("c", POW_EDGE, ids=ids(POW_EDGE))
def test_pow_gradient_at_zero_matches_torch(c):
    """0 ** b and a ** 0 have finite gradients in PyTorch (masked), not 0 * inf = nan."""
    with np.errstate(all="ignore"):
        c.parity()


ROUNDING = [
    case("remainder", lambda x, y: x % y, None, [(3, 4), np.array([0.7, -1.3, 0.9, 2.1])]),
    case("remainder_scalar", lambda x: x % 0.7, None, [(3, 4)]),
    case("rmod", lambda x: 2.5 % x, None, [(3, 4)], low=0.3, forward_only=True),  # PyTorch has no gradient
    case("remainder_fn", lambda x, y: x.remainder(y), None, [(3, 4), np.array([0.7, -1.3, 0.9, 2.1])]),
    case("div_floor", lambda x, y: x.div(y, rounding_mode="floor"), None, [(3, 4), np.array([0.7, -1.3, 0.9, 0.1])]),
    case("div_trunc", lambda x, y: x.div(y, rounding_mode="trunc"), None, [(3, 4), np.array([0.7, -1.3, 0.9, 0.1])]),
    case("div_floor_exact", lambda x: x.div(0.1, rounding_mode="floor"), None, [np.array([1.0, 0.3, -1.0])]),
]


@pytest.mark.parametrize("c", ROUNDING, ids=ids(ROUNDING))
def test_rounding_division_and_remainder(c):
    c.parity()


def test_remainder_gradcheck():
    check_grad(lambda x, y: x % y, [(3, 4), np.array([0.7, -1.3, 0.9, 2.1])])
    check_grad(lambda x: 2.5 % x, [(3, 4)], low=0.3)


@pytest.mark.parametrize("mode", [None, "floor", "trunc"])
def test_integer_division_dtypes(mode):
    a, b = np.array([7, -7, 5, -5, 0]), np.array([2, 2, -3, -3, 4])
    s = sd.tensor(a).div(sd.tensor(b), rounding_mode=mode)
    t = torch.tensor(a).div(torch.tensor(b), rounding_mode=mode)
    assert s.dtype == t.numpy().dtype
    np.testing.assert_array_equal(s.numpy(), t.numpy())
    s, t = sd.tensor(a) % sd.tensor(b), torch.tensor(a) % torch.tensor(b)
    assert s.dtype == t.numpy().dtype
    np.testing.assert_array_equal(s.numpy(), t.numpy())
    np.testing.assert_array_equal((sd.tensor(a) // 2).numpy(), (torch.tensor(a) // 2).numpy())


def test_bad_rounding_mode_raises():
    with pytest.raises(ValueError, match="div.*rounding_mode"):
        sd.ones(3).div(2, rounding_mode="round")
