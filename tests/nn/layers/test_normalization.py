"""Normalization: batch_norm / group_norm / rms_norm functionals and the BatchNorm, LayerNorm, GroupNorm,
RMSNorm layers against PyTorch (copied weights, train and eval, running statistics), and gradcheck."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from helpers import case, grad_cases, ids
from layer_harness import check_layer_grad, run_layer_test

import shendu as sd
import shendu.nn as nn
import shendu.nn.functional as F
from shendu.ops.norm import batch_norm_composite

RNG = np.random.default_rng(3)
RM = RNG.standard_normal(3).astype(np.float32)
RV = RNG.uniform(0.5, 2.0, 3).astype(np.float32)



@pytest.fixture(autouse=True)
def _fresh_rng():
    """Each test draws from its own seeded generator, whatever order xdist runs them in."""
    global RNG
    RNG = np.random.default_rng(3)

# -- functionals --------------------------------------------------------------------------------
def _bn(training, affine=True, momentum=0.1, eps=1e-5):
    """batch_norm with fixed running statistics (fresh copies each call: training updates them)."""
    def run(lib, fn, x, *wb):
        w, b = wb if affine else (None, None)
        rm, rv = lib.from_numpy(RM.copy()), lib.from_numpy(RV.copy())
        return fn(x, rm, rv, w, b, training, momentum, eps)
    return (lambda x, *wb: run(sd, F.batch_norm, x, *wb)), (lambda x, *wb: run(torch, TF.batch_norm, x, *wb))


def _bn_case(name, shape, training, affine=True, **kw):
    s, t = _bn(training, affine, **kw)
    return case(name, s, t, [shape, (3,), (3,)] if affine else [shape], grad_atol=2e-5)


CASES = [
    _bn_case("batch_norm_train_2d", (6, 3), True),
    _bn_case("batch_norm_train_3d", (4, 3, 5), True),
    _bn_case("batch_norm_train_4d", (2, 3, 4, 3), True, eps=1e-3),
    _bn_case("batch_norm_train_no_affine", (4, 3, 2), True, affine=False),
    _bn_case("batch_norm_eval_2d", (6, 3), False),
    _bn_case("batch_norm_eval_4d", (2, 3, 2, 3), False),
    case("batch_norm_no_running_stats", lambda x, w, b: F.batch_norm(x, None, None, w, b, True),
         lambda x, w, b: TF.batch_norm(x, None, None, w, b, True), [(5, 3, 2), (3,), (3,)]),
    case("group_norm", lambda x, w, b: F.group_norm(x, 2, w, b), lambda x, w, b: TF.group_norm(x, 2, w, b),
         [(3, 4, 5), (4,), (4,)]),
    case("group_norm_4d_eps", lambda x, w, b: F.group_norm(x, 3, w, b, eps=1e-2),
         lambda x, w, b: TF.group_norm(x, 3, w, b, eps=1e-2), [(2, 6, 2, 3), (6,), (6,)]),
    case("group_norm_instance_no_affine", lambda x: F.group_norm(x, 4), lambda x: TF.group_norm(x, 4), [(2, 4, 5)]),
    case("rms_norm", lambda x, w: F.rms_norm(x, (5,), w), lambda x, w: TF.rms_norm(x, (5,), w), [(3, 4, 5), (5,)]),
    case("rms_norm_2dims_eps", lambda x, w: F.rms_norm(x, (4, 5), w, eps=1e-3),
         lambda x, w: TF.rms_norm(x, (4, 5), w, eps=1e-3), [(3, 4, 5), (4, 5)]),
    case("rms_norm_no_weight_int_shape", lambda x: F.rms_norm(x, 5), lambda x: TF.rms_norm(x, [5]), [(2, 5)]),
    case("layer_norm", lambda x, w, b: F.layer_norm(x, (5,), w, b), lambda x, w, b: TF.layer_norm(x, (5,), w, b),
         [(3, 4, 5), (5,), (5,)]),
]


@pytest.mark.parametrize("c", CASES, ids=ids(CASES))
def test_parity(c):
    c.parity()


@pytest.mark.parametrize("c", grad_cases(CASES), ids=ids(grad_cases(CASES)))
def test_gradcheck(c):
    c.gradcheck()


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_second_order(training):
    """create_graph differentiates the composite: second derivatives pass gradgradcheck."""
    x = sd.from_numpy(RNG.standard_normal((4, 3, 2))).requires_grad_()
    w, b = (sd.from_numpy(RNG.standard_normal(3)).requires_grad_() for _ in range(2))
    rm, rv = sd.from_numpy(RM.astype(np.float64)), sd.from_numpy(RV.astype(np.float64))
    assert sd.gradgradcheck(lambda *a: F.batch_norm(a[0], None if training else rm, None if training else rv,
                                                    a[1], a[2], training), [x, w, b])


def test_rms_and_group_norm_second_order():
    x = sd.from_numpy(RNG.standard_normal((3, 4))).requires_grad_()
    w = sd.from_numpy(RNG.standard_normal(4)).requires_grad_()
    assert sd.gradgradcheck(lambda a, b: F.rms_norm(a, (4,), b, eps=1e-3), [x, w])
    assert sd.gradgradcheck(lambda a, b: F.group_norm(a.reshape(3, 4, 1), 2, b), [x, w])


def test_batch_norm_fused_matches_composite():
    """The fused op against its composite oracle, in float64: values and gradients."""
    x, w, b = (sd.from_numpy(RNG.standard_normal(s)).requires_grad_() for s in ((5, 3, 4), (3,), (3,)))
    g = sd.from_numpy(RNG.standard_normal((5, 3, 4)))
    fused = F.batch_norm(x, None, None, w, b, True)
    ref = batch_norm_composite(x, None, None, w, b, True)
    np.testing.assert_allclose(fused._data, ref._data, atol=1e-12)
    got = sd.grad(fused, [x, w, b], g)
    want = sd.grad(ref, [x, w, b], g)
    for a, e in zip(got, want):
        np.testing.assert_allclose(a._data, e._data, atol=1e-12)


def test_rms_norm_default_eps_is_finfo():
    x = sd.from_numpy(np.full((2, 3), 1e-4, dtype=np.float32))
    np.testing.assert_allclose(F.rms_norm(x, 3)._data, TF.rms_norm(torch.from_numpy(x.numpy()), [3]).numpy(),
                               rtol=1e-6)
    assert F.rms_norm(x.double(), 3).dtype == sd.float64


def test_batch_norm_running_stats_update():
    """running_mean/var move by momentum towards the batch mean and UNBIASED variance, in place."""
    x = RNG.standard_normal((4, 3, 5)).astype(np.float32)
    rm, rv = sd.from_numpy(RM.copy()), sd.from_numpy(RV.copy())
    trm, trv = torch.from_numpy(RM.copy()), torch.from_numpy(RV.copy())
    for m in (0.1, 0.5):
        F.batch_norm(sd.from_numpy(x), rm, rv, training=True, momentum=m)
        TF.batch_norm(torch.from_numpy(x), trm, trv, training=True, momentum=m)
    np.testing.assert_allclose(rm._data, trm.numpy(), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(rv._data, trv.numpy(), rtol=1e-6)
    assert rm.dtype == sd.float32 and rv.dtype == sd.float32


# -- layers -------------------------------------------------------------------------------------
def _copy_weights(s, t):
    """Give the shendu layer the torch layer's (randomised) parameters and buffers."""
    with torch.no_grad():
        for p in t.parameters():
            p.copy_(torch.from_numpy(RNG.uniform(0.5, 1.5, tuple(p.shape)).astype(np.float32)))
    s.load_state_dict({k: v.detach().numpy().copy() for k, v in t.state_dict().items()})


def _step(s, t, shape, atol=1e-5):
    """One forward/backward with the same input and random upstream gradient; compare everything."""
    x = (RNG.standard_normal(shape) * 2 + 0.5).astype(np.float32)
    g = RNG.standard_normal(shape).astype(np.float32)
    xs, xt = sd.from_numpy(x.copy()).requires_grad_(), torch.from_numpy(x.copy()).requires_grad_()
    ys, yt = s(xs), t(xt)
    assert ys.shape == tuple(yt.shape) and ys.dtype == sd.float32
    np.testing.assert_allclose(ys._data, yt.detach().numpy(), rtol=1e-5, atol=atol)
    ys.backward(sd.from_numpy(g.copy()))
    yt.backward(torch.from_numpy(g.copy()))
    np.testing.assert_allclose(xs.grad._data, xt.grad.numpy(), rtol=1e-4, atol=atol)
    for (name, ps), pt in zip(s.named_parameters(), t.parameters()):
        np.testing.assert_allclose(ps.grad._data, pt.grad.numpy(), rtol=1e-4, atol=atol, err_msg=name)
        ps.grad, pt.grad = None, None


def _same_buffers(s, t):
    sb, tb = dict(s.named_buffers()), dict(t.named_buffers())
    assert sb.keys() == tb.keys()
    for k in sb:
        np.testing.assert_allclose(sb[k]._data, tb[k].numpy(), rtol=1e-5, atol=1e-6, err_msg=k)
        assert sb[k].dtype == tb[k].numpy().dtype, k


@pytest.mark.parametrize("cls,shape,kw", [
    ("BatchNorm1d", (8, 3), {}),
    ("BatchNorm1d", (4, 3, 5), {"momentum": None}),
    ("BatchNorm2d", (2, 3, 4, 3), {"momentum": 0.3, "eps": 1e-3}),
    ("BatchNorm2d", (2, 3, 2, 2), {"momentum": None, "affine": False}),
    ("BatchNorm3d", (2, 3, 2, 2, 2), {"bias": False}),
])
def test_batch_norm_layer_train_then_eval(cls, shape, kw):
    s, t = getattr(nn, cls)(3, **kw), getattr(torch.nn, cls)(3, **kw)
    _copy_weights(s, t)
    assert list(s.state_dict()) == list(t.state_dict())
    for _ in range(3):  # running statistics after several steps (cumulative average for momentum=None)
        _step(s, t, shape)
        _same_buffers(s, t)
    assert int(s.num_batches_tracked.item()) == 3
    s.eval(), t.eval()
    _step(s, t, shape)  # running statistics normalize; they stay unchanged
    _same_buffers(s, t)
    assert int(s.num_batches_tracked.item()) == 3


def test_batch_norm_without_running_stats_uses_batch_stats_in_eval():
    s, t = nn.BatchNorm1d(3, track_running_stats=False), torch.nn.BatchNorm1d(3, track_running_stats=False)
    _copy_weights(s, t)
    assert s.running_mean is None and list(s.state_dict()) == ["weight", "bias"]
    s.eval(), t.eval()
    _step(s, t, (5, 3, 2))


@pytest.mark.parametrize("make", [
    lambda lib: lib.nn.LayerNorm(5),
    lambda lib: lib.nn.LayerNorm((4, 5), eps=1e-3, bias=False),
    lambda lib: lib.nn.LayerNorm([5], elementwise_affine=False),
    lambda lib: lib.nn.GroupNorm(2, 4),
    lambda lib: lib.nn.GroupNorm(4, 4, affine=False),
    lambda lib: lib.nn.RMSNorm(5),
    lambda lib: lib.nn.RMSNorm((4, 5), eps=1e-4),
    lambda lib: lib.nn.RMSNorm(5, elementwise_affine=False),
], ids=["ln", "ln_2d_nobias", "ln_noaffine", "gn", "gn_instance_noaffine", "rms", "rms_2d", "rms_noaffine"])
def test_per_sample_norm_layers(make):
    s, t = make(sd), make(torch)
    _copy_weights(s, t)
    assert list(s.state_dict()) == list(t.state_dict())
    for p_s, p_t in zip(s.parameters(), t.parameters()):
        assert p_s.shape == tuple(p_t.shape)
    shape = (3, 4, 5)
    _step(s, t, shape)
    s.eval(), t.eval()
    _step(s, t, shape)  # no running statistics: eval is the same computation


@pytest.mark.parametrize("layer,shape", [
    (lambda: nn.BatchNorm2d(2), (3, 2, 2, 2)),
    (lambda: nn.BatchNorm1d(2, momentum=None), (4, 2)),
    (lambda: nn.GroupNorm(2, 4), (2, 4, 3)),
    (lambda: nn.RMSNorm(4), (3, 4)),
    (lambda: nn.LayerNorm(4), (3, 4)),
], ids=["bn2d", "bn1d", "gn", "rms", "ln"])
@pytest.mark.parametrize("training", [True, False])
def test_layer_gradcheck(layer, shape, training):
    """float64 gradcheck of each layer w.r.t. its input and its parameters, in train and eval mode."""
    check_layer_grad(layer().train(training), [shape])


@pytest.mark.parametrize("cls,kw,shape,params,buffers,differs", [
    (nn.BatchNorm1d, {"num_features": 3}, (4, 3), ["weight", "bias"],
     ["running_mean", "running_var", "num_batches_tracked"], True),
    (nn.BatchNorm2d, {"num_features": 3, "affine": False}, (2, 3, 2, 2), [],
     ["running_mean", "running_var", "num_batches_tracked"], True),
    (nn.LayerNorm, {"normalized_shape": (3, 4)}, (2, 3, 4), ["weight", "bias"], [], False),
    (nn.GroupNorm, {"num_groups": 2, "num_channels": 4}, (2, 4, 3), ["weight", "bias"], [], False),
    (nn.RMSNorm, {"normalized_shape": 4}, (3, 4), ["weight"], [], False),
], ids=["bn1d", "bn2d_noaffine", "ln", "gn", "rms"])
def test_layer_contract(cls, kw, shape, params, buffers, differs):
    run_layer_test(cls, kw, input_shape=shape, expected_output_shape=shape, expected_param_names=params,
                   expected_buffer_names=buffers, train_differs=differs)


def test_defaults_and_repr():
    bn = nn.BatchNorm2d(4)
    assert (bn.eps, bn.momentum, bn.affine, bn.track_running_stats) == (1e-5, 0.1, True, True)
    assert repr(bn) == repr(torch.nn.BatchNorm2d(4))
    assert repr(nn.LayerNorm(5)) == repr(torch.nn.LayerNorm(5))
    assert repr(nn.GroupNorm(2, 4)) == repr(torch.nn.GroupNorm(2, 4))
    assert repr(nn.BatchNorm1d(4, affine=False)) == repr(torch.nn.BatchNorm1d(4, affine=False))
    assert repr(nn.LayerNorm(4, bias=False)) == repr(torch.nn.LayerNorm(4, bias=False))
    assert repr(nn.RMSNorm(5)) == repr(torch.nn.RMSNorm(5))
    assert bn.num_batches_tracked.dtype == sd.int64 and bn.running_var.dtype == sd.float32
    assert nn.RMSNorm(3).eps is None and nn.LayerNorm(3).eps == 1e-5


@pytest.mark.parametrize("call,err,match", [
    (lambda: nn.BatchNorm2d(3)(sd.randn(2, 3, 4)), ValueError, r"BatchNorm2d.*4D.*got 3D"),
    (lambda: nn.BatchNorm1d(3)(sd.randn(2, 3, 4, 4)), ValueError, r"BatchNorm1d.*got 4D"),
    (lambda: nn.BatchNorm2d(3)(sd.randn(2, 4, 5, 5)), RuntimeError, r"BatchNorm2d\(3\).*3 channels.*\(2, 4, 5, 5\)"),
    (lambda: nn.BatchNorm1d(3)(sd.randn(1, 3)), ValueError, "more than 1 value per channel"),
    (lambda: F.batch_norm(sd.randn(4, 3), sd.zeros(4), sd.ones(4)), RuntimeError, r"running_mean.*\(3,\)"),
    (lambda: F.batch_norm(sd.randn(4, 3), None, None), RuntimeError, "training=False"),
    (lambda: nn.LayerNorm(5)(sd.randn(2, 4)), RuntimeError, r"LayerNorm\(\(5,\)\).*\(2, 4\)"),
    (lambda: nn.GroupNorm(3, 4), ValueError, "GroupNorm.*divisible"),
    (lambda: nn.GroupNorm(2, 4)(sd.randn(2, 6, 3)), RuntimeError, r"GroupNorm\(2, 4\).*\(2, 6, 3\)"),
    (lambda: F.group_norm(sd.randn(2, 6, 3), 4), RuntimeError, "group_norm.*divisible"),
    (lambda: nn.RMSNorm(5)(sd.randn(5, 4)), RuntimeError, r"RMSNorm.*\(5, 4\)"),
    (lambda: F.rms_norm(sd.randn(2, 5), (5,), sd.ones(4)), RuntimeError, "rms_norm: weight"),
])
def test_bad_input(call, err, match):
    with pytest.raises(err, match=match):
        call()


def test_no_grad_forward_still_updates_running_stats():
    bn = nn.BatchNorm1d(3)
    with sd.no_grad():
        bn(sd.randn(4, 3) + 5.0)
    assert float(bn.running_mean._data.mean()) > 0.3 and int(bn.num_batches_tracked.item()) == 1

