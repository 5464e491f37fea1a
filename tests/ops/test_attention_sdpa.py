"""F.scaled_dot_product_attention (shendu/ops/attention.py): PyTorch parity (values and every input
gradient under a random upstream gradient), float64 gradcheck and gradgradcheck, masks, causality,
fully masked rows, scale, GQA, dropout (1.0, 0, seeded expectation) and errors."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from helpers import Const, case, check_grad, check_gradgrad, spec_tests

import shendu as sd
import shendu.nn.functional as F
from shendu.ops.attention import sdpa_composite

rng = np.random.default_rng(7)
BOOL = rng.random((4, 6)) > 0.4
BOOL[1] = False  # a fully masked query row: PyTorch gives 0 output and 0 gradient
BOOL[3, 2] = True
BOOL4 = rng.random((2, 1, 4, 6)) > 0.3
BOOL4[1, 0, 2] = False
NEG = np.where(BOOL, 0.0, -np.inf).astype(np.float32)


def _sd(**kw):
    return lambda *a: F.scaled_dot_product_attention(*a, **kw)


def _th(**kw):
    return lambda *a: TF.scaled_dot_product_attention(*a, **kw)


def _both(id, shapes, grad=True, **kw):
    return case(id, _sd(**kw), _th(**kw), shapes, grad=grad)


def _masked(id, shapes, mask, **kw):
    return case(id, lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, attn_mask=m, **kw),
                lambda q, k, v, m: TF.scaled_dot_product_attention(q, k, v, attn_mask=m, **kw), [*shapes, mask])


QKV = [(2, 3, 4, 5), (2, 3, 6, 5), (2, 3, 6, 7)]
CASES = [
    _both("4d", QKV),
    _both("3d", [(3, 4, 5), (3, 6, 5), (3, 6, 5)]),
    _both("unbatched_2d", [(4, 5), (6, 5), (6, 3)]),
    _both("broadcast_kv_batch", [(2, 3, 4, 5), (2, 1, 6, 5), (1, 1, 6, 7)]),
    _both("scale", QKV, scale=0.3),
    _both("causal_square", [(2, 3, 5, 4), (2, 3, 5, 4), (2, 3, 5, 6)], is_causal=True),
    _both("causal_L_lt_S", [(2, 4, 5), (2, 6, 5), (2, 6, 5)], is_causal=True),
    _both("causal_L_gt_S", [(2, 6, 5), (2, 4, 5), (2, 4, 5)], is_causal=True, scale=0.7),
    _both("dropout_1", QKV, dropout_p=1.0, grad=False),
    _both("gqa", [(2, 4, 3, 5), (2, 2, 6, 5), (2, 2, 6, 7)], enable_gqa=True),
    _masked("bool_mask_dead_row", QKV, Const(BOOL)),
    _masked("bool_mask_broadcast", [(2, 3, 4, 5), (2, 3, 6, 5), (2, 3, 6, 7)], Const(BOOL4)),
    _masked("float_mask_neg_inf", QKV, Const(NEG)),
    _masked("float_mask_grad", QKV, (3, 4, 6)),
    _masked("float_mask_grad_row", QKV, (2, 1, 1, 6)),
]

test_parity, test_gradcheck, test_gradgradcheck = spec_tests(CASES)


def _inputs(shapes, seed=0, dtype=np.float32, grad=True):
    r = np.random.default_rng(seed)
    return [sd.from_numpy(r.uniform(-2, 2, s).astype(dtype)).requires_grad_(grad) for s in shapes]


def test_fully_masked_row_is_zero_with_zero_gradient():
    q, k, v = _inputs(QKV)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=sd.from_numpy(BOOL))
    assert np.all(out._data[:, :, 1] == 0)
    out.backward(sd.from_numpy(np.ones(out.shape, np.float32)))
    assert np.all(q.grad._data[:, :, 1] == 0) and np.isfinite(k.grad._data).all()


def test_composite_matches_fused():
    q, k, v = _inputs(QKV, dtype=np.float64)
    m = sd.from_numpy(NEG.astype(np.float64))
    fused = F.scaled_dot_product_attention(q, k, v, attn_mask=m, scale=0.4)
    dead = np.array(~BOOL.any(-1))[:, None]
    ref = sdpa_composite(q, k, v, m.masked_fill(sd.from_numpy(dead), 0.0), scale=0.4,
                         dead=np.broadcast_to(dead, (2, 3, 4, 1)))
    np.testing.assert_allclose(fused._data, ref._data, rtol=1e-12, atol=1e-12)


def test_causal_never_looks_ahead():
    q, k, v = _inputs([(1, 2, 5, 4)] * 3, grad=False)
    out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    k2, v2 = k._data.copy(), v._data.copy()
    k2[..., 3:, :] += 5.0
    v2[..., 3:, :] -= 5.0
    out2 = F.scaled_dot_product_attention(q, sd.from_numpy(k2), sd.from_numpy(v2), is_causal=True)
    np.testing.assert_array_equal(out._data[..., :3, :], out2._data[..., :3, :])
    assert not np.allclose(out._data[..., 3:, :], out2._data[..., 3:, :])


def test_float32_stays_float32_and_float64_stays_float64():
    for dt in (np.float32, np.float64):
        q, k, v = _inputs(QKV, dtype=dt)
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=0.5)
        out.backward(sd.from_numpy(np.ones(out.shape, dt)))
        assert out.dtype == dt and q.grad.dtype == dt and k.grad.dtype == dt and v.grad.dtype == dt


def test_dropout_zero_is_exact():
    q, k, v = _inputs(QKV, grad=False)
    a = F.scaled_dot_product_attention(q, k, v, dropout_p=0.0)
    b = F.scaled_dot_product_attention(q, k, v)
    np.testing.assert_array_equal(a._data, b._data)


def test_dropout_seeded_and_unbiased():
    r = np.random.default_rng(3)
    q, k, v = (sd.from_numpy(r.standard_normal(s).astype(np.float64)) for s in [(1, 3, 4), (1, 5, 4), (1, 5, 2)])
    n = 20000
    big = [sd.from_numpy(np.broadcast_to(t._data, (n,) + t.shape[1:]).copy()) for t in (q, k, v)]
    sd.manual_seed(0)
    a = F.scaled_dot_product_attention(*big, dropout_p=0.3)
    sd.manual_seed(0)
    b = F.scaled_dot_product_attention(*big, dropout_p=0.3)
    np.testing.assert_array_equal(a._data, b._data)  # the global generator drives the mask
    ref = F.scaled_dot_product_attention(q, k, v)._data[0]
    # each output is PV with P's entries kept w.p. 0.7 and scaled by 1/0.7: its mean is PV
    p = TF.softmax(torch.from_numpy(q._data @ k._data.swapaxes(-1, -2) / 2.0), -1).numpy()[0]
    sd_err = np.sqrt((p ** 2) @ (v._data[0] ** 2) * (0.3 / 0.7) / n)
    assert np.all(np.abs(a._data.mean(0) - ref) < 5 * sd_err + 1e-9)
    dropped = a._data[:, 0, 0]
    assert np.mean(np.abs(dropped - ref[0, 0]) > 1e-9) > 0.3  # the weights really were dropped


def _seeded(**kw):
    def fn(q, k, v):
        sd.manual_seed(123)
        return F.scaled_dot_product_attention(q, k, v, dropout_p=0.4, **kw)
    return fn


def test_dropout_gradcheck_and_gradgradcheck():
    check_grad(_seeded(), QKV)
    check_grad(_seeded(is_causal=True), [(2, 5, 3), (2, 5, 3), (2, 5, 4)])
    check_gradgrad(_seeded(), [(1, 2, 3, 4), (1, 2, 5, 4), (1, 2, 5, 3)])


def test_dropout_gradient_matches_composite_with_same_mask():
    q, k, v = _inputs(QKV, dtype=np.float64)
    sd.manual_seed(5)
    out = F.scaled_dot_product_attention(q, k, v, dropout_p=0.5)
    drop = out._ctx.drop
    g = sd.from_numpy(np.random.default_rng(1).standard_normal(out.shape))
    grads = sd.autograd.grad(out, [q, k, v], g)
    ref = sdpa_composite(q, k, v, None, scale=1 / np.sqrt(5), drop=drop)
    np.testing.assert_allclose(out._data, ref._data, rtol=1e-12, atol=1e-12)
    for a, b in zip(grads, sd.autograd.grad(ref, [q, k, v], g)):
        np.testing.assert_allclose(a._data, b._data, rtol=1e-10, atol=1e-12)


def test_gradient_needed_only_for_some_inputs():
    q, k, v = _inputs(QKV)
    k.requires_grad_(False)
    out = F.scaled_dot_product_attention(q, k, v)
    out.backward(sd.from_numpy(np.ones(out.shape, np.float32)))
    assert q.grad is not None and v.grad is not None and k.grad is None


@pytest.mark.parametrize("kw, match", [
    (dict(is_causal=True, attn_mask=sd.from_numpy(BOOL)), "Explicit attn_mask should not be set"),
    (dict(dropout_p=1.5), "dropout probability has to be between 0 and 1"),
    (dict(attn_mask=sd.from_numpy(BOOL.astype(np.int64))), "attn_mask must be bool or float"),
    (dict(attn_mask=sd.from_numpy(BOOL[:, :5].copy())), "does not broadcast"),
])
def test_errors(kw, match):
    q, k, v = _inputs(QKV)
    with pytest.raises(RuntimeError, match=match):
        F.scaled_dot_product_attention(q, k, v, **kw)


def test_shape_errors():
    q, k, v = _inputs(QKV)
    with pytest.raises(RuntimeError, match="same last dim"):
        F.scaled_dot_product_attention(q, k[..., :3], v)
    with pytest.raises(RuntimeError, match="same sequence length"):
        F.scaled_dot_product_attention(q, k, v[..., :5, :])
    with pytest.raises(RuntimeError, match="same floating dtype"):
        F.scaled_dot_product_attention(q, k.double(), v)
    with pytest.raises(RuntimeError, match="do not broadcast"):
        F.scaled_dot_product_attention(q, k[:1, :2], v[:1, :2])
    q4, k2, v2 = _inputs([(2, 3, 4, 5), (2, 2, 6, 5), (2, 2, 6, 7)])
    with pytest.raises(RuntimeError, match="multiple"):
        F.scaled_dot_product_attention(q4, k2, v2, enable_gqa=True)
