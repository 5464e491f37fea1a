"""``gradcheck`` / ``gradgradcheck`` themselves: they pass correct gradients and catch wrong ones."""
import numpy as np
import pytest

import shendu as sd


class Square(sd.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 2 * x * g


class SquareOffByFactor(Square):
    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 3 * x * g  # should be 2


class SoftmaxZeroGrad(sd.autograd.Function):
    """A softmax whose backward returns zeros: .sum() of a softmax is constant, so only a random
    upstream gradient can tell this backward from the correct one."""

    @staticmethod
    def forward(ctx, x):
        return sd.softmax(x, -1)

    @staticmethod
    def backward(ctx, g):
        return sd.zeros_like(g)


class SoftmaxCorrect(sd.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        y = sd.softmax(x, -1)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return y * (g - (g * y).sum(-1, keepdim=True))


class SquareDetachedBackward(Square):
    """Right first derivative, but computed off the graph: its second derivative is lost."""

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 2 * x.detach() * g


def _x(*shape, seed=0):
    return sd.tensor(np.random.default_rng(seed).standard_normal(shape), dtype=sd.float64, requires_grad=True)


def test_passes_correct_backwards():
    x = _x(3, 4)
    assert sd.gradcheck(Square.apply, (x,))
    assert sd.gradcheck(SoftmaxCorrect.apply, (x,))
    assert sd.gradcheck(lambda a, b: (a @ b).tanh(), (x, _x(4, 2, seed=1)))


def test_catches_backward_off_by_a_factor():
    with pytest.raises(AssertionError, match=r"input 0.*shape \(3, 4\)"):
        sd.gradcheck(SquareOffByFactor.apply, (_x(3, 4),))
    assert sd.gradcheck(SquareOffByFactor.apply, (_x(3, 4),), raise_exception=False) is False


def test_catches_zero_backward_that_sum_would_hide():
    x = _x(3, 4)
    # contracting with .sum() cannot see the bug: d sum(softmax)/dx is exactly zero
    assert sd.gradcheck(lambda t: SoftmaxZeroGrad.apply(t).sum(), (x,))
    with pytest.raises(AssertionError, match="differ"):
        sd.gradcheck(SoftmaxZeroGrad.apply, (x,))


def test_reports_the_failing_input_position():
    good, bad = _x(2, 3), _x(2, 3, seed=1)

    def fn(k, a, b):
        return a.sin() * k + SquareOffByFactor.apply(b)

    with pytest.raises(AssertionError, match="input 2"):
        sd.gradcheck(fn, (2.0, good, bad))


def test_needs_float64():
    with pytest.raises(TypeError, match="float64"):
        sd.gradcheck(lambda t: t * 2, (sd.randn(3, requires_grad=True),))


def test_non_tensor_and_constant_inputs_and_tuple_outputs():
    x = _x(3, 4)
    c = sd.tensor(np.random.default_rng(2).standard_normal((3, 4)), dtype=sd.float64)
    assert sd.gradcheck(lambda t, k, d: t * k + d.exp() * t, (x, 3.0, c))
    assert sd.gradcheck(lambda t: (t * 2, t.sin(), t.argmax(-1)), (x,))


def test_non_contiguous_input():
    x = sd.tensor(np.random.default_rng(3).standard_normal((4, 3)), dtype=sd.float64).T.requires_grad_()
    assert not x.is_contiguous()
    assert sd.gradcheck(lambda t: t.exp() * t, (x,))


def test_inputs_are_restored():
    x = _x(2, 3)
    before = x.detach().numpy().copy()
    sd.gradcheck(lambda t: t.tanh(), (x,))
    np.testing.assert_array_equal(x.detach().numpy(), before)
    assert x.grad is None  # gradcheck leaves .grad alone


def test_gradgradcheck_passes_and_catches_a_lost_second_derivative():
    x = _x(2, 3)
    assert sd.gradgradcheck(Square.apply, (x,))
    assert sd.gradcheck(SquareDetachedBackward.apply, (x,))  # first order is right
    with pytest.raises(AssertionError, match="differ"):
        sd.gradgradcheck(SquareDetachedBackward.apply, (x,))


def test_single_tensor_inputs_and_no_grad_caller():
    x = _x(3)
    assert sd.gradcheck(lambda t: t.exp(), x)
    assert sd.gradgradcheck(lambda t: t.exp(), x)
    with sd.no_grad():
        assert sd.gradcheck(lambda t: t.sin(), (x,))
        assert sd.gradgradcheck(lambda t: t.sin(), (x,))


def test_gradgradcheck_with_an_integer_output():
    assert sd.gradgradcheck(lambda t: (t.tanh(), t.argmax()), (_x(4),))
