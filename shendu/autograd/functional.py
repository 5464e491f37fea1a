"""``shendu.autograd.functional``: Jacobians, Hessians and their products with vectors (PyTorch's API).

Each function takes ``func`` (Tensors in, a Tensor or a tuple of Tensors out) and ``inputs`` (a
Tensor or a tuple), and answers in the same structure PyTorch does. Everything is built on
reverse mode (``shendu.grad``): ``jvp`` uses the double-backward trick (the gradient of a
vector-Jacobian product with respect to its vector), ``jacobian`` takes one backward pass per
output element, and ``hessian`` is the Jacobian of the gradient. Without ``create_graph`` the
results are detached; ``strict=True`` raises where an output does not depend on an input (else
that block is zeros). ``vectorize`` and the forward-mode strategies are accepted and give the same
values through reverse mode.
"""
from __future__ import annotations

from collections.abc import Callable

from shendu.autograd.engine import grad as _grad
from shendu.grad_mode import enable_grad
from shendu.tensor import Tensor


def _as_tuple(x, arg: str, fn: str) -> tuple[bool, tuple]:
    is_tuple = isinstance(x, (tuple, list))
    items = tuple(x) if is_tuple else (x,)
    for i, t in enumerate(items):
        if not isinstance(t, Tensor):
            raise TypeError(f"{fn}: the {arg} must be a Tensor or a tuple of Tensors, but item {i} is "
                            f"{type(t).__name__}")
    return is_tuple, items


def _prepare(inputs: tuple, create_graph: bool) -> tuple:
    """Fresh leaves to differentiate against; with ``create_graph``, linked to the callers' tensors."""
    return tuple(t.view_as(t) if create_graph and t.requires_grad else t.detach().requires_grad_()
                 for t in inputs)


def _finish(tensors, create_graph: bool):
    if isinstance(tensors, tuple):
        return tuple(_finish(t, create_graph) for t in tensors)
    return tensors if create_graph or tensors is None else tensors.detach()


def _grads(outputs: tuple, inputs: tuple, grad_outputs: tuple, create_graph: bool) -> tuple:
    """d(outputs . grad_outputs)/d(inputs), None where an input is not reached."""
    pairs = [(o, g) for o, g in zip(outputs, grad_outputs) if o.requires_grad and g is not None]
    if not pairs:
        return (None,) * len(inputs)
    return _grad([o for o, _ in pairs], list(inputs), [g for _, g in pairs], retain_graph=True,
                 create_graph=create_graph, allow_unused=True)


def _fill(grads: tuple, refs: tuple, strict: bool, fn: str, what: str) -> tuple:
    from shendu.creation import zeros_like
    out = []
    for i, (g, r) in enumerate(zip(grads, refs)):
        if g is None:
            if strict:
                raise RuntimeError(f"{fn}: the {what} is independent of input {i}; this is not allowed in strict mode")
            g = zeros_like(r)
        out.append(g)
    return tuple(out)


def _check_v(v, refs: tuple, arg: str, fn: str) -> tuple:
    if v is None:
        if len(refs) != 1 or refs[0].numel() != 1:
            raise RuntimeError(f"{fn}: v can only be None if the {arg} has a single element; got shapes "
                               f"{[tuple(r.shape) for r in refs]}")
        from shendu.creation import ones_like
        return (ones_like(refs[0]),)
    _, vs = _as_tuple(v, "v", fn)
    if len(vs) != len(refs) or any(tuple(a.shape) != tuple(b.shape) for a, b in zip(vs, refs)):
        raise RuntimeError(f"{fn}: v has shapes {[tuple(a.shape) for a in vs]}, expected the {arg}'s "
                           f"{[tuple(b.shape) for b in refs]}")
    return vs


def _call(func: Callable, inputs: tuple, fn: str) -> tuple[bool, tuple]:
    with enable_grad():
        out = func(*inputs)
    return _as_tuple(out, "outputs of the user-provided function", fn)


def vjp(func: Callable, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """``(func(inputs), v^T J)``: the vector-Jacobian product at ``inputs``."""
    in_tuple, inputs = _as_tuple(inputs, "inputs", "vjp")
    x = _prepare(inputs, create_graph)
    out_tuple, outs = _call(func, x, "vjp")
    vs = _check_v(v, outs, "output", "vjp")
    grads = _fill(_grads(outs, x, vs, create_graph), x, strict, "vjp", "output")
    outs, grads = _finish(outs, create_graph), _finish(grads, create_graph)
    return (outs if out_tuple else outs[0]), (grads if in_tuple else grads[0])


def jvp(func: Callable, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """``(func(inputs), J v)``: the Jacobian-vector product at ``inputs`` (double-backward trick)."""
    from shendu.creation import zeros_like
    in_tuple, inputs = _as_tuple(inputs, "inputs", "jvp")
    x = _prepare(inputs, create_graph)
    vs = _check_v(v, x, "input", "jvp")
    out_tuple, outs = _call(func, x, "jvp")
    # u . J is linear in u; its gradient with respect to u is J v
    us = tuple(zeros_like(o).requires_grad_() for o in outs)
    with enable_grad():
        gx = _grads(outs, x, us, create_graph=True)
    pairs = [(g, w) for g, w in zip(gx, vs) if g is not None and g.requires_grad]
    if pairs:
        jv = _grad([g for g, _ in pairs], list(us), [w for _, w in pairs], retain_graph=True,
                   create_graph=create_graph, allow_unused=True)
    else:
        jv = (None,) * len(us)
    jv = _fill(jv, outs, strict, "jvp", "output")
    outs, jv = _finish(outs, create_graph), _finish(jv, create_graph)
    return (outs if out_tuple else outs[0]), (jv if out_tuple else jv[0])


def jacobian(func: Callable, inputs, create_graph: bool = False, strict: bool = False, vectorize: bool = False,
             strategy: str = "reverse-mode"):
    """The Jacobian of ``func`` at ``inputs``: block ``[i][j]`` has shape ``outputs[i].shape + inputs[j].shape``.

    A single output and a single input give one Tensor; tuples give (nested) tuples, as in PyTorch.
    """
    if strategy not in ("reverse-mode", "forward-mode"):
        raise ValueError(f'jacobian: expected strategy to be either "forward-mode" or "reverse-mode", got {strategy!r}')
    from shendu.creation import zeros
    from shendu.ops.shape import stack
    in_tuple, inputs = _as_tuple(inputs, "inputs", "jacobian")
    x = _prepare(inputs, create_graph)
    out_tuple, outs = _call(func, x, "jacobian")
    blocks = []
    for i, o in enumerate(outs):
        rows = []
        for k in range(o.numel()):
            onehot = zeros(o.numel(), dtype=o.dtype)
            onehot._data[k] = 1
            g = _grads((o,), x, (onehot.reshape(o.shape),), create_graph)
            rows.append(_fill(g, x, strict, "jacobian", f"output {i}"))
        per_input = []
        for j, xj in enumerate(x):
            if rows:
                block = stack([r[j] for r in rows]).reshape(tuple(o.shape) + tuple(xj.shape))
            else:
                block = zeros(*(tuple(o.shape) + tuple(xj.shape)), dtype=xj.dtype)
            per_input.append(block)
        blocks.append(_finish(tuple(per_input), create_graph))
    blocks = [b if in_tuple else b[0] for b in blocks]
    return tuple(blocks) if out_tuple else blocks[0]


def _scalar_output(func: Callable, fn: str) -> Callable:
    def checked(*args):
        out_tuple, outs = _as_tuple(func(*args), "outputs of the user-provided function", fn)
        if out_tuple or outs[0].numel() != 1:
            raise RuntimeError(f"{fn}: the function given to {fn} should return a single Tensor with one element, "
                               f"got {'a tuple' if out_tuple else f'shape {tuple(outs[0].shape)}'}")
        return outs[0]
    return checked


def hessian(func: Callable, inputs, create_graph: bool = False, strict: bool = False, vectorize: bool = False,
            outer_jacobian_strategy: str = "reverse-mode"):
    """The Hessian of a scalar ``func``: block ``[i][j]`` has shape ``inputs[i].shape + inputs[j].shape``."""
    from shendu.creation import ones_like
    in_tuple, inputs = _as_tuple(inputs, "inputs", "hessian")
    scalar = _scalar_output(func, "hessian")

    def gradient(*args):
        out = scalar(*args)
        g = _grads((out,), args, (ones_like(out),), create_graph=True)
        g = _fill(g, args, strict, "hessian", "output")
        return g if in_tuple else g[0]

    return jacobian(gradient, inputs if in_tuple else inputs[0], create_graph=create_graph, strict=strict,
                    vectorize=vectorize, strategy=outer_jacobian_strategy)


def vhp(func: Callable, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """``(func(inputs), v^T H)`` for a scalar ``func``: the vector-Hessian product."""
    from shendu.creation import ones_like
    in_tuple, inputs = _as_tuple(inputs, "inputs", "vhp")
    x = _prepare(inputs, create_graph)
    vs = _check_v(v, x, "input", "vhp")
    out = _scalar_output(func, "vhp")
    with enable_grad():
        o = out(*x)
        g = _fill(_grads((o,), x, (ones_like(o),), create_graph=True), x, strict, "vhp", "output")
    pairs = [(gi, vi) for gi, vi in zip(g, vs) if gi.requires_grad]
    hv = _grads(tuple(p[0] for p in pairs), x, tuple(p[1] for p in pairs), create_graph) if pairs else (None,) * len(x)
    hv = _fill(hv, x, strict, "vhp", "gradient")
    o, hv = _finish(o, create_graph), _finish(hv, create_graph)
    return o, (hv if in_tuple else hv[0])


def hvp(func: Callable, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """``(func(inputs), H v)`` for a scalar ``func``: the Hessian-vector product.

    For a twice-differentiable ``func`` the Hessian is symmetric, so ``H v = (v^T H)^T``: one
    double-backward pass, the cheaper of PyTorch's two formulations.
    """
    return vhp(func, inputs, v, create_graph=create_graph, strict=strict)


__all__ = ["hessian", "hvp", "jacobian", "jvp", "vhp", "vjp"]
