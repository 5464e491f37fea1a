"""Higher-order gradients (create_graph=True): double backward vs torch, full Hessians vs finite differences,
a Newton step, and ``gradgradcheck``."""
import numpy as np
import pytest
import torch

import shendu as sd
import shendu.nn.functional as F


def _double_backward(fn, shapes, seed=0):
    """d<v, d<g, fn(x)>/dx>/dx for random g and v: the second-order term of every input, as arrays."""
    rng = np.random.default_rng(seed)
    xs = [rng.standard_normal(s) for s in shapes]
    sx = [sd.tensor(x, dtype=sd.float64, requires_grad=True) for x in xs]
    y = fn(*sx)
    g = rng.standard_normal(y.shape)
    vs = [rng.standard_normal(s) for s in shapes]
    gx = sd.grad(y, sx, sd.tensor(g, dtype=sd.float64), create_graph=True)
    assert gx[0].requires_grad, "create_graph=True must give differentiable gradients"
    inner = sum((t * sd.tensor(v, dtype=sd.float64)).sum() for t, v in zip(gx, vs))
    hx = sd.grad(inner, sx, allow_unused=True)
    return ([t.detach().numpy() for t in gx], [np.zeros(s) if h is None else h.numpy() for h, s in zip(hx, shapes)],
            (xs, g, vs))


def _torch_double_backward(fn, xs, g, vs):
    tx = [torch.tensor(x, requires_grad=True) for x in xs]
    y = fn(*tx)
    gx = torch.autograd.grad(y, tx, torch.tensor(g), create_graph=True)
    inner = sum((t * torch.tensor(v)).sum() for t, v in zip(gx, vs))
    hx = torch.autograd.grad(inner, tx, allow_unused=True)
    return [t.detach().numpy() for t in gx], [np.zeros(x.shape) if h is None else h.numpy() for h, x in zip(hx, xs)]


TARGET = np.array([0, 3, 1])
OPS = [
    ("cube", lambda x: x ** 3, lambda x: x ** 3, [(5,)]),
    ("sin", lambda x: x.sin(), torch.sin, [(5,)]),
    ("exp", lambda x: x.exp(), torch.exp, [(5,)]),
    ("tanh", lambda x: x.tanh(), torch.tanh, [(5,)]),
    ("sigmoid", lambda x: x.sigmoid(), torch.sigmoid, [(5,)]),
    ("softmax", lambda x: sd.softmax(x, -1), lambda x: torch.softmax(x, -1), [(3, 4)]),
    ("log_softmax", lambda x: sd.log_softmax(x, 1), lambda x: torch.log_softmax(x, 1), [(3, 4)]),
    ("logsumexp", lambda x: sd.logsumexp(x, 1), lambda x: torch.logsumexp(x, 1), [(3, 4)]),
    ("matmul", lambda a, b: a @ b, lambda a, b: a @ b, [(3, 4), (4, 2)]),
    ("matmul_tanh", lambda a, b: (a @ b).tanh(), lambda a, b: (a @ b).tanh(), [(3, 4), (4, 2)]),
    ("cross_entropy", lambda z: F.cross_entropy(z, sd.tensor(TARGET)),
     lambda z: torch.nn.functional.cross_entropy(z, torch.tensor(TARGET)), [(3, 5)]),
    ("cross_entropy_none_smooth",
     lambda z: F.cross_entropy(z, sd.tensor(TARGET), reduction="none", label_smoothing=0.1),
     lambda z: torch.nn.functional.cross_entropy(z, torch.tensor(TARGET), reduction="none", label_smoothing=0.1),
     [(3, 5)]),
    ("layer_norm", lambda x, w, b: F.layer_norm(x, (4,), w, b),
     lambda x, w, b: torch.nn.functional.layer_norm(x, (4,), w, b), [(3, 4), (4,), (4,)]),
]


@pytest.mark.parametrize("name, sd_fn, torch_fn, shapes", OPS, ids=[o[0] for o in OPS])
def test_second_derivative_matches_torch(name, sd_fn, torch_fn, shapes):
    first, second, (xs, g, vs) = _double_backward(sd_fn, shapes)
    t_first, t_second = _torch_double_backward(torch_fn, xs, g, vs)
    for k, (s, t) in enumerate(zip(first, t_first)):
        np.testing.assert_allclose(s, t, rtol=1e-9, atol=1e-12, err_msg=f"first derivative, input {k}")
    for k, (s, t) in enumerate(zip(second, t_second)):
        np.testing.assert_allclose(s, t, rtol=1e-9, atol=1e-12, err_msg=f"second derivative, input {k}")


def test_create_graph_gradient_of_a_leaf_is_differentiable():
    x = sd.tensor([1.0, 2.0], dtype=sd.float64, requires_grad=True)
    (x ** 3).sum().backward(create_graph=True)
    assert x.grad.requires_grad
    (g2,) = sd.grad(x.grad.sum(), x)
    np.testing.assert_allclose(g2.numpy(), 6 * x.detach().numpy())


def test_third_derivative():
    x = sd.tensor([0.3, -1.2], dtype=sd.float64, requires_grad=True)
    (d1,) = sd.grad(x.sin().sum(), x, create_graph=True)
    (d2,) = sd.grad(d1.sum(), x, create_graph=True)
    (d3,) = sd.grad(d2.sum(), x)
    np.testing.assert_allclose(d3.numpy(), -np.cos(x.detach().numpy()), rtol=1e-12)


# -- full Hessians vs finite differences of the gradient --------------------------------------------
def _hessian(f, theta0):
    theta = sd.tensor(theta0, dtype=sd.float64, requires_grad=True)
    (g,) = sd.grad(f(theta), theta, create_graph=True)
    rows = [sd.grad(g[i], theta, retain_graph=True)[0].numpy() for i in range(theta0.size)]
    return np.stack(rows)


def _fd_hessian(f, theta0, eps=1e-5):
    def grad_at(v):
        theta = sd.tensor(v, dtype=sd.float64, requires_grad=True)
        return sd.grad(f(theta), theta)[0].numpy()

    cols = []
    for i in range(theta0.size):
        e = np.zeros_like(theta0)
        e[i] = eps
        cols.append((grad_at(theta0 + e) - grad_at(theta0 - e)) / (2 * eps))
    return np.stack(cols, axis=1)


def _scalar_fn(x):
    A = sd.tensor(np.arange(16.0).reshape(4, 4) / 10 - 0.7, dtype=sd.float64)
    return (x.sin() * x ** 3).sum() + (x @ A @ x).tanh() + x.exp().sum().log()


def _mlp_loss(theta):
    """2-layer tanh net 3 -> 4 -> 1 on a fixed batch, parameters packed in one vector of 21."""
    rng = np.random.default_rng(5)
    X = sd.tensor(rng.standard_normal((6, 3)), dtype=sd.float64)
    Y = sd.tensor(rng.standard_normal((6, 1)), dtype=sd.float64)
    W1, b1 = theta[:12].reshape(3, 4), theta[12:16]
    W2, b2 = theta[16:20].reshape(4, 1), theta[20:]
    pred = (X @ W1 + b1).tanh() @ W2 + b2
    return ((pred - Y) ** 2).mean()


@pytest.mark.parametrize("f, n", [(_scalar_fn, 4), (_mlp_loss, 21)], ids=["scalar_fn", "mlp_loss"])
def test_full_hessian_matches_finite_differences(f, n):
    theta0 = np.random.default_rng(1).standard_normal(n) * 0.7
    H = _hessian(f, theta0)
    np.testing.assert_allclose(H, H.T, atol=1e-10)
    np.testing.assert_allclose(H, _fd_hessian(f, theta0), rtol=1e-5, atol=1e-7)


def test_mlp_hessian_matches_torch():
    theta0 = np.random.default_rng(2).standard_normal(21) * 0.7
    rng = np.random.default_rng(5)
    X, Y = torch.tensor(rng.standard_normal((6, 3))), torch.tensor(rng.standard_normal((6, 1)))

    def torch_loss(theta):
        W1, b1, W2, b2 = theta[:12].reshape(3, 4), theta[12:16], theta[16:20].reshape(4, 1), theta[20:]
        return (((X @ W1 + b1).tanh() @ W2 + b2 - Y) ** 2).mean()

    expected = torch.autograd.functional.hessian(torch_loss, torch.tensor(theta0)).numpy()
    np.testing.assert_allclose(_hessian(_mlp_loss, theta0), expected, rtol=1e-9, atol=1e-12)


def test_newton_step_on_a_quadratic_lands_on_the_minimum():
    rng = np.random.default_rng(3)
    M = rng.standard_normal((5, 5))
    A0 = M @ M.T + 5 * np.eye(5)  # symmetric positive definite
    b0 = rng.standard_normal(5)
    A, b = sd.tensor(A0, dtype=sd.float64), sd.tensor(b0, dtype=sd.float64)

    def f(x):
        return 0.5 * (x @ A @ x) - (b * x).sum()

    x0 = rng.standard_normal(5)
    x = sd.tensor(x0, dtype=sd.float64, requires_grad=True)
    (g,) = sd.grad(f(x), x, create_graph=True)
    H = np.stack([sd.grad(g[i], x, retain_graph=True)[0].numpy() for i in range(5)])
    np.testing.assert_allclose(H, A0, rtol=1e-12)
    x_new = x0 - np.linalg.solve(H, g.detach().numpy())
    np.testing.assert_allclose(x_new, np.linalg.solve(A0, b0), rtol=1e-10, atol=1e-12)
    xn = sd.tensor(x_new, dtype=sd.float64, requires_grad=True)
    np.testing.assert_allclose(sd.grad(f(xn), xn)[0].numpy(), 0.0, atol=1e-10)


# -- gradgradcheck ----------------------------------------------------------------------------------
GRADGRAD = [
    ("tanh", lambda x: x.tanh(), [(3, 4)]),
    ("softmax", lambda x: sd.softmax(x, -1), [(3, 4)]),
    ("matmul_sigmoid", lambda a, b: (a @ b).sigmoid(), [(3, 4), (4, 2)]),
    ("div_pow", lambda a, b: a / (b * b + 1) ** 1.5, [(2, 3), (2, 3)]),
    ("layer_norm", lambda x, w: F.layer_norm(x, (4,), w), [(2, 4), (4,)]),
    ("cross_entropy", lambda z: F.cross_entropy(z, sd.tensor([1, 0])), [(2, 3)]),
]


@pytest.mark.parametrize("name, fn, shapes", GRADGRAD, ids=[g[0] for g in GRADGRAD])
def test_gradgradcheck(name, fn, shapes):
    rng = np.random.default_rng(4)
    inputs = [sd.tensor(rng.standard_normal(s), dtype=sd.float64, requires_grad=True) for s in shapes]
    assert sd.gradgradcheck(fn, inputs)
