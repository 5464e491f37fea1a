"""Scans: cumsum, cumprod (gradient with zeros in the input, as PyTorch), cummax/cummin (values,
indices, ties), logcumsumexp (large values)."""
import numpy as np
import pytest
import torch
from helpers import case, spec_tests

import shendu as sd

X = (3, 5)
ZEROS = np.array([[1.5, 0.0, 2.0, -1.0, 0.5], [0.0, 0.0, 1.5, 2.0, -0.5], [0.7, -1.2, 1.1, 0.9, 0.0]])
TIES = np.array([[1.0, 3.0, 3.0, 2.0, 3.0, 5.0], [2.0, 2.0, 1.0, 1.0, 0.0, 0.0]])
BIG = np.array([[100.0, 101.0, 99.0, -50.0], [-300.0, -301.0, -299.0, 0.0]])


def row(id, fn, shape=X, **opts):
    return case(id, fn, None, [shape], **opts)


CASES = [
    row("cumsum", lambda x: x.cumsum(1)),
    row("cumsum_dim0", lambda x: x.cumsum(0)),
    row("cumsum_neg", lambda x: x.cumsum(-1)),
    row("cumprod", lambda x: x.cumprod(1)),
    row("cumprod_dim0", lambda x: x.cumprod(0)),
    row("cumprod_fn", lambda x: (sd if isinstance(x, sd.Tensor) else torch).cumprod(x, dim=-1)),
    # exact zeros: one zero, two zeros, a zero at the end of a slice (gradcheck needs zeros that a
    # perturbation keeps: the formula at a zero is what matters, checked against PyTorch)
    row("cumprod_zeros", lambda x: x.cumprod(1), ZEROS, grad=False),
    row("cumprod_zeros_dim0", lambda x: x.cumprod(0), ZEROS, grad=False),
    row("cummax", lambda x: x.cummax(1)),
    row("cummin_dim0", lambda x: x.cummin(0)),
    row("cummax_ties", lambda x: x.cummax(1), TIES, grad=False),
    row("cummin_ties", lambda x: x.cummin(1), TIES, grad=False),
    row("logcumsumexp", lambda x: x.logcumsumexp(1)),
    row("logcumsumexp_dim0", lambda x: x.logcumsumexp(0)),
    row("logcumsumexp_big", lambda x: x.logcumsumexp(1), BIG, grad=False),
]

test_parity, test_gradcheck, test_gradgradcheck = spec_tests(CASES)


def test_cumprod_gradient_at_zeros_is_the_product_of_the_others():
    """d/dx_k of cumprod at the first zero x_k: the products without x_k; after it, nothing."""
    x = sd.tensor([2.0, 0.0, 3.0, 0.0, 5.0], requires_grad=True)
    g = np.array([1.0, 10.0, 100.0, 1000.0, 10000.0], dtype=np.float32)
    x.cumprod(0).backward(sd.tensor(g))
    t = torch.tensor([2.0, 0.0, 3.0, 0.0, 5.0], requires_grad=True)
    t.cumprod(0).backward(torch.tensor(g))
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy())
    np.testing.assert_allclose(x.grad.numpy(), [1.0, 2 * 10 + 2 * 3 * 100, 0.0, 0.0, 0.0])


def test_scan_dtypes_and_dims():
    i = sd.tensor([[1, 2], [3, 4]])
    assert sd.cumsum(i, 0).dtype == sd.int64 and sd.cumprod(i, 1).tolist() == [[1, 2], [3, 12]]
    assert sd.cumsum(sd.tensor([True, True]), 0).tolist() == [1, 2]
    v, idx = sd.cummax(i, 1)
    assert v.dtype == sd.int64 and idx.dtype == sd.int64
    x = sd.ones(2, 3)
    for fn in (lambda: x.cumsum(2), lambda: x.cumprod(-3), lambda: x.cummax(2), lambda: x.logcumsumexp(5)):
        with pytest.raises(IndexError, match="dim"):
            fn()
