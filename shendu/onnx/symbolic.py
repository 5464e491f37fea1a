"""Each Function class -> the ONNX nodes that compute it (pointwise, shape, index, reduction, products).

A symbolic function is ``fn(g, r, r2) -> name (or one name per output, None where an output is not
exported)``: ``g`` the ``Graph``, ``r`` the op's ``Record`` in the trace, ``r2`` the same record in the
second trace (other sizes of the dynamic axes, other input values), from which a setting that depends on
the input sizes is recognised. A setting an op's function does not read from both traces (its
``dynamic`` keys) must be equal in the two, or the export raises. ``symbolic_activation`` and
``symbolic_nn`` add the activations' and the layers' ops.
"""
from __future__ import annotations

import math

import numpy as np

from shendu.onnx.graph import INT64_MAX, OnnxExporterError
from shendu.ops import (
    activation,
    binary,
    clamp,
    distance,
    elementwise,
    index,
    linalg,
    reduce,
    resize,
    scan,
    setitem,
    shape,
    special,
    trig,
)

SYMBOLIC: dict = {}
#: The settings each op's symbolic function reads from both traces itself (sizes that may follow the dynamic
#: axes, arrays that are graph values); every other setting must be the same in both traces.
DYNAMIC_SETTINGS: dict = {}


def register(*classes, dynamic: tuple = ()):
    """Decorator: make the function the ONNX mapping (``fn(g, r, r2) -> output name``) of the op classes
    ``classes``; ``dynamic`` names the settings it reads from both traces itself (see ``DYNAMIC_SETTINGS``)."""
    def deco(fn):
        for c in classes:
            SYMBOLIC[c] = fn
            DYNAMIC_SETTINGS[c] = frozenset(dynamic)
        return fn
    return deco


def same_setting(a, b) -> bool:
    """Whether a setting is the same in both traces (arrays by value, tuples item by item)."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.shape == b.shape and \
            np.array_equal(a, b)
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(same_setting(x, y) for x, y in zip(a, b))
    try:
        return bool(a == b)
    except (ValueError, TypeError):
        return a is b


def op_name(r) -> str:
    """The recorded op's class name and the model line that called it, for error messages."""
    return f"{r.cls.__name__} (called from {r.caller})" if r.caller else r.cls.__name__


def arg(g, r, r2, i: int, dtype=None) -> str:
    """The name of positional input ``i`` (Python scalars become constants of ``dtype``)."""
    x = r.args[i]
    if x is None:
        return None
    name = g.value(x, r2.args[i] if r2 is not None else None, op_name(r), dtype)
    return g.cast(name, dtype) if dtype is not None and hasattr(x, "dtype") else name


def kwarg(g, r, r2, key: str, dtype=None) -> str:
    """The graph value name of the op's keyword setting ``key`` (an array or a scalar, as a constant of
    ``dtype`` when it is a Python number)."""
    return g.value(r.kwargs[key], r2.kwargs[key] if r2 is not None else None, op_name(r), dtype)


def setting2(r2, key: str):
    """The keyword setting ``key`` of the op in the second trace (None when there is no second trace)."""
    return None if r2 is None else r2.kwargs[key]


def out_dtype(r) -> np.dtype:
    """The NumPy dtype of the recorded op's (first) output."""
    return np.dtype(r.outs[0].dtype)


def shape_of(x) -> tuple:
    """The shape of a Tensor or raw array, as a tuple."""
    return tuple(getattr(x, "_data", x).shape)


# -- pointwise -------------------------------------------------------------------------------
_UNARY = {elementwise.Neg: "Neg", elementwise.Exp: "Exp", elementwise.Log: "Log", elementwise.Sqrt: "Sqrt",
          elementwise.Reciprocal: "Reciprocal", elementwise.Abs: "Abs", elementwise.Sign: "Sign",
          elementwise.Floor: "Floor", elementwise.Ceil: "Ceil", elementwise.Sigmoid: "Sigmoid",
          elementwise.Relu: "Relu", special.Erf: "Erf", trig.Sin: "Sin", trig.Cos: "Cos", trig.Tan: "Tan",
          trig.Asin: "Asin", trig.Acos: "Acos", trig.Atan: "Atan", trig.Sinh: "Sinh", trig.Cosh: "Cosh",
          trig.Tanh: "Tanh", trig.Asinh: "Asinh", trig.Acosh: "Acosh", trig.Atanh: "Atanh",
          elementwise.Clone: "Identity", shape.Contiguous: "Identity", elementwise.ToDevice: "Identity",
          clamp.IsNan: "IsNaN", clamp.LogicalNot: "Not", activation.Hardswish: "HardSwish"}


def _unary(g, r, r2):
    return g.node(_UNARY[r.cls], [arg(g, r, r2, 0)])


for _cls in _UNARY:
    SYMBOLIC[_cls] = _unary


@register(elementwise.Rsqrt)
def _rsqrt(g, r, r2):
    return g.node("Reciprocal", [g.node("Sqrt", [arg(g, r, r2, 0)])])


@register(elementwise.Expm1, elementwise.Log1p, elementwise.Log2, elementwise.Log10, elementwise.Exp2)
def _exp_log(g, r, r2):
    x, dt = arg(g, r, r2, 0), out_dtype(r)
    one = g.const(np.asarray(1, dt))
    if r.cls is elementwise.Expm1:
        return g.node("Sub", [g.node("Exp", [x]), one])
    if r.cls is elementwise.Log1p:
        return g.node("Log", [g.node("Add", [x, one])])
    if r.cls is elementwise.Exp2:
        return g.node("Pow", [g.const(np.asarray(2, dt)), x])
    base = 2.0 if r.cls is elementwise.Log2 else 10.0
    return g.node("Div", [g.node("Log", [x]), g.const(np.asarray(math.log(base), dt))])


@register(elementwise.Round)
def _round(g, r, r2):
    if r.kwargs.get("decimals", 0):
        raise OnnxExporterError(f"shendu.onnx.export: {op_name(r)}: round with decimals is not exportable")
    return g.node("Round", [arg(g, r, r2, 0)])


@register(elementwise.Cast)
def _cast(g, r, r2):
    return g.cast(arg(g, r, r2, 0), out_dtype(r), current=shape_of_dtype(r.args[0]))


def shape_of_dtype(x):
    """The NumPy dtype of a Tensor, raw array or Python scalar."""
    return np.dtype(getattr(x, "dtype", np.asarray(x).dtype))


_ARITH = {binary.Add: "Add", binary.Sub: "Sub", binary.Mul: "Mul", binary.Div: "Div",
          binary.Maximum: "Max", binary.Minimum: "Min", linalg.MatMul: "MatMul"}


def _operands(g, r, r2, dtype):
    return [arg(g, r, r2, i, dtype=dtype) for i in range(len(r.args))]


def _arith(g, r, r2):
    return g.node(_ARITH[r.cls], _operands(g, r, r2, out_dtype(r)))


for _cls in _ARITH:
    SYMBOLIC[_cls] = _arith


@register(binary.Pow)
def _pow(g, r, r2):
    return g.node("Pow", _operands(g, r, r2, out_dtype(r)))


@register(binary.PowScalar)
def _pow_scalar(g, r, r2):
    dt = out_dtype(r)
    return g.node("Pow", [arg(g, r, r2, 0, dt), g.const(np.asarray(r.kwargs["exponent"], dt))])


@register(binary.ScalarPow)
def _scalar_pow(g, r, r2):
    dt = out_dtype(r)
    return g.node("Pow", [g.const(np.asarray(r.kwargs["base"], dt)), arg(g, r, r2, 0, dt)])


@register(linalg.Scale)
def _scale(g, r, r2):
    dt = out_dtype(r)
    return g.node("Mul", [arg(g, r, r2, 0, dt), g.const(np.asarray(r.kwargs["factor"], dt))])


def _common_dtype(args) -> np.dtype:
    arrays = [getattr(a, "dtype", None) for a in args]
    dts = [np.dtype(d) for d in arrays if d is not None]
    dt = np.result_type(*dts) if dts else np.dtype(np.float32)
    if dt.kind in "biu" and any(isinstance(a, float) for a in args):
        dt = np.dtype(np.float32)
    return dt


_COMPARE = {binary.Eq: "Equal", binary.Lt: "Less", binary.Le: "LessOrEqual", binary.Gt: "Greater",
            binary.Ge: "GreaterOrEqual", binary.And: "And", binary.Or: "Or", binary.Xor: "Xor"}


@register(*_COMPARE, binary.Ne)
def _compare(g, r, r2):
    logical = r.cls in (binary.And, binary.Or, binary.Xor)
    dt = np.dtype(bool) if logical else _common_dtype(r.args)
    names = _operands(g, r, r2, dt)
    if r.cls is binary.Ne:
        return g.node("Not", [g.node("Equal", names)])
    return g.node(_COMPARE[r.cls], names)


@register(elementwise.Where)
def _where(g, r, r2):
    dt = out_dtype(r)
    return g.node("Where", [arg(g, r, r2, 0, np.dtype(bool)), arg(g, r, r2, 1, dt), arg(g, r, r2, 2, dt)])


# -- products ------------------------------------------------------------------------------------
@register(linalg.Linear)
def _linear(g, r, r2):
    x, w = arg(g, r, r2, 0), arg(g, r, r2, 1)
    b = arg(g, r, r2, 2) if r.args[2] is not None else None
    if shape_of(r.args[0]).__len__() == 2:
        return g.node("Gemm", [x, w] + ([b] if b is not None else []), transB=1)
    y = g.node("MatMul", [x, g.node("Transpose", [w], perm=[1, 0])])
    return g.node("Add", [y, b]) if b is not None else y


# -- reductions ------------------------------------------------------------------------------------
def _axes(r, key="axes"):
    axes = r.kwargs.get(key)
    if axes is None:
        return None
    return [int(a) for a in (axes if isinstance(axes, (tuple, list)) else (axes,))]


@register(reduce.Sum)
def _sum(g, r, r2):
    axes, x = _axes(r), arg(g, r, r2, 0)
    keep = int(bool(r.kwargs.get("keepdim", False)))
    x = g.cast(x, out_dtype(r), shape_of_dtype(r.args[0]))
    return g.reduce("ReduceSum", x, axes, keep)


@register(reduce.Extremum, reduce.LogSumExp, reduce.Prod)
def _reduce_attr(g, r, r2):
    if r.cls is reduce.Extremum:
        op = "ReduceMax" if r.kwargs["largest"] else "ReduceMin"
    else:
        op = "ReduceLogSumExp" if r.cls is reduce.LogSumExp else "ReduceProd"
    axes = _axes(r, "axis" if r.cls is reduce.Prod else "axes")
    return g.reduce(op, arg(g, r, r2, 0), axes, bool(r.kwargs.get("keepdim", False)))


@register(reduce.ArgExtremum)
def _arg_extremum(g, r, r2):
    op = "ArgMax" if r.kwargs["largest"] else "ArgMin"
    x, axis = arg(g, r, r2, 0), r.kwargs["axis"]
    keep = int(bool(r.kwargs.get("keepdim", False)))
    if axis is None:
        x, axis = g.node("Reshape", [x, g.ints([-1])]), 0
    return g.node(op, [x], axis=int(axis), keepdims=keep, select_last_index=0)


# -- shapes ----------------------------------------------------------------------------------------
@register(shape.Reshape, dynamic=("shape",))
def _reshape(g, r, r2):
    x_shape, out_shape = shape_of(r.args[0]), shape_of(r.outs[0])
    if r2 is None:
        target = list(out_shape)
    else:
        x2_shape, out2_shape = shape_of(r2.args[0]), shape_of(r2.outs[0])
        if len(out_shape) != len(out2_shape):
            raise OnnxExporterError(f"shendu.onnx.export: {op_name(r)}: the reshape's rank changes with the sizes")
        target = []
        for i, (v, w) in enumerate(zip(out_shape, out2_shape)):
            if v == w:
                target.append(v)
            elif i < len(x_shape) and x_shape[i] == v and x2_shape[i] == w and v != 0:
                target.append(0)  # copy the input's size at this position
            else:
                target.append(None)
        if target.count(None) == 1:
            target[target.index(None)] = -1
        elif None in target:
            filled = [out_shape[i] if t is None else t for i, t in enumerate(target)]
            filled2 = [out2_shape[i] if t is None else t for i, t in enumerate(target)]
            return g.node("Reshape", [arg(g, r, r2, 0), g.sizes(filled, filled2, op_name(r))])
    return g.node("Reshape", [arg(g, r, r2, 0), g.ints(target)])


@register(shape.Permute)
def _permute(g, r, r2):
    return g.node("Transpose", [arg(g, r, r2, 0)], perm=[int(d) for d in r.kwargs["dims"]])


@register(shape.Expand, dynamic=("shape",))
def _expand(g, r, r2):
    x_shape, out_shape = shape_of(r.args[0]), shape_of(r.outs[0])
    out2 = shape_of(r2.outs[0]) if r2 is not None else None
    lead = len(out_shape) - len(x_shape)
    if out2 is not None:  # a size the input already has broadcasts from 1 (so it follows the input)
        x2 = shape_of(r2.args[0])
        keep = [i >= lead and x_shape[i - lead] == out_shape[i] and x2[i - lead] == out2[i]
                for i in range(len(out_shape))]
        out_shape = [1 if k else v for k, v in zip(keep, out_shape)]
        out2 = [1 if k else v for k, v in zip(keep, out2)]
    return g.node("Expand", [arg(g, r, r2, 0), g.sizes(out_shape, out2, op_name(r))])


@register(shape.Cat)
def _cat(g, r, r2):
    dt = out_dtype(r)
    return g.node("Concat", [arg(g, r, r2, i, dt) for i in range(len(r.args))], axis=int(r.kwargs["axis"]))


@register(shape.Split, dynamic=("bounds",))
def _split(g, r, r2):
    bounds, axis = r.kwargs["bounds"], int(r.kwargs["axis"])
    b2 = setting2(r2, "bounds")
    x = arg(g, r, r2, 0)
    sizes = [hi - lo for lo, hi in bounds]
    if b2 is not None and [hi - lo for lo, hi in b2] != sizes:
        raise OnnxExporterError(f"shendu.onnx.export: {op_name(r)}: split sizes along a dynamic axis are not "
                                "supported")
    outs = g.node("Split", [x, g.ints(sizes)], n_out=len(sizes), axis=axis)
    return outs if isinstance(outs, list) else [outs]


@register(shape.Pad)
def _pad(g, r, r2):
    widths = r.kwargs["widths"]  # ((before, after), ...) per dim
    pads = [int(w[0]) for w in widths] + [int(w[1]) for w in widths]
    dt = out_dtype(r)
    return g.node("Pad", [arg(g, r, r2, 0), g.ints(pads), g.const(np.asarray(r.kwargs["value"], dt))],
                  mode="constant")


@register(shape.Flip)
def _flip(g, r, r2):
    axes = _axes(r)
    n = len(axes)
    return g.node("Slice", [arg(g, r, r2, 0), g.ints([-1] * n), g.ints([-INT64_MAX] * n), g.ints(axes),
                            g.ints([-1] * n)])


@register(shape.Tile)
def _tile(g, r, r2):
    return g.node("Tile", [arg(g, r, r2, 0), g.ints(r.kwargs["reps"])])


@register(shape.Triangle)
def _triangle(g, r, r2):
    return g.node("Trilu", [arg(g, r, r2, 0), g.const(np.asarray(r.kwargs["diagonal"], np.int64))],
                  upper=int(bool(r.kwargs["upper"])))


# -- indexing ----------------------------------------------------------------------------------------
@register(index.Gather, dynamic=("index",))
def _gather_elements(g, r, r2):
    return g.node("GatherElements", [arg(g, r, r2, 0), kwarg(g, r, r2, "index")], axis=int(r.kwargs["axis"]))


def _bound(v, v2, g, op, default):
    if v is None:
        return default
    if v2 is None or v == v2 or not isinstance(v2, int):
        return int(v)
    return g.size(int(v), int(v2), op)


@register(index.GetItem, dynamic=("index",))
def _getitem(g, r, r2):
    op = op_name(r)
    idx = r.kwargs["index"]
    idx2 = setting2(r2, "index")
    items = list(idx) if isinstance(idx, tuple) else [idx]
    items2 = (list(idx2) if isinstance(idx2, tuple) else [idx2]) if r2 is not None else [None] * len(items)
    ndim = len(shape_of(r.args[0]))
    kinds = [type(i) if not isinstance(i, (int, np.integer)) else int for i in items]
    if r2 is not None and kinds != [type(i) if not isinstance(i, (int, np.integer)) else int for i in items2]:
        raise OnnxExporterError(f"shendu.onnx.export: {op}: the index changes form with the input sizes "
                                f"({idx!r} vs {idx2!r})")
    x = arg(g, r, r2, 0)
    if any(isinstance(i, np.ndarray) and i.dtype == np.bool_ for i in items):
        raise OnnxExporterError(f"shendu.onnx.export: {op}: indexing with a bool mask is not exportable")
    arrays = [k for k, i in enumerate(items) if isinstance(i, (np.ndarray, list))]
    if arrays:  # one integer array among full slices: a Gather along its dim
        k = arrays[0]
        rest = [i for j, i in enumerate(items) if j != k]
        if len(arrays) > 1 or any(not (isinstance(i, slice) and i == slice(None)) and i is not Ellipsis
                                  for i in rest) or Ellipsis in items[:k]:
            raise OnnxExporterError(f"shendu.onnx.export: {op}: only one integer-array index among full slices "
                                    "is exportable (embedding lookups, x[:, idx])")
        ind = g.value(np.asarray(items[k]) if isinstance(items[k], list) else items[k],
                      items2[k] if isinstance(items2[k], np.ndarray) else None, op)
        return g.node("Gather", [x, ind], axis=k)
    # basic indexing: Ellipsis expanded, then one Slice, Gathers for the ints, Unsqueezes for the Nones
    n_real = sum(1 for i in items if i is not None and i is not Ellipsis)
    if Ellipsis in items:
        e = items.index(Ellipsis)
        fill = [slice(None)] * (ndim - n_real)
        items = items[:e] + fill + items[e + 1:]
        items2 = items2[:e] + fill + items2[e + 1:]
    items += [slice(None)] * (ndim - sum(1 for i in items if i is not None))
    items2 += [slice(None)] * (len(items) - len(items2))
    starts, ends, axes, steps, ints, nones = [], [], [], [], [], []
    dim = out_pos = 0
    for item, item2 in zip(items, items2):
        if item is None:
            nones.append(out_pos)
            out_pos += 1
            continue
        if isinstance(item, slice):
            if item != slice(None):
                step = 1 if item.step is None else int(item.step)
                s2 = item2 if isinstance(item2, slice) else slice(None)
                lo_default, hi_default = (0, INT64_MAX) if step > 0 else (-1, -INT64_MAX)
                starts.append(_bound(item.start, s2.start, g, op, lo_default))
                ends.append(_bound(item.stop, s2.stop, g, op, hi_default))
                axes.append(dim)
                steps.append(step)
            out_pos += 1
        else:
            ints.append((dim, int(item)))
        dim += 1
    y = x
    if axes:
        def vec(vals):
            if all(isinstance(v, int) for v in vals):
                return g.ints(vals)
            return g.node("Concat", [g.ints([v]) if isinstance(v, int) else v for v in vals], axis=0)
        y = g.node("Slice", [y, vec(starts), vec(ends), g.ints(axes), g.ints(steps)])
    for d, i in reversed(ints):
        y = g.node("Gather", [y, g.const(np.asarray(i, np.int64))], axis=d)
    if nones:
        y = g.node("Unsqueeze", [y, g.ints(nones)])
    if y is x:
        y = g.node("Identity", [x])
    return y


@register(special.Erfc)
def _erfc(g, r, r2):
    return g.node("Sub", [g.const(np.asarray(1, out_dtype(r))), g.node("Erf", [arg(g, r, r2, 0)])])


@register(trig.Atan2)
def _atan2(g, r, r2):
    dt = out_dtype(r)
    y, x = arg(g, r, r2, 0, dt), arg(g, r, r2, 1, dt)
    zero, pi = g.const(np.asarray(0, dt)), g.const(np.asarray(math.pi, dt))
    base = g.node("Atan", [g.node("Div", [y, x])])
    shift = g.node("Where", [g.node("Less", [y, zero]), g.node("Neg", [pi]), pi])
    return g.node("Where", [g.node("Less", [x, zero]), g.node("Add", [base, shift]), base])


@register(scan.CumSum)
def _cumsum(g, r, r2):
    return g.node("CumSum", [arg(g, r, r2, 0), g.const(np.asarray(r.kwargs["axis"], np.int64))])


@register(distance.VectorNorm, reduce.PNorm)
def _vector_norm(g, r, r2):
    p, keep, dt = r.kwargs["p"], bool(r.kwargs["keepdim"]), out_dtype(r)
    axes = _axes(r)
    x = arg(g, r, r2, 0)
    if p == 2:
        return g.reduce("ReduceL2", x, axes, keep)
    if p == 1:
        return g.reduce("ReduceL1", x, axes, keep)
    if p == math.inf:
        return g.reduce("ReduceMax", g.node("Abs", [x]), axes, keep)
    if p == -math.inf:
        return g.reduce("ReduceMin", g.node("Abs", [x]), axes, keep)
    if p == 0:  # the count of non-zeros
        nonzero = g.cast(g.node("Not", [g.node("Equal", [x, g.const(np.asarray(0, dt))])]), dt, np.dtype(bool))
        return g.reduce("ReduceSum", nonzero, axes, keep)
    powered = g.node("Pow", [g.node("Abs", [x]), g.const(np.asarray(p, dt))])
    return g.node("Pow", [g.reduce("ReduceSum", powered, axes, keep), g.const(np.asarray(1.0 / p, dt))])


@register(linalg.Einsum)
def _einsum(g, r, r2):
    dt = out_dtype(r)
    return g.node("Einsum", [arg(g, r, r2, i, dt) for i in range(len(r.args))], equation=r.kwargs["equation"])


@register(resize.Resample)
def _resample(g, r, r2):
    axis, index, weight = int(r.kwargs["axis"]), r.kwargs["index"], r.kwargs["weight"]
    x = arg(g, r, r2, 0)
    nd = len(shape_of(r.args[0]))
    axis = axis % nd
    if index.shape[1] == 1:
        y = g.node("Gather", [x, g.const(index[:, 0].astype(np.int64))], axis=axis)
        return g.node("Mul", [y, g.const(weight[:, 0].reshape((-1,) + (1,) * (nd - axis - 1)))]) \
            if weight is not None else y
    y = g.node("Gather", [x, g.const(index.astype(np.int64))], axis=axis)             # (..., o, k, ...)
    w = weight if weight is not None else np.ones(index.shape, out_dtype(r))
    y = g.node("Mul", [y, g.const(w.reshape(w.shape + (1,) * (nd - axis - 1)).astype(out_dtype(r)))])
    return g.reduce("ReduceSum", y, [axis + 1], False)


@register(setitem.Assign, index.IndexPut, dynamic=("index",))
def _assign(g, r, r2):
    """``x[index] = value`` (and ``index_put``): a ScatterElements into the flattened tensor at the written
    positions, found by indexing an arange of x's shape (so every NumPy index form works); static shapes."""
    op = op_name(r)
    x_shape, idx = shape_of(r.args[0]), r.kwargs["index"]
    if shape_of(r2.args[0]) != x_shape:
        raise OnnxExporterError(f"shendu.onnx.export: {op}: an indexed write into a tensor whose shape follows "
                                "the dynamic axes is not exportable")
    if not same_setting(idx, r2.kwargs["index"]):
        raise OnnxExporterError(f"shendu.onnx.export: {op}: the written positions change with the inputs (an index "
                                "computed from the input values) and cannot be frozen into the graph")
    accumulate = bool(r.kwargs.get("accumulate", False))
    positions = np.arange(int(np.prod(x_shape)), dtype=np.int64).reshape(x_shape)[idx]
    if accumulate and np.unique(positions).size != positions.size:
        raise OnnxExporterError(f"shendu.onnx.export: {op}: an accumulating write with repeated positions is not "
                                "exportable")
    dt = out_dtype(r)
    x_arr, v_arr = r.args[0]._data, getattr(r.args[1], "_data", r.args[1])
    through = g.stale.get(id(x_arr))
    stale_ok = through is not None and through is v_arr and _positions_in(v_arr, x_arr) is not None and \
        np.array_equal(np.sort(_positions_in(v_arr, x_arr).reshape(-1)), np.sort(positions.reshape(-1)))
    x = g.value(r.args[0], r2.args[0], op, stale_ok=stale_ok)  # ``x[i] += v``: the view's new values land here
    value = arg(g, r, r2, 1, dt)
    updates = g.node("Reshape", [g.node("Expand", [value, g.ints(positions.shape)]), g.ints([-1])])
    flat = g.node("Reshape", [x, g.ints([-1])])
    out = g.node("ScatterElements", [flat, g.const(positions.reshape(-1)), updates], axis=0,
                 reduction="add" if accumulate else "none")
    return g.node("Reshape", [out, g.ints(x_shape)])


def _positions_in(view: np.ndarray, base: np.ndarray):
    """The flat positions in ``base`` (C-contiguous) of each element of ``view`` (same memory), or None."""
    if not base.flags.c_contiguous or view.dtype != base.dtype:
        return None
    item = base.itemsize
    offset = view.__array_interface__["data"][0] - base.__array_interface__["data"][0]
    if offset % item or any(st % item for st in view.strides):
        return None
    flat = np.arange(base.size, dtype=np.int64)
    return np.lib.stride_tricks.as_strided(flat[offset // item:], shape=view.shape,
                                           strides=tuple(st // item * flat.itemsize for st in view.strides)).copy()


from shendu.onnx import symbolic_activation, symbolic_nn  # noqa: E402,F401  (register their ops)
