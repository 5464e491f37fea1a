"""Matrix products: matmul (2-D, batched, broadcast, 1-D), mm, bmm, dot, outer, einsum, linear,
mv, inner, vdot, the beta/alpha add* family, multi_dot / chain_matmul."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from helpers import case, check_op, spec_tests

import shendu as sd
import shendu.nn.functional as F

MM = {"rtol": 1e-5, "atol": 1e-5}


def both(id, name, shapes, *args, **kw):
    """``lib.name(*inputs, *args)`` in shendu and in torch."""
    return case(id, lambda *x: getattr(sd, name)(*x, *args), lambda *x: getattr(torch, name)(*x, *args),
                shapes, **{**MM, **kw})


def ein(eq, *shapes):
    return case(f"einsum_{eq}", lambda *x: sd.einsum(eq, *x), lambda *x: torch.einsum(eq, *x), list(shapes), **MM)


CASES = [
    case("matmul_2d", lambda a, b: a @ b, None, [(3, 4), (4, 5)], **MM),
    case("matmul_batched", lambda a, b: a @ b, None, [(2, 3, 4), (2, 4, 5)], **MM),
    case("matmul_bcast_batch", lambda a, b: a @ b, None, [(2, 1, 3, 4), (5, 4, 2)], **MM),
    case("matmul_3d_2d", lambda a, b: a @ b, None, [(2, 3, 4), (4, 5)], **MM),
    case("matmul_2d_3d", lambda a, b: a @ b, None, [(3, 4), (2, 4, 5)], **MM),
    case("matmul_1d_2d", lambda a, b: a @ b, None, [(4,), (4, 5)], **MM),
    case("matmul_2d_1d", lambda a, b: a @ b, None, [(3, 4), (4,)], **MM),
    case("matmul_1d_1d", lambda a, b: a @ b, None, [(4,), (4,)], **MM),
    case("matmul_1d_3d", lambda a, b: a @ b, None, [(4,), (2, 4, 5)], **MM),
    case("matmul_3d_1d", lambda a, b: a @ b, None, [(2, 3, 4), (4,)], **MM),
    case("matmul_self", lambda a: a @ a, None, [(3, 3)], **MM),
    case("matmul_noncontig", lambda a, b: a @ b, None, [(3, 4), (4, 5)], noncontig=True, **MM),
    case("matmul_transposed", lambda a, b: a.mT @ b, None, [(4, 3), (4, 5)], **MM),
    case("matmul_empty_k", lambda a, b: a @ b, None, [(3, 0), (0, 2)], **MM),
    both("torch.matmul", "matmul", [(2, 3, 4), (4,)]),
    both("mm", "mm", [(3, 4), (4, 2)]),
    both("bmm", "bmm", [(2, 3, 4), (2, 4, 2)]),
    both("dot", "dot", [(5,), (5,)]),
    both("outer", "outer", [(3,), (4,)]),
    case("method_dot", lambda a, b: a.dot(b), None, [(5,), (5,)], **MM),
    case("method_outer", lambda a, b: a.outer(b), None, [(3,), (2,)], **MM),
    ein("ij,jk->ik", (3, 4), (4, 5)),
    ein("bij,bjk->bik", (2, 3, 4), (2, 4, 5)),
    ein("bhqd,bhkd->bhqk", (2, 2, 3, 4), (2, 2, 5, 4)),
    ein("bhqk,bhkd->bhqd", (2, 2, 3, 5), (2, 2, 5, 4)),
    ein("ij->ji", (3, 4)),
    ein("ij->", (3, 4)),
    ein("ij->j", (3, 4)),
    ein("i,i->", (4,), (4,)),
    ein("i,j->ij", (3,), (4,)),
    ein("...ij,...jk->...ik", (2, 3, 4), (2, 4, 5)),
    ein("...ij,...jk->...ik", (2, 3, 4), (4, 5)),
    ein("ij,jk", (3, 4), (4, 5)),
    ein("ij,jk,kl->il", (2, 3), (3, 4), (4, 2)),
    ein("bij,jk->bik", (2, 3, 4), (4, 5)),
    ein("i j , j k -> i k", (3, 4), (4, 5)),
    ein("ii->i", (3, 3)),
    ein("ii->", (3, 3)),
    ein("iij->ij", (3, 3, 2)),
    case("einsum_list", lambda a, b: sd.einsum("ij,jk->ik", [a, b]), lambda a, b: torch.einsum("ij,jk->ik", [a, b]),
         [(3, 4), (4, 5)], **MM),
    case("linear", lambda x, w, b: F.linear(x, w, b), lambda x, w, b: TF.linear(x, w, b), [(4, 3), (5, 3), (5,)], **MM),
    case("linear_nobias", lambda x, w: F.linear(x, w), lambda x, w: TF.linear(x, w), [(4, 3), (5, 3)], **MM),
    case("linear_3d", lambda x, w, b: F.linear(x, w, b), lambda x, w, b: TF.linear(x, w, b),
         [(2, 4, 3), (5, 3), (5,)], **MM),
    case("linear_4d_nobias", lambda x, w: F.linear(x, w), lambda x, w: TF.linear(x, w), [(2, 2, 4, 3), (5, 3)], **MM),
    case("linear_1d", lambda x, w, b: F.linear(x, w, b), lambda x, w, b: TF.linear(x, w, b), [(3,), (5, 3), (5,)],
         **MM),
    case("linear_noncontig", lambda x, w, b: F.linear(x, w, b), lambda x, w, b: TF.linear(x, w, b),
         [(4, 3), (5, 3), (5,)], noncontig=True, **MM),
]



def beta_alpha(name, shapes, **kw):
    """``name(input, a, b, beta=, alpha=)`` for PyTorch's defaults and for scaled and beta=0 forms."""
    out = []
    for beta, alpha in [(1, 1), (0.5, -2.0), (0, 1.5)]:
        out.append(case(f"{name}_b{beta}_a{alpha}", lambda *x, b=beta, a=alpha: getattr(sd, name)(*x, beta=b, alpha=a),
                        lambda *x, b=beta, a=alpha: getattr(torch, name)(*x, beta=b, alpha=a), shapes, **{**MM, **kw}))
    return out


PRODUCTS = [
    both("mv", "mv", [(3, 4), (4,)]),
    case("method_mv", lambda a, b: a.mv(b), None, [(3, 4), (4,)], **MM),
    both("inner_1d", "inner", [(4,), (4,)]),
    both("inner_nd", "inner", [(2, 3, 4), (5, 4)]),
    both("inner_scalar", "inner", [(), (2, 3)]),
    case("method_inner", lambda a, b: a.inner(b), None, [(3, 4), (2, 4)], **MM),
    both("vdot", "vdot", [(5,), (5,)]),
    *beta_alpha("addmm", [(3, 5), (3, 4), (4, 5)]),
    *beta_alpha("addmm", [(5,), (3, 4), (4, 5)]),  # broadcast input
    *beta_alpha("addmv", [(3,), (3, 4), (4,)]),
    *beta_alpha("addr", [(3, 4), (3,), (4,)]),
    *beta_alpha("baddbmm", [(2, 3, 5), (2, 3, 4), (2, 4, 5)]),
    *beta_alpha("baddbmm", [(3, 1), (2, 3, 4), (2, 4, 5)]),
    *beta_alpha("addbmm", [(3, 5), (2, 3, 4), (2, 4, 5)]),
    case("method_addmm", lambda i, a, b: i.addmm(a, b, beta=2.0), None, [(3, 5), (3, 4), (4, 5)], **MM),
    case("method_baddbmm", lambda i, a, b: i.baddbmm(a, b, alpha=0.5), None, [(2, 3, 5), (2, 3, 4), (2, 4, 5)],
         **MM),
    case("multi_dot", lambda a, b, c, d: sd.linalg.multi_dot([a, b, c, d]),
         lambda a, b, c, d: torch.linalg.multi_dot([a, b, c, d]), [(2, 6), (6, 3), (3, 5), (5, 1)], **MM),
    case("multi_dot_1d_ends", lambda a, b, c: sd.linalg.multi_dot([a, b, c]),
         lambda a, b, c: torch.linalg.multi_dot([a, b, c]), [(4,), (4, 3), (3,)], **MM),
    case("multi_dot_two", lambda a, b: sd.linalg.multi_dot((a, b)), lambda a, b: torch.linalg.multi_dot((a, b)),
         [(3, 4), (4, 2)], **MM),
    case("chain_matmul", lambda a, b, c: sd.chain_matmul(a, b, c), lambda a, b, c: torch.linalg.multi_dot([a, b, c]),
         [(2, 3), (3, 4), (4, 2)], **MM),
]
CASES = CASES + PRODUCTS

test_parity, test_gradcheck, test_gradgradcheck = spec_tests(CASES)


def test_beta_zero_ignores_nan_input_but_gives_it_a_zero_gradient():
    inp = sd.tensor(np.full((2, 3), np.nan, dtype=np.float32), requires_grad=True)
    a, b = sd.randn(2, 4), sd.randn(4, 3)
    out = sd.addmm(inp, a, b, beta=0)
    np.testing.assert_allclose(out.detach().numpy(), (a @ b).numpy(), rtol=1e-6)
    out.backward(sd.randn(2, 3))
    np.testing.assert_array_equal(inp.grad.numpy(), np.zeros((2, 3), dtype=np.float32))


def test_multi_dot_picks_the_cheap_order():
    from shendu.ops.linalg import _chain_order
    # (10x100)(100x5)(5x50): (AB)C costs 5000 + 2500, A(BC) 25000 + 50000
    assert _chain_order([10, 100, 5, 50])[0][2] == 1


def test_products_errors():
    with pytest.raises(RuntimeError, match=r"mv.*\(3, 4\).*\(5,\)"):
        sd.mv(sd.ones(3, 4), sd.ones(5))
    with pytest.raises(RuntimeError, match=r"addmm.*\(4, 5\).*\(3, 5\)"):
        sd.addmm(sd.ones(4, 5), sd.ones(3, 4), sd.ones(4, 5))
    with pytest.raises(RuntimeError, match=r"addbmm.*\(2, 3, 4\).*\(3, 4, 5\)"):
        sd.addbmm(sd.ones(3, 5), sd.ones(2, 3, 4), sd.ones(3, 4, 5))
    with pytest.raises(RuntimeError, match="multi_dot.*at least 2"):
        sd.linalg.multi_dot([sd.ones(3, 3)])
    with pytest.raises(RuntimeError, match=r"multi_dot.*tensor 1.*2-D"):
        sd.linalg.multi_dot([sd.ones(3, 3), sd.ones(3), sd.ones(3, 3)])
    with pytest.raises(RuntimeError, match="inner.*last dims"):
        sd.inner(sd.ones(3, 4), sd.ones(3))


def test_matmul_shape_mismatch_raises():
    with pytest.raises(RuntimeError, match=r"matmul.*\(3, 4\).*\(5, 6\)"):
        sd.ones(3, 4) @ sd.ones(5, 6)
    with pytest.raises(RuntimeError, match=r"matmul.*\(4,\).*\(5,\)"):
        sd.ones(4) @ sd.ones(5)
    with pytest.raises(RuntimeError, match=r"matmul.*\(2, 3, 4\).*\(3, 4, 5\)"):
        sd.ones(2, 3, 4) @ sd.ones(3, 4, 5)  # batch dims 2 and 3 do not broadcast
    with pytest.raises(RuntimeError, match="matmul"):
        sd.ones(3) @ sd.tensor(2.0)


def test_mm_bmm_dot_errors():
    with pytest.raises(RuntimeError, match="mm"):
        sd.mm(sd.ones(2, 3, 4), sd.ones(4, 5))
    with pytest.raises(RuntimeError, match="bmm"):
        sd.bmm(sd.ones(2, 3, 4), sd.ones(3, 4, 5))
    with pytest.raises(RuntimeError, match="dot"):
        sd.dot(sd.ones(3), sd.ones(4))


def test_linear_feature_mismatch_raises():
    with pytest.raises(RuntimeError, match=r"linear.*\(2, 4\).*\(5, 3\)"):
        F.linear(sd.ones(2, 4), sd.ones(5, 3))


def test_einsum_bad_equation_raises():
    with pytest.raises(RuntimeError, match="einsum"):
        sd.einsum("ij,jk->ik", sd.ones(3, 4))
    with pytest.raises(RuntimeError, match="einsum"):
        sd.einsum("ijk,jk->ik", sd.ones(3, 4), sd.ones(4, 5))


def test_matmul_dtypes():
    assert (sd.ones(2, 3) @ sd.ones(3, 2)).dtype == sd.float32
    s = sd.arange(6).reshape(2, 3) @ sd.arange(6).reshape(3, 2)
    t = torch.arange(6).reshape(2, 3) @ torch.arange(6).reshape(3, 2)
    assert s.dtype == t.numpy().dtype
    np.testing.assert_array_equal(s.numpy(), t.numpy())


def test_matmul_vs_einsum_batched_grad():
    """bmm through matmul and einsum give the same gradients (two independent implementations)."""
    check_op(lambda a, b: sd.einsum("bij,bjk->bik", a, b), lambda a, b: a @ b, [(2, 3, 4), (2, 4, 5)], **MM)


def test_einsum_size_mismatch_raises():
    with pytest.raises(RuntimeError, match=r"einsum.*\(3, 4\).*\(5, 6\)"):
        sd.einsum("ij,jk->ik", sd.ones(3, 4), sd.ones(5, 6))


@pytest.mark.parametrize("eq,shapes", [("ii->i", [(3, 3)]), ("bij,bjk->bik", [(2, 2, 3), (2, 3, 2)]),
                                       ("ij->", [(2, 3)])])
def test_einsum_second_order(eq, shapes):
    rng = np.random.default_rng(0)
    xs = [sd.tensor(rng.standard_normal(s), dtype=sd.float64, requires_grad=True) for s in shapes]
    assert sd.gradgradcheck(lambda *a: sd.einsum(eq, *a) ** 2, xs)


def test_matmul_second_order():
    rng = np.random.default_rng(0)
    xs = [sd.tensor(rng.standard_normal(s), dtype=sd.float64, requires_grad=True) for s in [(2, 3), (3,)]]
    assert sd.gradgradcheck(lambda a, b: (a @ b) ** 2, xs)


def test_out_argument_of_products():
    a, b = sd.randn(2, 3), sd.randn(3, 4)
    out = sd.empty(2, 4)
    res = sd.matmul(a, b, out=out)
    assert res is out and np.allclose(out.numpy(), a.numpy() @ b.numpy(), atol=1e-6)
    grown = sd.empty(0)
    sd.mm(a, b, out=grown)
    assert grown.shape == (2, 4)
    with pytest.raises(RuntimeError, match="out=... arguments don't support automatic differentiation"):
        sd.matmul(a.requires_grad_(), b, out=sd.empty(2, 4))


def test_bfloat16_products_stay_bfloat16_like_torch():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((3, 5, 6)).astype(np.float32), rng.standard_normal((6, 4)).astype(np.float32)
    sa, sb = sd.tensor(a).to(sd.bfloat16), sd.tensor(b).to(sd.bfloat16)
    ta, tb = torch.tensor(a).bfloat16(), torch.tensor(b).bfloat16()
    for got, want in ((sa @ sb, ta @ tb), (sd.nn.functional.linear(sa, sb.T), torch.nn.functional.linear(ta, tb.T)),
                      (sd.bmm(sa, sa.mT), torch.bmm(ta, ta.mT))):
        assert got.dtype == sd.bfloat16
        np.testing.assert_allclose(got.float().numpy(), want.float().numpy(), rtol=2e-2, atol=2e-2)
