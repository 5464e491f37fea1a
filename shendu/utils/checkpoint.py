"""Activation checkpointing (PyTorch's ``torch.utils.checkpoint``): trade compute for memory.

``checkpoint(fn, *args)`` keeps only ``fn``'s inputs for backward, not the activations inside it; backward
runs ``fn`` again (with the random state it first saw, so dropout draws the same masks) and
differentiates that recomputation. A network cut into k checkpointed segments holds the segment inputs
plus one segment's activations at a time instead of every layer's.

How it is built here: the first run of ``fn`` records its graph as usual, only to find the tensors that
need gradients inside it (the parameters, and any captured tensor that requires grad); then that graph
is dropped and one node, ``Checkpoint``, stands for the whole segment, with the segment's tensor inputs
and those found tensors as its inputs. Its backward recomputes and returns their gradients, so both
``loss.backward()`` and ``shendu.autograd.grad(loss, params)`` work, keyword arguments too, in either
``use_reentrant`` mode (PyTorch's reentrant mode has restrictions this one doesn't need). Under
``create_graph=True`` the recomputation is recorded against the original inputs, so the gradients can
be differentiated again.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

from shendu.autograd.function import Function
from shendu.grad_mode import enable_grad, is_grad_enabled
from shendu.random import get_rng_state, set_rng_state
from shendu.tensor import Tensor

__all__ = ["CheckpointError", "checkpoint", "checkpoint_sequential"]


class CheckpointError(RuntimeError):
    """The recomputation in backward did not reproduce the forward's outputs (PyTorch's name)."""


def _flatten(out) -> list:
    """The Tensors among ``fn``'s outputs: a Tensor, or a tuple/list of them (other values are skipped)."""
    if isinstance(out, Tensor):
        return [out]
    if isinstance(out, (tuple, list)):
        return [o for o in out if isinstance(o, Tensor)]
    raise TypeError(f"checkpoint: the function must return a Tensor or a tuple of Tensors, got {type(out).__name__}")


def _tensors_needing_grad(outputs: list, boundary: set) -> list:
    """The leaves requiring grad that ``outputs`` were computed from, not counting ``boundary`` (ids)."""
    found, seen, stack = {}, set(), [o._ctx for o in outputs if o._ctx is not None]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        for a in node.inputs:
            if not isinstance(a, Tensor) or not a.requires_grad or id(a) in boundary:
                continue
            if a._ctx is None:
                found.setdefault(id(a), a)
            else:
                stack.append(a._ctx)
    return list(found.values())


class Checkpoint(Function):
    """One node for a checkpointed segment: inputs ``(segment, *tensor_args, *captured)``, outputs the
    segment's Tensors. ``segment`` holds the function, the non-Tensor arguments and the random state."""

    @staticmethod
    def forward(ctx, segment, *tensors):
        ctx.segment = segment
        return segment.outputs if len(segment.outputs) > 1 else segment.outputs[0]

    @staticmethod
    def backward(ctx, *grads):
        seg = ctx.segment
        tensors = ctx.inputs[1:]
        create_graph = is_grad_enabled()
        # Recorded against the originals under create_graph (the gradients stay differentiable in them);
        # otherwise against detached copies, so the traversal stops at the segment's inputs.
        inputs = [t if create_graph else t.detach().requires_grad_(t.requires_grad) for t in tensors[:seg.n_args]]
        outputs = _flatten(seg.run(inputs))
        if [tuple(o.shape) for o in outputs] != seg.shapes:
            raise CheckpointError(f"checkpoint: recomputing the function gave outputs of shapes "
                                  f"{[tuple(o.shape) for o in outputs]}, the forward gave {seg.shapes}; the "
                                  "function must compute the same thing each time it runs")
        targets = inputs + list(tensors[seg.n_args:])
        wanted = [i for i, t in enumerate(targets) if ctx.needs_input_grad[1 + i] and t.requires_grad]
        pairs = [(o, g) for o, g in zip(outputs, grads) if o.requires_grad and g is not None]
        result = [None] * len(targets)
        if pairs and wanted:
            from shendu.autograd.engine import grad as autograd_grad
            found = autograd_grad([o for o, _ in pairs], [targets[i] for i in wanted],
                                  grad_outputs=[g for _, g in pairs], create_graph=create_graph, allow_unused=True)
            for i, g in zip(wanted, found):
                result[i] = g
        return (None, *result)


class _Segment:
    """What ``Checkpoint`` needs to run the function again: its arguments with the Tensor ones left out."""

    def __init__(self, function: Callable, args: tuple, kwargs: dict, rng_state):
        self.function, self.kwargs, self.rng_state = function, kwargs, rng_state
        self.slots = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        self.template = [None if isinstance(a, Tensor) else a for a in args]
        self.n_args = len(self.slots)
        self.outputs: tuple = ()
        self.shapes: list = []
        self.structure = None   # how to rebuild the function's return value from the node's outputs

    def run(self, tensors: Sequence[Tensor], replay: bool = True):
        """Call the function on ``tensors``; ``replay``: with the forward's random state, the caller's
        restored afterwards (the recomputation must not shift the random stream)."""
        args = list(self.template)
        for slot, t in zip(self.slots, tensors):
            args[slot] = t
        current = get_rng_state() if replay and self.rng_state is not None else None
        if current is not None:
            set_rng_state(self.rng_state)
        try:
            with enable_grad():
                return self.function(*args, **self.kwargs)
        finally:
            if current is not None:
                set_rng_state(current)


def checkpoint(function: Callable, *args, use_reentrant: bool | None = None, context_fn=None,
               determinism_check: str = "default", debug: bool = False, preserve_rng_state: bool = True, **kwargs):
    """Run ``function(*args, **kwargs)`` without keeping its activations; backward recomputes them.

    Gradients equal those of calling ``function`` directly. ``preserve_rng_state``: the recomputation
    sees the random state the forward saw (same dropout masks). ``use_reentrant``: PyTorch 2.13 warns when
    it is not given and forbids keyword arguments with ``True``; both modes behave alike here (see the
    module docstring). Without grad mode, this is just ``function(*args, **kwargs)``.
    """
    if use_reentrant is None:
        warnings.warn("shendu.utils.checkpoint: the use_reentrant parameter should be passed explicitly "
                      "(PyTorch recommends use_reentrant=False)", stacklevel=2)
        use_reentrant = True
    if use_reentrant and kwargs:
        raise ValueError("Unexpected keyword arguments: " + ",".join(kwargs))
    if context_fn is not None:
        if use_reentrant:
            raise ValueError("Passing context_fn or debug is only supported when use_reentrant=False.")
        raise NotImplementedError("checkpoint: context_fn (selective activation checkpointing) is not supported; "
                                  "leave it out to recompute the whole function")
    if determinism_check not in ("default", "none"):
        raise ValueError(f"checkpoint: determinism_check must be 'default' or 'none', got {determinism_check!r}")
    if not is_grad_enabled():
        return function(*args, **kwargs)
    seg = _Segment(function, args, kwargs, get_rng_state() if preserve_rng_state else None)
    originals = [a for a in args if isinstance(a, Tensor)]
    copies = [t.detach().requires_grad_(t.requires_grad) for t in originals]
    out = seg.run(copies, replay=False)
    outputs = _flatten(out)
    captured = _tensors_needing_grad(outputs, {id(c) for c in copies})
    seg.shapes = [tuple(o.shape) for o in outputs]
    seg.outputs = tuple(o.detach() for o in outputs)      # the values only: the recorded graph goes here
    if determinism_check == "none":
        seg.shapes = None
    del outputs
    result = Checkpoint.apply(seg, *originals, *captured)
    result = list(result) if isinstance(result, tuple) else [result]
    seg.outputs = ()
    if isinstance(out, Tensor):
        return result[0]
    it = iter(result)
    rebuilt = [next(it) if isinstance(o, Tensor) else o for o in out]
    return type(out)(rebuilt)


def checkpoint_sequential(functions, segments: int, input: Tensor, use_reentrant: bool | None = None, **kwargs):
    """Run a ``Sequential`` (or a list of modules/functions) in ``segments`` pieces, checkpointing every
    piece but the last (whose activations backward needs at once anyway), as PyTorch does."""
    if use_reentrant is None:
        warnings.warn("shendu.utils.checkpoint: the use_reentrant parameter should be passed explicitly "
                      "(PyTorch recommends use_reentrant=False)", stacklevel=2)
        use_reentrant = True
    functions = list(functions.children()) if hasattr(functions, "children") else list(functions)
    if segments <= 0:
        raise ValueError(f"checkpoint_sequential: segments must be positive, got {segments}")
    size = max(len(functions) // segments, 1)

    def run(start: int, stop: int):
        def forward(x):
            for f in functions[start:stop]:
                x = f(x)
            return x
        return forward

    end = -1
    for start in range(0, size * (segments - 1), size):
        end = start + size - 1
        input = checkpoint(run(start, end + 1), input, use_reentrant=use_reentrant, **kwargs)
    return run(end + 1, len(functions))(input)
