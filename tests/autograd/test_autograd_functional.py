"""``shendu.autograd.functional`` against ``torch.autograd.functional`` on the same functions."""
import numpy as np
import pytest
import torch
import torch.autograd.functional as TF

import shendu as sd
import shendu.autograd.functional as F

RNG = np.random.default_rng(0)
A = RNG.normal(size=(3, 2))
B = RNG.normal(size=(3, 2))
V_IN = RNG.normal(size=(3, 2))


def one_in_one_out(m):
    return lambda x: (x.exp() * x.sin()).sum(0) * 2 + x[0]


def two_in_two_out(m):
    return lambda x, y: ((x * y).tanh().sum(1), x ** 2 - y)


def scalar(m):
    return lambda x: (x ** 3).sum() * x.sin().sum()


def scalar2(m):
    return lambda x, y: ((x * y) ** 2).sum() + (x.exp() * y).sum()


def _sd(*arrs):
    return tuple(sd.tensor(a) for a in arrs)


def _th(*arrs):
    return tuple(torch.tensor(a) for a in arrs)


def _close(a, b):
    if isinstance(b, (tuple, list)):
        assert isinstance(a, tuple) and len(a) == len(b)
        for x, y in zip(a, b):
            _close(x, y)
        return
    assert tuple(a.shape) == tuple(b.shape)
    np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("make, args", [(one_in_one_out, (A,)), (two_in_two_out, (A, B))], ids=["1to1", "2to2"])
def test_jacobian(make, args):
    single = len(args) == 1
    ours = F.jacobian(make(sd), _sd(*args)[0] if single else _sd(*args))
    theirs = TF.jacobian(make(torch), _th(*args)[0] if single else _th(*args))
    _close(ours, theirs)


@pytest.mark.parametrize("make, args", [(scalar, (A,)), (scalar2, (A, B))], ids=["1in", "2in"])
def test_hessian(make, args):
    single = len(args) == 1
    _close(F.hessian(make(sd), _sd(*args)[0] if single else _sd(*args)),
           TF.hessian(make(torch), _th(*args)[0] if single else _th(*args)))


def test_vjp_jvp():
    g = RNG.normal(size=(2,))
    out, v = F.vjp(one_in_one_out(sd), sd.tensor(A), sd.tensor(g))
    tout, tv = TF.vjp(one_in_one_out(torch), torch.tensor(A), torch.tensor(g))
    _close(out, tout)
    _close(v, tv)
    out, jv = F.jvp(one_in_one_out(sd), sd.tensor(A), sd.tensor(V_IN))
    tout, tjv = TF.jvp(one_in_one_out(torch), torch.tensor(A), torch.tensor(V_IN))
    _close(out, tout)
    _close(jv, tjv)
    out, jv = F.jvp(two_in_two_out(sd), _sd(A, B), _sd(V_IN, V_IN))
    tout, tjv = TF.jvp(two_in_two_out(torch), _th(A, B), _th(V_IN, V_IN))
    _close(out, tout)
    _close(jv, tjv)


@pytest.mark.parametrize("name", ["hvp", "vhp"])
def test_hvp_vhp(name):
    ours = getattr(F, name)(scalar2(sd), _sd(A, B), _sd(V_IN, B))
    theirs = getattr(TF, name)(scalar2(torch), _th(A, B), _th(V_IN, B))
    _close(ours[0], theirs[0])
    _close(ours[1], theirs[1])
    o, h = getattr(F, name)(scalar(sd), sd.tensor(A), sd.tensor(V_IN))
    to, th = getattr(TF, name)(scalar(torch), torch.tensor(A), torch.tensor(V_IN))
    _close(h, th)


def test_create_graph_allows_differentiating_the_result():
    x = sd.tensor(A, requires_grad=True)
    tx = torch.tensor(A, requires_grad=True)
    _, h = F.vhp(scalar(sd), x, sd.tensor(V_IN), create_graph=True)
    _, th = TF.vhp(scalar(torch), tx, torch.tensor(V_IN), create_graph=True)
    assert h.requires_grad and th.requires_grad
    w = RNG.normal(size=A.shape)
    (gx,) = sd.grad(h, x, sd.tensor(w))
    (tgx,) = torch.autograd.grad(th, tx, torch.tensor(w))
    _close(gx, tgx)
    _, jac = None, F.jacobian(one_in_one_out(sd), x)
    assert not jac.requires_grad  # detached without create_graph


def test_unused_inputs_strict_and_not():
    f = lambda x, y: x * 2  # noqa: E731 - y is unused
    jac = F.jacobian(f, _sd(A, B))
    tjac = TF.jacobian(f, _th(A, B))
    _close(jac, tjac)  # zeros for y
    with pytest.raises(RuntimeError, match="independent of input 1"):
        F.jacobian(f, _sd(A, B), strict=True)
    with pytest.raises(RuntimeError):
        TF.jacobian(f, _th(A, B), strict=True)


def test_argument_errors():
    with pytest.raises(RuntimeError, match="single element"):
        F.vjp(one_in_one_out(sd), sd.tensor(A))
    with pytest.raises(RuntimeError, match="single Tensor with one element"):
        F.hessian(one_in_one_out(sd), sd.tensor(A))
    with pytest.raises(TypeError, match="Tensor"):
        F.jacobian(one_in_one_out(sd), A)
    with pytest.raises(ValueError, match="strategy"):
        F.jacobian(one_in_one_out(sd), sd.tensor(A), strategy="sideways")
    assert F.jacobian(one_in_one_out(sd), sd.tensor(A), vectorize=True, strategy="forward-mode").shape == (2, 3, 2)
