"""Binary arithmetic: + - * / ** neg, maximum/minimum, broadcasting, scalars, in-place, dtype promotion."""
import numpy as np
import pytest
import torch
from helpers import case, check_grad, check_op, ids, spec_tests, torch_dtype_as_numpy

import shendu as sd
from shendu import dtypes

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
    case("max_binary", lambda x, y: sd.max(x, y), lambda x, y: torch.max(x, y), [(3, 4), (3, 4)]),
    case("chain", lambda x, y: (x * y - y / (x * x + 1)) ** 2, None, [(2, 3), (2, 3)]),
    case("multiply_divide", lambda x, y: sd.divide(sd.multiply(x, y), y + 3.0),
         lambda x, y: torch.divide(torch.multiply(x, y), y + 3.0), [(3, 4), (3, 4)], **POS),
    case("subtract_alpha", lambda x, y: sd.subtract(x, y, alpha=2.0), lambda x, y: torch.subtract(x, y, alpha=2.0),
         [(3, 4), (4,)]),
    case("true_divide", lambda x, y: sd.true_divide(x, y), lambda x, y: torch.true_divide(x, y),
         [(3, 4), (3, 4)], **POS),
    case("float_power", lambda x: sd.float_power(x, 2.5), lambda x: torch.float_power(x, 2.5), [(3, 4)], **POS),
    case("float_power_tensor", lambda x, y: x.float_power(y), None, [(3, 4), (4,)], **POS),
    case("copysign", lambda x, y: sd.copysign(x, y), lambda x, y: torch.copysign(x, y), [(3, 4), (3, 4)]),
    case("copysign_scalar", lambda x: x.copysign(-1.0), None, [(3, 4)]),
    case("lerp_scalar", lambda x, y: sd.lerp(x, y, 0.3), lambda x, y: torch.lerp(x, y, 0.3), [(3, 4), (3, 4)]),
    case("lerp_tensor_weight", lambda x, y, w: x.lerp(y, w), None, [(3, 4), (3, 4), (4,)]),
    case("lerp_bcast", lambda x, y: sd.lerp(x, y, 0.75), lambda x, y: torch.lerp(x, y, 0.75), [(3, 1), (4,)]),
    case("addcmul", lambda x, a, b: sd.addcmul(x, a, b, value=0.5), lambda x, a, b: torch.addcmul(x, a, b, value=0.5),
         [(3, 4), (3, 4), (4,)]),
    case("addcmul_method", lambda x, a, b: x.addcmul(a, b), None, [(3, 4), (3, 1), (3, 4)]),
    case("addcdiv", lambda x, a, b: sd.addcdiv(x, a, b, value=-2.0), lambda x, a, b: torch.addcdiv(x, a, b, value=-2.0),
         [(3, 4), (3, 4), (3, 4)], **POS),
    case("addcdiv_method", lambda x, a, b: x.addcdiv(a, b), None, [(3, 4), (4,), (3, 4)], **POS),
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
    ("f32+f64_zero_dim", lambda lib: lib.ones(3) + lib.tensor(2.5, dtype=lib.float64)),
    ("int+f64_zero_dim", lambda lib: lib.arange(3) + lib.tensor(2.5, dtype=lib.float64)),
    ("f16*py_float", lambda lib: lib.ones(3, dtype=lib.float16) * 2.5),
    ("f16+int_tensor", lambda lib: lib.ones(3, dtype=lib.float16) + lib.arange(3)),
    ("i32*py_int", lambda lib: lib.ones(3, dtype=lib.int32) * 3),
    ("i32+np_i64", lambda lib: lib.ones(3, dtype=lib.int32) + np.int64(3)),
    ("i32+i64_zero_dim", lambda lib: lib.ones(3, dtype=lib.int32) + lib.tensor(3)),
    ("u8+i8", lambda lib: lib.ones(3, dtype=lib.uint8) + lib.ones(3, dtype=lib.int8)),
    ("u8-py_int_wraps", lambda lib: lib.zeros(3, dtype=lib.uint8) + (-1)),
    ("bool*py_float", lambda lib: lib.ones(3, dtype=lib.bool) * 1.5),
    ("bool+py_bool", lambda lib: lib.ones(3, dtype=lib.bool) + True),
    ("zero_dim_f64_alone", lambda lib: lib.tensor(1.5, dtype=lib.float64) * 2),
    ("int_pow_py_int", lambda lib: lib.arange(4) ** 2),
    ("py_float_pow_int", lambda lib: 1.5 ** lib.arange(4)),
    ("py_int_pow_int", lambda lib: 2 ** lib.arange(4)),
    ("int_pow_f32_zero_dim", lambda lib: lib.arange(4) ** lib.tensor(2.0)),
    ("int_div_floor_float", lambda lib: lib.arange(-3, 4).div(2.0, rounding_mode="floor")),
    ("int_cmp_float", lambda lib: lib.arange(4) < 1.5),
    ("float_power_f32", lambda lib: lib.float_power(lib.ones(3), 2)),
    ("float_power_int", lambda lib: lib.float_power(lib.arange(3), lib.arange(3))),
    ("copysign_int", lambda lib: lib.copysign(lib.arange(3), -1)),
    ("fmod_int", lambda lib: lib.fmod(lib.arange(-3, 4), 2)),
    ("remainder_int", lambda lib: lib.remainder(lib.arange(-3, 4), -2)),
    ("fmod_int_float", lambda lib: lib.fmod(lib.arange(-3, 4), 1.5)),
    ("addcmul_int", lambda lib: lib.addcmul(lib.arange(3), lib.arange(3), lib.arange(3), value=2)),
    ("lerp_f32", lambda lib: lib.lerp(lib.zeros(3), lib.ones(3), lib.tensor([0.0, 0.5, 1.0]))),
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
    case("fmod", lambda x, y: sd.fmod(x, y), lambda x, y: torch.fmod(x, y), [(3, 4), np.array([0.7, -1.3, 0.9, 2.1])]),
    case("fmod_scalar", lambda x: x.fmod(0.7), None, [(3, 4)]),
    case("fmod_method", lambda x, y: x.fmod(y), None, [(3, 4), np.array([-0.7, 1.3, -0.9, 2.1])]),
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
    check_grad(lambda x, y: sd.fmod(x, y), [(3, 4), np.array([0.7, -1.3, 0.9, 2.1])])


def _kink(label, sd_fn, torch_fn, *values):
    return case(label, sd_fn, torch_fn, [np.array(v, dtype=np.float64) for v in values])


# Ties and other exact kink points: PyTorch's gradients there.
KINKS = [
    _kink("maximum_ties", lambda a, b: sd.maximum(a, b), lambda a, b: torch.maximum(a, b),
          [1.0, 2.0, -1.0, 0.0, 3.0], [1.0, 1.0, 2.0, 0.0, 3.0]),
    _kink("minimum_ties", lambda a, b: sd.minimum(a, b), lambda a, b: torch.minimum(a, b),
          [1.0, 2.0, -1.0, 0.0, 3.0], [1.0, 1.0, 2.0, 0.0, 3.0]),
    _kink("maximum_ties_bcast", lambda a, b: a.maximum(b), None, [[1.0, 2.0], [0.0, 1.0]], [1.0]),
    _kink("max_binary_ties", lambda a, b: sd.max(a, b), lambda a, b: torch.max(a, b), [1.0, 2.0], [1.0, 3.0]),
    _kink("remainder_exact", lambda a, b: sd.remainder(a, b), lambda a, b: torch.remainder(a, b),
          [2.0, -3.0, 1.5, 0.0], [1.0, 1.5, -0.5, 2.0]),
    _kink("fmod_exact", lambda a, b: sd.fmod(a, b), lambda a, b: torch.fmod(a, b),
          [2.0, -3.0, 1.5, 0.0], [1.0, 1.5, -0.5, 2.0]),
    _kink("copysign_at_0", lambda a, b: sd.copysign(a, b), lambda a, b: torch.copysign(a, b),
          [0.0, 0.0, -0.0, 2.0, -2.0], [-0.0, 1.0, -1.0, -1.0, 0.0]),
    _kink("pow_half_at_0", lambda a: a ** 0.5, None, [0.0, 1.0]),
    _kink("float_power_at_0", lambda a: sd.float_power(a, 2), lambda a: torch.float_power(a, 2), [0.0, -1.0]),
    _kink("div_floor_exact_grad", lambda a, b: a.div(b, rounding_mode="floor"), None, [2.0, -3.0], [1.0, 1.5]),
]


@pytest.mark.parametrize("c", KINKS, ids=ids(KINKS))
def test_gradient_at_kinks_matches_torch(c):
    with np.errstate(all="ignore"):
        c.parity(grad_atol=0.0, grad_rtol=1e-6)


def test_maximum_tie_splits_half_half():
    a, b = sd.tensor([1.0, 2.0], requires_grad=True), sd.tensor([1.0, 1.0], requires_grad=True)
    sd.maximum(a, b).backward(sd.ones(2))
    np.testing.assert_array_equal(a.grad.numpy(), [0.5, 1.0])
    np.testing.assert_array_equal(b.grad.numpy(), [0.5, 0.0])


def test_heaviside():
    x = np.array([-1.5, 0.0, 2.0, -0.0], dtype=np.float32)
    v = np.array([0.5, 0.25, 0.75, 1.0], dtype=np.float32)
    for values in (v, v[1:2]):
        s = sd.heaviside(sd.tensor(x, requires_grad=True), sd.tensor(values))
        t = torch.heaviside(torch.from_numpy(x), torch.from_numpy(values))
        np.testing.assert_array_equal(s.numpy(), t.numpy())
        assert s.dtype == sd.float32 and not s.requires_grad  # PyTorch defines no derivative either
    s = sd.arange(-2, 3).heaviside(sd.tensor([7]))
    np.testing.assert_array_equal(s.numpy(), torch.arange(-2, 3).heaviside(torch.tensor([7])).numpy())
    with pytest.raises(TypeError, match="heaviside: values must be a Tensor"):
        sd.heaviside(sd.ones(2), 0.5)
    with pytest.raises(RuntimeError, match="heaviside.*same dtype"):
        sd.heaviside(sd.ones(2), sd.ones(2, dtype=sd.float64))


def test_addcdiv_lerp_errors():
    with pytest.raises(RuntimeError, match="addcdiv: integer division"):
        sd.addcdiv(sd.ones(3), sd.arange(3), sd.arange(1, 4))
    with pytest.raises(RuntimeError, match="lerp.*float32.*float64"):
        sd.lerp(sd.ones(3), sd.ones(3, dtype=sd.float64), 0.5)


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


_DTYPES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64"]


@pytest.mark.parametrize("a", _DTYPES)
def test_promote_types_matches_torch(a):
    for b in _DTYPES:
        expected = torch.promote_types(getattr(torch, a), getattr(torch, b))
        assert dtypes.promote_types(a, b) == torch_dtype_as_numpy(expected), (a, b)


@pytest.mark.parametrize("a", _DTYPES)
@pytest.mark.parametrize("a_shape", [(2,), ()], ids=["dim", "zero_dim"])
def test_result_type_matches_torch(a, a_shape):
    """Every pair of dtypes, with and without dimensions, and every kind of Python/NumPy scalar."""
    ta = torch.ones(a_shape, dtype=getattr(torch, a))
    for b in _DTYPES:
        for b_shape in [(2,), ()]:
            tb = torch.ones(b_shape, dtype=getattr(torch, b))
            expected = torch_dtype_as_numpy(torch.result_type(ta, tb))
            assert dtypes.result_type(ta.numpy(), tb.numpy()) == expected, (a, a_shape, b, b_shape)
            assert dtypes.result_type(sd.from_numpy(ta.numpy()), sd.from_numpy(tb.numpy())) == expected
    for scalar in [True, 3, -1, 2.5, np.float64(2.5), np.float32(1.5), np.int64(3), np.int8(2)]:
        expected = torch_dtype_as_numpy(torch.result_type(ta, scalar))
        assert dtypes.result_type(ta.numpy(), scalar) == expected, (a, a_shape, scalar)


def test_result_type_follows_default_dtype():
    sd.set_default_dtype(sd.float64)
    try:
        assert dtypes.result_type(np.arange(3), 2.5) == np.float64
        assert (sd.arange(3) * 2.5).dtype == sd.float64
        assert (sd.ones(2, dtype=sd.float32) * 2.5).dtype == sd.float32
    finally:
        sd.set_default_dtype(sd.float32)
    with pytest.raises(TypeError, match="result_type"):
        dtypes.result_type()


@pytest.mark.parametrize("op", ["add", "sub", "mul", "div", "maximum", "minimum", "eq", "lt", "remainder",
                                "fmod", "atan2", "hypot", "copysign", "xlogy", "logaddexp"])
@pytest.mark.parametrize("pair", ["f32_f64zero", "int_float", "int_f32", "f16_int", "bool_int"])
def test_ops_promote_as_torch(op, pair):
    """Every promoting op takes its dtype from dtypes.result_type, as torch does."""
    def operands(lib):
        return {"f32_f64zero": (lib.ones(3) * 0.5 + 0.25, lib.tensor(1.5, dtype=lib.float64)),
                "int_float": (lib.arange(1, 4), 1.5),
                "int_f32": (lib.arange(1, 4), lib.ones(3) * 0.75),
                "f16_int": (lib.ones(3, dtype=lib.float16) * 0.5, lib.arange(1, 4)),
                "bool_int": (lib.tensor([True, False, True]), lib.arange(1, 4))}[pair]
    if pair == "f16_int" and op in ("xlogy", "logaddexp", "hypot", "atan2", "copysign"):
        pytest.skip("float16 kernels round differently")
    ta, tb = operands(torch)
    try:
        t = getattr(torch, op)(ta, tb)
    except (RuntimeError, TypeError):
        pytest.skip(f"torch does not support {op} for {pair}")
    with np.errstate(all="ignore"):
        s = getattr(sd, op)(*operands(sd))
    assert s.dtype == t.numpy().dtype, f"{op}({pair}): {s.dtype} vs torch {t.dtype}"
    np.testing.assert_allclose(s.numpy().astype(np.float64), t.numpy().astype(np.float64), rtol=1e-3)
