"""The backward engine: accumulation, explicit gradients, graph freeing, hooks, deep graphs, ``shendu.grad``."""
import gc
import sys
import weakref

import numpy as np
import pytest
import torch

import shendu as sd


def _pair(values, dtype=np.float32):
    """The same leaf in shendu and in torch."""
    a = np.asarray(values, dtype=dtype)
    return sd.tensor(a, dtype=a.dtype, requires_grad=True), torch.tensor(a, requires_grad=True)


# -- backward() -------------------------------------------------------------------------------------
def test_gradients_accumulate_over_two_backward_calls():
    a, ta = _pair([1.0, -2.0, 3.0])
    b, tb = _pair([0.5, 4.0, -1.0])
    g = np.array([0.7, -1.3, 2.1])
    for _ in range(2):  # a random-looking upstream gradient, not .sum()'s ones
        (a * b + a.exp()).backward(sd.tensor(g))
        (ta * tb + ta.exp()).backward(torch.tensor(g))
    np.testing.assert_allclose(a.grad.numpy(), ta.grad.numpy(), rtol=1e-6)
    np.testing.assert_allclose(b.grad.numpy(), tb.grad.numpy(), rtol=1e-6)


def test_backward_with_explicit_gradient():
    rng = np.random.default_rng(0)
    x, tx = _pair(rng.standard_normal((3, 4)))
    w, tw = _pair(rng.standard_normal((4, 2)))
    g = rng.standard_normal((3, 2)).astype(np.float32)
    (x @ w).tanh().backward(sd.tensor(g))
    (tx @ tw).tanh().backward(torch.tensor(g))
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(w.grad.numpy(), tw.grad.numpy(), rtol=1e-5, atol=1e-6)
    assert x.grad.dtype == sd.float32 and w.grad.shape == (4, 2)


def test_backward_on_non_scalar_without_gradient_is_a_clear_error():
    x = sd.ones(2, 3, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"scalar outputs.*\(2, 3\)"):
        (x * 2).backward()


def test_backward_with_wrong_gradient_shape_is_a_clear_error():
    x = sd.ones(2, 3, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"\(3, 2\).*\(2, 3\)"):
        (x * 2).backward(sd.ones(3, 2))


def test_backward_on_tensor_without_grad_is_a_clear_error():
    with pytest.raises(RuntimeError, match="does not require grad"):
        (sd.ones(2) * 2).sum().backward()


def test_retain_graph_allows_a_second_backward():
    x = sd.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    assert x.grad.tolist() == [4.0, 8.0]


def test_second_backward_without_retain_graph_raises():
    x = sd.tensor([1.0, 2.0], requires_grad=True)
    y = (x.exp() * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        y.backward()


def test_backward_through_a_freed_shared_subgraph_raises():
    x = sd.tensor([1.0, 2.0], requires_grad=True)
    h = x.exp()
    h.sum().backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        (h * 2).sum().backward()


def test_tensors_without_requires_grad_get_no_grad():
    x = sd.tensor([1.0, 2.0], requires_grad=True)
    c = sd.tensor([3.0, 4.0])
    h = x * c
    (h * h).sum().backward()
    assert c.grad is None and h.grad is None  # non-leaf without retain_grad keeps no .grad
    assert x.grad is not None


def test_requires_grad_on_int_tensor_raises():
    with pytest.raises(RuntimeError, match=r"floating.*int64"):
        sd.tensor([1, 2]).requires_grad_()
    with pytest.raises(RuntimeError, match="floating"):
        sd.arange(3, requires_grad=True)


def test_detach_cuts_the_graph():
    x = sd.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    z = y.detach() * x
    z.sum().backward()
    assert x.grad.tolist() == [2.0, 4.0]  # only the direct path through x
    assert not y.detach().requires_grad


def test_requires_grad_():
    x = sd.tensor([1.0, 2.0])
    assert x.requires_grad_() is x and x.requires_grad
    (x * x).sum().backward()
    assert x.grad.tolist() == [2.0, 4.0]
    y = x * 2
    with pytest.raises(RuntimeError, match="leaves"):
        y.requires_grad_(False)
    x.requires_grad_(False)
    assert not (x * 2).requires_grad


def test_retain_grad_on_non_leaf():
    x, tx = _pair([1.0, -2.0, 0.5])
    h, th = x * x, tx * tx
    h.retain_grad()
    th.retain_grad()
    g = np.array([0.3, -1.0, 2.0], dtype=np.float32)
    (h.sin() * 2).backward(sd.tensor(g))
    (th.sin() * 2).backward(torch.tensor(g))
    np.testing.assert_allclose(h.grad.numpy(), th.grad.numpy(), rtol=1e-6)
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-6)
    with pytest.raises(RuntimeError, match="does not require grad"):
        sd.ones(2).retain_grad()


def test_register_hook_modifies_gradient():
    x, tx = _pair([1.0, 2.0, 3.0])
    h, th = x * 2, tx * 2
    h.register_hook(lambda g: g * 10)
    th.register_hook(lambda g: g * 10)
    g = np.array([0.3, -2.0, 1.1])
    (h * h).backward(sd.tensor(g))
    (th * th).backward(torch.tensor(g))
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy())


def test_hook_sees_the_total_gradient_once():
    """A tensor used by several ops: its hook runs once, on the summed gradient (as in PyTorch)."""
    results = []
    for lib in (sd, torch):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        h = x * 2
        h_calls, x_calls = [], []
        h.register_hook(lambda g, calls=h_calls: calls.append(g.tolist()) or g.clamp(-3, 3))  # nonlinear
        x.register_hook(lambda g, calls=x_calls: calls.append(g.tolist()))
        h.retain_grad()
        ((h * h).sum() + h.sum() + (x * x).sum()).backward()
        results.append((h_calls, x_calls, x.grad.tolist(), h.grad.tolist()))
    assert results[0] == results[1]


def test_hooks_run_under_grad():
    x = sd.tensor([1.0, 2.0], requires_grad=True)
    calls = []
    x.register_hook(lambda g: calls.append(g.tolist()))
    (gx,) = sd.grad((x * x + x).sum(), x)
    assert calls == [[3.0, 5.0]] and gx.tolist() == [3.0, 5.0]


def test_hook_on_leaf_and_removal():
    x = sd.tensor([1.0, 2.0], requires_grad=True)
    seen = []
    handle = x.register_hook(lambda g: seen.append(g.tolist()))  # returning None keeps the gradient
    (x * 3).sum().backward()
    assert seen == [[3.0, 3.0]] and x.grad.tolist() == [3.0, 3.0]
    handle.remove()
    x.register_hook(lambda g: g * 0)
    (x * 3).sum().backward()
    assert seen == [[3.0, 3.0]] and x.grad.tolist() == [3.0, 3.0]
    with pytest.raises(RuntimeError, match="does not require grad"):
        sd.ones(1).register_hook(lambda g: g)


def test_grads_of_add_are_not_aliased():
    a = sd.tensor([1.0, 2.0], requires_grad=True)
    b = sd.tensor([3.0, 4.0], requires_grad=True)
    (a + b).sum().backward()
    a.grad.zero_()
    assert b.grad.tolist() == [1.0, 1.0]
    g = sd.tensor([5.0, 6.0])
    a.grad = b.grad = None
    (a + b).backward(g)
    g.zero_()  # the caller's gradient is not aliased either
    assert a.grad.tolist() == [5.0, 6.0] and b.grad.tolist() == [5.0, 6.0]
    a.grad.add_(1.0)
    assert b.grad.tolist() == [5.0, 6.0]


def test_backward_of_a_leaf_copies_the_given_gradient():
    x = sd.tensor([1.0, 2.0], requires_grad=True)
    g = sd.tensor([3.0, 4.0])
    x.backward(g)
    g.zero_()
    assert x.grad.tolist() == [3.0, 4.0]


def test_grads_through_views_are_not_aliased():
    a = sd.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    b = sd.tensor([[1.0, 1.0], [1.0, 1.0]], requires_grad=True)
    g = sd.ones(2, 2)
    (a.reshape(2, 2) + b).backward(g)
    a.grad.zero_()
    assert b.grad.tolist() == [[1.0, 1.0], [1.0, 1.0]] and g.tolist() == [[1.0, 1.0], [1.0, 1.0]]


def test_broadcast_gradients_sum_back_to_input_shape():
    rng = np.random.default_rng(1)
    a, ta = _pair(rng.standard_normal((3, 1)))
    b, tb = _pair(rng.standard_normal((4,)))
    g = rng.standard_normal((2, 3, 4)).astype(np.float32)
    (a * b + a).expand(2, 3, 4).backward(sd.tensor(g))
    (ta * tb + ta).expand(2, 3, 4).backward(torch.tensor(g))
    assert a.grad.shape == (3, 1) and b.grad.shape == (4,)
    np.testing.assert_allclose(a.grad.numpy(), ta.grad.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(b.grad.numpy(), tb.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_zero_dim_leaf_gradients():
    x = sd.tensor(2.0, requires_grad=True)
    (x * x).backward()
    (x * x * x).backward()
    assert x.grad.shape == () and x.grad.item() == 16.0
    x.grad.zero_()
    assert x.grad.item() == 0.0


def test_grad_fn_repr_names_the_op():
    x = sd.tensor([1.0], requires_grad=True)
    assert repr((x * 2).grad_fn).startswith("<MulBackward object at 0x")
    assert "grad_fn=<MulBackward>" in repr(x * 2)


def test_no_node_recorded_where_no_input_requires_grad():
    x = sd.tensor([1.0, 2.0], requires_grad=True)
    c = sd.tensor([3.0, 4.0])
    branch = (c * 2).exp()
    assert branch._ctx is None and not branch.requires_grad
    y = x * branch
    assert y._ctx is not None
    assert y._ctx.needs_input_grad == (True, False)


def test_backward_only_computes_needed_gradients():
    calls = []

    class Spy(sd.autograd.Function):
        @staticmethod
        def forward(ctx, a, b):
            return a * b

        @staticmethod
        def backward(ctx, g):
            calls.append(ctx.needs_input_grad)
            return g, None

    a = sd.tensor([1.0], requires_grad=True)
    Spy.apply(a, sd.tensor([2.0])).sum().backward()
    assert calls == [(True, False)]


# -- deep graphs and memory -------------------------------------------------------------------------
def test_long_chain_has_no_recursion_limit():
    x = sd.tensor(1.0, requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.0
    y = y * 3.0
    y.backward()
    assert x.grad.item() == 3.0
    assert sys.getrecursionlimit() < 100_000


def test_dropping_a_long_chain_without_backward_does_not_crash():
    x = sd.tensor(1.0, requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.0
    first = weakref.ref(y)
    del y
    gc.collect()
    assert first() is None


def test_unrolled_recurrence_matches_torch():
    rng = np.random.default_rng(0)
    H, T = 6, 1000
    W0 = rng.standard_normal((H, H)) * 0.4
    xs0 = rng.standard_normal((T, H)) * 0.5
    W = sd.tensor(W0, dtype=sd.float64, requires_grad=True)
    xs = sd.tensor(xs0, dtype=sd.float64, requires_grad=True)
    h = sd.zeros(H, dtype=sd.float64)
    tW, txs = torch.tensor(W0, requires_grad=True), torch.tensor(xs0, requires_grad=True)
    th = torch.zeros(H, dtype=torch.float64)
    for t in range(T):
        h = (W @ h + xs[t]).tanh()
        th = torch.tanh(tW @ th + txs[t])
    g = rng.standard_normal(H)
    h.backward(sd.tensor(g, dtype=sd.float64))
    th.backward(torch.tensor(g))
    np.testing.assert_allclose(W.grad.numpy(), tW.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(xs.grad.numpy(), txs.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_graph_is_freed_after_backward():
    x = sd.randn(4, requires_grad=True)
    mid = x.exp()
    node_ref, mid_ref = weakref.ref(mid._ctx), weakref.ref(mid)
    loss = (mid * 2).sum()
    del mid
    gc.collect()
    assert node_ref() is not None and mid_ref() is not None  # the graph keeps them alive
    loss.backward()
    gc.collect()
    assert node_ref() is None and mid_ref() is None
    assert not loss._ctx.inputs  # the root's node let go of its inputs


def test_graph_dropped_without_backward_is_freed():
    x = sd.randn(4, requires_grad=True)
    h = x.tanh()
    h_ref, node_ref = weakref.ref(h), weakref.ref(h._ctx)
    loss = (h * h).sum()
    del h, loss
    gc.collect()
    assert h_ref() is None and node_ref() is None


def test_graph_is_kept_with_retain_graph():
    x = sd.randn(4, requires_grad=True)
    loss = (x.exp() * 2).sum()
    loss.backward(retain_graph=True)
    assert loss._ctx.inputs
    loss.backward()
    assert not loss._ctx.inputs


# -- shendu.grad ------------------------------------------------------------------------------------
def test_grad_matches_torch_autograd_grad():
    rng = np.random.default_rng(2)
    a, ta = _pair(rng.standard_normal((3, 4)), np.float64)
    b, tb = _pair(rng.standard_normal((4,)), np.float64)
    y1, ty1 = (a * b).sin(), (ta * tb).sin()
    y2, ty2 = (a @ b).exp(), (ta @ tb).exp()
    g1, g2 = rng.standard_normal((3, 4)), rng.standard_normal(3)
    got = sd.grad([y1, y2], [a, b], [sd.tensor(g1, dtype=sd.float64), sd.tensor(g2, dtype=sd.float64)])
    want = torch.autograd.grad([ty1, ty2], [ta, tb], [torch.tensor(g1), torch.tensor(g2)])
    assert isinstance(got, tuple) and len(got) == 2
    for s, t in zip(got, want):
        np.testing.assert_allclose(s.numpy(), t.numpy(), rtol=1e-12)
    assert a.grad is None and b.grad is None  # leaves' .grad untouched


def test_grad_single_input_scalar_output_and_intermediate():
    x = sd.tensor([1.0, 2.0, 3.0], requires_grad=True)
    h = x * x
    y = (h * 3).sum()
    (gh,) = sd.grad(y, h, retain_graph=True)
    assert gh.tolist() == [3.0, 3.0, 3.0]
    (gx,) = sd.grad(y, x)
    assert gx.tolist() == [6.0, 12.0, 18.0]
    assert x.grad is None and h.grad is None


def test_grad_does_not_disturb_existing_grad():
    x = sd.tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
    before = x.grad.tolist()
    sd.grad((x * 5).sum(), x)
    assert x.grad.tolist() == before


def test_grad_unreachable_input():
    x = sd.tensor([1.0, 2.0], requires_grad=True)
    unused = sd.tensor([1.0], requires_grad=True)
    y = (x * 2).sum()
    with pytest.raises(RuntimeError, match="allow_unused"):
        sd.grad(y, [x, unused], retain_graph=True)
    gx, gu = sd.grad(y, [x, unused], allow_unused=True)
    assert gx.tolist() == [2.0, 2.0] and gu is None


def test_grad_input_must_require_grad():
    x = sd.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="does not require grad"):
        sd.grad((x * 2).sum(), [sd.ones(2)])


def test_grad_frees_graph_unless_retained():
    x = sd.tensor([1.0, 2.0], requires_grad=True)
    y = (x.exp()).sum()
    sd.grad(y, x)
    with pytest.raises(RuntimeError, match="retain_graph"):
        sd.grad(y, x)


def test_backward_inputs_argument():
    a = sd.tensor([1.0, 2.0], requires_grad=True)
    b = sd.tensor([3.0, 4.0], requires_grad=True)
    (a * b).sum().backward(inputs=[a])
    assert a.grad.tolist() == [3.0, 4.0] and b.grad is None


def test_grad_accumulates_in_place_only_into_arrays_the_engine_made():
    p = sd.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (p * 2).sum().backward()
    first = p.grad
    (p * 3).sum().backward()
    assert p.grad is first and first.tolist() == [5.0, 5.0, 5.0]  # AccumulateGrad's in-place add
    mine = sd.ones(3)
    p.grad = mine  # a gradient the user owns is never written into
    (p * 2).sum().backward()
    assert mine.tolist() == [1.0, 1.0, 1.0] and p.grad.tolist() == [3.0, 3.0, 3.0]
    q = sd.tensor([1.0, 2.0], requires_grad=True)
    y = q * q
    y.backward(sd.ones(2), create_graph=True)
    held = q.grad
    y2 = q * q
    y2.backward(sd.ones(2))
    assert held.tolist() == [2.0, 4.0] and q.grad.tolist() == [4.0, 8.0]  # a create_graph grad is kept


def test_post_accumulate_grad_hooks_run_as_soon_as_a_leaf_is_final():
    """A leaf's post-accumulate hook runs once no remaining node feeds it, during backward (DDP starts its
    bucket all-reduces there); the gradients are unchanged."""
    w1 = sd.randn(3, 3, requires_grad=True)
    w2 = sd.randn(3, 3, requires_grad=True)
    b = sd.randn(3, requires_grad=True)
    events = []
    for name, t in (("w1", w1), ("w2", w2), ("b", b)):
        t.register_post_accumulate_grad_hook(lambda t, name=name: events.append((name, t.grad.clone())))
    x = sd.randn(2, 3)
    h = x @ w1 + b
    h.register_hook(lambda g: events.append("h's gradient") or g)
    y = ((h.tanh() @ w2) + b).sum()          # b feeds two nodes: final only after the earlier one
    y.backward()
    order = [e if isinstance(e, str) else e[0] for e in events]
    assert order.index("w2") < order.index("h's gradient") < order.index("w1")
    assert order.count("b") == 1 and order.index("b") > order.index("h's gradient")
    xt = torch.tensor(x.numpy())
    w1t, w2t, bt = (torch.tensor(t.detach().numpy(), requires_grad=True) for t in (w1, w2, b))
    (((xt @ w1t + bt).tanh() @ w2t) + bt).sum().backward()
    got = {e[0]: e[1] for e in events if not isinstance(e, str)}
    for name, ref in (("w1", w1t), ("w2", w2t), ("b", bt)):
        np.testing.assert_allclose(got[name].numpy(), ref.grad.numpy(), rtol=1e-5, atol=1e-6)
