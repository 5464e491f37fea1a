"""Reductions: sum, mean, var/std, max/min (values and indices), amax/amin, argmax/argmin, prod, logsumexp, norm."""
import math

import numpy as np
import pytest
import torch
from helpers import case, check_op, grad_cases, ids

import shendu as sd

X = (2, 3, 4)
DIMS = [None, 1, -1, (0, 2), (-1, -3)]
KEEP = [False, True]
# Distinct values, so that max/min have no ties and indices are unambiguous.
DISTINCT = np.random.default_rng(3).permutation(24).reshape(2, 3, 4).astype(np.float64) / 7 - 1.5


# NaN entries: nansum/nanmean skip them (and give them no gradient); gradcheck perturbs the rest.
WITH_NAN = np.where(np.arange(24).reshape(2, 3, 4) % 5 == 1, np.nan,
                    np.random.default_rng(6).uniform(-2, 2, (2, 3, 4)))


def torch_or_sd(x):
    return sd if isinstance(x, sd.Tensor) else torch


def _dim_kw(dim, keepdim):
    return {} if dim is None and not keepdim else {"dim": dim, "keepdim": keepdim}


def _red(name, dim, keepdim, **opts):
    if dim is None and keepdim:
        dim = (0, 1, 2)  # PyTorch has no (dim=None, keepdim=True) for every reduction
    kw = _dim_kw(dim, keepdim)
    return case(f"{name}_{dim}_{keepdim}", lambda x: getattr(x, name)(**kw), None, [opts.pop("shape", X)], **opts)


CASES = (
    [_red("sum", d, k) for d in DIMS for k in KEEP]
    + [_red("mean", d, k) for d in DIMS for k in KEEP]
    + [_red("logsumexp", d, k) for d in DIMS[1:] for k in KEEP]
    + [_red("amax", d, k, shape=DISTINCT) for d in DIMS for k in KEEP]
    + [_red("amin", d, k, shape=DISTINCT) for d in DIMS for k in KEEP]
    + [_red("prod", d, k) for d in (None, 1, -1) for k in KEEP if not (d is None and k)]
    + [
        case("var", lambda x: x.var(), None, [X]),
        case("var_dim", lambda x: x.var(1), None, [X]),
        case("var_biased", lambda x: x.var(1, unbiased=False), None, [X]),
        case("var_dims_keep", lambda x: x.var((0, 2), keepdim=True), None, [X]),
        case("var_correction0", lambda x: x.var(-1, correction=0), None, [X]),
        case("var_correction2", lambda x: x.var(-1, correction=2), None, [X]),
        case("std", lambda x: x.std(), None, [X]),
        case("std_dim_biased", lambda x: x.std(-1, unbiased=False, keepdim=True), None, [X]),
        case("std_correction", lambda x: x.std((0, 1), correction=0), None, [X]),
        case("max_full", lambda x: x.max(), None, [DISTINCT]),
        case("min_full", lambda x: x.min(), None, [DISTINCT]),
        case("max_dim", lambda x: x.max(1), None, [DISTINCT]),
        case("max_dim_keep", lambda x: x.max(-1, keepdim=True), None, [DISTINCT]),
        case("min_dim", lambda x: x.min(0), None, [DISTINCT]),
        case("min_dim_keep_neg", lambda x: x.min(-2, keepdim=True), None, [DISTINCT]),
        case("torch.max_dim", lambda x: sd.max(x, dim=2), lambda x: torch.max(x, dim=2), [DISTINCT]),
        case("argmax", lambda x: x.argmax(), None, [DISTINCT], grad=False),
        case("argmax_dim", lambda x: x.argmax(1), None, [DISTINCT], grad=False),
        case("argmax_keep", lambda x: x.argmax(-1, keepdim=True), None, [DISTINCT], grad=False),
        case("argmin_dim", lambda x: x.argmin(0), None, [DISTINCT], grad=False),
        case("argmin", lambda x: x.argmin(), None, [DISTINCT], grad=False),
        case("amax_ties", lambda x: x.amax(1), None, [np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]])], grad=False),
        case("max_ties_full", lambda x: x.max(), None, [np.array([[1.0, 3.0, 3.0], [2.0, 0.0, 3.0]])], grad=False),
        case("prod_zero", lambda x: x.prod(1), None, [np.array([[1.5, 0.0, -2.0], [0.5, 2.0, -1.0]])]),
        case("prod_zero_full", lambda x: x.prod(), None, [np.array([[1.5, 0.0, -2.0], [0.5, 2.0, -1.0]])]),
        case("prod_two_zeros", lambda x: x.prod(1), None, [np.array([[0.0, 0.0, -2.0], [0.5, 2.0, -1.0]])]),
        case("norm", lambda x: x.norm(), None, [X]),
        case("norm_p1", lambda x: x.norm(p=1), None, [X], low=0.2),
        case("norm_p2_dim", lambda x: x.norm(p=2, dim=1), None, [X]),
        case("norm_inf", lambda x: x.norm(p=math.inf, dim=-1), None, [DISTINCT]),
        case("norm_fro", lambda x: x.norm(p="fro", dim=(1, 2)), None, [X]),
        case("norm_fro_full", lambda x: x.norm(p="fro"), None, [X]),
        case("norm_p3_keep", lambda x: x.norm(p=3, dim=0, keepdim=True), None, [X]),
        case("torch.norm", lambda x: sd.norm(x, 2, 1), lambda x: torch.norm(x, 2, 1), [X]),
        case("sum_noncontig", lambda x: x.sum(0), None, [(3, 4)], noncontig=True),
        case("mean_noncontig", lambda x: x.mT.mean(-1), None, [(3, 4)], noncontig=True),
        case("sum_size1", lambda x: x.sum(1), None, [(2, 1, 3)]),
        case("sum_empty_dim", lambda x: x.sum(1), None, [(2, 0, 3)]),
        case("cumsum", lambda x: x.cumsum(1), None, [X]),
        case("cumsum_neg", lambda x: x.cumsum(-1), None, [X]),
        case("sum_int_dtype", lambda x: (x > 0).sum(1), None, [X], grad=False),
        case("torch.sum_fn", lambda x: sd.sum(x, (0, 1)), lambda x: torch.sum(x, (0, 1)), [X]),
        case("torch.mean_fn", lambda x: sd.mean(x, -1, True), lambda x: torch.mean(x, -1, True), [X]),
        case("aminmax", lambda x: x.aminmax(), None, [DISTINCT]),
        case("aminmax_dim", lambda x: x.aminmax(dim=1, keepdim=True), None, [DISTINCT]),
        case("aminmax_fn", lambda x: (sd if isinstance(x, sd.Tensor) else torch).aminmax(x, dim=-1), None,
             [DISTINCT]),
        case("nansum", lambda x: x.nansum(), None, [WITH_NAN]),
        case("nansum_dim", lambda x: x.nansum(1), None, [WITH_NAN]),
        case("nanmean", lambda x: x.nanmean(), None, [WITH_NAN]),
        case("nanmean_dims_keep", lambda x: x.nanmean((0, 2), keepdim=True), None, [WITH_NAN]),
        case("var_mean", lambda x: torch_or_sd(x).var_mean(x, 1, correction=0), None, [X]),
        case("std_mean_keep", lambda x: torch_or_sd(x).std_mean(x, (0, 2), keepdim=True), None, [X]),
        case("logsumexp_dims", lambda x: x.logsumexp((0, 2)), None, [X]),
        case("count_nonzero_dim", lambda x: (x > 0).count_nonzero(1), None, [X], grad=False),
        case("count_nonzero_dims", lambda x: torch_or_sd(x).count_nonzero(x > 0, dim=(0, -1)), None, [X],
             grad=False),
    ]
)


@pytest.mark.parametrize("c", CASES, ids=ids(CASES))
def test_parity(c):
    c.parity(rtol=1e-5, atol=2e-6)


@pytest.mark.parametrize("c", grad_cases(CASES), ids=ids(grad_cases(CASES)))
def test_gradcheck(c):
    c.gradcheck()


@pytest.mark.parametrize("c", grad_cases(CASES), ids=ids(grad_cases(CASES)))
def test_gradgradcheck(c):
    c.gradgradcheck()


def test_max_dim_returns_named_values_indices():
    x = sd.tensor(DISTINCT.astype(np.float32))
    out = x.max(dim=1)
    ref = torch.tensor(DISTINCT.astype(np.float32)).max(dim=1)
    np.testing.assert_array_equal(out.indices.numpy(), ref.indices.numpy())
    assert out.indices.dtype == sd.int64
    np.testing.assert_array_equal(out.values.numpy(), ref.values.numpy())
    values, indices = x.min(-1)
    np.testing.assert_array_equal(indices.numpy(), DISTINCT.argmin(-1))


def test_int_reductions_match_torch():
    a = np.arange(12).reshape(3, 4)
    for fn in (lambda x: x.sum(), lambda x: x.sum(0), lambda x: x.prod(1), lambda x: x.amax(1),
               lambda x: x.argmax(1), lambda x: x.max(), lambda x: x.cumsum(0)):
        s, t = fn(sd.tensor(a)), fn(torch.tensor(a))
        assert s.dtype == t.numpy().dtype
        np.testing.assert_array_equal(s.numpy(), t.numpy())


def test_float32_stays_float32():
    x = sd.randn(3, 4)
    for fn in (lambda t: t.mean(), lambda t: t.var(), lambda t: t.std(1), lambda t: t.norm(),
               lambda t: t.logsumexp(1), lambda t: t.prod(), lambda t: t.norm(p=3)):
        assert fn(x).dtype == sd.float32


def test_logsumexp_extreme():
    x = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [5.0, 1e4, 1e4]], dtype=np.float32)
    check_op(lambda t: t.logsumexp(1), None, [x])
    check_op(lambda t: t.logsumexp(0, keepdim=True), None, [x])


def test_mean_of_int_raises():
    with pytest.raises(RuntimeError, match="mean"):
        sd.arange(4).mean()


def test_bad_dim_raises_index_error():
    with pytest.raises(IndexError, match=r"sum.*dim 3"):
        sd.ones(2, 3, 4).sum(3)
    with pytest.raises(IndexError, match="argmax"):
        sd.ones(2, 3).argmax(-3)


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("values,correction", [([1.0, 2.0], 2), ([1.0], 1), ([1.0, 2.0, 4.0], 5), ([3.0, 3.0], 2)])
def test_var_correction_at_least_n(values, correction):
    with np.errstate(all="ignore"):
        s = sd.tensor(values).var(correction=correction)
    t = torch.tensor(values).var(correction=correction)
    np.testing.assert_array_equal(s.numpy(), t.numpy())


ZERO_ROW = np.array([[0.0, 0.0, 0.0], [1.0, -2.0, 0.5]])
EDGE = [
    case("norm_zero", lambda x: x.norm(), None, [np.zeros((2, 3))], grad=False),
    case("norm_zero_row", lambda x: x.norm(dim=1), None, [ZERO_ROW], grad=False),
    case("norm_p3_zero_row", lambda x: x.norm(p=3, dim=1), None, [ZERO_ROW], grad=False),
    case("norm_p0", lambda x: x.norm(p=0, dim=1), None, [ZERO_ROW], grad=False),
    case("norm_p_half", lambda x: x.norm(p=0.5, dim=1), None, [(2, 3)], low=0.2),
    case("std_zero_row", lambda x: x.std(1), None, [np.array([[1.0, 1.0, 1.0], [1.0, 2.0, 0.0]])], grad=False),
]


@pytest.mark.parametrize("c", EDGE, ids=ids(EDGE))
def test_zero_norm_and_std_have_zero_gradient(c):
    """PyTorch defines the gradient of a norm / std that is 0 as 0; a sqrt-based backward gives nan."""
    c.parity()


@pytest.mark.parametrize("fn", [lambda x: x.norm(p=3, dim=1), lambda x: x.std(1), lambda x: x.norm()])
def test_norm_std_second_order(fn):
    x = sd.tensor(np.random.default_rng(0).standard_normal((2, 3)), dtype=sd.float64, requires_grad=True)
    assert sd.gradgradcheck(fn, [x])


def test_out_of_range_dims_raise_index_error():
    x = sd.ones(2, 3)
    for fn in (lambda: x.sum(2), lambda: x.mean(-3), lambda: x.var(2), lambda: x.std((0, 2)), lambda: x.max(2),
               lambda: x.amax(-3), lambda: x.argmax(2), lambda: x.prod(2), lambda: x.logsumexp(2),
               lambda: x.norm(dim=2), lambda: x.all(2), lambda: x.any(-3), lambda: x.count_nonzero(2),
               lambda: x.aminmax(dim=2), lambda: x.nansum(2), lambda: x.nanmean(2)):
        with pytest.raises(IndexError, match="dim"):
            fn()


def test_numpy_spelled_keepdims_alias():
    x = sd.arange(6.0).reshape(2, 3)
    assert x.sum(0, keepdims=True).shape == (1, 3) and sd.mean(x, 1, keepdims=True).shape == (2, 1)
    assert x.sum(1, keepdims=True).tolist() == [[3.0], [12.0]]


@pytest.mark.parametrize("op", ["amax", "amin"])
def test_amax_amin_of_an_empty_tensor_along_a_non_empty_dim_like_torch(op):
    x, xt = sd.zeros(0, 3), torch.zeros(0, 3)
    for kw in (dict(dim=-1), dict(dim=1, keepdim=True)):
        got, want = getattr(sd, op)(x, **kw), getattr(torch, op)(xt, **kw)
        assert tuple(got.shape) == tuple(want.shape) and got.dtype == sd.float32
    with pytest.raises(IndexError, match=f"{op}\\(\\): Expected reduction dim 0 to have non-zero size"):
        getattr(sd, op)(x, dim=0)
    with pytest.raises(IndexError):
        getattr(torch, op)(xt, dim=0)
    with pytest.raises(RuntimeError, match=f"{op}\\(\\): Expected reduction dim to be specified"):
        getattr(sd, op)(x)
    with pytest.raises(RuntimeError, match="Expected reduction dim to be specified"):
        getattr(torch, op)(xt)
