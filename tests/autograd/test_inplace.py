"""In-place semantics as PyTorch's: recorded in-place ops, version counters, ``x[i] = v``, ``.data``.

Every gradient is compared with PyTorch running the same program under a random upstream gradient.
"""
import numpy as np
import pytest
import torch

import shendu as sd


def _run(lib, program, x0, g):
    """Run ``program(lib, x)`` on a leaf made from ``x0``; backprop ``g``; return (value, x.grad)."""
    x = lib.tensor(x0, requires_grad=True) if lib is sd else torch.tensor(x0, requires_grad=True)
    out = program(lib, x)
    out.backward(lib.tensor(g) if lib is sd else torch.tensor(g))
    return np.asarray(out.detach().numpy()), np.asarray(x.grad.numpy())


PROGRAMS = {
    "add_mul_chain": lambda L, x: (lambda h: (h.add_(1), h.mul_(3), h.sub_(x), h)[-1])(x * 2),
    "iadd_operator": lambda L, x: (lambda h: (h.__iadd__(x), h)[-1])(x * 2),
    "consumer_before_write": lambda L, x: (lambda h: (lambda y: (h.mul_(5), y + h)[-1])(h + 3))(x * 2),
    "relu_inplace": lambda L, x: (x * 3 - 1).relu_() * x,
    "clamp_inplace": lambda L, x: (x * 2).clamp_(-1.0, 1.5),
    "masked_fill_inplace": lambda L, x: (x * 2).masked_fill_(x > 0.5, 0.25) * x,
    "setitem_scalar": lambda L, x: (lambda b: (b.__setitem__(1, 7.0), b * x)[-1])(x * 1.5),
    "setitem_tensor_into_zeros": lambda L, x: (lambda b: (b.__setitem__(slice(0, 2), x[1:] * x[:2]), b)[-1])(
        L.zeros(3)),
    "setitem_bool_mask": lambda L, x: (lambda b: (b.__setitem__(x > 0, x[x > 0] ** 2), b)[-1])(x * 1.0),
    "setitem_advanced": lambda L, x: (lambda b: (b.__setitem__(L.tensor([2, 0]), x[:2] * 4), b)[-1])(x.sin()),
    "view_iadd": lambda L, x: (lambda b: (b[:2].__iadd__(x[1:] * 3), b)[-1])(L.zeros(3)),
    "named_view_mul": lambda L, x: (lambda b: (lambda v: (v.mul_(x[:2]), b * 1.0)[-1])(b[1:]))(x * x),
    "fill_in_graph": lambda L, x: (lambda h: (h[0].fill_(2.0), h * x)[-1])(x + 1),
    "zero_in_graph": lambda L, x: (lambda h: (h.zero_(), h + x * x)[-1])(x * 4),
    "copy_into_buffer": lambda L, x: (lambda b: (b.copy_(x * 2), b * b)[-1])(L.zeros(3)),
}


@pytest.mark.parametrize("name", list(PROGRAMS))
def test_inplace_program_matches_torch(name):
    rng = np.random.default_rng(0)
    x0 = rng.uniform(-1, 1, 3).astype(np.float32)
    g = rng.standard_normal(3).astype(np.float32)
    value, grad = _run(sd, PROGRAMS[name], x0, g)
    tvalue, tgrad = _run(torch, PROGRAMS[name], x0, g)
    np.testing.assert_allclose(value, tvalue, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(grad, tgrad, rtol=1e-5, atol=1e-6)


def test_writes_pytorch_refuses_are_differentiated_from_the_recorded_values():
    # PyTorch raises here (exp saved its output, mul_ saved self); shendu keeps a snapshot of the old
    # value, so the gradient is the one of the out-of-place program.
    x0 = np.array([0.3, -0.4, 1.2], dtype=np.float32)
    g = np.array([1.0, -2.0, 0.5], dtype=np.float32)
    x = sd.tensor(x0, requires_grad=True)
    h = x.exp()
    h.sub_(1)
    h.mul_(h)
    (h * x).backward(sd.tensor(g))
    xt = torch.tensor(x0, requires_grad=True)
    ht = (xt.exp() - 1) ** 2
    (ht * xt).backward(torch.tensor(g))
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-5)


def test_setitem_accumulating_index_put_matches_torch():
    idx = [0, 2, 0]
    ours = sd.tensor([1.0, 2.0, 3.0], requires_grad=True)
    ref = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    outs = []
    for lib, x in ((sd, ours), (torch, ref)):
        b = x * 1.0
        b.index_put_((lib.tensor(idx),), x[:3] * 2, accumulate=True)
        b.backward(lib.tensor([1.0, -2.0, 3.0]))
        outs.append((b.detach().numpy(), x.grad.numpy()))
    np.testing.assert_allclose(outs[0][0], outs[1][0])
    np.testing.assert_allclose(outs[0][1], outs[1][1])


# -- version counters: a change after an op read a tensor is an error at backward -------------------
def test_modifying_a_saved_input_under_no_grad_raises_at_backward():
    w = sd.tensor([1.0, 2.0], requires_grad=True)
    mask = sd.tensor([3.0, 4.0])
    y = (w * mask).sum()
    mask.add_(1)
    with pytest.raises(RuntimeError, match=r"modified by an inplace operation.*MulBackward"):
        y.backward()


def test_modifying_a_saved_output_raises_at_backward():
    x = sd.tensor([0.5, 1.0], requires_grad=True)
    y = x.exp()
    with sd.no_grad():
        y.mul_(2)
    with pytest.raises(RuntimeError, match=r"modified by an inplace operation.*output of ExpBackward"):
        y.sum().backward()


@pytest.mark.parametrize("layer", ["LSTM", "GRU", "RNN"])
def test_modifying_a_saved_output_of_a_several_output_op_raises_at_backward(layer):
    # the recurrent layers' ops return (out, h_n, ...) and their backward reads out's array (saved_outputs)
    x = sd.randn(5, 2, 3, requires_grad=True)
    out, _ = getattr(sd.nn, layer)(3, 4)(x)
    with sd.no_grad():
        out[1].zero_()  # through a view, too
    with pytest.raises(RuntimeError, match=rf"modified by an inplace operation.*output 0 of {layer}LayerBackward"):
        out.sum().backward()


def test_an_output_a_several_output_op_does_not_read_may_be_modified():
    x = sd.randn(5, 2, 3, requires_grad=True)
    out, h_n = sd.nn.GRU(3, 4)(x)  # h_n is a copy: backward never reads it
    before = sd.autograd.grad(out.sum(), x, retain_graph=True)[0].numpy()
    with sd.no_grad():
        h_n.mul_(0)
    np.testing.assert_array_equal(sd.autograd.grad(out.sum(), x)[0].numpy(), before)


def test_modifying_through_a_view_bumps_the_viewed_tensor():
    w = sd.tensor([1.0, 2.0, 3.0], requires_grad=True)
    c = sd.tensor([1.0, 1.0, 1.0])
    y = (w * c).sum()
    v = c[1:]
    v.fill_(9.0)
    assert c._version == 1 and v._version == 1 and c.tolist() == [1.0, 9.0, 9.0]
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()


def test_ops_that_do_not_read_an_input_ignore_its_changes():
    a = sd.tensor([1.0, 2.0], requires_grad=True)
    b = sd.tensor([5.0, 6.0])
    y = (a + b).sum()  # add never reads its inputs' values in backward
    b.zero_()
    y.backward()
    assert a.grad.tolist() == [1.0, 1.0]


def test_version_counts_writes():
    t = sd.zeros(3)
    assert t._version == 0
    t.add_(1)
    t[0] = 2.0
    t.data.mul_(2)  # .data has its own counter, as in PyTorch
    assert t._version == 2 and t.tolist() == [4.0, 2.0, 2.0]


def test_leaf_requiring_grad_rejects_inplace_and_its_views_too():
    p = sd.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"leaf tensor that requires grad.*in-place"):
        p.mul_(2)
    with pytest.raises(RuntimeError, match=r"view .* of a leaf tensor that requires grad"):
        p[0:1].add_(1)
    with sd.no_grad():
        p.mul_(2)
    assert p.tolist() == [2.0, 4.0]


def test_dtype_and_shape_rules_of_inplace_writes():
    i = sd.tensor([1, 2])
    with pytest.raises(RuntimeError, match=r"add_: result type float.*can't be cast.*int64"):
        i.add_(1.5)
    f = sd.zeros(2)
    with pytest.raises(RuntimeError, match=r"add_: cannot update a tensor of shape \(2,\)"):
        f.add_(sd.ones(3, 2))
    f.add_(sd.ones(2, dtype=sd.float64))  # same kind: cast into float32
    assert f.dtype == sd.float32 and f.tolist() == [1.0, 1.0]


# -- .data: a Tensor sharing storage, no history ---------------------------------------------------
def test_data_idioms_of_pytorch_programs():
    lin = sd.nn.Linear(3, 2)
    lin.weight.data.normal_(0, 0.02)
    lin.bias.data.zero_()
    assert lin.bias.tolist() == [0.0, 0.0] and abs(float(lin.weight.std())) < 0.1
    lin.weight.data.copy_(sd.ones(2, 3))
    x = sd.ones(4, 3)
    lin(x).sum().backward()
    lr = 0.1
    lin.weight.data.add_(-lr * lin.weight.grad)  # the manual SGD step of the tutorials
    np.testing.assert_allclose(lin.weight.detach().numpy(), 1 - 0.1 * 4, rtol=1e-6)
    assert isinstance(lin.weight.data, sd.Tensor) and not lin.weight.data.requires_grad
    assert np.shares_memory(lin.weight.data.numpy(), lin.weight.detach().numpy())


def test_assigning_data_replaces_the_storage():
    p = sd.nn.Parameter(sd.zeros(2, 2))
    new = sd.ones(3)
    p.data = new
    assert p.shape == (3,) and p.requires_grad and p.tolist() == [1.0, 1.0, 1.0]
    new.add_(1)  # p now shares new's storage
    assert p.tolist() == [2.0, 2.0, 2.0]
    with pytest.raises(TypeError, match="Tensor.data: assigned data must be a Tensor"):
        p.data = np.zeros(2)


# -- anomaly detection -----------------------------------------------------------------------------
def test_detect_anomaly_names_the_op_that_made_nan():
    x = sd.tensor([0.0, 1.0], requires_grad=True)
    y = x.sqrt()  # d sqrt / dx at 0 is inf; times the 0 from the mask below gives NaN
    z = (y * sd.tensor([0.0, 1.0])).sum()
    with sd.autograd.detect_anomaly():
        z2 = (x.sqrt() * sd.tensor([0.0, 1.0])).sum()
        expected = r"(?s)Function 'SqrtBackward' returned nan values.*forward call.*test_inplace.py"
        with pytest.raises(RuntimeError, match=expected):
            z2.backward()
    z.backward()  # outside the context: NaN passes silently, as in PyTorch
    assert np.isnan(x.grad.numpy()[0])
    assert not sd.autograd.is_anomaly_enabled()


def test_inplace_activation_layers_match_torch():
    def net(lib):
        nn = lib.nn
        return nn.Sequential(nn.Linear(4, 8), nn.ReLU(inplace=True), nn.Linear(8, 8), nn.LeakyReLU(0.1, inplace=True),
                             nn.Linear(8, 8), nn.Hardtanh(inplace=True), nn.Dropout(0.0, inplace=True), nn.Linear(8, 2))
    ours, ref = net(sd), net(torch)
    ref.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in ours.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    g = np.random.default_rng(1).standard_normal((5, 2)).astype(np.float32)
    y, yt = ours(sd.from_numpy(x)), ref(torch.from_numpy(x))
    y.backward(sd.from_numpy(g))
    yt.backward(torch.from_numpy(g))
    np.testing.assert_allclose(y.detach().numpy(), yt.detach().numpy(), rtol=1e-5, atol=1e-6)
    for (name, p), q in zip(ours.named_parameters(), ref.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-4, atol=1e-6, err_msg=name)
    h = sd.randn(3, 4)
    out = sd.nn.functional.relu(h, inplace=True)
    assert out is h and (h.numpy() >= 0).all() and h._version == 1


def test_shape_changing_inplace_methods_match_torch():
    x0 = np.random.default_rng(0).standard_normal((2, 3)).astype(np.float32)
    results = []
    for lib in (sd, torch):
        a = lib.tensor(x0, requires_grad=True)
        b = a * 2
        c = b * 1.0  # read b before its shape changes
        y = b.sum()
        b.t_()
        b.unsqueeze_(0)
        out = (b * b).sum() + (c * 3).sum() + y
        out.backward()
        results.append((tuple(b.shape), a.grad.numpy()))
    assert results[0][0] == results[1][0] == (1, 3, 2)
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-6)
    z = sd.zeros(2, 3)
    z.unsqueeze_(0)
    z.squeeze_().t_()
    assert z.shape == (3, 2) and z._version == 0
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad"):
        sd.zeros(3, requires_grad=True).unsqueeze_(0)
