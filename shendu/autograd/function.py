"""``Function``: the unit of differentiation, and ``apply``, which records it in the graph.

Two ways to write an op, one mechanism:

* The library's ops ("raw" ops) define ``forward(ctx, *arrays, **settings)`` as a plain function: it
  computes on raw arrays through their array module (``xp``) and keeps the settings it needs on
  ``ctx``; ``backward(ctx, grad)`` computes on Tensors, so running backward with ``create_graph=True``
  records a graph of its own (higher-order gradients for free). The op's positional inputs are
  ``ctx.inputs``; its output is ``ctx.output``.
* Users subclass ``Function`` as in PyTorch, with a ``@staticmethod`` forward: ``forward(ctx,
  *tensors)`` runs with recording off and returns Tensors; ``ctx.save_for_backward(...)`` /
  ``ctx.saved_tensors``; static ``backward(ctx, *grads)`` returns one gradient per input of ``forward``
  (``None`` where that input needs none). ``ctx.needs_input_grad`` says which.

Which contract a subclass follows is read off its ``forward`` when the class is made (a staticmethod
means PyTorch's); setting ``raw`` in the class body overrides that.

``backward`` returns one gradient per positional input (``None`` where ``needs_input_grad`` is
False); the engine sums a broadcast gradient back to its input's shape, not the op.
"""
from __future__ import annotations

import traceback as _traceback
import weakref
from typing import Any

import numpy as np

from shendu import dtypes
from shendu.grad_mode import _state, no_grad
from shendu.tensor import Tensor

_new = object.__new__
_weakref = weakref.ref
_ndarray, _generic, _asarray = np.ndarray, np.generic, np.asarray
_bfloat16 = dtypes.bfloat16  # a float dtype NumPy files under kind "V"


class Function:
    """Base class of differentiable operations (see the module docstring for the contract)."""

    #: forward receives raw arrays (library ops) instead of Tensors (the PyTorch contract); see
    #: ``__init_subclass__`` for how it is set
    raw = False
    #: False for ops whose outputs carry no gradient (comparisons, argmax)
    differentiable = True
    #: Optional first-order rule on raw arrays: ``grad_arrays(ctx, *grads) -> one array (or None) per
    #: input``, the same gradient as ``backward`` without making Tensors. The engine uses it when
    #: ``create_graph`` is off; ``backward`` stays the definition (and the higher-order path).
    grad_arrays = None
    #: Which positional inputs ``backward`` reads the values of (None: all of them). Only these are
    #: checked for in-place changes made after the op was recorded ("modified by an inplace operation").
    saved_inputs: tuple | None = None
    #: Which outputs of a several-output op ``backward`` reads (its forward kept their arrays): an in-place
    #: change to one of them after the op ran makes backward refuse, as for inputs. (A single-output op's
    #: ``ctx.output`` checks itself.)
    saved_outputs: tuple = ()

    # Filled in by ``apply`` only when the call is recorded in the graph.
    inputs: tuple = ()
    needs_input_grad: tuple = ()
    _freed = False
    _clock = 0  # the version clock when the node was recorded (see shendu.grad_mode)
    _output_written = -1  # the clock of the write that stored an in-place op's result (autograd.inplace)
    _out_ref = None
    _out_meta = None
    _materialize_grads = True

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "raw" not in cls.__dict__ and "forward" in cls.__dict__:
            cls.raw = not isinstance(cls.__dict__["forward"], staticmethod)

    # -- the PyTorch custom-function API -------------------------------------------------------
    def save_for_backward(self, *tensors: Any) -> None:
        """Keep ``tensors`` (inputs or outputs of ``forward``) for ``backward``, which reads them as
        ``ctx.saved_tensors``; the engine checks they were not modified in place in between.
        """
        self._saved = tensors

    @property
    def saved_tensors(self) -> tuple:
        """The tensors given to ``save_for_backward``, in order (RuntimeError once the graph is freed)."""
        if self._freed:
            raise RuntimeError(_FREED_MESSAGE.format(op=type(self).__name__))
        return getattr(self, "_saved", ())

    def mark_non_differentiable(self, *tensors: Any) -> None:
        """Declare outputs of ``forward`` that get no gradient (indices, masks): they do not require grad."""
        self._non_diff = {id(t) for t in tensors}

    def set_materialize_grads(self, value: bool) -> None:
        """With False, ``backward`` receives None (not zeros) for outputs that got no gradient. Default: True."""
        self._materialize_grads = bool(value)

    @property
    def output(self):
        """The op's (single) output Tensor, for backward formulas written in terms of it."""
        out = self._out_ref() if self._out_ref is not None else None
        if out is None:
            raise RuntimeError(f"{type(self).__name__}.backward: its output was freed")
        counter = out._version_counter
        if counter is not None and counter[1] > self._clock and counter[1] != self._output_written:
            # written in place since this op made it (other than the in-place op's own write of it)
            from shendu.autograd.engine import _raise_modified
            _raise_modified(self, out, "the output")
        return out

    # -- the graph as PyTorch shows it (grad_fn.next_functions, grad_fn.name()) ---------------
    @property
    def next_functions(self) -> tuple:
        """``((node, output_index), ...)`` per positional input: its producer, an ``AccumulateGrad`` for a
        leaf that requires grad, or ``(None, 0)``."""
        links = []
        for a in self.inputs:
            if isinstance(a, Tensor) and a.requires_grad:
                links.append((a._ctx, a._out_index) if a._ctx is not None else (AccumulateGrad(a), 0))
            else:
                links.append((None, 0))
        return tuple(links)

    def name(self) -> str:
        """The node's name as PyTorch prints a ``grad_fn``: ``<ClassName>Backward``."""
        return f"{type(self).__name__}Backward"

    def __repr__(self) -> str:  # as PyTorch prints a grad_fn
        return f"<{type(self).__name__}Backward object at {id(self):#x}>"

    @staticmethod
    def forward(ctx, *args, **kwargs):  # pragma: no cover - abstract
        """Compute the outputs (override it). PyTorch's contract: a ``@staticmethod`` ``forward(ctx, *inputs)`` that
        may call ``ctx.save_for_backward``; call the Function with ``MyFn.apply(*inputs)``, never directly.
        """
        raise NotImplementedError

    @staticmethod
    def backward(ctx, *grads):  # pragma: no cover - abstract
        """Gradients of the inputs from the gradients of the outputs (override it): ``backward(ctx, *grads)``
        returns one gradient per input of ``forward`` (None for inputs that need none). Written with tensor
        operations, it can itself be differentiated (``create_graph=True``).
        """
        raise NotImplementedError(f"{type(ctx).__name__} has no backward")

    @staticmethod
    def setup_context(ctx, inputs: tuple, output) -> None:  # pragma: no cover - optional
        """PyTorch 2's alternative: ``forward(*args)`` without ctx, then ``setup_context(ctx, inputs, output)``."""
        raise NotImplementedError

    # -- recording -------------------------------------------------------------------------------
    @classmethod
    def apply(cls, *args, **kwargs):
        """Run ``forward`` and, when grad mode is on and an input requires grad, record the call."""
        ctx = _new(cls)
        requires_grad = False
        if cls.raw:
            arrays, needs = [], []
            for a in args:
                if isinstance(a, Tensor):
                    arrays.append(a._data)
                    need = a.requires_grad
                    needs.append(need)
                    if need:
                        requires_grad = True
                else:
                    arrays.append(a)
                    needs.append(False)
            out = cls.forward(ctx, *arrays, **kwargs)
        else:
            # PyTorch's forward can already read which inputs will need a gradient
            ctx.needs_input_grad = tuple(isinstance(a, Tensor) and a.requires_grad and _state.enabled
                                         for a in args)
            requires_grad = any(isinstance(a, Tensor) and a.requires_grad for a in args)
            with no_grad():
                if cls.setup_context is Function.setup_context:
                    out = cls.forward(ctx, *args, **kwargs)
                else:  # forward without ctx; the context is filled in separately
                    out = cls.forward(*args, **kwargs)
                    cls.setup_context(ctx, args, out)
        record = requires_grad and _state.enabled and cls.differentiable

        if type(out) is tuple:
            outs = tuple(_as_output(o, cls.raw) for o in out)
            if record:
                ctx.inputs = args
                ctx.needs_input_grad = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
                non_diff = getattr(ctx, "_non_diff", ())
                ctx._out_meta = [(o._data.shape, o._data.dtype) for o in outs]
                if cls.saved_outputs:
                    ctx._out_refs = tuple(_weakref(o) for o in outs)
                ctx._clock = _state.clock
                if _state.anomaly:
                    ctx._forward_trace = _traceback.format_stack()[:-1]
                for i, o in enumerate(outs):
                    if id(o) not in non_diff and (o._data.dtype.kind in "fc" or o._data.dtype == _bfloat16):
                        o.requires_grad = True
                        o._ctx = ctx
                        o._out_index = i
            if cls.raw:
                for o in outs:
                    _share_version_if_view(o, arrays, args)
            return outs

        if cls.raw and not isinstance(out, Tensor):
            if type(out) is not _ndarray and isinstance(out, _generic):
                out = _asarray(out)  # a NumPy reduction to 0-d gives a scalar; a tensor holds an array
            t = _new(Tensor)
            t._data = out
            if out.base is not None:  # a view of an input shares that input's version counter
                _share_version_if_view(t, arrays, args)
        else:
            t = _as_output(out, cls.raw)
        if record and (t._data.dtype.kind in "fc" or t._data.dtype == _bfloat16):
            ctx.inputs = args
            ctx.needs_input_grad = tuple(needs) if cls.raw else tuple(
                [isinstance(a, Tensor) and a.requires_grad for a in args])
            ctx._out_ref = _weakref(t)
            ctx._clock = _state.clock
            if _state.anomaly:
                ctx._forward_trace = _traceback.format_stack()[:-1]
            t.requires_grad = True
            t._ctx = ctx
        return t

    def _release(self) -> None:
        """Drop everything the node holds so the graph's memory is freed after backward."""
        self.__dict__.clear()
        self._freed = True


class AccumulateGrad:
    """The graph's end at a leaf that requires grad (what PyTorch's ``next_functions`` shows there)."""

    next_functions = ()

    def __init__(self, variable: Tensor):
        self.variable = variable

    def name(self) -> str:
        return "AccumulateGrad"

    def __repr__(self) -> str:
        return f"<AccumulateGrad object at {id(self):#x}>"


_FREED_MESSAGE = (
    "{op}: trying to backward through the graph a second time (or to use saved tensors after "
    "they were freed). Pass retain_graph=True to the first backward() to keep the graph.")


def once_differentiable(backward):
    """Mark a custom ``backward`` as not differentiable itself: it runs with recording off.

    Under ``create_graph=True`` its gradients still carry a node, one that raises when differentiated
    (as in PyTorch), so a second derivative is an error instead of a silent zero.
    """
    import functools

    @functools.wraps(backward)
    def wrapper(ctx, *grads):
        create_graph = _state.enabled
        with no_grad():
            out = backward(ctx, *grads)
        if not create_graph:
            return out
        sources = [t for t in (*grads, *ctx.inputs) if isinstance(t, Tensor)]
        marked = tuple(_DelayedError.apply(g, *sources) if isinstance(g, Tensor) else g
                       for g in (out if type(out) is tuple else (out,)))
        return marked if type(out) is tuple else marked[0]
    return wrapper


class _DelayedError(Function):
    """Passes a gradient through; differentiating it raises (the mark of ``once_differentiable``)."""

    raw = True

    def forward(ctx, g, *sources):
        return g

    def backward(ctx, grad):
        raise RuntimeError("trying to differentiate twice a function that was marked with "
                           "@once_differentiable")


def _share_version_if_view(t: Tensor, arrays: list, args: tuple) -> None:
    """Give ``t`` the version counter of the input whose memory its array views (reshape, slicing...).

    An in-place change through a view then counts as a change of the viewed tensor, as in PyTorch.
    NumPy points a view's ``base`` at the array that owns the memory, so one comparison per input suffices.
    """
    base = getattr(t._data, "base", None)
    if base is None:
        return
    for a, arr in zip(args, arrays):
        if isinstance(a, Tensor) and (arr is base or getattr(arr, "base", None) is base):
            t._version_counter = a._shared_version_counter()
            t._view_of = _weakref(a)
            return


def _as_output(o, raw: bool):
    if isinstance(o, Tensor):
        if not raw:
            # A user forward may return an input itself; give the output its own identity.
            if o._ctx is not None or o.requires_grad:
                o = Tensor._wrap(o._data)
        return o
    return Tensor._wrap(_asarray(o) if isinstance(o, _generic) else o)

