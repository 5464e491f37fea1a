"""``gradcheck``: compare analytic gradients with float64 central differences."""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from shendu.tensor import Tensor


def _outputs(fn, inputs) -> list:
    out = fn(*inputs)
    return [out] if isinstance(out, Tensor) else [o for o in out if isinstance(o, Tensor)]


def numerical_jacobian_vjp(fn: Callable, inputs: Sequence, grad_outputs: list, eps: float) -> list:
    """d<grad_outputs, fn(inputs)>/d input for each float input requiring grad, by central differences."""
    from shendu.grad_mode import no_grad
    result = []
    for x in inputs:
        if not (isinstance(x, Tensor) and x.requires_grad):
            result.append(None)
            continue
        g = np.zeros(x.shape, dtype=np.float64)
        flat = x._data.reshape(-1)  # a view when contiguous; written back below otherwise
        view_ok = np.shares_memory(flat, x._data) if x._data.size else True
        for i in range(flat.size):
            orig = flat[i]
            vals = []
            for step in (eps, -eps):
                flat[i] = orig + step
                if not view_ok:
                    x._data = flat.reshape(x.shape)
                with no_grad():
                    outs = _outputs(fn, inputs)
                vals.append(sum(float((o._data.astype(np.float64) * go).sum())
                                for o, go in zip(outs, grad_outputs)))
            flat[i] = orig
            if not view_ok:
                x._data = flat.reshape(x.shape)
            g.reshape(-1)[i] = (vals[0] - vals[1]) / (2 * eps)
        result.append(g)
    return result


def gradcheck(fn: Callable, inputs: Sequence, eps: float = 1e-6, atol: float = 1e-5,
              rtol: float = 1e-3, raise_exception: bool = True, seed: int = 0) -> bool:
    """Check ``fn``'s analytic gradients against float64 central differences.

    The outputs are contracted with a random upstream gradient (not ``.sum()``, which cannot see
    a backward that is wrong by a constant along a softmax or normalisation direction). Inputs
    that require grad must be float64. ``inputs`` is a Tensor or a sequence (Tensors and constants).
    """
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    for i, x in enumerate(inputs):
        if isinstance(x, Tensor) and x.requires_grad and x.dtype != np.float64:
            raise TypeError(f"gradcheck: input {i} is {x.dtype}; gradcheck needs float64 inputs")
    from shendu.autograd.engine import grad as autograd_grad
    from shendu.grad_mode import enable_grad
    rng = np.random.default_rng(seed)
    with enable_grad():  # the analytic pass needs a graph even when called under no_grad
        outs = _outputs(fn, inputs)
    grad_outputs = [rng.standard_normal(o.shape) for o in outs]
    wanted = [x for x in inputs if isinstance(x, Tensor) and x.requires_grad]
    diff_outs = [(o, go) for o, go in zip(outs, grad_outputs) if o.requires_grad]
    analytic = autograd_grad([o for o, _ in diff_outs], wanted,
                             [Tensor._wrap(go.astype(o.dtype)) for o, go in diff_outs],
                             allow_unused=True) if diff_outs else [None] * len(wanted)
    numeric = [n for n in numerical_jacobian_vjp(fn, inputs, grad_outputs, eps) if n is not None]
    positions = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    for k, a, n in zip(positions, analytic, numeric):
        a = np.zeros_like(n) if a is None else np.asarray(a._data, dtype=np.float64)
        if a.shape != n.shape:
            if raise_exception:
                raise AssertionError(f"gradcheck: the analytic gradient of input {k} has shape {a.shape}; "
                                     f"the input has shape {n.shape}")
            return False
        if not np.allclose(a, n, atol=atol, rtol=rtol):
            if raise_exception:
                worst = tuple(int(i) for i in np.unravel_index(np.argmax(np.abs(a - n)), n.shape)) if n.size else ()
                raise AssertionError(
                    f"gradcheck: analytic and numerical gradients differ for input {k} "
                    f"(shape {n.shape}); max abs diff {np.max(np.abs(a - n)):.3e} at {worst}: "
                    f"analytic {a[worst] if n.size else a}, numerical {n[worst] if n.size else n}")
            return False
    return True


def gradgradcheck(fn: Callable, inputs: Sequence, eps: float = 1e-6, atol: float = 1e-5,
                  rtol: float = 1e-3, seed: int = 1, raise_exception: bool = True) -> bool:
    """Check second derivatives: gradcheck the map inputs -> (d<g, fn>/d inputs) built with create_graph."""
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    from shendu.autograd.engine import grad as autograd_grad
    from shendu.grad_mode import enable_grad
    rng = np.random.default_rng(seed)
    outs = _outputs(fn, inputs)
    gos = [Tensor._wrap(rng.standard_normal(o.shape)) for o in outs]
    wanted_idx = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]

    def first_grads(*xs):
        # gradcheck's central differences call this under no_grad; the first derivative still
        # needs a graph of fn to differentiate, so record it here whatever the caller's mode.
        with enable_grad():
            pairs = [(o, go) for o, go in zip(_outputs(fn, xs), gos) if o.requires_grad]
            if not pairs:
                return ()
            gs = autograd_grad([o for o, _ in pairs], [xs[i] for i in wanted_idx], [go for _, go in pairs],
                               create_graph=True, allow_unused=True)
        return tuple(g for g in gs if g is not None)

    return gradcheck(first_grads, inputs, eps=eps, atol=atol, rtol=rtol, seed=seed, raise_exception=raise_exception)
