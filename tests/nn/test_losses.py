"""Losses: functional forms and Modules against torch.nn.functional / torch.nn, every reduction, and gradcheck."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from helpers import Const, case, check_grad, check_op, grad_cases, ids

import shendu as sd
import shendu.nn as nn
import shendu.nn.functional as F

REDUCTIONS = ("mean", "sum", "none")
RNG = np.random.default_rng(7)
SIGNS = Const(np.array([1, -1, -1, 1, 1], dtype=np.int64))
SIGNS_2D = Const(np.where(RNG.random((3, 4)) < 0.5, -1.0, 1.0))
SIGNS_WITH_0 = Const(np.array([[1.0, -1.0, 0.0, 1.0], [-1.0, 1.0, 1.0, 0.0], [1.0, 1.0, -1.0, -1.0]]))
CLASSES = Const(np.array([0, 3, 1, 4, 3], dtype=np.int64))
ELEM_W = Const(RNG.uniform(0.5, 2.0, (3, 4)))
PROB = {"low": 0.05, "high": 0.95}
COUNTS = Const(RNG.integers(0, 5, (3, 4)).astype(np.float32))
VAR = RNG.uniform(0.2, 2.0, (3, 4))  # positive variances, differentiable inputs
LABELS = Const((RNG.random((3, 4)) < 0.5).astype(np.float32))
# each row lists its target classes first, ended by -1 (what follows is ignored); duplicates count twice
ML_TARGET = Const(np.array([[3, 0, -1, 1], [1, 2, 3, -1], [2, 2, -1, -1]]))
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # torch's deprecation notices


@pytest.fixture(autouse=True)
def _fresh_rng():
    """Each test draws from its own seeded generator, whatever order xdist runs them in."""
    global RNG
    RNG = np.random.default_rng(7)


def _loss(name, shapes, kw=None, **opts):
    """One case per reduction for ``F.name(*inputs, reduction=r, **kw)`` against torch's twin."""
    kw = kw or {}
    tag = "_".join(f"{k}={v}" for k, v in kw.items())
    out = []
    for r in opts.pop("reductions", REDUCTIONS):
        out.append(case(f"{name}_{r}{'_' + tag if tag else ''}",
                        lambda *a, r=r: getattr(F, name)(*a, reduction=r, **kw),
                        lambda *a, r=r: getattr(TF, name)(*a, reduction=r, **kw), shapes, **opts))
    return out


def _weighted(name, weight_kw, shapes, w, **opts):
    """Cases for a loss with a weight tensor passed by keyword (a constant in both libraries)."""
    out = []
    for r in REDUCTIONS:
        out.append(case(f"{name}_{r}_weighted",
                        lambda *a, r=r: getattr(F, name)(*a[:-1], reduction=r, **{weight_kw: a[-1]}),
                        lambda *a, r=r: getattr(TF, name)(*a[:-1], reduction=r, **{weight_kw: a[-1]}),
                        [*shapes, w], **opts))
    return out


CASES = [
    *_loss("mse_loss", [(3, 4), (3, 4)]),
    *_loss("l1_loss", [(3, 4), (3, 4)]),
    *_weighted("l1_loss", "weight", [(3, 4), (3, 4)], ELEM_W),
    *_loss("huber_loss", [(3, 4), (3, 4)]),
    *_loss("huber_loss", [(3, 4), (3, 4)], {"delta": 0.4}),
    *_weighted("huber_loss", "weight", [(3, 4), (3, 4)], ELEM_W),
    *_loss("smooth_l1_loss", [(3, 4), (3, 4)]),
    *_loss("smooth_l1_loss", [(3, 4), (3, 4)], {"beta": 0.4}),
    *_loss("smooth_l1_loss", [(3, 4), (3, 4)], {"beta": 0.0}),
    *_loss("binary_cross_entropy", [(3, 4), (3, 4)], **PROB),
    *_weighted("binary_cross_entropy", "weight", [(3, 4), (3, 4)], Const(RNG.uniform(0.5, 2.0, 4)), **PROB),
    *_loss("binary_cross_entropy_with_logits", [(3, 4), (3, 4)]),
    *_weighted("binary_cross_entropy_with_logits", "pos_weight", [(3, 4), (3, 4)], Const(RNG.uniform(0.5, 2, 4))),
    *_loss("kl_div", [(3, 4), (3, 4)], reductions=REDUCTIONS + ("batchmean",), low=0.05, high=1.0),
    *_loss("kl_div", [(3, 4), (3, 4)], {"log_target": True}, reductions=REDUCTIONS + ("batchmean",)),
    *_loss("hinge_embedding_loss", [(3, 4), SIGNS_2D]),
    *_loss("hinge_embedding_loss", [(3, 4), SIGNS_WITH_0], {"margin": 0.5}),
    *_loss("multi_margin_loss", [(5, 6), CLASSES]),
    *_loss("multi_margin_loss", [(5, 6), CLASSES], {"p": 2, "margin": 0.7}),
    *_weighted("multi_margin_loss", "weight", [(5, 6), CLASSES], Const(RNG.uniform(0.5, 2.0, 6))),
    *_loss("cosine_embedding_loss", [(5, 4), (5, 4), SIGNS]),
    *_loss("cosine_embedding_loss", [(5, 4), (5, 4), SIGNS], {"margin": -0.3}),
    *_loss("cross_entropy", [(5, 6), CLASSES], {"label_smoothing": 0.1}),
    *_loss("nll_loss", [(5, 6), CLASSES]),
    *_weighted("mse_loss", "weight", [(3, 4), (3, 4)], ELEM_W),
    *_loss("poisson_nll_loss", [(3, 4), COUNTS]),
    *_loss("poisson_nll_loss", [(3, 4), COUNTS], {"full": True}),
    *_loss("poisson_nll_loss", [(3, 4), COUNTS], {"log_input": False, "full": True}, low=0.1, high=3.0),
    *_loss("gaussian_nll_loss", [(3, 4), (3, 4), VAR]),
    *_loss("gaussian_nll_loss", [(3, 4), (3, 4), VAR[:, :1]], {"full": True}),
    *_loss("gaussian_nll_loss", [(3, 4), (3, 4), VAR[:, 0]]),  # the last dim missing: one variance per row
    *_loss("gaussian_nll_loss", [(3, 4), (3, 4), 0.7]),
    *_loss("gaussian_nll_loss", [(3, 4), (3, 4), VAR * 1e-3], {"eps": 1e-2}, grad=False),  # clamp: parity only
    *_loss("margin_ranking_loss", [(5,), (5,), SIGNS]),
    *_loss("margin_ranking_loss", [(5,), (5,), SIGNS], {"margin": 0.5}),
    *_loss("soft_margin_loss", [(3, 4), SIGNS_2D]),
    *_loss("multilabel_soft_margin_loss", [(3, 4), LABELS]),
    *_weighted("multilabel_soft_margin_loss", "weight", [(3, 4), LABELS], Const(RNG.uniform(0.5, 2.0, 4))),
    *_loss("multilabel_margin_loss", [(3, 4), ML_TARGET]),
    *_loss("triplet_margin_loss", [(4, 5), (4, 5), (4, 5)]),
    *_loss("triplet_margin_loss", [(4, 5), (4, 5), (4, 5)], {"p": 1.0, "swap": True, "margin": 2.0}),
    *_loss("triplet_margin_with_distance_loss", [(4, 5), (4, 5), (4, 5)]),
    *_loss("triplet_margin_with_distance_loss", [(4, 5), (4, 5), (4, 5)], {"swap": True, "margin": 3.0}),
    case("triplet_cosine_distance",
         lambda a, p, n: F.triplet_margin_with_distance_loss(
             a, p, n, distance_function=lambda x, y: 1.0 - F.cosine_similarity(x, y)),
         lambda a, p, n: TF.triplet_margin_with_distance_loss(
             a, p, n, distance_function=lambda x, y: 1.0 - TF.cosine_similarity(x, y)),
         [(4, 5), (4, 5), (4, 5)]),
    case("triplet_one_triple", lambda a, p, n: F.triplet_margin_loss(a, p, n, reduction="none"),
         lambda a, p, n: TF.triplet_margin_loss(a, p, n, reduction="none"), [(5,), (5,), (5,)]),
    case("multilabel_margin_one_sample", lambda x, t: F.multilabel_margin_loss(x, t, reduction="none"),
         lambda x, t: TF.multilabel_margin_loss(x, t, reduction="none"), [(4,), Const(np.array([3, 0, -1, 1]))]),
    case("multi_margin_loss_one_sample", lambda x, t: F.multi_margin_loss(x, t, reduction="none"),
         lambda x, t: TF.multi_margin_loss(x, t, reduction="none"), [(6,), Const(np.array(2))]),
    case("cosine_embedding_loss_one_pair", lambda a, b, t: F.cosine_embedding_loss(a, b, t),
         lambda a, b, t: TF.cosine_embedding_loss(a, b, t), [(4,), (4,), Const(np.array(-1))]),
    case("cosine_similarity", lambda a, b: F.cosine_similarity(a, b), lambda a, b: TF.cosine_similarity(a, b),
         [(4, 5), (4, 5)]),
    case("cosine_similarity_bcast_dim-1", lambda a, b: F.cosine_similarity(a, b, dim=-1),
         lambda a, b: TF.cosine_similarity(a, b, dim=-1), [(2, 3, 5), (1, 5)]),
    # Norms below eps: PyTorch clamps without changing the gradient (not the true derivative), so parity only.
    case("cosine_similarity_eps", lambda a, b: F.cosine_similarity(a, b, 0, eps=0.5),
         lambda a, b: TF.cosine_similarity(a, b, 0, eps=0.5), [(3, 4), (3, 4)], low=-0.3, high=0.3, grad=False),
    case("cosine_similarity_zero_vector", lambda a, b: F.cosine_similarity(a, b),
         lambda a, b: TF.cosine_similarity(a, b), [np.array([[0.0, 0.0, 0.0], [1.0, -2.0, 0.5]]), (2, 3)], grad=False),
]


@pytest.mark.parametrize("c", CASES, ids=ids(CASES))
def test_parity(c):
    c.parity()


@pytest.mark.parametrize("c", grad_cases(CASES), ids=ids(grad_cases(CASES)))
def test_gradcheck(c):
    c.gradcheck()


def test_float32_stays_float32():
    x, t = sd.rand(3, 4) * 0.9 + 0.05, sd.rand(3, 4)
    for fn in (F.l1_loss, F.huber_loss, F.smooth_l1_loss, F.binary_cross_entropy, F.kl_div):
        assert fn(x, t).dtype == sd.float32, fn.__name__


# -- binary cross-entropy at saturated probabilities ---------------------------------------------
def test_bce_at_zero_and_one_matches_torch():
    """log clamped to -100, gradient (x - t) / max(x(1 - x), 1e-12): finite where a composite gives nan."""
    x = np.array([0.0, 1.0, 0.0, 1.0, 0.5], dtype=np.float32)
    t = Const(np.array([0.0, 1.0, 1.0, 0.0, 0.3], dtype=np.float32))
    check_op(lambda a, b: F.binary_cross_entropy(a, b, reduction="none"),
             lambda a, b: TF.binary_cross_entropy(a, b, reduction="none"), [x, t], grad_rtol=1e-5)


def test_bce_second_order():
    """create_graph goes through the composite: second derivatives match torch's."""
    x = sd.from_numpy(RNG.uniform(0.1, 0.9, (3, 4))).requires_grad_()
    t = sd.from_numpy(RNG.uniform(0.0, 1.0, (3, 4)))
    assert sd.gradgradcheck(lambda a: F.binary_cross_entropy(a, t, reduction="sum"), [x])


LEGACY = [  # every functional loss that takes PyTorch's deprecated flags, with valid inputs
    ("mse_loss", [(3, 4), (3, 4)], {}), ("l1_loss", [(3, 4), (3, 4)], {}), ("smooth_l1_loss", [(3, 4), (3, 4)], {}),
    ("binary_cross_entropy", [(3, 4), (3, 4)], PROB), ("binary_cross_entropy_with_logits", [(3, 4), (3, 4)], {}),
    ("kl_div", [(3, 4), (3, 4)], {"low": 0.05, "high": 1.0}), ("poisson_nll_loss", [(3, 4), COUNTS], {}),
    ("margin_ranking_loss", [(5,), (5,), SIGNS], {}), ("hinge_embedding_loss", [(3, 4), SIGNS_2D], {}),
    ("soft_margin_loss", [(3, 4), SIGNS_2D], {}), ("multilabel_soft_margin_loss", [(3, 4), LABELS], {}),
    ("multilabel_margin_loss", [(3, 4), ML_TARGET], {}), ("multi_margin_loss", [(5, 6), CLASSES], {}),
    ("cosine_embedding_loss", [(5, 4), (5, 4), SIGNS], {}), ("triplet_margin_loss", [(4, 5), (4, 5), (4, 5)], {}),
    ("cross_entropy", [(5, 6), CLASSES], {}), ("nll_loss", [(5, 6), CLASSES], {}),
]
LEGACY_FLAGS = [{"size_average": False}, {"reduce": False}, {"size_average": True}, {"reduce": True},
                {"size_average": False, "reduce": False}, {"size_average": True, "reduce": True},
                {"size_average": False, "reduction": "none"}, {"reduce": False, "reduction": "sum"}]


@pytest.mark.parametrize("flags", LEGACY_FLAGS, ids=lambda f: "_".join(f"{k}={v}" for k, v in f.items()))
@pytest.mark.parametrize("name,shapes,opts", LEGACY, ids=[n for n, _, _ in LEGACY])
def test_legacy_flags_override_reduction_in_every_loss(name, shapes, opts, flags):
    """PyTorch's legacy_get_string: reduce=False -> 'none', else size_average=False -> 'sum', else 'mean'."""
    with pytest.warns(UserWarning, match="size_average and reduce args will be deprecated"):
        check_op(lambda *a: getattr(F, name)(*a, **flags), lambda *a: getattr(TF, name)(*a, **flags), shapes, **opts)


MODULE_LEGACY = ["MSELoss", "L1Loss", "SmoothL1Loss", "BCELoss", "BCEWithLogitsLoss", "KLDivLoss", "PoissonNLLLoss",
                 "MarginRankingLoss", "HingeEmbeddingLoss", "SoftMarginLoss", "MultiLabelSoftMarginLoss",
                 "MultiLabelMarginLoss", "MultiMarginLoss", "CosineEmbeddingLoss", "TripletMarginLoss",
                 "CrossEntropyLoss", "NLLLoss"]


@pytest.mark.parametrize("name", MODULE_LEGACY)
@pytest.mark.parametrize("flags", LEGACY_FLAGS[:4], ids=lambda f: "_".join(f"{k}={v}" for k, v in f.items()))
def test_legacy_flags_in_every_module(name, flags):
    with pytest.warns(UserWarning):
        expected = getattr(torch.nn, name)(**flags).reduction
    with pytest.warns(UserWarning, match="size_average and reduce"):
        assert getattr(nn, name)(**flags).reduction == expected


def test_legacy_get_string_table():
    from shendu.nn.functional_losses import legacy_get_string
    for sa in (None, True, False):
        for r in (None, True, False):
            assert legacy_get_string(sa, r, emit_warning=False) == \
                torch.nn._reduction.legacy_get_string(sa, r, emit_warning=False)


def test_regression_losses_broadcast_a_target_as_pytorch():
    with pytest.warns(UserWarning, match="mse_loss.*different to the input size"):
        check_op(lambda a, b: F.mse_loss(a, b), lambda a, b: TF.mse_loss(a, b), [(3, 4), (4,)])


TARGET_KINDS = {"class_indices", "probabilities", "signs", "values", "embeddings", "sequences"}


def test_every_loss_module_declares_its_target_kind():
    names = [n for n in nn.__all__ if n.endswith("Loss")]
    missing = {n for n in dir(torch.nn) if n.endswith("Loss")} - set(names)
    assert missing <= {"CTCLoss", "AdaptiveLogSoftmaxWithLoss", "LinearCrossEntropyLoss"}, missing
    for cls in (getattr(nn, n) for n in names):
        assert cls.target_kind in TARGET_KINDS, cls.__name__
    kinds = {"CrossEntropyLoss": "class_indices", "NLLLoss": "class_indices", "MSELoss": "values",
             "L1Loss": "values", "HuberLoss": "values", "BCEWithLogitsLoss": "probabilities",
             "BCELoss": "probabilities", "KLDivLoss": "probabilities", "HingeEmbeddingLoss": "signs",
             "TripletMarginLoss": "embeddings", "MultiMarginLoss": "class_indices", "PoissonNLLLoss": "values"}
    for name, kind in kinds.items():
        assert getattr(nn, name).target_kind == kind, name
        assert getattr(nn, name)().target_kind == kind  # readable from an instance too


def test_legacy_size_average_and_reduce():
    x, t = sd.randn(3, 4), sd.randn(3, 4)
    tx, tt = torch.from_numpy(x.numpy()), torch.from_numpy(t.numpy())
    for kw in ({"size_average": False}, {"reduce": False}, {"size_average": True, "reduce": True}):
        np.testing.assert_allclose(F.l1_loss(x, t, **kw).numpy(), TF.l1_loss(tx, tt, **kw).numpy(), rtol=1e-6)
        np.testing.assert_allclose(nn.SmoothL1Loss(**kw)(x, t).numpy(), torch.nn.SmoothL1Loss(**kw)(tx, tt).numpy(),
                                   rtol=1e-6)


# -- bad input ----------------------------------------------------------------------------------
@pytest.mark.parametrize("call,err,match", [
    (lambda: F.l1_loss(sd.randn(3, 4), sd.randn(4, 3)), RuntimeError, r"l1_loss.*\(4, 3\).*\(3, 4\)"),
    (lambda: F.huber_loss(sd.randn(3), sd.randn(3), reduction="avg"), ValueError, "huber_loss.*reduction"),
    (lambda: F.binary_cross_entropy(sd.randn(3) + 2.0, sd.rand(3)), RuntimeError, "between 0 and 1"),
    (lambda: F.binary_cross_entropy(sd.rand(3), sd.tensor([0, 1, 1])), RuntimeError, "floating point"),
    (lambda: F.binary_cross_entropy(sd.rand(3, 2), sd.rand(3, 2), weight=sd.rand(3)), ValueError, "weight"),
    (lambda: F.kl_div(sd.randn(3), sd.rand(3), reduction="batch"), ValueError, "kl_div.*batchmean"),
    (lambda: F.multi_margin_loss(sd.randn(3, 4), sd.tensor([0.0, 1.0, 2.0])), RuntimeError, "integer"),
    (lambda: F.multi_margin_loss(sd.randn(3, 4), sd.tensor([0, 1])), ValueError, r"\(3,\)"),
    (lambda: F.multi_margin_loss(sd.randn(3, 4), sd.tensor([0, 1, 4])), IndexError, r"\[0, 4\)"),
    (lambda: F.multi_margin_loss(sd.randn(3, 4), sd.tensor([0, 1, 2]), p=3), ValueError, "p == 1"),
    (lambda: F.cosine_embedding_loss(sd.randn(3, 4), sd.randn(3, 4), sd.tensor([[1]])), ValueError, "target"),
    (lambda: F.cosine_embedding_loss(sd.randn(3, 4), sd.randn(3, 5), sd.tensor([1, 1, -1])), ValueError, "input2"),
    (lambda: F.hinge_embedding_loss(sd.randn(3, 4), sd.ones(4)), ValueError, "hinge_embedding_loss"),
    (lambda: nn.CrossEntropyLoss()(sd.randn(3, 4), sd.tensor([0.0, 1.0, 2.0])), RuntimeError, "shape|integer"),
    (lambda: nn.NLLLoss()(sd.randn(3, 4), sd.tensor([0.5, 1.0, 2.0])), RuntimeError, "NLLLoss.*integer"),
    (lambda: nn.NLLLoss()(sd.randn(3, 4), sd.tensor([0, 1])), ValueError, r"NLLLoss.*\(3,\)"),
    (lambda: nn.MSELoss(reduction="average"), ValueError, "MSELoss.*reduction"),
])
def test_bad_input(call, err, match):
    with pytest.raises(err, match=match):
        call()


# -- Modules ------------------------------------------------------------------------------------
def _module_pair(sd_cls, torch_cls, kw, weights=()):
    """The same loss Module in both libraries; ``weights`` names tensor arguments given as arrays in ``kw``."""
    sd_kw = {k: (sd.from_numpy(v) if k in weights else v) for k, v in kw.items()}
    t_kw = {k: (torch.from_numpy(v) if k in weights else v) for k, v in kw.items()}
    return sd_cls(**sd_kw), torch_cls(**t_kw)


W6 = RNG.uniform(0.5, 2.0, 6).astype(np.float32)
MODULES = [
    ("MSELoss", {}, [(3, 4), (3, 4)], {}),
    ("L1Loss", {}, [(3, 4), (3, 4)], {}),
    ("HuberLoss", {"delta": 0.5}, [(3, 4), (3, 4)], {}),
    ("SmoothL1Loss", {"beta": 0.5}, [(3, 4), (3, 4)], {}),
    ("CrossEntropyLoss", {"weight": W6, "ignore_index": 3, "label_smoothing": 0.2}, [(5, 6), CLASSES], {}),
    ("CrossEntropyLoss", {"weight": W6}, [(5, 6, 2), Const(RNG.integers(0, 6, (5, 2)))], {}),
    ("CrossEntropyLoss", {}, [(5, 6), Const(RNG.dirichlet(np.ones(6), 5))], {}),
    ("NLLLoss", {"weight": W6, "ignore_index": 1}, [(5, 6), CLASSES], {}),
    ("BCELoss", {"weight": RNG.uniform(0.5, 2.0, 4).astype(np.float32)}, [(3, 4), (3, 4)], PROB),
    ("BCEWithLogitsLoss", {"weight": RNG.uniform(0.5, 2.0, 4).astype(np.float32),
                           "pos_weight": RNG.uniform(0.5, 2.0, 4).astype(np.float32)}, [(3, 4), (3, 4)], {}),
    ("KLDivLoss", {}, [(3, 4), (3, 4)], {"low": 0.05, "high": 1.0}),
    ("KLDivLoss", {"log_target": True}, [(3, 4), (3, 4)], {}),
    ("HingeEmbeddingLoss", {"margin": 0.5}, [(3, 4), SIGNS_2D], {}),
    ("MultiMarginLoss", {"p": 2, "margin": 0.5, "weight": W6}, [(5, 6), CLASSES], {}),
    ("CosineEmbeddingLoss", {"margin": 0.2}, [(5, 4), (5, 4), SIGNS], {}),
    ("PoissonNLLLoss", {"full": True}, [(3, 4), COUNTS], {}),
    ("PoissonNLLLoss", {"log_input": False, "eps": 1e-4}, [(3, 4), COUNTS], {"low": 0.1, "high": 2.0}),
    ("GaussianNLLLoss", {"full": True, "eps": 1e-3}, [(3, 4), (3, 4), VAR], {}),
    ("MarginRankingLoss", {"margin": 0.3}, [(5,), (5,), SIGNS], {}),
    ("SoftMarginLoss", {}, [(3, 4), SIGNS_2D], {}),
    ("MultiLabelSoftMarginLoss", {"weight": RNG.uniform(0.5, 2.0, 4).astype(np.float32)}, [(3, 4), LABELS], {}),
    ("MultiLabelMarginLoss", {}, [(3, 4), ML_TARGET], {}),
    ("TripletMarginLoss", {"margin": 0.5, "p": 3.0, "swap": True}, [(4, 5), (4, 5), (4, 5)], {}),
    ("TripletMarginWithDistanceLoss", {"margin": 2.0}, [(4, 5), (4, 5), (4, 5)], {}),
]
_TENSOR_ARGS = ("weight", "pos_weight")


@pytest.mark.parametrize("name,kw,shapes,opts", MODULES, ids=[f"{m[0]}{i}" for i, m in enumerate(MODULES)])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_module_parity(name, kw, shapes, opts, reduction):
    s, t = _module_pair(getattr(nn, name), getattr(torch.nn, name), {**kw, "reduction": reduction}, _TENSOR_ARGS)
    assert isinstance(s, nn.Module)
    check_op(s, t, shapes, **opts)


def test_kl_div_module_batchmean():
    check_op(nn.KLDivLoss(reduction="batchmean"), torch.nn.KLDivLoss(reduction="batchmean"), [(3, 4), (3, 4)],
             low=0.05, high=1.0)


def test_module_weights_are_buffers():
    loss = nn.CrossEntropyLoss(weight=sd.ones(3))
    assert "weight" in loss.state_dict() and not list(loss.parameters())
    assert "pos_weight" in dict(nn.BCEWithLogitsLoss(pos_weight=sd.ones(3)).named_buffers())
    assert nn.NLLLoss().weight is None


def test_module_repr_and_defaults():
    assert nn.CrossEntropyLoss().ignore_index == -100 and nn.CrossEntropyLoss().label_smoothing == 0.0
    assert nn.HuberLoss().delta == 1.0 and nn.SmoothL1Loss().beta == 1.0 and nn.MultiMarginLoss().p == 1
    assert nn.KLDivLoss().log_target is False and nn.CosineEmbeddingLoss().margin == 0.0
    assert nn.HingeEmbeddingLoss().margin == 1.0 and nn.MSELoss().reduction == "mean"


def test_module_gradcheck():
    """A few Modules through float64 gradcheck (the functionals above cover every formula)."""
    check_grad(nn.HuberLoss(delta=0.5, reduction="none"), [(3, 4), (3, 4)])
    check_grad(nn.CrossEntropyLoss(label_smoothing=0.1), [(5, 6), CLASSES])
    check_grad(nn.BCELoss(reduction="sum"), [(3, 4), (3, 4)], **PROB)
