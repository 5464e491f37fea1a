"""Grad mode: no_grad / enable_grad / set_grad_enabled / inference_mode, and in-place updates of leaves."""
import numpy as np
import pytest
import torch

import shendu as sd


@pytest.fixture(autouse=True)
def _grad_mode_restored():
    yield
    assert sd.is_grad_enabled(), "a test left grad mode off"


def test_no_grad_records_nothing():
    x = sd.tensor([1.0, 2.0], requires_grad=True)
    with sd.no_grad():
        assert not sd.is_grad_enabled()
        y = (x * 2).exp().sum()
    assert sd.is_grad_enabled()
    assert y._ctx is None and not y.requires_grad and y.grad_fn is None
    assert y.item() == pytest.approx(np.exp(2.0) + np.exp(4.0), rel=1e-6)


def test_no_grad_as_decorator():
    x = sd.tensor([1.0, 2.0], requires_grad=True)

    @sd.no_grad()
    def double(t):
        assert not sd.is_grad_enabled()
        return t * 2

    y = double(x)
    assert y._ctx is None and not y.requires_grad
    assert double.__name__ == "double"


def test_bare_decorators_as_in_pytorch():
    x = sd.tensor([1.0], requires_grad=True)

    @sd.no_grad
    def off(t):
        return t * 2

    @sd.enable_grad
    def on(t):
        return t * 2

    @sd.inference_mode
    def inf(t):
        return t * 2

    @sd.inference_mode(False)
    def inf_off(t):
        return t * 2

    assert not off(x).requires_grad and not inf(x).requires_grad and off.__name__ == "off"
    with sd.no_grad():
        assert on(x).requires_grad and inf_off(x).requires_grad


def test_enable_grad_inside_no_grad():
    x = sd.tensor([1.0, 2.0], requires_grad=True)
    with sd.no_grad():
        with sd.enable_grad():
            y = x * 3
        z = x * 3
    assert y.requires_grad and y._ctx is not None
    assert z._ctx is None
    y.sum().backward()
    assert x.grad.tolist() == [3.0, 3.0]


def test_enable_grad_decorator_inside_no_grad():
    x = sd.tensor([1.0], requires_grad=True)

    @sd.enable_grad()
    def f(t):
        return t * 2

    with sd.no_grad():
        assert f(x).requires_grad


def test_set_grad_enabled_forms():
    x = sd.tensor([1.0], requires_grad=True)
    with sd.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert sd.is_grad_enabled()
    with sd.set_grad_enabled(True):
        assert (x * 2).requires_grad
    sd.set_grad_enabled(False)  # a plain call takes effect, as in PyTorch
    try:
        assert not sd.is_grad_enabled() and not (x * 2).requires_grad
    finally:
        sd.set_grad_enabled(True)

    @sd.set_grad_enabled(False)
    def f(t):
        return t * 2

    assert sd.is_grad_enabled()  # decorating does not change the mode
    assert not f(x).requires_grad and sd.is_grad_enabled()


def test_inference_mode():
    x = sd.tensor([1.0], requires_grad=True)
    with sd.inference_mode():
        assert not (x * 2).requires_grad
    with sd.inference_mode(False):
        assert (x * 2).requires_grad


def test_grad_mode_restored_after_exception():
    with pytest.raises(ValueError):
        with sd.no_grad():
            raise ValueError("boom")
    assert sd.is_grad_enabled()

    @sd.no_grad()
    def fails():
        raise ValueError("boom")

    with pytest.raises(ValueError):
        fails()
    assert sd.is_grad_enabled()


def test_nested_no_grad_restores_outer_state():
    with sd.no_grad():
        with sd.no_grad():
            pass
        assert not sd.is_grad_enabled()
    assert sd.is_grad_enabled()


# -- in-place updates of leaves ---------------------------------------------------------------------
def test_sgd_update_under_no_grad_matches_torch():
    rng = np.random.default_rng(0)
    w0, x0 = rng.standard_normal((3, 2)).astype(np.float32), rng.standard_normal((4, 3)).astype(np.float32)
    p, tp = sd.tensor(w0, requires_grad=True), torch.tensor(w0, requires_grad=True)
    x, tx = sd.tensor(x0), torch.tensor(x0)
    lr = 0.1
    for _ in range(3):
        ((x @ p).tanh() ** 2).mean().backward()
        ((tx @ tp).tanh() ** 2).mean().backward()
        ref = p
        with sd.no_grad():
            p -= lr * p.grad
        with torch.no_grad():
            tp -= lr * tp.grad
        assert p is ref and p.is_leaf and p.requires_grad and p._ctx is None
        p.grad.zero_()
        tp.grad.zero_()
    np.testing.assert_allclose(p.detach().numpy(), tp.detach().numpy(), rtol=1e-5, atol=1e-6)
    assert p.grad.tolist() == [[0.0, 0.0]] * 3


def test_grad_set_to_none_and_recomputed():
    p = sd.tensor([1.0, 2.0], requires_grad=True)
    (p * p).sum().backward()
    p.grad = None
    (p * 3).sum().backward()
    assert p.grad.tolist() == [3.0, 3.0]


@pytest.mark.parametrize("update", [
    lambda p: p.__isub__(1.0), lambda p: p.__iadd__(sd.ones(2)), lambda p: p.__imul__(2.0),
    lambda p: p.sub_(1.0), lambda p: p.add_(1.0), lambda p: p.mul_(0.5), lambda p: p.zero_(),
    lambda p: p.copy_(sd.zeros(2)), lambda p: p.fill_(1.0), lambda p: p.__setitem__(0, 5.0),
    lambda p: p.clamp_(0.0, 1.0),
], ids=["isub", "iadd", "imul", "sub_", "add_", "mul_", "zero_", "copy_", "fill_", "setitem", "clamp_"])
def test_inplace_on_leaf_requiring_grad_raises_outside_no_grad(update):
    p = sd.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"leaf.*requires grad.*no_grad"):
        update(p)
    assert p.detach().tolist() == [1.0, 2.0]
    with sd.no_grad():
        update(p)  # the same update is fine under no_grad
    assert p.requires_grad and p.is_leaf


def test_inplace_on_tensor_in_graph_is_recorded():
    x = sd.tensor([1.0, 2.0], requires_grad=True)
    h = x * 2
    h += 1
    h.mul_(h)
    h.backward(sd.tensor([1.0, -1.0]))
    assert h.tolist() == [9.0, 25.0]
    assert x.grad.tolist() == [12.0, -20.0]  # d/dx (2x + 1)^2 = 4 (2x + 1)


def test_inplace_on_tensor_without_grad_is_allowed_with_grad_enabled():
    c = sd.tensor([1.0, 2.0])
    c += 1
    c.mul_(2)
    assert c.tolist() == [4.0, 6.0]
