"""``export``: trace a forward, turn its records into an ONNX graph, write it.

The model runs once in eval mode under ``no_grad`` with the tracer on (``shendu.onnx.tracer``). With
``dynamic_axes`` it runs a second time with those axes resized (each named axis by its own amount, the
inputs' values repeated to fill), and the two traces are compared op by op: a setting or constant that
differs depends on the sizes, and ``Graph`` rebuilds it from the inputs' ``Shape`` (see
``shendu.onnx.graph``). Both traces must run the same ops in the same order.
"""
from __future__ import annotations

import contextlib
import enum
import inspect
import io
import os

import numpy as np

from shendu.onnx.graph import Graph, OnnxExporterError, Symbol
from shendu.onnx.patches import export_patches
from shendu.onnx.tracer import trace
from shendu.tensor import Tensor


class TrainingMode(enum.IntEnum):
    """PyTorch's ``torch.onnx.TrainingMode``: the mode the model is exported in."""

    EVAL = 0
    PRESERVE = 1
    TRAINING = 2


_exporting = [False]


def is_in_onnx_export() -> bool:
    """True while ``shendu.onnx.export`` runs the model's forward (code can branch on it as in PyTorch)."""
    return _exporting[0]


@contextlib.contextmanager
def _export_mode(model, training):
    from shendu.grad_mode import no_grad
    was_training = getattr(model, "training", False)
    if training == TrainingMode.TRAINING:
        raise OnnxExporterError("shendu.onnx.export: training=TrainingMode.TRAINING is not supported; export "
                                "with TrainingMode.EVAL (the default) or PRESERVE on a model in eval mode")
    if training == TrainingMode.EVAL and hasattr(model, "eval"):
        model.eval()
    _exporting[0] = True
    try:
        with no_grad(), export_patches():
            yield
    finally:
        _exporting[0] = False
        if hasattr(model, "train"):
            model.train(was_training)


def _flatten(out, acc: list) -> list:
    if isinstance(out, Tensor):
        acc.append(out)
    elif isinstance(out, (tuple, list)):
        for o in out:
            _flatten(o, acc)
    elif isinstance(out, dict) or callable(getattr(out, "to_tuple", None)):  # dicts, ModelOutput (non-None fields)
        for o in (out.values() if isinstance(out, dict) else out.to_tuple()):
            _flatten(o, acc)
    elif out is not None and not isinstance(out, (int, float, bool, str)):
        raise OnnxExporterError(f"shendu.onnx.export: the model returned a {type(out).__name__}; expected "
                                "Tensors (possibly in tuples, lists or dicts)")
    return acc


def _split_args(args):
    if isinstance(args, Tensor):
        return (args,), {}
    args = tuple(args)
    if args and isinstance(args[-1], dict):
        return args[:-1], dict(args[-1])
    return args, {}


def _default_input_names(model, n: int) -> list:
    try:
        params = [p.name for p in inspect.signature(model.forward if hasattr(model, "forward") else model)
                  .parameters.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    return [params[i] if i < len(params) else f"input_{i}" for i in range(n)]


def _axes_of(spec, name: str) -> dict:
    """``dynamic_axes[name]`` as {axis: symbol name}."""
    if isinstance(spec, dict):
        return {int(a): str(s) for a, s in spec.items()}
    return {int(a): f"{name}_dynamic_axes_{k + 1}" for k, a in enumerate(spec)}


_PRIMES = (3, 5, 7, 11, 13, 17, 19, 23)
_IR_VERSION = {17: 8, 18: 8, 19: 9, 20: 9, 21: 10, 22: 10}


def _perturbed(args: tuple, names: list, dynamic: dict, attempt: int) -> tuple | None:
    """The args for the second trace: each dynamic axis resized (each symbol by its own amount, values
    repeated to fill), and every tensor's values rotated by one place, so that a constant computed from the
    input values (which the graph would freeze) shows up as a difference between the traces."""
    symbols = sorted({s for n in names for s in _axes_of(dynamic.get(n, {}), n).values()})
    steps = _PRIMES if attempt < 2 else range(1, len(symbols) + 1)  # small steps when primes do not fit
    delta = {s: steps[i % len(steps)] * (1 if attempt % 2 == 0 else -1) for i, s in enumerate(symbols)}
    out = []
    for a, name in zip(args, names):
        if not isinstance(a, Tensor):
            out.append(a)
            continue
        shape = list(a.shape)
        for ax, s in _axes_of(dynamic.get(name, {}), name).items():
            shape[ax] += delta[s]
            if shape[ax] < 1:
                return None
        data = np.resize(a._data, shape) if shape != list(a.shape) else a._data
        out.append(Tensor._wrap(np.roll(data.reshape(-1), 1).reshape(shape).astype(a._data.dtype)))
    return tuple(out)


def export(model, args=(), f=None, export_params: bool = True, verbose: bool = False,
           training: TrainingMode = TrainingMode.EVAL, input_names=None, output_names=None,
           operator_export_type=None, opset_version: int | None = None, do_constant_folding: bool = True,
           dynamic_axes=None, keep_initializers_as_inputs: bool | None = None, custom_opsets=None,
           export_modules_as_functions: bool = False, autograd_inlining: bool = True, *, kwargs=None,
           dynamo: bool = False, **unused):
    """Export ``model`` to ONNX by tracing the ops one forward on ``args`` actually runs.

    Args:
        model: a ``Module`` (or a callable on Tensors).
        args: the example inputs: a Tensor or a tuple of them (a trailing dict is passed as keyword args).
        f: a path or a binary file-like object to write the model to (None: only return it).
        export_params: store the weights as initializers named by their state_dict keys. With False they
            become graph inputs of those names instead. Default: ``True``
        verbose: unused (kept for PyTorch's signature).
        training: ``TrainingMode.EVAL`` (default: the model is put in eval mode for the export and restored
            after) or ``PRESERVE``; ``TRAINING`` is not supported.
        input_names, output_names: names of the graph's inputs and outputs (defaults: the forward's
            parameter names, ``output`` / ``output_0``, ``output_1``, ...).
        opset_version: the ONNX opset. Default: 17
        do_constant_folding: accepted (onnxruntime folds the weight reorderings itself).
        keep_initializers_as_inputs: also list the weights as graph inputs (overridable at run time).
        dynamic_axes: ``{name: {axis: "symbol"}}`` or ``{name: [axes]}`` for inputs and outputs: those
            axes get symbolic sizes, and sizes computed from them become Shape computations in the graph.
        kwargs: keyword arguments of the forward (as a trailing dict in ``args``).

    Returns: the ``onnx.ModelProto`` (PyTorch returns None; the model is written to ``f`` either way).

    Raises: ``OnnxExporterError`` naming the op (and the module line that called it) for anything
    without an ONNX mapping, and for settings that depend on the input sizes in an unsupported way.
    """
    import onnx

    opset = 17 if opset_version is None else int(opset_version)
    if opset < 17:
        raise OnnxExporterError(f"shendu.onnx.export: opset_version {opset} is not supported; use 17 or later "
                                "(LayerNormalization needs 17)")
    if dynamo:
        raise OnnxExporterError("shendu.onnx.export: dynamo=True is not supported; shendu exports by tracing")
    pos, kw = _split_args(args)
    kw.update(kwargs or {})
    tensor_pos = [i for i, a in enumerate(pos) if isinstance(a, Tensor)]
    names = list(input_names or [])
    names += _default_input_names(model, len(pos))[len(names):len(pos)] if len(names) < len(pos) else []
    names = names[:len(pos)]
    dynamic = dict(dynamic_axes or {})
    arrays = [a._data for a in pos if isinstance(a, Tensor)]
    if hasattr(model, "parameters"):
        arrays += [p._data for p in model.parameters()]
    if any(not isinstance(a, np.ndarray) for a in arrays):
        raise OnnxExporterError("shendu.onnx.export: the model or its inputs live on a GPU; export traces on the "
                                "CPU: call model.to('cpu') and pass CPU tensors")

    with _export_mode(model, training):
        result, tr = trace(model, *pos, **kw)
        pos2, result2, tr2 = _second_trace(model, pos, names, dynamic, kw)
    outputs, outputs2 = _flatten(result, []), _flatten(result2, [])
    if not outputs:
        raise OnnxExporterError("shendu.onnx.export: the model returned no Tensor")
    if [r.cls for r in tr.records] != [r.cls for r in tr2.records] or len(outputs2) != len(outputs):
        k = next((i for i, (a, b) in enumerate(zip(tr.records, tr2.records)) if a.cls is not b.cls),
                 min(len(tr.records), len(tr2.records)))
        where = [f"{t.records[k].cls.__name__} (called from {t.records[k].caller})" if k < len(t.records) else
                 "nothing" for t in (tr, tr2)]
        raise OnnxExporterError("shendu.onnx.export: the model runs different ops at other sizes of the dynamic "
                                "axes or other input values (a Python branch on a size or a value), so it cannot "
                                f"be exported as one graph: op {k} is {where[0]}, then {where[1]}")

    g = Graph(opset)
    helper = g.helper
    if hasattr(model, "state_dict"):
        params = {}
        for key, t in model.state_dict(keep_vars=True).items():
            if isinstance(t, Tensor):
                params.setdefault(id(t._data), (key, t._data))  # tied weights: the first key names them
        for key, arr in params.values():
            g.bind(arr, key)
            g.kinds[key] = "param"
    graph_inputs = []
    for i in tensor_pos:
        a, name = pos[i], names[i]
        g.bind(a._data, name)
        g.kinds[name] = "input"
        axes = _axes_of(dynamic.get(name, {}), name)
        dims = [axes.get(d, n) for d, n in enumerate(a.shape)]
        graph_inputs.append(helper.make_tensor_value_info(name, g._onnx_type(a._data.dtype), dims))
        for ax, sym in axes.items():
            g.symbols.append(Symbol(sym, name, ax, a.shape[ax], pos2[i].shape[ax]))
    _emit_records(g, tr, tr2)
    graph_outputs = _emit_outputs(g, outputs, outputs2, output_names, dynamic)

    initializers = list(g.initializers.values())
    for key, arr in g.used_params.items():
        if export_params:
            initializers.append(g.numpy_helper.from_array(np.array(arr, order="C", copy=True), key))
        if not export_params or keep_initializers_as_inputs:
            graph_inputs.append(helper.make_tensor_value_info(key, g._onnx_type(arr.dtype), list(arr.shape)))
    name = type(model).__name__ if not inspect.isfunction(model) else model.__name__
    graph = helper.make_graph(g.nodes, f"main_graph_{name}", graph_inputs, graph_outputs, initializers)
    model_proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                                    producer_name="shendu", producer_version=_version())
    model_proto.ir_version = min(onnx.IR_VERSION, _IR_VERSION.get(opset, 11))  # the oldest IR the opset allows
    if f is not None:
        data = model_proto.SerializeToString()
        if isinstance(f, (str, os.PathLike)):
            with open(f, "wb") as fh:
                fh.write(data)
        elif isinstance(f, io.TextIOBase):
            raise OnnxExporterError("shendu.onnx.export: f must be a path or a binary file-like object")
        else:
            f.write(data)
    return model_proto


def _second_trace(model, pos: tuple, names: list, dynamic: dict, kw: dict):
    """(inputs, result, Trace) of the second run: other sizes of the dynamic axes (+primes, -primes, then
    small steps, whichever the model accepts) and other values."""
    error = None
    attempts = range(4) if any(_axes_of(dynamic.get(n, {}), n) for n in names) else range(1)
    for attempt in attempts:
        pos2 = _perturbed(pos, names, dynamic, attempt)
        if pos2 is None:
            continue
        try:
            result2, tr2 = trace(model, *pos2, **kw)
            return pos2, result2, tr2
        except Exception as e:  # noqa: BLE001 - sizes the model rejects: try the next ones
            error = e
    raise OnnxExporterError("shendu.onnx.export: could not run the model a second time at other sizes of the "
                            "dynamic axes / other input values (needed to tell what depends on them): "
                            f"{type(error).__name__}: {error}") from error


def _emit_records(g: Graph, tr, tr2) -> None:
    """Every recorded op (and in-place write, in order) as ONNX nodes."""
    from shendu.onnx.symbolic import DYNAMIC_SETTINGS, SYMBOLIC, op_name, same_setting

    writes = sorted(tr.writes, key=lambda w: w[0])
    w = 0
    for k, r in enumerate(tr.records):
        while w < len(writes) and writes[w][0] <= k:
            _write(g, writes[w])
            w += 1
        fn = SYMBOLIC.get(r.cls)
        if fn is None and not r.cls.raw and all(id(a) in g.names for a in r.outs if a is not None):
            continue  # a custom Function whose forward ran shendu ops: those are its graph already
        if fn is None:
            raise OnnxExporterError(
                f"shendu.onnx.export: the op {r.cls.__name__} ({r.cls.__module__}.{r.cls.__qualname__}"
                f"{', called from ' + r.caller if r.caller else ''}) has no ONNX mapping; supported ops: "
                f"{', '.join(sorted({c.__name__ for c in SYMBOLIC}))}")
        r2 = tr2.records[k]
        dynamic_ok = DYNAMIC_SETTINGS.get(r.cls, frozenset())
        for key, value in r.kwargs.items():
            if key not in dynamic_ok and not same_setting(value, r2.kwargs.get(key)):
                raise OnnxExporterError(
                    f"shendu.onnx.export: {op_name(r)}: its setting {key}={_short(value)} changes with the input "
                    f"sizes or values ({_short(r2.kwargs.get(key))} in the second trace), which this op's export "
                    "cannot follow; keep it fixed, or leave that axis static")
        outs = fn(g, r, r2)
        outs = outs if isinstance(outs, list) else [outs]
        if len(outs) != len(r.outs):
            raise OnnxExporterError(f"shendu.onnx.export: {op_name(r)}: {len(outs)} ONNX outputs for "
                                    f"{len(r.outs)} op outputs")
        for arr, arr2, name in zip(r.outs, r2.outs, outs):
            g.bind(arr, name)
            if name is not None:
                g.dtypes[name] = np.dtype(arr.dtype)
                if hasattr(arr, "shape") and hasattr(arr2, "shape"):
                    g.note_shapes(name, arr.shape, arr2.shape)
    for k in range(w, len(writes)):
        _write(g, writes[k])


def _emit_outputs(g: Graph, outputs: list, outputs2: list, output_names, dynamic: dict) -> list:
    """The graph outputs (Identity nodes onto the given names), dims symbolic where they follow the sizes."""
    out_names = list(output_names or [])
    default = ["output"] if len(outputs) == 1 else [f"output_{i}" for i in range(len(outputs))]
    out_names += default[len(out_names):len(outputs)]
    infos = []
    for t, t2, name in zip(outputs, outputs2, out_names):
        src = g.value(t, t2, "the model's output")
        g.nodes.append(g.helper.make_node("Identity", [src], [name], name=f"{name}_output"))
        axes = _axes_of(dynamic.get(name, {}), name)
        dims = list(t.shape)
        for d in range(len(dims)):
            if d in axes:
                dims[d] = axes[d]
            elif t2.shape[d] != dims[d]:
                match = [s.name for s in g.symbols if (s.size, s.size2) == (dims[d], t2.shape[d])]
                dims[d] = match[0] if match else f"{name}_dim_{d}"
        infos.append(g.helper.make_tensor_value_info(name, g._onnx_type(t._data.dtype), dims))
    return infos


def _short(value) -> str:
    if isinstance(value, np.ndarray):
        return f"<array {value.shape} {value.dtype}>"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _write(g: Graph, write) -> None:
    """An in-place write: the target's storage now holds the written value (cast/broadcast to its shape).
    Tensors sharing that memory (the tensor a view was taken from) become stale (``Graph.value``)."""
    _, target, value = write
    for key, other in g.arrays.items():
        if other is not target and g.names.get(key) is not None and np.may_share_memory(other, target) \
                and np.shares_memory(other, target):
            g.stale[key] = target
    g.stale.pop(id(target), None)
    src = g.value(value, None, "an in-place write")
    if value.dtype != target.dtype:
        src = g.cast(src, target.dtype)
    if value.shape != target.shape:
        src = g.node("Expand", [src, g.ints(target.shape)])
    g.names[id(target)] = src
    g.arrays[id(target)] = target
    g.dtypes[src] = np.dtype(target.dtype)


def _version() -> str:
    try:
        from importlib.metadata import version
        return version("shendu")
    except Exception:  # noqa: BLE001 - not installed as a distribution
        return "0"
