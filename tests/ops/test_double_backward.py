"""create_graph gradients of every fused op (softmax family, cross-entropy, nll, BCE, layer / batch /
group / RMS norm) against the plain first-order path and against PyTorch's double backward.

For each case: (a) the gradient built with create_graph=True equals the plain one, and (b) the
gradient of Σ grad · r (random v upstream, random r) with respect to every input equals PyTorch's.
gradgradcheck alone cannot catch a composite that is consistently wrong (an eps moved outside the
square root of RMS norm, an unweighted mean in weighted cross-entropy): the comparison with PyTorch can.
"""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import shendu as sd
import shendu.nn.functional as F

RNG = np.random.default_rng(11)
W4 = RNG.uniform(0.5, 2.0, 4)
T5 = np.array([0, 3, -100, 1, 3])  # class indices with one ignored
T5_IGN1 = np.array([0, 1, 2, 1, 3])
P5 = RNG.dirichlet(np.ones(4), 5)


def _grads(lib, out, xs, v, create_graph):
    return lib.autograd.grad(out, xs, grad_outputs=v, create_graph=create_graph, allow_unused=True)


def check_double_backward(sd_fn, torch_fn, shapes, consts=(), low=-2.0, high=2.0, rtol=1e-7, atol=1e-9):
    """float64 inputs of ``shapes`` (differentiable) and ``consts`` (raw arrays passed as tensors)."""
    xs_np = [RNG.uniform(low, high, s) for s in shapes]
    sx = [sd.tensor(a, dtype=sd.float64, requires_grad=True) for a in xs_np]
    tx = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in xs_np]
    sc = [sd.tensor(c) for c in consts]
    tc = [torch.tensor(c) for c in consts]
    s_out, t_out = sd_fn(*sx, *sc), torch_fn(*tx, *tc)
    np.testing.assert_allclose(s_out.detach().numpy(), t_out.detach().numpy(), rtol=rtol, atol=atol)
    v = RNG.standard_normal(tuple(t_out.shape))
    plain = _grads(sd, s_out, sx, sd.tensor(v), create_graph=False)
    s_out = sd_fn(*sx, *sc)
    s_g = _grads(sd, s_out, sx, sd.tensor(v), create_graph=True)
    t_g = _grads(torch, t_out, tx, torch.tensor(v), create_graph=True)
    for i, (p, g, tg) in enumerate(zip(plain, s_g, t_g)):  # (a) and first-order parity
        assert g is not None, f"input {i}: no gradient"
        np.testing.assert_allclose(g.detach().numpy(), p.numpy(), rtol=1e-10, atol=1e-12,
                                   err_msg=f"input {i}: create_graph gradient differs from the plain one")
        np.testing.assert_allclose(g.detach().numpy(), tg.detach().numpy(), rtol=rtol, atol=atol,
                                   err_msg=f"input {i}: first-order gradient differs from PyTorch")
    # (a bias's gradient Σ v is a constant; the others must be differentiable)
    assert any(g.requires_grad for g in s_g), "no gradient is differentiable under create_graph"
    rs = [RNG.standard_normal(x.shape) for x in xs_np]
    s_sum = sum((g * sd.tensor(r)).sum() for g, r in zip(s_g, rs) if g.requires_grad)
    t_sum = sum((g * torch.tensor(r)).sum() for g, r in zip(t_g, rs) if g is not None and g.requires_grad)
    s_gg = _grads(sd, s_sum, sx, None, create_graph=False)
    t_gg = _grads(torch, t_sum, tx, None, create_graph=False) if isinstance(t_sum, torch.Tensor) else [None] * len(tx)
    for i, (sg, tg) in enumerate(zip(s_gg, t_gg)):  # (b)
        s_val = np.zeros(shapes[i]) if sg is None else sg.numpy()
        t_val = np.zeros(shapes[i]) if tg is None else tg.numpy()
        np.testing.assert_allclose(s_val, t_val, rtol=1e-6, atol=1e-8,
                                   err_msg=f"input {i}: double backward differs from PyTorch's")


def ce(**kw):
    return (lambda z, t, *w: F.cross_entropy(z, t, *w, **kw)), (lambda z, t, *w: TF.cross_entropy(z, t, *w, **kw))


CASES = {
    "softmax": ((lambda x: F.softmax(x, 1)), (lambda x: TF.softmax(x, 1)), [(3, 4)], ()),
    "softmax_dim0_3d": ((lambda x: F.softmax(x, 0)), (lambda x: TF.softmax(x, 0)), [(3, 2, 4)], ()),
    "log_softmax": ((lambda x: F.log_softmax(x, -1)), (lambda x: TF.log_softmax(x, -1)), [(3, 4)], ()),
    "softmin": ((lambda x: F.softmin(x, 1)), (lambda x: TF.softmin(x, 1)), [(3, 4)], ()),
    "ce": (*ce(), [(5, 4)], (T5_IGN1,)),
    "ce_sum": (*ce(reduction="sum"), [(5, 4)], (T5_IGN1,)),
    "ce_none": (*ce(reduction="none"), [(5, 4)], (T5_IGN1,)),
    "ce_weight": (*ce(), [(5, 4)], (T5_IGN1, W4)),
    "ce_weight_ignore": (*ce(), [(5, 4)], (T5, W4)),
    "ce_ignore_index_1": (*ce(ignore_index=1), [(5, 4)], (T5_IGN1, W4)),
    "ce_smoothing": (*ce(label_smoothing=0.2), [(5, 4)], (T5,)),
    "ce_weight_smoothing": (*ce(label_smoothing=0.3), [(5, 4)], (T5, W4)),
    "ce_weight_smoothing_none": (*ce(label_smoothing=0.3, reduction="none"), [(5, 4)], (T5, W4)),
    "ce_probabilities": (*ce(), [(5, 4)], (P5,)),
    "ce_probabilities_weight_smoothing": (*ce(label_smoothing=0.1), [(5, 4)], (P5, W4)),
    "ce_4d": (*ce(), [(2, 4, 3, 2)], (RNG.integers(0, 4, (2, 3, 2)),)),
    "nll": ((lambda z, t, w: F.nll_loss(F.log_softmax(z, 1), t, w)),
            (lambda z, t, w: TF.nll_loss(TF.log_softmax(z, 1), t, w)), [(5, 4)], (T5, W4)),
    "bce": ((lambda x, t: F.binary_cross_entropy(x.sigmoid(), t)),
            (lambda x, t: TF.binary_cross_entropy(x.sigmoid(), t)), [(3, 4)], (RNG.random((3, 4)),)),
    "bce_weight": ((lambda x, t, w: F.binary_cross_entropy(x.sigmoid(), t, w, reduction="sum")),
                   (lambda x, t, w: TF.binary_cross_entropy(x.sigmoid(), t, w, reduction="sum")), [(3, 4)],
                   (RNG.random((3, 4)), RNG.uniform(0.5, 2, 4))),
    "layer_norm": ((lambda x, w, b: F.layer_norm(x, (4,), w, b)), (lambda x, w, b: TF.layer_norm(x, (4,), w, b)),
                   [(3, 4), (4,), (4,)], ()),
    "layer_norm_2d_eps": ((lambda x, w: F.layer_norm(x, (2, 3), w, eps=0.3)),
                          (lambda x, w: TF.layer_norm(x, (2, 3), w, eps=0.3)), [(2, 2, 3), (2, 3)], ()),
    "rms_norm": ((lambda x, w: F.rms_norm(x, (4,), w, eps=0.5)), (lambda x, w: TF.rms_norm(x, (4,), w, eps=0.5)),
                 [(3, 4), (4,)], ()),
    "rms_norm_no_weight": ((lambda x: F.rms_norm(x, (2, 4), eps=0.1)), (lambda x: TF.rms_norm(x, (2, 4), eps=0.1)),
                           [(3, 2, 4)], ()),
    "group_norm": ((lambda x, w, b: F.group_norm(x, 2, w, b, eps=0.2)),
                   (lambda x, w, b: TF.group_norm(x, 2, w, b, eps=0.2)), [(2, 4, 3), (4,), (4,)], ()),
    "batch_norm_train": ((lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True, eps=0.3)),
                         (lambda x, w, b: TF.batch_norm(x, None, None, w, b, training=True, eps=0.3)),
                         [(4, 3, 2), (3,), (3,)], ()),
    "batch_norm_train_running": (
        (lambda x, w, b, m, v: F.batch_norm(x, m, v, w, b, training=True, eps=0.3)),
        (lambda x, w, b, m, v: TF.batch_norm(x, m, v, w, b, training=True, eps=0.3)),
        [(5, 3), (3,), (3,)], (np.zeros(3), np.ones(3))),
    "batch_norm_eval": ((lambda x, w, b, m, v: F.batch_norm(x, m, v, w, b, training=False, eps=0.3)),
                        (lambda x, w, b, m, v: TF.batch_norm(x, m, v, w, b, training=False, eps=0.3)),
                        [(4, 3, 2), (3,), (3,)], (RNG.standard_normal(3), RNG.uniform(0.5, 2, 3))),
}


@pytest.mark.parametrize("name", list(CASES))
def test_double_backward_matches_pytorch(name):
    sd_fn, torch_fn, shapes, consts = CASES[name]
    check_double_backward(sd_fn, torch_fn, shapes, consts)


def test_the_check_catches_a_consistently_wrong_composite(monkeypatch):
    """An RMS-norm composite with eps outside the square root passes gradgradcheck but not this test."""
    from shendu.ops import norm

    def wrong(x, n, weight=None, eps=1e-6):
        axes = tuple(range(x.ndim - n, x.ndim))
        out = x / ((x * x).mean(axes, keepdim=True).sqrt() + eps)
        return out * weight if weight is not None else out

    monkeypatch.setattr(norm, "rms_norm_composite", wrong)
    sd_fn, torch_fn, shapes, consts = CASES["rms_norm"]
    with pytest.raises(AssertionError, match="create_graph gradient differs"):
        check_double_backward(sd_fn, torch_fn, shapes, consts)


def test_the_check_catches_an_unweighted_mean_in_weighted_cross_entropy(monkeypatch):
    from shendu.ops import fused
    right = fused.cross_entropy_composite

    def wrong(z, target, weight, ignore_index, smoothing, reduction):
        per_row = right(z, target, weight, ignore_index, smoothing, "none")
        return per_row.mean() if reduction == "mean" else right(z, target, weight, ignore_index, smoothing, reduction)

    monkeypatch.setattr(fused, "cross_entropy_composite", wrong)
    sd_fn, torch_fn, shapes, consts = CASES["ce_weight"]
    with pytest.raises(AssertionError, match="create_graph gradient differs"):
        check_double_backward(sd_fn, torch_fn, shapes, consts)
