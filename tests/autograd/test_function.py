"""User-defined ``shendu.autograd.Function`` in PyTorch's style, checked against the same Function in torch."""
import numpy as np
import pytest
import torch

import shendu as sd


def _make_relu(lib):
    class MyReLU(lib.autograd.Function):
        """The PyTorch tutorial's ReLU."""

        @staticmethod
        def forward(ctx, input):
            ctx.save_for_backward(input)
            return input.clamp(min=0)

        @staticmethod
        def backward(ctx, grad_output):
            (input,) = ctx.saved_tensors
            grad_input = grad_output.clone()
            grad_input[input < 0] = 0
            return grad_input

    return MyReLU


def _make_legendre(lib):
    class LegendrePolynomial3(lib.autograd.Function):
        """The PyTorch tutorial's P3(x) = (5x^3 - 3x) / 2."""

        @staticmethod
        def forward(ctx, input):
            ctx.save_for_backward(input)
            return 0.5 * (5 * input ** 3 - 3 * input)

        @staticmethod
        def backward(ctx, grad_output):
            (input,) = ctx.saved_tensors
            return grad_output * 1.5 * (5 * input ** 2 - 1)

    return LegendrePolynomial3


def _make_mul_add(lib):
    class MulAdd(lib.autograd.Function):
        """Two outputs (a * b, a + k * b) with a non-tensor argument k."""

        @staticmethod
        def forward(ctx, a, b, k):
            ctx.save_for_backward(a, b)
            ctx.k = k
            return a * b, a + k * b

        @staticmethod
        def backward(ctx, g_prod, g_sum):
            a, b = ctx.saved_tensors
            grad_a = g_prod * b + g_sum if ctx.needs_input_grad[0] else None
            grad_b = g_prod * a + g_sum * ctx.k if ctx.needs_input_grad[1] else None
            return grad_a, grad_b, None

    return MulAdd


RNG = np.random.default_rng(0)
X = RNG.standard_normal((3, 4))
G = RNG.standard_normal((3, 4))


@pytest.mark.parametrize("make", [_make_relu, _make_legendre], ids=["MyReLU", "LegendrePolynomial3"])
def test_single_output_function_matches_torch(make):
    x, tx = sd.tensor(X, dtype=sd.float32, requires_grad=True), torch.tensor(X, dtype=torch.float32, requires_grad=True)
    y, ty = make(sd).apply(x), make(torch).apply(tx)
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-6, atol=1e-6)
    assert y.dtype == sd.float32 and y.grad_fn is not None and y.requires_grad
    assert "grad_fn" in repr(y)
    y.backward(sd.tensor(G, dtype=sd.float32))
    ty.backward(torch.tensor(G, dtype=torch.float32))
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_legendre_in_a_fit_matches_torch():
    """The tutorial's fit of sin(x) with a + b * P3(c + d x): a few SGD steps in both libraries."""
    xs = np.linspace(-np.pi, np.pi, 200)
    ys = np.sin(xs)
    params = [np.array(0.0), np.array(-1.0), np.array(0.0), np.array(0.3)]
    sp = [sd.tensor(p, dtype=sd.float64, requires_grad=True) for p in params]
    tp = [torch.tensor(p, requires_grad=True) for p in params]
    for lib, (a, b, c, d), x, y in ((sd, sp, sd.tensor(xs, dtype=sd.float64), sd.tensor(ys, dtype=sd.float64)),
                                    (torch, tp, torch.tensor(xs), torch.tensor(ys))):
        P3 = _make_legendre(lib).apply
        for _ in range(5):
            loss = ((a + b * P3(c + d * x) - y) ** 2).sum()
            loss.backward()
            with lib.no_grad():
                for p in (a, b, c, d):
                    p -= 5e-6 * p.grad
                    p.grad = None
    for s, t in zip(sp, tp):
        np.testing.assert_allclose(s.item(), t.item(), rtol=1e-10, atol=1e-14)


def test_multi_output_function_matches_torch():
    a0, b0 = RNG.standard_normal(4), RNG.standard_normal(4)
    g1, g2 = RNG.standard_normal(4), RNG.standard_normal(4)
    a, b = sd.tensor(a0, dtype=sd.float64, requires_grad=True), sd.tensor(b0, dtype=sd.float64, requires_grad=True)
    ta, tb = torch.tensor(a0, requires_grad=True), torch.tensor(b0, requires_grad=True)
    p, s = _make_mul_add(sd).apply(a, b, 2.5)
    tp, ts = _make_mul_add(torch).apply(ta, tb, 2.5)
    np.testing.assert_allclose(p.detach().numpy(), tp.detach().numpy())
    np.testing.assert_allclose(s.detach().numpy(), ts.detach().numpy())
    assert p.grad_fn is s.grad_fn
    sd.autograd.backward([p, s], [sd.tensor(g1, dtype=sd.float64), sd.tensor(g2, dtype=sd.float64)])
    torch.autograd.backward([tp, ts], [torch.tensor(g1), torch.tensor(g2)])
    np.testing.assert_allclose(a.grad.numpy(), ta.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(b.grad.numpy(), tb.grad.numpy(), rtol=1e-12)


def test_multi_output_with_one_output_used_gets_zeros_for_the_other():
    a, b = sd.tensor([1.0, 2.0], requires_grad=True), sd.tensor([3.0, 4.0], requires_grad=True)
    p, _ = _make_mul_add(sd).apply(a, b, 2.0)
    p.sum().backward()
    assert a.grad.tolist() == [3.0, 4.0] and b.grad.tolist() == [1.0, 2.0]


def test_set_materialize_grads_false_passes_none():
    seen = []

    class Two(sd.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.set_materialize_grads(False)
            return x * 2, x * 3

        @staticmethod
        def backward(ctx, g1, g2):
            seen.append((g1 is None, g2 is None))
            return g1 * 2

    x = sd.tensor([1.0], requires_grad=True)
    y1, _ = Two.apply(x)
    y1.sum().backward()
    assert seen == [(False, True)] and x.grad.tolist() == [2.0]


def test_needs_input_grad_in_forward_and_backward():
    seen = {}

    class Probe(sd.autograd.Function):
        @staticmethod
        def forward(ctx, a, b, k):
            seen["forward"] = ctx.needs_input_grad
            return a * b * k

        @staticmethod
        def backward(ctx, g):
            seen["backward"] = ctx.needs_input_grad
            return g, None, None

    a = sd.tensor([1.0], requires_grad=True)
    Probe.apply(a, sd.tensor([2.0]), 3.0).sum().backward()
    assert seen == {"forward": (True, False, False), "backward": (True, False, False)}


def test_forward_runs_without_recording_and_no_grad_records_nothing():
    class Check(sd.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            assert not sd.is_grad_enabled()
            return x.exp()

        @staticmethod
        def backward(ctx, g):
            return g

    x = sd.tensor([0.0], requires_grad=True)
    y = Check.apply(x)
    assert y.grad_fn is not None and sd.is_grad_enabled()
    with sd.no_grad():
        assert Check.apply(x).grad_fn is None


def test_forward_returning_its_input_gets_a_new_output():
    class Identity(sd.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x

        @staticmethod
        def backward(ctx, g):
            return g * 5

    x = sd.tensor([1.0, 2.0], requires_grad=True)
    y = Identity.apply(x)
    assert y is not x and x.is_leaf and not y.is_leaf
    y.sum().backward()
    assert x.grad.tolist() == [5.0, 5.0]


def test_broadcast_gradient_is_summed_by_the_engine():
    class AddBias(sd.autograd.Function):
        @staticmethod
        def forward(ctx, x, b):
            return x + b

        @staticmethod
        def backward(ctx, g):
            return g, g  # g has x's shape; the engine sums it to b's

    x, b = sd.ones(3, 4, requires_grad=True), sd.zeros(4, requires_grad=True)
    AddBias.apply(x, b).backward(sd.tensor(G, dtype=sd.float32))
    np.testing.assert_allclose(b.grad.numpy(), G.sum(0), rtol=1e-5)


def test_mark_non_differentiable():
    class SortWithIndex(sd.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            idx = sd.tensor(np.argsort(x.numpy()))
            ctx.mark_non_differentiable(idx)
            ctx.save_for_backward(idx)
            return x[idx], idx

        @staticmethod
        def backward(ctx, g, _g_idx):
            (idx,) = ctx.saved_tensors
            grad = sd.zeros_like(g)
            grad[idx] = g
            return grad

    x = sd.tensor([3.0, 1.0, 2.0], requires_grad=True)
    values, idx = SortWithIndex.apply(x)
    assert values.requires_grad and not idx.requires_grad
    (values * sd.tensor([1.0, 10.0, 100.0])).sum().backward()
    assert x.grad.tolist() == [100.0, 1.0, 10.0]


def test_bad_backward_results_are_clear_errors():
    class TooFew(sd.autograd.Function):
        @staticmethod
        def forward(ctx, x, y):
            return x * y

        @staticmethod
        def backward(ctx, g):
            return g

    class WrongShape(sd.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return sd.ones(5)

    x = sd.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"TooFew.*1 gradients.*expected 2"):
        TooFew.apply(x, x).sum().backward()
    with pytest.raises(RuntimeError, match=r"\(5,\).*\(3,\)"):
        WrongShape.apply(x).sum().backward()


def test_saved_tensors_after_backward_raise():
    Fn = _make_legendre(sd)
    x = sd.tensor([0.5], requires_grad=True)
    y = Fn.apply(x)
    node = y.grad_fn
    y.sum().backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        node.saved_tensors


def test_double_backward_through_custom_function_matches_torch():
    x0 = RNG.standard_normal(5)
    x, tx = sd.tensor(x0, dtype=sd.float64, requires_grad=True), torch.tensor(x0, requires_grad=True)
    (gx,) = sd.grad(_make_legendre(sd).apply(x).sum(), x, create_graph=True)
    (tgx,) = torch.autograd.grad(_make_legendre(torch).apply(tx).sum(), tx, create_graph=True)
    (hx,) = sd.grad((gx * gx).sum(), x)
    (thx,) = torch.autograd.grad((tgx * tgx).sum(), tx)
    np.testing.assert_allclose(hx.numpy(), thx.numpy(), rtol=1e-12)


def test_once_differentiable():
    class Square(sd.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        @sd.autograd.once_differentiable
        def backward(ctx, g):
            assert not sd.is_grad_enabled()
            (x,) = ctx.saved_tensors
            return 2 * x * g

    x = sd.tensor([1.0, 2.0], requires_grad=True)
    Square.apply(x).sum().backward()
    assert x.grad.tolist() == [2.0, 4.0]
    (gx,) = sd.grad(Square.apply(x).sum(), x, create_graph=True)
    assert gx.tolist() == [2.0, 4.0]
    with pytest.raises(RuntimeError, match="once_differentiable"):
        sd.grad(gx.sum(), x)


def test_separate_setup_context_matches_torch():
    def make(lib):
        class Cube(lib.autograd.Function):
            @staticmethod
            def forward(x, k):
                return x ** 3 * k

            @staticmethod
            def setup_context(ctx, inputs, output):
                x, k = inputs
                ctx.save_for_backward(x)
                ctx.k = k

            @staticmethod
            def backward(ctx, g):
                (x,) = ctx.saved_tensors
                return 3 * x ** 2 * ctx.k * g, None

        return Cube

    x, tx = sd.tensor(X, dtype=sd.float64, requires_grad=True), torch.tensor(X, requires_grad=True)
    y, ty = make(sd).apply(x, 2.0), make(torch).apply(tx, 2.0)
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-12)
    y.backward(sd.tensor(G, dtype=sd.float64))
    ty.backward(torch.tensor(G))
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12)


def test_next_functions_walk_the_graph_as_in_pytorch():
    x = sd.randn(3, requires_grad=True)
    c = sd.randn(3)
    y = ((x * c).exp() + 1).sum()
    add = y.grad_fn.next_functions[0][0]
    assert y.grad_fn.name() == "SumBackward" and add.name() == "AddBackward"
    exp = add.next_functions[0][0]
    mul = exp.next_functions[0][0]
    (leaf, index), (const, _) = mul.next_functions
    assert leaf.name() == "AccumulateGrad" and leaf.variable is x and index == 0 and const is None
