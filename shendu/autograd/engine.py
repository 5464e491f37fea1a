"""Reverse-mode differentiation: walk the graph from the outputs back to the leaves.

The walk is iterative (no recursion limit on a 100,000-op chain), visits nodes in a deterministic
reverse topological order, sums a broadcast gradient back to its input's shape (ops never do),
and frees each node after use unless ``retain_graph`` is set. With ``create_graph`` the backward
formulas run with recording on, so the gradients are themselves differentiable; without it they
run under ``no_grad`` and gradients from several paths are summed as plain arrays.
"""
from __future__ import annotations

import sys
from collections.abc import Sequence

from shendu.autograd.function import _FREED_MESSAGE, _asarray, _generic, _ndarray
from shendu.grad_mode import _state
from shendu.tensor import Tensor


def _topological_order(roots: Sequence[Tensor]) -> list:
    """Nodes (Function instances) reachable from ``roots``, each after every node that feeds it."""
    order, visited = [], {}
    for root in roots:
        node = root._ctx
        if node is None or id(node) in visited:
            continue
        visited[id(node)] = True
        stack = [(node, iter(node.inputs))]
        if node._freed:
            raise RuntimeError(_FREED_MESSAGE.format(op=type(node).__name__))
        while stack:
            top, it = stack[-1]
            for inp in it:
                child = inp._ctx if isinstance(inp, Tensor) else None
                if child is not None and id(child) not in visited:
                    if child._freed:
                        raise RuntimeError(_FREED_MESSAGE.format(op=type(child).__name__))
                    visited[id(child)] = True
                    stack.append((child, iter(child.inputs)))
                    break
            else:
                stack.pop()
                order.append(top)
    order.reverse()  # outputs first
    return order


def _needed_only(order: list, capture: dict) -> list:
    """Keep the nodes through which a gradient can reach a captured tensor (shendu.grad)."""
    needed: dict[int, bool] = {}
    for node in reversed(order):  # inputs first
        for inp in node.inputs:
            if isinstance(inp, Tensor) and (id(inp) in capture or id(inp._ctx) in needed):
                needed[id(node)] = True
                break
    return [node for node in order if id(node) in needed]


def _owned_copy(g: Tensor, handed_out: dict) -> Tensor:
    """A Tensor for a leaf's ``.grad`` whose array nothing else holds.

    A gradient array reaches a leaf shared when an op passed the same gradient to two inputs (add)
    or returned a view; giving it to ``.grad`` as is would let ``a.grad.zero_()`` change ``b.grad``.
    Unshared arrays (most of them: fresh results of matmul, mul, ...) are taken without a copy.
    """
    arr = g._data
    # References to an unshared array: g._data, the local ``arr`` and getrefcount's argument;
    # to the base of an unshared view (a reshape of a fresh sum): the view and the argument.
    shared = sys.getrefcount(arr) > 3 or (arr.base is not None and sys.getrefcount(arr.base) > 2)
    if shared or id(arr) in handed_out:
        arr = arr.copy()
    handed_out[id(arr)] = arr
    return Tensor._wrap(arr)


def _sum_to(grad: Tensor, shape: tuple) -> Tensor:
    from shendu.ops.reduce import sum_to
    gshape = grad._data.shape
    lead = len(gshape) - len(shape)
    if lead < 0 or any(s != 1 and s != gs for s, gs in zip(shape, gshape[lead:])):
        raise RuntimeError(f"backward: a gradient of shape {gshape} does not match (and does not broadcast "
                           f"to) its input's shape {shape}; a backward must return one gradient of its "
                           "input's shape per input")
    return sum_to(grad, shape)


def run_backward(roots: Sequence[Tensor], root_grads: Sequence[Tensor], retain_graph: bool,
                 create_graph: bool, capture: dict | None = None) -> None:
    """Propagate ``root_grads`` from ``roots``.

    With ``capture`` (a dict keyed by ``id`` of the wanted tensors) the gradients reaching those
    tensors are stored there and no leaf's ``.grad`` is touched (``shendu.grad``); without it the
    gradients of leaves (and of tensors that called ``retain_grad``) accumulate into ``.grad``.
    """
    prev_mode = _state.enabled
    _state.enabled = create_graph
    try:
        order = _topological_order(roots)
        if capture is not None:
            order = _needed_only(order, capture)
        handed_out: dict[int, object] = {}
        pending: dict[int, list] = {}  # id(node) -> gradient of each of its outputs
        # ctx.output is a weak reference; the consumer that held the output may already be
        # released, so keep each single output alive until its own node's backward has run.
        outputs: dict[int, Tensor] = {}

        # A tensor's hooks see its total gradient once, as in PyTorch: contributions to a hooked
        # tensor wait here until its producer node runs (leaves: until the end of the pass).
        deferred: dict[int, dict] = {}  # id(producer node), 0 for leaves -> {id(t): [t, gradient]}

        def send(t: Tensor, g: Tensor, hooked: bool = False) -> None:
            # (no local name for g._data: _owned_copy counts the references to it)
            if g._data.shape != t._data.shape:
                g = _sum_to(g, t._data.shape)
            if g._data.dtype != t._data.dtype:
                g = g.to(t._data.dtype)
            if t._hooks and not hooked:
                bucket = deferred.setdefault(id(t._ctx) if t._ctx is not None else 0, {})
                held = bucket.get(id(t))
                bucket[id(t)] = [t, g] if held is None else [t, _accumulate(held[1], g)]
                return
            node = t._ctx
            if capture is not None:
                if id(t) in capture:
                    prev = capture[id(t)]
                    capture[id(t)] = g if prev is None else _accumulate(prev, g)
            elif node is None or t._retains_grad:
                if t.grad is None:
                    t.grad = g if create_graph else _owned_copy(g, handed_out)
                else:
                    t.grad = _accumulate(t.grad, g if create_graph else g.detach())
            if node is not None:
                slots = pending.get(id(node))
                if slots is None:
                    if node._out_meta is None:
                        pending[id(node)] = [g]
                        outputs[id(node)] = t
                        return
                    slots = pending[id(node)] = [None] * len(node._out_meta)
                i = t._out_index
                slots[i] = g if slots[i] is None else _accumulate(slots[i], g)

        for root, g in zip(roots, root_grads):
            send(root, g)

        def flush(key: int) -> None:
            for t, g in deferred.pop(key).values():
                for hook in list(t._hooks):
                    new = hook(g)
                    if new is not None:
                        g = new
                send(t, g, True)

        for node in order:
            if deferred and id(node) in deferred:
                flush(id(node))
            grads = pending.pop(id(node), None)
            output = outputs.pop(id(node), None)  # noqa: F841 - held until the next node
            if grads is None:  # no gradient reached this node (e.g. an unused output)
                if not retain_graph:
                    node._release()
                continue
            if node._out_meta is not None and node._materialize_grads:
                grads = [g if g is not None else _zeros(shape, dtype, node)
                         for g, (shape, dtype) in zip(grads, node._out_meta)]
            in_grads = type(node).backward(node, *grads)  # static (user) and plain (library) backwards alike
            if type(in_grads) is not tuple:
                in_grads = (in_grads,)
            inputs, needs = node.inputs, node.needs_input_grad
            if len(in_grads) < len(needs):
                raise RuntimeError(
                    f"{type(node).__name__}.backward returned {len(in_grads)} gradients; "
                    f"expected {len(needs)} (one per input, None where an input needs none)")
            for inp, need, g in zip(inputs, needs, in_grads):
                if need and g is not None:
                    if not isinstance(g, Tensor):
                        g = Tensor._wrap(g)
                    send(inp, g)
            if not retain_graph:
                node._release()
        while deferred:  # hooked leaves, and hooked tensors whose producer was not visited
            flush(next(iter(deferred)))
    finally:
        _state.enabled = prev_mode


def _accumulate(a: Tensor, b: Tensor) -> Tensor:
    if _state.enabled:  # create_graph: the sum must be recorded
        return a + b
    out = a._data + b._data
    if type(out) is not _ndarray and isinstance(out, _generic):
        out = _asarray(out)  # 0-d + 0-d gives a NumPy scalar; a tensor holds an array
    return Tensor._wrap(out)


def _zeros(shape, dtype, node) -> Tensor:
    ref = next(i for i in node.inputs if isinstance(i, Tensor))
    xp = ref._xp()
    return Tensor._wrap(xp.zeros(shape, dtype=dtype))


def backward(tensors, grad_tensors=None, retain_graph: bool | None = None,
             create_graph: bool = False, inputs=None) -> None:
    """Accumulate into ``.grad`` the gradients of ``tensors`` with respect to the graph's leaves."""
    tensors = [tensors] if isinstance(tensors, Tensor) else list(tensors)
    if grad_tensors is None or isinstance(grad_tensors, Tensor):
        grad_tensors = [grad_tensors] * len(tensors) if grad_tensors is None else [grad_tensors]
    roots, grads = _prepare_roots(tensors, grad_tensors, "backward")
    if retain_graph is None:
        retain_graph = create_graph
    if inputs is not None:
        inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
        capture = {id(t): None for t in inputs}
        run_backward(roots, grads, retain_graph, create_graph, capture)
        for t in inputs:
            g = capture[id(t)]
            if g is not None:
                g = g if create_graph else g.detach()
                t.grad = g if t.grad is None else _accumulate(t.grad, g)
        return
    run_backward(roots, grads, retain_graph, create_graph)


def grad(outputs, inputs, grad_outputs=None, retain_graph: bool | None = None,
         create_graph: bool = False, allow_unused: bool = False) -> tuple:
    """The gradients of ``outputs`` with respect to ``inputs``, returned (``.grad`` is untouched)."""
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    single = isinstance(inputs, Tensor)
    inputs = [inputs] if single else list(inputs)
    if grad_outputs is None or isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs] * len(outputs) if grad_outputs is None else [grad_outputs]
    roots, grads = _prepare_roots(outputs, grad_outputs, "grad")
    for i, t in enumerate(inputs):
        if not isinstance(t, Tensor) or not t.requires_grad:
            raise RuntimeError(f"shendu.grad: input {i} does not require grad")
    if retain_graph is None:
        retain_graph = create_graph
    capture = {id(t): None for t in inputs}
    run_backward(roots, grads, retain_graph, create_graph, capture)
    result = []
    for i, t in enumerate(inputs):
        g = capture[id(t)]
        if g is None and not allow_unused:
            raise RuntimeError(
                f"shendu.grad: input {i} (shape {t.shape}) is not reachable from the outputs; "
                "pass allow_unused=True to get None for it")
        result.append(g)
    return tuple(result)


def _prepare_roots(tensors, grad_tensors, who: str):
    if len(grad_tensors) != len(tensors):
        raise RuntimeError(f"{who}: got {len(tensors)} tensors but {len(grad_tensors)} gradients")
    roots, grads = [], []
    for t, g in zip(tensors, grad_tensors):
        if not t.requires_grad:
            raise RuntimeError(
                f"{who}: element of shape {t.shape} does not require grad and has no grad_fn "
                "(was it computed under no_grad, or from tensors without requires_grad=True?)")
        if g is None:
            if t._data.size != 1:
                raise RuntimeError(
                    f"{who}: grad can be implicitly created only for scalar outputs; the output "
                    f"has shape {t.shape}: pass a gradient of that shape, e.g. y.backward(g)")
            g = Tensor._wrap(t._xp().array(1, dtype=t.dtype).reshape(t.shape))  # C-level, unlike ones()
        elif not isinstance(g, Tensor):
            g = Tensor._wrap(t._xp().asarray(g, dtype=t.dtype))
        elif not g.requires_grad:
            # The caller keeps g: a new wrapper makes its array count as shared in _owned_copy,
            # so no leaf's .grad aliases it (y = a + b; y.backward(g); g.zero_() leaves a.grad).
            g = Tensor._wrap(g._data)
        if g.shape != t.shape:
            raise RuntimeError(
                f"{who}: gradient of shape {g.shape} does not match the output's shape {t.shape}")
        roots.append(t)
        grads.append(g)
    return roots, grads
