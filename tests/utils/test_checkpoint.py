"""shendu.utils.checkpoint: the same gradients as running the function directly (and as PyTorch's
checkpoint), the same dropout masks on recomputation, autograd.grad and create_graph, checkpoint_sequential,
fewer activations kept alive, and PyTorch's argument rules."""
import gc
import weakref

import numpy as np
import pytest
import torch

import shendu as sd
from shendu import nn
from shendu.utils.checkpoint import CheckpointError, checkpoint, checkpoint_sequential


def mlp(framework, seed=0):
    framework.manual_seed(seed)
    return framework.nn.Sequential(framework.nn.Linear(6, 16), framework.nn.Tanh(), framework.nn.Linear(16, 16),
                                   framework.nn.GELU(), framework.nn.Linear(16, 16), framework.nn.Tanh(),
                                   framework.nn.Linear(16, 3))


def same_weights(model, ref):
    with torch.no_grad():
        for p, q in zip(model.parameters(), ref.parameters()):
            q.copy_(torch.tensor(p.detach().numpy()))


@pytest.mark.parametrize("reentrant", [True, False])
def test_gradients_equal_direct_and_torch_checkpoint(reentrant):
    model, ref = mlp(sd), mlp(torch)
    same_weights(model, ref)
    x = np.random.default_rng(0).standard_normal((5, 6)).astype(np.float32)
    g = np.random.default_rng(1).standard_normal((5, 3)).astype(np.float32)
    xs = sd.tensor(x, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    checkpoint(model, xs, use_reentrant=reentrant).backward(sd.tensor(g))
    torch.utils.checkpoint.checkpoint(ref, xt, use_reentrant=reentrant).backward(torch.tensor(g))
    np.testing.assert_allclose(xs.grad.numpy(), xt.grad.numpy(), rtol=1e-5, atol=1e-6)
    for p, q in zip(model.parameters(), ref.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-5, atol=1e-6)
    direct = mlp(sd)
    xd = sd.tensor(x, requires_grad=True)
    direct(xd).backward(sd.tensor(g))
    np.testing.assert_allclose(xs.grad.numpy(), xd.grad.numpy(), rtol=1e-6, atol=1e-7)


def test_parameters_get_gradients_when_the_input_needs_none():
    model = mlp(sd)
    out = checkpoint(model, sd.randn(4, 6), use_reentrant=False)
    out.sum().backward()
    assert all(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in model.parameters())


def test_dropout_masks_are_reproduced_on_recomputation():
    sd.manual_seed(0)
    layer = nn.Sequential(nn.Linear(8, 32), nn.Dropout(0.5), nn.Linear(32, 1))
    x = sd.randn(16, 8, requires_grad=True)
    sd.manual_seed(3)
    checkpoint(layer, x, use_reentrant=False).sum().backward()
    got = [p.grad.clone() for p in layer.parameters()] + [x.grad.clone()]
    layer.zero_grad()
    x.grad = None
    sd.manual_seed(3)
    layer(x).sum().backward()
    want = [p.grad for p in layer.parameters()] + [x.grad]
    for a, b in zip(got, want):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-7)
    # the random stream after backward continues from where the forward left it
    sd.manual_seed(3)
    checkpoint(layer, x, use_reentrant=False).sum().backward()
    after = sd.rand(3).numpy()
    sd.manual_seed(3)
    layer(x)
    np.testing.assert_array_equal(after, sd.rand(3).numpy())


def test_autograd_grad_kwargs_tuples_and_create_graph():
    w = sd.randn(3, 3, requires_grad=True)
    x = sd.randn(3, requires_grad=True)

    def f(a, scale=1.0):
        h = (w @ a).tanh() * scale
        return h, h.sum() * 2, "not a tensor"

    h, s, text = checkpoint(f, x, use_reentrant=False, scale=3.0)
    assert text == "not a tensor"
    gw, gx = sd.autograd.grad(s, [w, x], create_graph=True)
    hd, sdirect, _ = f(x, scale=3.0)
    gw_ref, gx_ref = sd.autograd.grad(sdirect, [w, x], create_graph=True)
    np.testing.assert_allclose(gx.detach().numpy(), gx_ref.detach().numpy(), rtol=1e-6)
    # second order through the recomputation
    (h2,) = sd.autograd.grad(gx.sum(), [x])
    (h2_ref,) = sd.autograd.grad(gx_ref.sum(), [x])
    np.testing.assert_allclose(h2.numpy(), h2_ref.numpy(), rtol=1e-5, atol=1e-6)


def test_checkpoint_sequential_matches_torch():
    model, ref = mlp(sd), mlp(torch)
    same_weights(model, ref)
    x = np.random.default_rng(2).standard_normal((4, 6)).astype(np.float32)
    xs, xt = sd.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out = checkpoint_sequential(model, 3, xs, use_reentrant=False)
    out_t = torch.utils.checkpoint.checkpoint_sequential(ref, 3, xt, use_reentrant=False)
    np.testing.assert_allclose(out.detach().numpy(), out_t.detach().numpy(), rtol=1e-5, atol=1e-6)
    out.pow(2).sum().backward()
    out_t.pow(2).sum().backward()
    np.testing.assert_allclose(xs.grad.numpy(), xt.grad.numpy(), rtol=1e-5, atol=1e-6)
    for p, q in zip(model.parameters(), ref.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_the_activations_inside_are_not_kept():
    kept = []

    def f(x):
        h = x.exp()
        kept.append(weakref.ref(h))
        return (h * 2).sum()

    x = sd.randn(100, requires_grad=True)
    out = checkpoint(f, x, use_reentrant=False)
    gc.collect()
    assert kept[0]() is None          # the forward's intermediate is gone until backward recomputes it
    plain = f(x)
    assert kept[1]() is not None      # without checkpointing the graph keeps it
    out.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * x.detach().exp().numpy(), rtol=1e-6)
    del plain


def test_pytorch_argument_rules():
    x = sd.randn(2, requires_grad=True)
    with pytest.warns(UserWarning, match="use_reentrant"):
        checkpoint(lambda a: a * 2, x)
    with pytest.raises(ValueError, match="Unexpected keyword arguments: scale"):
        checkpoint(lambda a, scale: a * scale, x, use_reentrant=True, scale=2)
    with sd.no_grad():   # no grad mode: just a call
        np.testing.assert_array_equal(checkpoint(lambda a: a + 1, x, use_reentrant=False).numpy(),
                                      (x + 1).detach().numpy())


def test_a_function_that_changes_between_runs_is_an_error():
    calls = []

    def unstable(a):
        calls.append(1)
        return a[: len(calls)] * 2

    out = checkpoint(unstable, sd.randn(4, requires_grad=True), use_reentrant=False)
    with pytest.raises(CheckpointError, match="same thing"):
        out.sum().backward()
