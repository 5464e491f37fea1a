"""Fused ops and losses: softmax, log_softmax, cross_entropy (every combination PyTorch supports),
nll_loss, binary_cross_entropy_with_logits, mse_loss, one_hot, extreme logits, bad targets."""
import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from helpers import Const, case, check_op, grad_cases, ids

import shendu as sd
import shendu.nn.functional as F

RNG = np.random.default_rng(7)
W4 = Const(np.array([0.5, 2.0, 1.0, 1.5], dtype=np.float32))


def fn(name, **kw):
    """``F.name(*inputs, **kw)`` in shendu and ``torch.nn.functional.name`` in torch."""
    return (lambda *a: getattr(F, name)(*a, **kw)), (lambda *a: getattr(TF, name)(*a, **kw))


def fcase(id, name, shapes, kw=None, **opts):
    s, t = fn(name, **(kw or {}))
    return case(id, s, t, shapes, **opts)


SOFTMAX = [
    fcase(f"{name}_{shape}_{dim}", name, [shape], {"dim": dim})
    for name in ("softmax", "log_softmax")
    for shape, dim in [((3, 5), 1), ((3, 5), 0), ((2, 3, 4), -1), ((2, 3, 4), 1), ((4,), 0), ((2, 3, 4), -3)]
] + [
    case("softmax_method", lambda x: x.softmax(-1), None, [(3, 4)]),
    case("log_softmax_method", lambda x: x.log_softmax(1), None, [(3, 4)]),
    case("torch.softmax", lambda x: sd.softmax(x, 0), lambda x: torch.softmax(x, 0), [(3, 4)]),
    case("softmax_noncontig", lambda x: F.softmax(x, -1), lambda x: TF.softmax(x, -1), [(3, 4)], noncontig=True),
    case("softmax_size1", lambda x: F.softmax(x, 1), lambda x: TF.softmax(x, 1), [(3, 1)]),
    case("log_softmax_empty", lambda x: F.log_softmax(x, 1), lambda x: TF.log_softmax(x, 1), [(0, 4)]),
    case("softmax_0d", lambda x: F.softmax(x, 0), lambda x: TF.softmax(x, 0), [()]),
    case("log_softmax_0d", lambda x: F.log_softmax(x, -1), lambda x: TF.log_softmax(x, -1), [()]),
]


def _int_target(shape, C, ignore=None):
    t = RNG.integers(0, C, size=shape)
    if ignore is not None:
        t.flat[::3] = ignore
    return Const(t)


def _prob_target(shape, C):
    p = RNG.random(shape).astype(np.float32) + 0.1
    return Const(p / p.sum(axis=1, keepdims=True))


def _ce_cases():
    out = []
    layouts = {"2d": (5, 4), "4d": (2, 4, 3, 2)}
    for (lay, shape), target, weight, smooth, red in itertools.product(
            layouts.items(), ("int", "ignore", "ignore7", "prob"), (None, "w"), (0.0, 0.2), ("mean", "sum", "none")):
        tshape = (shape[0],) + shape[2:]
        kw = {"reduction": red, "label_smoothing": smooth}
        if target == "int":
            tgt = _int_target(tshape, 4)
        elif target == "ignore":
            tgt = _int_target(tshape, 4, ignore=-100)
        elif target == "ignore7":
            tgt, kw["ignore_index"] = _int_target(tshape, 4, ignore=7), 7
        else:
            tgt = _prob_target(shape, 4)
        shapes = [shape, tgt]
        if weight:
            shapes.append(W4)
        s, t = fn("cross_entropy", **kw)
        out.append(case(f"ce_{lay}_{target}_{weight}_{smooth}_{red}", s, t, shapes))
    return out


CE = _ce_cases() + [
    fcase("ce_1d_input", "cross_entropy", [(4,), Const(np.array(2))]),
    fcase("ce_1d_prob", "cross_entropy", [(4,), Const(np.array([0.1, 0.2, 0.3, 0.4]))], {"reduction": "sum"}),
    fcase("ce_3d", "cross_entropy", [(2, 4, 3), _int_target((2, 3), 4)]),
    fcase("ce_all_ignored_sum", "cross_entropy", [(3, 4), Const(np.array([-100, -100, -100]))], {"reduction": "sum"}),
    fcase("ce_noncontig", "cross_entropy", [(5, 4), _int_target((5,), 4)], noncontig=True),
]

NLL = [
    case(f"nll_{lay}_{w}_{ign}_{red}",
         (lambda *a, red=red, ign=ign: F.nll_loss(F.log_softmax(a[0], 1), *a[1:], reduction=red, ignore_index=ign)),
         (lambda *a, red=red, ign=ign: TF.nll_loss(TF.log_softmax(a[0], 1), *a[1:], reduction=red, ignore_index=ign)),
         [shape, _int_target((shape[0],) + shape[2:], 4, ignore=ign if ign != -100 else None)] + ([W4] if w else []))
    for (lay, shape), w, ign, red in itertools.product(
        {"2d": (5, 4), "4d": (2, 4, 3, 2)}.items(), (None, "w"), (-100, 1), ("mean", "sum", "none"))
] + [fcase("nll_raw_input", "nll_loss", [(5, 4), _int_target((5,), 4)])]

BCE_T = Const(RNG.random((4, 3)).astype(np.float32))
BCE = [
    fcase(f"bce_logits_{w}_{pw}_{red}", "binary_cross_entropy_with_logits",
          [(4, 3), BCE_T] + ([Const(RNG.random(3).astype(np.float32) + 0.5)] if w else []),
          {"reduction": red, **({"pos_weight": sd.tensor([0.5, 2.0, 3.0])} if pw else {})})
    for w, pw, red in itertools.product((None, "w"), (None, "pw"), ("mean", "sum", "none"))
] + [
    fcase(f"mse_{red}", "mse_loss", [(4, 3), (4, 3)], {"reduction": red}) for red in ("mean", "sum", "none")
] + [fcase("mse_const_target", "mse_loss", [(2, 3, 2), Const(RNG.random((2, 3, 2)))])]

# pos_weight must be a tensor of the library it is passed to: patch the torch side of those cases.
for c in BCE:
    if "_pw_" in c.id:
        red = c.id.rsplit("_", 1)[1]
        c.torch_fn = (lambda *a, red=red: TF.binary_cross_entropy_with_logits(
            *a[:2], *(a[2:]), reduction=red, pos_weight=torch.tensor([0.5, 2.0, 3.0])))

CASES = SOFTMAX + CE + NLL + BCE


@pytest.mark.parametrize("c", CASES, ids=ids(CASES))
def test_parity(c):
    c.parity(atol=2e-6, grad_atol=2e-6)


@pytest.mark.parametrize("c", grad_cases(CASES), ids=ids(grad_cases(CASES)))
def test_gradcheck(c):
    c.gradcheck()


# Second order runs the composite (create_graph) path; one layout and reduction of the CE grid suffice.
SECOND_ORDER = [c for c in grad_cases(CASES) if not c.id.startswith(("ce_4d", "nll_4d")) and not
                (c.id.startswith(("ce_2d", "nll_2d")) and not c.id.endswith("_mean"))]


@pytest.mark.parametrize("c", SECOND_ORDER, ids=ids(SECOND_ORDER))
def test_gradgradcheck(c):
    c.gradgradcheck()


EXTREME = np.array([[1e4, -1e4, 0.0, 5.0], [-1e4, -1e4, -1e4, -1e4], [1e4, 1e4, -3.0, 2.0]], dtype=np.float32)
EXTREME_CASES = [
    fcase("softmax", "softmax", [EXTREME], {"dim": 1}),
    fcase("log_softmax", "log_softmax", [EXTREME], {"dim": 1}),
    fcase("log_softmax_dim0", "log_softmax", [EXTREME], {"dim": 0}),
    case("logsumexp", lambda x: x.logsumexp(1), None, [EXTREME]),
    fcase("ce", "cross_entropy", [EXTREME, Const(np.array([1, 0, 3]))]),
    fcase("ce_none_smooth", "cross_entropy", [EXTREME, Const(np.array([1, 0, 3]))],
          {"reduction": "none", "label_smoothing": 0.1}),
    fcase("ce_prob", "cross_entropy", [EXTREME, Const(np.full((3, 4), 0.25))]),
    fcase("bce_logits", "binary_cross_entropy_with_logits", [EXTREME, Const(np.eye(3, 4))], {"reduction": "none"}),
    fcase("sigmoid", "sigmoid", [EXTREME]),
    fcase("softplus", "softplus", [EXTREME]),
]


@pytest.mark.parametrize("c", EXTREME_CASES, ids=ids(EXTREME_CASES))
def test_extreme_logits_finite_and_correct(c):
    c.parity(rtol=1e-5, atol=1e-3, grad_atol=1e-6)
    out = c.sd_fn(*[sd.tensor(EXTREME)] + [sd.tensor(np.asarray(s.value)) for s in c.shapes[1:]])
    assert np.isfinite(out.numpy()).all()


def test_cross_entropy_bad_target_raises():
    z = sd.randn(3, 4)
    with pytest.raises(IndexError, match=r"cross_entropy.*target 4.*4 classes"):
        F.cross_entropy(z, sd.tensor([0, 4, 1]))
    with pytest.raises(IndexError, match="cross_entropy"):
        F.cross_entropy(z, sd.tensor([0, -1, 1]))
    with pytest.raises(RuntimeError, match=r"cross_entropy.*\(3, 4\).*\(3,\).*\(2,\)"):
        F.cross_entropy(z, sd.tensor([0, 1]))
    with pytest.raises(RuntimeError, match=r"cross_entropy.*\(2, 4, 5\)"):
        F.cross_entropy(sd.randn(2, 4, 5), sd.tensor([[0, 1, 2, 3, 0]]))
    with pytest.raises(RuntimeError, match="cross_entropy.*float32"):
        F.cross_entropy(z, sd.tensor([[0.5], [0.5], [0.5]]).reshape(3))
    with pytest.raises(ValueError, match="cross_entropy.*reduction"):
        F.cross_entropy(z, sd.tensor([0, 1, 2]), reduction="avg")


def test_nll_loss_bad_target_raises():
    with pytest.raises(IndexError, match=r"nll_loss.*4"):
        F.nll_loss(sd.randn(3, 4), sd.tensor([0, 4, 1]))
    with pytest.raises(RuntimeError, match=r"nll_loss.*\(3, 4\)"):
        F.nll_loss(sd.randn(3, 4), sd.tensor([0, 1]))


def test_loss_shape_mismatch_raises():
    with pytest.raises(RuntimeError, match=r"mse_loss.*\(4, 3\).*\(3, 4\)"):
        F.mse_loss(sd.ones(3, 4), sd.ones(4, 3))
    with pytest.raises(ValueError, match="binary_cross_entropy_with_logits"):
        F.binary_cross_entropy_with_logits(sd.ones(3, 4), sd.ones(3))


@pytest.mark.parametrize("num_classes", [-1, 6])
def test_one_hot(num_classes):
    idx = np.array([[0, 3, 1], [2, 2, 4]])
    s = F.one_hot(sd.tensor(idx), num_classes)
    t = TF.one_hot(torch.tensor(idx), num_classes)
    assert s.dtype == t.numpy().dtype and s.shape == tuple(t.shape)
    np.testing.assert_array_equal(s.numpy(), t.numpy())
    with pytest.raises(RuntimeError, match="one_hot"):
        F.one_hot(sd.tensor([0, 7]), 5)


def test_cross_entropy_second_order():
    rng = np.random.default_rng(0)
    z = sd.tensor(rng.standard_normal((3, 4)), dtype=sd.float64, requires_grad=True)
    t = sd.tensor([0, 3, -100])
    w = sd.tensor([1.0, 2.0, 0.5, 1.0], dtype=sd.float64)
    assert sd.gradgradcheck(lambda z: F.cross_entropy(z, t, w, label_smoothing=0.1), [z])
    assert sd.gradgradcheck(lambda z: F.softmax(z, 1) * z, [z])


def test_float32_stays_float32():
    z, t = sd.randn(3, 4), sd.tensor([0, 1, 2])
    for out in (F.cross_entropy(z, t), F.cross_entropy(z, t, reduction="none", label_smoothing=0.1),
                F.nll_loss(F.log_softmax(z, 1), t), F.softmax(z, 1), F.mse_loss(z, z * 2),
                F.binary_cross_entropy_with_logits(z, sd.rand(3, 4))):
        assert out.dtype == sd.float32
    check_op(lambda z: F.cross_entropy(z, sd.tensor([0, 1, 2]), sd.tensor([1.0, 2.0, 3.0, 4.0])),
             lambda z: TF.cross_entropy(z, torch.tensor([0, 1, 2]), torch.tensor([1.0, 2.0, 3.0, 4.0])), [(3, 4)])


# -- layer_norm, embedding, dropout ----------------------------------------------------------------
LN = [
    case("ln_1d", lambda x: F.layer_norm(x, (5,)), lambda x: TF.layer_norm(x, (5,)), [(3, 5)]),
    case("ln_1d_wb", lambda x, w, b: F.layer_norm(x, (5,), w, b), lambda x, w, b: TF.layer_norm(x, (5,), w, b),
         [(2, 3, 5), (5,), (5,)]),
    case("ln_1d_w", lambda x, w: F.layer_norm(x, 5, w), lambda x, w: TF.layer_norm(x, (5,), w), [(3, 5), (5,)]),
    case("ln_1d_b", lambda x, b: F.layer_norm(x, [5], None, b), lambda x, b: TF.layer_norm(x, [5], None, b),
         [(3, 5), (5,)]),
    case("ln_2d", lambda x: F.layer_norm(x, (3, 4)), lambda x: TF.layer_norm(x, (3, 4)), [(2, 3, 4)]),
    case("ln_2d_wb", lambda x, w, b: F.layer_norm(x, (3, 4), w, b), lambda x, w, b: TF.layer_norm(x, (3, 4), w, b),
         [(2, 3, 4), (3, 4), (3, 4)]),
    case("ln_eps", lambda x: F.layer_norm(x, (4,), eps=0.1), lambda x: TF.layer_norm(x, (4,), eps=0.1), [(3, 4)]),
    case("ln_noncontig", lambda x, w, b: F.layer_norm(x, (4,), w, b), lambda x, w, b: TF.layer_norm(x, (4,), w, b),
         [(3, 4), (4,), (4,)], noncontig=True),
    case("ln_size1_batch", lambda x: F.layer_norm(x, (4,)), lambda x: TF.layer_norm(x, (4,)), [(1, 4)]),
]
EMB_IDX = Const(np.array([[0, 2, 4], [4, 1, 0]]))
EMB = [
    fcase("embedding", "embedding", [EMB_IDX, (5, 3)]),
    # The pad row's zero gradient is a convention, not the derivative: parity only, no gradcheck.
    fcase("embedding_pad", "embedding", [EMB_IDX, (5, 3)], {"padding_idx": 0}, grad=False),
    fcase("embedding_pad_neg", "embedding", [EMB_IDX, (5, 3)], {"padding_idx": -1}, grad=False),
    fcase("embedding_1d", "embedding", [Const(np.array([3, 3, 1])), (5, 2)]),
]


@pytest.mark.parametrize("c", LN + EMB, ids=ids(LN + EMB))
def test_layer_parity(c):
    c.parity(atol=2e-6, grad_atol=2e-5)


@pytest.mark.parametrize("c", grad_cases(LN + EMB), ids=ids(grad_cases(LN + EMB)))
def test_layer_gradcheck(c):
    c.gradcheck()


def test_layer_norm_second_order():
    rng = np.random.default_rng(0)
    x, w, b = (sd.tensor(rng.standard_normal(s), dtype=sd.float64, requires_grad=True) for s in [(2, 4), (4,), (4,)])
    assert sd.gradgradcheck(lambda x, w, b: F.layer_norm(x, (4,), w, b), [x, w, b])


def test_layer_norm_bad_shape_raises():
    with pytest.raises(RuntimeError, match=r"layer_norm.*\(3,\).*\(2, 4\)"):
        F.layer_norm(sd.ones(2, 4), (3,))


def test_embedding_padding_row_gets_zero_gradient():
    w = sd.randn(5, 3, requires_grad=True)
    out = F.embedding(sd.tensor([[0, 2, 0], [1, 0, 2]]), w, padding_idx=0)
    out.backward(sd.randn(2, 3, 3))
    np.testing.assert_array_equal(w.grad.numpy()[0], np.zeros(3, dtype=np.float32))
    assert np.abs(w.grad.numpy()[2]).sum() > 0
    np.testing.assert_array_equal(out.detach().numpy()[0, 0], w.detach().numpy()[0])


def test_embedding_out_of_range_raises():
    with pytest.raises(IndexError, match=r"embedding.*5.*5 rows"):
        F.embedding(sd.tensor([0, 5]), sd.randn(5, 3))


class TestDropout:
    def test_eval_and_p0_are_identity(self):
        x = sd.randn(4, 5, requires_grad=True)
        out = F.dropout(x, 0.5, training=False)
        assert out is x or np.array_equal(out._data, x._data)
        np.testing.assert_array_equal(F.dropout(x, 0.0).detach().numpy(), x.detach().numpy())

    def test_p1_zeros_and_zero_grad(self):
        x = sd.randn(4, 5, requires_grad=True)
        y = F.dropout(x, 1.0)
        np.testing.assert_array_equal(y.detach().numpy(), np.zeros((4, 5), dtype=np.float32))
        y.backward(sd.randn(4, 5))
        np.testing.assert_array_equal(x.grad.numpy(), np.zeros((4, 5), dtype=np.float32))

    def test_seeded_reproducible(self):
        x = sd.ones(50, 40)
        sd.manual_seed(3)
        a = F.dropout(x, 0.3)
        sd.manual_seed(3)
        b = F.dropout(x, 0.3)
        c = F.dropout(x, 0.3)
        np.testing.assert_array_equal(a.numpy(), b.numpy())
        assert not np.array_equal(b.numpy(), c.numpy())
        g1, g2 = sd.Generator().manual_seed(9), sd.Generator().manual_seed(9)
        np.testing.assert_array_equal(F.dropout(x, 0.5, generator=g1).numpy(), F.dropout(x, 0.5, generator=g2).numpy())

    @pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
    def test_values_mean_and_gradient(self, p):
        x = sd.ones(200, 100, requires_grad=True)
        y = F.dropout(x, p)
        yd = y.detach().numpy()
        assert y.dtype == sd.float32
        kept = yd != 0
        np.testing.assert_allclose(yd[kept], 1.0 / (1.0 - p), rtol=1e-6)  # survivors scaled by 1/(1-p)
        assert abs(kept.mean() - (1 - p)) < 0.02  # drop rate p
        assert abs(yd.mean() - 1.0) < 0.06  # mean preserved in expectation
        g = sd.randn(200, 100)
        y.backward(g)
        np.testing.assert_allclose(x.grad.numpy(), g.numpy() * yd, rtol=1e-6)  # same mask, same scale

    def test_bad_p_raises(self):
        with pytest.raises(ValueError, match="dropout"):
            F.dropout(sd.ones(3), 1.5)
