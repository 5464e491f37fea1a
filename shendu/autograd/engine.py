"""Reverse-mode differentiation: walk the graph from the outputs back to the leaves.

The walk is iterative (no recursion limit on a 100,000-op chain), visits nodes in a deterministic
reverse topological order, sums a broadcast gradient back to its input's shape (ops never do),
and frees each node after use unless ``retain_graph`` is set. With ``create_graph`` the backward
formulas run with recording on, so the gradients are themselves differentiable; without it they
run under ``no_grad`` and gradients from several paths are summed as plain arrays.

``run_backward`` is two plain passes: ``_compute`` runs the backward formulas and sums each tensor's
gradient, ``_deliver`` hands the totals out (leaf ``.grad``, ``shendu.grad``'s capture, hooks).
"""
from __future__ import annotations

from collections.abc import Sequence

from shendu.autograd.function import _FREED_MESSAGE, _asarray, _generic, _ndarray
from shendu.autograd.inplace import as_of
from shendu.grad_mode import _state
from shendu.tensor import Tensor


def _topological_order(roots: Sequence[Tensor]) -> list:
    """Nodes (Function instances) reachable from ``roots``, each after every node that feeds it.

    A node recorded before an in-place write to one of its inputs is pointed at the snapshot of that
    input (``inplace.as_of``) here, once, so the walk, the gradient routing and the backward formula all
    see the input as it was when the node was recorded.
    """
    clock = _state.clock
    order, visited = [], set()  # nodes hash by identity
    for root in roots:
        node = root._ctx
        if node is None or node in visited:
            continue
        if node._freed:
            raise RuntimeError(_FREED_MESSAGE.format(op=type(node).__name__))
        visited.add(node)
        if node._clock < clock:
            _as_recorded(node)
        stack = [(node, iter(node.inputs))]
        while stack:
            top, it = stack[-1]
            for inp in it:
                child = inp._ctx if isinstance(inp, Tensor) else None
                if child is not None and child not in visited:
                    if child._freed:
                        raise RuntimeError(_FREED_MESSAGE.format(op=type(child).__name__))
                    visited.add(child)
                    if child._clock < clock:
                        _as_recorded(child)
                    stack.append((child, iter(child.inputs)))
                    break
            else:
                stack.pop()
                order.append(top)
    order.reverse()  # outputs first
    return order


def _as_recorded(node) -> None:
    """Point ``node`` at its inputs as they were when it was recorded; refuse if one it reads was overwritten."""
    inputs = node.inputs
    if any(isinstance(a, Tensor) and a._rebases for a in inputs):
        node.inputs = inputs = tuple(as_of(a, node._clock) if isinstance(a, Tensor) and a._rebases else a
                                     for a in inputs)
    reads = range(len(inputs)) if node.saved_inputs is None else node.saved_inputs
    for i in reads:
        a = inputs[i]
        if isinstance(a, Tensor) and a._version_counter is not None and a._version_counter[1] > node._clock:
            _raise_modified(node, a, f"input {i}")
    for i in node.saved_outputs:  # a several-output op's outputs its backward reads
        out = node._out_refs[i]()
        if out is not None and out._version_counter is not None and out._version_counter[1] > node._clock:
            _raise_modified(node, out, f"output {i}")
    # (a write to a single-output node's output is caught where backward reads it: Function.output)


def _raise_modified(node, t: Tensor, which: str) -> None:
    raise RuntimeError(
        f"one of the variables needed for gradient computation has been modified by an inplace operation: "
        f"[{t._data.dtype} tensor of shape {list(t._data.shape)}], {which} of {type(node).__name__}Backward, is at "
        f"version {t._version}, which is newer than when {type(node).__name__} used it. Hint: the in-place change "
        "(an `_` method, `x[i] = v`, `+=`, or `.data` writes under no_grad) happened after this op read the tensor; "
        "write to a clone() or use the out-of-place op")


def _needed_only(order: list, capture: dict) -> list:
    """Keep the nodes through which a gradient can reach a captured tensor (shendu.grad)."""
    needed: dict[int, bool] = {}
    for node in reversed(order):  # inputs first
        for inp in node.inputs:
            if isinstance(inp, Tensor) and (id(inp) in capture or id(inp._ctx) in needed):
                needed[id(node)] = True
                break
    return [node for node in order if id(node) in needed]


def _sum_to(grad: Tensor, shape: tuple) -> Tensor:
    from shendu.ops.reduce import sum_to
    gshape = grad._data.shape
    lead = len(gshape) - len(shape)
    if lead < 0 or any(s != 1 and s != gs for s, gs in zip(shape, gshape[lead:])):
        raise RuntimeError(f"backward: a gradient of shape {gshape} does not match (and does not broadcast "
                           f"to) its input's shape {shape}; a backward must return one gradient of its "
                           "input's shape per input")
    return sum_to(grad, shape)


def _sum_to_array(g, shape: tuple):
    """``g`` summed over the dims it was broadcast along, to ``shape`` (first-order, raw arrays)."""
    lead = g.ndim - len(shape)
    if lead < 0 or any(s != 1 and s != gs for s, gs in zip(shape, g.shape[lead:])):
        raise RuntimeError(f"backward: a gradient of shape {g.shape} does not match (and does not broadcast "
                           f"to) its input's shape {shape}; a backward must return one gradient of its "
                           "input's shape per input")
    axes = tuple(range(lead)) + tuple(i + lead for i, s in enumerate(shape) if s == 1 and g.shape[i + lead] != 1)
    out = g.sum(axis=axes, keepdims=True) if axes else g
    return out.reshape(shape) if out.shape != shape else out


def _add_arrays(a, b):
    out = a + b
    return _asarray(out) if type(out) is not _ndarray and isinstance(out, _generic) else out


def _compute(order: list, roots, root_grads, retain_graph: bool, capture: dict | None,
             create_graph: bool) -> dict:
    """Pass 1: run every node's backward; return the total gradient of each tensor that receives one.

    How gradients travel: at first order (``create_graph=False``, the training path) as raw arrays. A
    library op may give a ``grad_arrays(ctx, *grads)`` rule on arrays beside its Tensor ``backward`` —
    the hot ops do, so a training step's backward makes no Tensor and records nothing; an op without one
    runs its Tensor backward on wrapped arrays. With ``create_graph`` as Tensors, through the Tensor
    backwards, recorded.

    The result maps ``id(tensor)`` to ``[tensor, total gradient, owned]`` for the leaves that require
    grad, the tensors that called ``retain_grad`` and the tensors in ``capture``. A non-leaf tensor's hooks
    run here, on its total gradient, just before its producer's backward; leaves' hooks run at delivery.

    ``owned`` means no one else holds the gradient's array, so it may become a leaf's ``.grad`` without
    a copy. It is decided from how the array was made, never from reference counts: sums and casts made
    here are owned; so is an array a library backward returns fresh, unless it is the incoming gradient
    passed through, a view, returned for two inputs, or the graph is kept (``retain_graph``) for reuse.
    A user-defined Function's results are never owned: the Function may keep them.
    """
    tensors = create_graph  # what a gradient is in this pass: a Tensor, or (first order) a raw array
    add = _accumulate if tensors else _add_arrays
    targets: dict[int, list] = {}
    pending: dict = {}  # node -> [tensor, gradient, owned] (a list of those per output if several)
    anomaly = _state.anomaly

    def send(t: Tensor, g, owned: bool) -> None:
        arr = g._data if tensors else g
        if arr.shape != t._data.shape:
            g, owned = (_sum_to(g, t._data.shape) if tensors else _sum_to_array(g, t._data.shape)), True
            arr = g._data if tensors else g
        if arr.dtype != t._data.dtype:
            g, owned = (g.to(t._data.dtype) if tensors else g.astype(t._data.dtype)), True
        if t._ctx is not None and capture is not None and id(t) in capture:
            _add_to(targets, id(t), t, g, False, add)  # a captured non-leaf: its gradient also flows on
            owned = False
        _add_total(t, g, owned, targets, pending, add)

    def total(entry):
        t, g = entry[0], entry[1]
        if t._hooks:
            g = _run_hooks(t, g if tensors else Tensor._wrap(g))
            g = g if tensors else g._data
        if t._retains_grad and capture is None:
            targets[id(t)] = [t, g, False]  # the same array flows on to the node
        return g

    for root, g in zip(roots, root_grads):
        send(root, g if tensors else g._data, False)  # the caller keeps its gradient

    for node in order:
        entry = pending.pop(node, None)
        if entry is None:  # no gradient reached this node (e.g. an unused output)
            if not retain_graph:
                node._release()
            continue
        if node._out_meta is None:
            t = entry[0]
            grads = (total(entry) if t._hooks or t._retains_grad else entry[1],)
        else:
            grads = [None if e is None else total(e) for e in entry]
            if node._materialize_grads:
                grads = [g if g is not None else _zeros(shape, dtype, node, tensors)
                         for g, (shape, dtype) in zip(grads, node._out_meta)]
        cls = type(node)
        if tensors:
            in_grads = cls.backward(node, *grads)  # static (user) and plain (library) backwards alike
        elif cls.grad_arrays is not None:
            in_grads = cls.grad_arrays(node, *grads)
        else:
            in_grads = cls.backward(node, *[None if g is None else Tensor._wrap(g) for g in grads])
        if type(in_grads) is not tuple:
            in_grads = (in_grads,)
        inputs, needs = node.inputs, node.needs_input_grad
        if len(in_grads) < len(needs):
            raise RuntimeError(
                f"{cls.__name__}.backward returned {len(in_grads)} gradients; "
                f"expected {len(needs)} (one per input, None where an input needs none)")
        trusted = cls.raw and not retain_graph
        seen = ([g._data if tensors else g for g in grads if g is not None] if trusted
                else None)  # the incoming arrays: passed through, they are not fresh
        k = -1
        for inp, need, g in zip(inputs, needs, in_grads):
            k += 1
            if need and g is not None:
                if tensors:
                    if not isinstance(g, Tensor):
                        g = Tensor._wrap(g)
                    arr = g._data
                else:
                    arr = g = g._data if isinstance(g, Tensor) else g
                if anomaly:
                    _check_finite(node, k, arr)
                owned = False
                if trusted:
                    owned = arr.base is None and arr not in _Identity(seen)
                    seen.append(arr)
                send(inp, g, owned)
        if not retain_graph:
            node._release()
    return targets


def _compute_first_order(order: list, roots, root_grads, retain_graph: bool) -> dict:
    """``_compute`` for the training path (first order, no ``shendu.grad`` capture), kept lean.

    The same rules as ``_compute`` with gradients as raw arrays and the per-gradient work inlined:
    this loop is most of a small model's backward, and every call it avoids is a step's overhead.
    Hooks, ``retain_grad`` and several-output nodes take the shared helpers.
    """
    targets: dict[int, list] = {}
    pending: dict = {}
    anomaly = _state.anomaly
    for root, g in zip(roots, root_grads):
        _send_array(root, g._data, False, targets, pending)
    nodes = order
    if _state.post_accumulate_hooks:
        nodes = _delivering_early(order, targets)
    for node in nodes:
        entry = pending.pop(node, None)
        if entry is None:  # no gradient reached this node (e.g. an unused output)
            if not retain_graph:
                node._release()
            continue
        cls = type(node)
        if node._out_meta is None:
            t, g0 = entry[0], entry[1]
            if t._hooks or t._retains_grad:
                g0 = _hooked_total(t, g0, targets)
            incoming = (g0,)
            rule = cls.grad_arrays
            in_grads = rule(node, g0) if rule is not None else cls.backward(node, Tensor._wrap(g0))
        else:
            incoming = [None if e is None else (_hooked_total(e[0], e[1], targets)
                                                if e[0]._hooks or e[0]._retains_grad else e[1]) for e in entry]
            if node._materialize_grads:
                incoming = [g if g is not None else _zeros(shape, dtype, node, False)
                            for g, (shape, dtype) in zip(incoming, node._out_meta)]
            rule = cls.grad_arrays
            in_grads = rule(node, *incoming) if rule is not None else cls.backward(
                node, *[None if g is None else Tensor._wrap(g) for g in incoming])
        if type(in_grads) is not tuple:
            in_grads = (in_grads,)
        needs = node.needs_input_grad
        if len(in_grads) < len(needs):
            raise RuntimeError(f"{cls.__name__}.backward returned {len(in_grads)} gradients; "
                               f"expected {len(needs)} (one per input, None where an input needs none)")
        if anomaly:
            for k, (need, g) in enumerate(zip(needs, in_grads)):
                if need and g is not None:
                    _check_finite(node, k, g._data if isinstance(g, Tensor) else g)
        trusted = cls.raw and not retain_graph
        single = incoming[0] if len(incoming) == 1 else None
        last = sent = None  # the arrays sent so far (the last one, then the earlier ones)
        for inp, need, g in zip(node.inputs, needs, in_grads):
            if not need or g is None:
                continue
            if type(g) is not _ndarray:
                g = g._data if isinstance(g, Tensor) else g
            # owned: not a view, not the incoming gradient passed through, not returned for another input too
            owned = trusted and g.base is None and (g is not single if single is not None
                                                    else g not in _Identity(incoming))
            if last is not None:
                if g is last or (sent is not None and g in _Identity(sent)):
                    owned = False
                sent = [last] if sent is None else sent + [last]
            last = g
            data, child = inp._data, inp._ctx
            gd, dd = g.dtype, data.dtype
            if (gd is not dd and gd != dd) or g.shape != data.shape or (
                    child is not None and child._out_meta is not None):
                _send_array(inp, g, owned, targets, pending)
                continue
            # the common case inline: same shape and dtype, a leaf or a single-output producer
            table, key = (targets, id(inp)) if child is None else (pending, child)
            entry = table.get(key)
            if entry is None:
                table[key] = [inp, g, owned]
            else:
                entry[1], entry[2] = _add_arrays(entry[1], g), True
        if not retain_graph:
            node._release()
    return targets


def _delivering_early(order: list, targets: dict):
    """``order``, handing a leaf with post-accumulate-grad hooks its gradient right after the last node
    that feeds it has run (not after the whole backward), so its hooks can start work (DDP's bucket
    all-reduces) while the rest of backward computes."""
    last: dict = {}
    for i, node in enumerate(order):
        for inp in node.inputs:
            if isinstance(inp, Tensor) and inp._ctx is None and inp._post_accumulate_grad_hooks:
                last[id(inp)] = i
    if not last:
        yield from order
        return
    due: dict = {}
    for key, i in last.items():
        due.setdefault(i, []).append(key)
    for i, node in enumerate(order):
        yield node                           # the loop computes this node's gradients before coming back
        for key in due.get(i, ()):
            entry = targets.pop(key, None)
            if entry is not None:
                _deliver({key: entry}, False, None)


def _send_array(t: Tensor, g, owned: bool, targets: dict, pending: dict) -> None:
    """Add the raw gradient ``g`` to ``t``'s total: its producer's pending slot, or its leaf target."""
    data = t._data
    if g.shape != data.shape:
        g, owned = _sum_to_array(g, data.shape), True
    if g.dtype != data.dtype:
        g, owned = g.astype(data.dtype), True
    _add_total(t, g, owned, targets, pending, _add_arrays)


def _add_total(t: Tensor, g, owned: bool, targets: dict, pending: dict, add) -> None:
    """Add ``g`` to ``t``'s total: a leaf's target, or its producer's pending slot for that output."""
    node = t._ctx
    if node is None:
        _add_to(targets, id(t), t, g, owned, add)
    elif node._out_meta is None:
        _add_to(pending, node, t, g, owned, add)
    else:
        slots = pending.get(node)
        if slots is None:
            slots = pending[node] = [None] * len(node._out_meta)
        _add_to(slots, t._out_index, t, g, owned, add)


def _add_to(table, key, t: Tensor, g, owned: bool, add) -> None:
    entry = table[key] if type(table) is list else table.get(key)
    if entry is None:
        table[key] = [t, g, owned]
    else:
        entry[1], entry[2] = add(entry[1], g), True


def _hooked_total(t: Tensor, g, targets: dict):
    """A non-leaf's total raw gradient after its hooks; kept for ``.grad`` when it called ``retain_grad``."""
    if t._hooks:
        g = _run_hooks(t, Tensor._wrap(g))._data
    if t._retains_grad:
        targets[id(t)] = [t, g, False]  # the same array flows on to the node
    return g


class _Identity:
    """``x in _Identity(items)``: membership by identity (``in`` on a list would compare arrays by value)."""

    __slots__ = ("items",)

    def __init__(self, items: list):
        self.items = items

    def __contains__(self, x) -> bool:
        for item in self.items:
            if item is x:
                return True
        return False


def _run_hooks(t: Tensor, g: Tensor) -> Tensor:
    for hook in list(t._hooks):
        new = hook(g)
        if new is not None:
            g = new
    return g


def _check_finite(node, k: int, arr) -> None:
    from shendu.backend import array_module
    if arr.dtype.kind in "fc" and bool(array_module(arr).isnan(arr).any()):
        where = getattr(node, "_forward_trace", None)
        trace = "\n\nThe forward call that made it:\n" + "".join(where) if where else ""
        raise RuntimeError(f"Function '{type(node).__name__}Backward' returned nan values in its {k}th output "
                           f"(gradient of shape {tuple(arr.shape)}).{trace}")


def _deliver(targets: dict, create_graph: bool, capture: dict | None) -> None:
    """Pass 2: hand the totals out: to ``capture`` (shendu.grad) or into ``.grad`` (with leaf hooks).

    A ``.grad`` this engine made at first order (``_engine_grad``: its array came from here, fresh or
    copied) is accumulated into in place, as PyTorch's AccumulateGrad does; a ``.grad`` the user
    assigned, or one that requires grad (``create_graph``), gets a new array instead.
    """
    for t, g, owned in targets.values():
        if not create_graph:
            if t.grad is not None and not t._hooks and capture is None and not t._post_accumulate_grad_hooks:
                held = t.grad
                arr = held._data
                if (held._engine_grad and not held.requires_grad and arr.shape == g.shape and arr.dtype == g.dtype
                        and arr.flags.writeable):
                    arr += g
                else:
                    t.grad = _engine_grad(_add_arrays(arr, g))
                continue
            g = Tensor._wrap(g)
        if t._ctx is None and t._hooks:
            g, owned = _run_hooks(t, g), False
        if capture is not None:
            capture[id(t)] = g
        elif t.grad is None:
            t.grad = g if create_graph else _engine_grad(g._data if owned else g._data.copy())
        else:
            t.grad = _accumulate(t.grad, g)
        if t._post_accumulate_grad_hooks and capture is None:
            for hook in t._post_accumulate_grad_hooks:
                hook(t)


def _engine_grad(arr) -> Tensor:
    """A leaf's ``.grad`` around an array that only the engine holds (so later totals add in place)."""
    t = Tensor._wrap(arr)
    t._engine_grad = True
    return t


def run_backward(roots: Sequence[Tensor], root_grads: Sequence[Tensor], retain_graph: bool,
                 create_graph: bool, capture: dict | None = None) -> None:
    """Propagate ``root_grads`` from ``roots``: compute every gradient, then deliver them.

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
        if create_graph or capture is not None:
            targets = _compute(order, roots, root_grads, retain_graph, capture, create_graph)
        else:
            targets = _compute_first_order(order, roots, root_grads, retain_graph)
        _deliver(targets, create_graph, capture)
    finally:
        _state.enabled = prev_mode


def _accumulate(a: Tensor, b: Tensor) -> Tensor:
    if _state.enabled:  # create_graph: the sum must be recorded
        return a + b
    out = a._data + b._data
    if type(out) is not _ndarray and isinstance(out, _generic):
        out = _asarray(out)  # 0-d + 0-d gives a NumPy scalar; a tensor holds an array
    return Tensor._wrap(out)


def _zeros(shape, dtype, node, tensors: bool = True):
    ref = next(i for i in node.inputs if isinstance(i, Tensor))
    zeros = ref._xp().zeros(shape, dtype=dtype)
    return Tensor._wrap(zeros) if tensors else zeros


def backward(tensors, grad_tensors=None, retain_graph: bool | None = None,
             create_graph: bool = False, inputs=None) -> None:
    """Accumulate into ``.grad`` the gradients of ``tensors`` with respect to the graph's leaves."""
    if retain_graph is None:
        retain_graph = create_graph
    if (grad_tensors is None and inputs is None and type(tensors) is Tensor and tensors._ctx is not None
            and tensors._data.size == 1 and not create_graph):
        # loss.backward(): the one-element root needs no checks beyond these
        data = tensors._data
        # (np.ones is Python-level; an empty array filled costs a third of it)
        xp_empty = _ndarray if type(data) is _ndarray else tensors._xp().empty
        one = xp_empty(data.shape, data.dtype)
        one.fill(1)
        run_backward([tensors], [Tensor._wrap(one)], retain_graph, False)
        return
    tensors = [tensors] if isinstance(tensors, Tensor) else list(tensors)
    if grad_tensors is None or isinstance(grad_tensors, Tensor):
        grad_tensors = [grad_tensors] * len(tensors) if grad_tensors is None else [grad_tensors]
    roots, grads = _prepare_roots(tensors, grad_tensors, "backward")
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
            g = Tensor._wrap(t._xp().full(t._data.shape, 1, dtype=t._data.dtype))
        elif not isinstance(g, Tensor):
            g = Tensor._wrap(t._xp().asarray(g, dtype=t.dtype))
        if g._data.shape != t._data.shape:
            raise RuntimeError(
                f"{who}: gradient of shape {g.shape} does not match the output's shape {t.shape}")
        roots.append(t)
        grads.append(g)
    return roots, grads
