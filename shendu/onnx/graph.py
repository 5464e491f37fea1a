"""The ONNX graph being built from a trace: value names, initializers, constants and symbolic sizes.

Values are named by the identity of their raw arrays (every array a trace saw is kept alive, so ids
stay unique): parameters and buffers carry their state_dict keys, graph inputs the given input names,
op outputs fresh names. An array no op produced and no name covers is a constant of the model (a
mask, a position table): an initializer, unless a second trace at other sizes of the dynamic axes
shows it depends on those sizes; then it is rebuilt in the graph (``ConstantOfShape`` for a filled
array, ``Range`` for positions, a ``Range``/``LessOrEqual`` pair for a causal mask).

Sizes work the same way: a setting (a reshape's target, a slice's end) that differs between the two
traces is expressed through the ``Shape`` of a graph input along a dynamic axis (times a constant, a
product of two such sizes, or plus a constant), so the exported model runs at any batch and length.
"""
from __future__ import annotations

import numpy as np

INT64_MAX = np.iinfo(np.int64).max


class OnnxExporterError(RuntimeError):
    """Raised for export failures (PyTorch's ``torch.onnx.OnnxExporterError``)."""


class Symbol:
    """A dynamic axis: ``axis`` of graph input ``value``, of size ``size`` in the first trace and ``size2``
    in the second."""

    def __init__(self, name: str, value: str, axis: int, size: int, size2: int):
        self.name, self.value, self.axis, self.size, self.size2 = name, value, axis, size, size2


class Graph:
    """Nodes, initializers and the name of every array the trace saw."""

    def __init__(self, opset: int):
        import onnx  # imported where used: an optional dependency
        from onnx import helper, numpy_helper
        self.onnx, self.helper, self.numpy_helper = onnx, helper, numpy_helper
        self.opset = opset
        self.nodes: list = []
        self.initializers: dict = {}          # name -> TensorProto
        self.names: dict = {}                 # id(array) -> value name
        self.arrays: dict = {}                # id(array) -> the array (to recognise reshaped views of it)
        self.kinds: dict = {}                 # value name -> "param" | "input" | "const" | "node"
        self.dtypes: dict = {}                # value name -> NumPy dtype
        self.symbols: list = []
        self.derived: list = []               # dims of op outputs that follow the dynamic axes
        self.stale: dict = {}                 # id(array) -> the view it was written through
        self.params: dict = {}                # id(array) -> (state_dict key, array), filled by the exporter
        self.used_params: dict = {}           # key -> array of the parameters the graph reads
        self._count = 0
        self._small: dict = {}                # (dtype, shape, bytes) -> name of small constants
        self._dims: dict = {}                 # (value, axis) -> name of its 1-D size

    # -- names -------------------------------------------------------------------------------
    def fresh(self, hint: str) -> str:
        """A new value name, unique in this graph: ``/{hint}_{n}``."""
        self._count += 1
        return f"/{hint}_{self._count}"

    def bind(self, array, name: str | None) -> None:
        """Record that the raw ``array`` is the graph value ``name`` (None: not in the graph), keeping its
        dtype for the value."""
        self.names[id(array)] = name
        self.arrays[id(array)] = array
        if name is not None:
            self.dtypes.setdefault(name, np.dtype(array.dtype))

    def node(self, op: str, inputs: list, n_out: int = 1, hint: str | None = None, **attrs):
        """Add a node; returns its output name (or the list of them when ``n_out`` > 1)."""
        outs = [self.fresh(hint or op) for _ in range(n_out)]
        self.nodes.append(self.helper.make_node(op, [i if i is not None else "" for i in inputs], outs,
                                                name=outs[0].lstrip("/") + "_node", **attrs))
        return outs[0] if n_out == 1 else outs

    def reduce(self, op: str, x: str, axes, keepdims: bool) -> str:
        """A Reduce* node over ``axes`` (None: all): axes an attribute before opset 18 (ReduceSum: 13), an
        input from then on."""
        since = 13 if op == "ReduceSum" else 18
        if axes is None:
            return self.node(op, [x], keepdims=int(keepdims))
        axes = [int(a) for a in axes]
        if self.opset >= since:
            return self.node(op, [x, self.ints(axes)], keepdims=int(keepdims))
        return self.node(op, [x], axes=axes, keepdims=int(keepdims))

    # -- constants -----------------------------------------------------------------------------
    def const(self, value, dtype=None) -> str:
        """An initializer holding ``value`` (small ones are shared)."""
        arr = np.asarray(value, dtype=dtype)
        if arr.dtype == np.float64 and dtype is None and not isinstance(value, np.ndarray):
            arr = arr.astype(np.float32)
        key = None
        if arr.size <= 16:
            key = (arr.dtype.str, arr.shape, arr.tobytes())
            if key in self._small:
                return self._small[key]
        name = self.fresh("const")
        self.initializers[name] = self.numpy_helper.from_array(np.array(arr, order="C", copy=True), name)
        self.kinds[name], self.dtypes[name] = "const", arr.dtype
        if key is not None:
            self._small[key] = name
        return name

    def ints(self, values) -> str:
        """The name of a 1-D int64 constant holding ``values`` (axes, shapes, pads)."""
        return self.const(np.asarray(list(values), dtype=np.int64))

    def value(self, x, x2=None, op: str = "", dtype=None, stale_ok: bool = False) -> str:
        """The name of an op's input ``x`` (a Tensor, raw array or Python scalar); ``x2`` is the same input
        in the second trace (or None). Python scalars become constants of ``dtype``. A tensor whose memory
        was written through another (a view) is stale: reading it raises, unless ``stale_ok``."""
        from shendu.tensor import Tensor
        arr = x._data if isinstance(x, Tensor) else x
        if isinstance(arr, np.ndarray):
            if id(arr) in self.stale and not stale_ok:
                raise OnnxExporterError(
                    f"shendu.onnx.export: {op} reads a tensor (shape {tuple(arr.shape)}) that was changed in place "
                    "through a view of it; the graph cannot follow writes through views: use out-of-place ops (or "
                    "x[index] = value on the tensor itself)")
            if id(arr) in self.names:
                name = self.names[id(arr)]
                if name is None:
                    raise OnnxExporterError(f"shendu.onnx.export: {op} reads an output the exporter does not "
                                            "produce (such as max pooling's indices)")
                kind = self.kinds.get(name)
                if kind == "param":
                    self.used_params[name] = arr
                return name
            arr2 = x2._data if isinstance(x2, Tensor) else x2
            view = self._view_of(arr, arr2 if isinstance(arr2, np.ndarray) else None, op)
            if view is not None:
                return view
            name = self.constant(arr, arr2 if isinstance(arr2, np.ndarray) else None, op)
            self.bind(arr, name)
            return name
        if isinstance(arr, (bool, int, float, np.generic)):
            return self.number(arr, x2, dtype, op)
        raise OnnxExporterError(f"shendu.onnx.export: {op} got an input of type {type(x).__name__}, "
                                "expected a Tensor, an array or a number")

    def _view_of(self, arr: np.ndarray, arr2, op: str) -> str | None:
        """A reshaped view of a named array (``idx.reshape(-1)`` inside an op's wrapper): its Reshape."""
        base = arr.base
        if base is None:
            return None
        for key, src in self.arrays.items():
            name = self.names.get(key)
            if name is None or src.size != arr.size or not (src is base or src.base is base):
                continue
            if src.flags.c_contiguous and arr.flags.c_contiguous and src.dtype == arr.dtype:
                if name in self.used_params or self.kinds.get(name) == "param":
                    self.used_params[name] = src
                if arr.ndim == 1:
                    return self.node("Reshape", [name, self.ints([-1])])
                shape = arr.shape if arr2 is None else arr2.shape
                return self.node("Reshape", [name, self.sizes(arr.shape, shape, op)])
        return None

    def number(self, v, v2, dtype, op: str) -> str:
        """A Python number input; one that differs between the traces came from the sizes (a mean's 1/n, a
        standard deviation's 1/sqrt(n - 1)) and is computed from them in the graph."""
        dt = np.dtype(dtype) if dtype is not None else np.asarray(v).dtype
        if dt == np.float64 and dtype is None:
            dt = np.dtype(np.float32)
        if v2 is None or v == v2 or not isinstance(v2, (int, float, np.generic)):
            return self.const(np.asarray(v, dtype=dt))
        for form, f in (("n", lambda a: a), ("1/n", lambda a: 1.0 / a), ("1/sqrt(n)", lambda a: 1.0 / (a * a))):
            a, b = f(float(v)) if v else None, f(float(v2)) if v2 else None
            if a is None or b is None or abs(a - round(a)) > 1e-6 * max(1.0, abs(a)) or \
                    abs(b - round(b)) > 1e-6 * max(1.0, abs(b)):
                continue
            n = self.cast(self.scalar_size(int(round(a)), int(round(b)), op), dt, np.dtype(np.int64))
            if form == "n":
                return n
            if form == "1/n":
                return self.node("Reciprocal", [n])
            return self.node("Reciprocal", [self.node("Sqrt", [n])])
        raise OnnxExporterError(f"shendu.onnx.export: {op} takes a number ({v}) that changes with the input sizes "
                                f"({v2} at other sizes) and is no size n, 1/n or 1/sqrt(n) the exporter can rebuild")

    def constant(self, arr: np.ndarray, arr2, op: str) -> str:
        """A model constant; rebuilt in the graph when the second trace shows it depends on the sizes."""
        if arr2 is None or (arr2.shape == arr.shape and np.array_equal(arr, arr2, equal_nan=True)):
            return self.const(arr)
        flat, flat2 = arr.reshape(-1), arr2.reshape(-1)
        if arr2.shape == arr.shape and flat.size and (flat == flat[0]).all() and (flat2 == flat2[0]).all() \
                and arr.dtype.kind in "iuf":  # one number that follows the sizes (an average's 1/n), broadcast
            n = self.number(flat[0].item(), flat2[0].item(), arr.dtype, op)
            return self.node("Expand", [n, self.ints(arr.shape)])
        if arr2.shape == arr.shape:
            raise OnnxExporterError(
                f"shendu.onnx.export: a constant input of {op} (shape {arr.shape}, {arr.dtype}) changes with the "
                "input values, so it cannot be baked into the graph; compute it with shendu ops instead")
        if arr.ndim == arr2.ndim and flat.size and flat2.size and (flat == flat[0]).all() \
                and (flat2 == flat[0]).all():
            shape = self.sizes(arr.shape, arr2.shape, op)
            fill = self.numpy_helper.from_array(np.asarray([flat[0]], dtype=arr.dtype))
            return self.node("ConstantOfShape", [shape], value=fill)
        if arr.ndim == 1 and arr2.ndim == 1 and arr.dtype.kind in "iuf" and arr.size > 1 and \
                _is_arange(arr) and _is_arange(arr2) and arr[0] == arr2[0]:
            n = self.scalar_size(arr.size, arr2.size, op)
            start = self.const(np.asarray(arr[0], dtype=np.int64))
            end = self.node("Add", [start, n])
            out = self.node("Range", [start, end, self.const(np.asarray(1, dtype=np.int64))])
            return self.node("Cast", [out], to=self._onnx_type(arr.dtype)) if arr.dtype != np.int64 else out
        if arr.ndim == 2 and arr.dtype == np.bool_ and arr2.ndim == 2:
            (T, S), (T2, S2) = arr.shape, arr2.shape
            if S - T == S2 - T2 and np.array_equal(arr, np.tri(T, S, S - T, dtype=bool)) and \
                    np.array_equal(arr2, np.tri(T2, S2, S - T, dtype=bool)):
                rows = self.node("Range", [self.const(np.asarray(0, np.int64)), self.scalar_size(T, T2, op),
                                           self.const(np.asarray(1, np.int64))])
                cols = self.node("Range", [self.const(np.asarray(0, np.int64)), self.scalar_size(S, S2, op),
                                           self.const(np.asarray(1, np.int64))])
                rows = self.node("Unsqueeze", [self.node("Add", [rows, self.const(np.asarray(S - T, np.int64))]),
                                               self.ints([1])])
                return self.node("LessOrEqual", [cols, rows])  # (T, S): key j <= query i + (S - T)
        raise OnnxExporterError(
            f"shendu.onnx.export: a constant input of {op} of shape {arr.shape} ({arr.dtype}) depends on the sizes "
            f"of the dynamic axes (shape {arr2.shape} at other sizes) in a way the exporter cannot rebuild "
            "(supported: filled arrays, aranges, causal masks); make it from the inputs with shendu ops")

    # -- sizes ---------------------------------------------------------------------------------
    def dim_of(self, value: str, axis: int) -> str:
        """The 1-D int64 [size] of ``value`` along ``axis``."""
        key = (value, axis)
        if key not in self._dims:
            self._dims[key] = self.node("Shape", [value], start=axis, end=axis + 1)
        return self._dims[key]

    def size(self, v: int, v2, op: str = ""):
        """A size: the int itself when both traces agree, else the name of a 1-D int64 tensor computing it.

        The forms: a dynamic axis, a multiple of one, a product of two, one plus a constant. Two different
        forms that fit both traces are ambiguous and raise (the second trace's sizes move by distinct primes,
        which makes that rare)."""
        if v2 is None or v == v2:
            return int(v)
        syms = list({s.name: s for s in reversed(self.symbols)}.values())[::-1]  # one per symbol name
        fits = []
        for s in syms:
            if (s.size, s.size2) == (v, v2):
                fits.append((s.name, lambda s=s: self.dim_of(s.value, s.axis)))
        for s in syms:
            c = v // s.size
            if c > 1 and v % s.size == 0 and c * s.size2 == v2:
                fits.append((f"{c}*{s.name}", lambda s=s, c=c: self.node("Mul", [self.dim_of(s.value, s.axis),
                                                                              self.ints([c])])))
        for i, a in enumerate(syms):
            for b in syms[i:]:
                if a.size * b.size == v and a.size2 * b.size2 == v2:
                    fits.append((f"{a.name}*{b.name}", lambda a=a, b=b: self.node(
                        "Mul", [self.dim_of(a.value, a.axis), self.dim_of(b.value, b.axis)])))
        for s in syms:
            k = v - s.size
            if k and k == v2 - s.size2:
                fits.append((f"{s.name}{k:+d}", lambda s=s, k=k: self.node("Add", [self.dim_of(s.value, s.axis),
                                                                                 self.ints([k])])))
        if len(fits) == 1:
            return fits[0][1]()
        if not fits:
            derived = self._derived_size(v, v2)
            if derived is not None:
                return derived
        if fits:
            raise OnnxExporterError(
                f"shendu.onnx.export: {op} uses a size {v} ({v2} at other sizes) that fits several expressions of "
                f"the dynamic axes ({', '.join(f for f, _ in fits)}); export with other example sizes")
        raise OnnxExporterError(
            f"shendu.onnx.export: {op} uses a size {v} that changes with the dynamic axes ({v2} at other sizes) "
            f"but matches none of them ({', '.join(f'{s.name}={s.size}' for s in syms)}); sizes must be a dynamic "
            "axis, a multiple of one, a product of two, or one plus a constant")

    def _derived_size(self, v: int, v2: int):
        """A size read off an intermediate value's shape (an output size of a convolution, say): one dim of
        it, or the product of two dims of the same value, that moves from ``v`` to ``v2`` between the traces."""
        for s in self.derived:
            if (s.size, s.size2) == (v, v2):
                return self.dim_of(s.value, s.axis)
        by_value: dict = {}
        for s in self.derived:
            by_value.setdefault(s.value, []).append(s)
        for dims in by_value.values():
            for i, a in enumerate(dims):
                for b in dims[i + 1:]:
                    if a.size * b.size == v and a.size2 * b.size2 == v2:
                        return self.node("Mul", [self.dim_of(a.value, a.axis), self.dim_of(b.value, b.axis)])
        return None

    def note_shapes(self, name: str, shape: tuple, shape2: tuple) -> None:
        """Keep the dims of an op's output that change between the traces, for ``_derived_size``."""
        if name is None or len(shape) != len(shape2) or len(self.derived) > 4096:
            return
        for axis, (a, b) in enumerate(zip(shape, shape2)):
            if a != b:
                self.derived.append(Symbol(f"{name}[{axis}]", name, axis, int(a), int(b)))

    def scalar_size(self, v: int, v2, op: str = "") -> str:
        """:meth:`size` as the name of a 0-d int64 value (a constant when both traces agree)."""
        s = self.size(v, v2, op)
        if isinstance(s, int):
            return self.const(np.asarray(s, dtype=np.int64))
        return self.node("Squeeze", [s, self.ints([0])])

    def sizes(self, vals, vals2, op: str = "") -> str:
        """A 1-D int64 tensor of sizes (a constant when no entry depends on the dynamic axes)."""
        vals = [int(v) for v in vals]
        vals2 = [None] * len(vals) if vals2 is None else [int(v) for v in vals2]
        if len(vals) != len(vals2):
            raise OnnxExporterError(f"shendu.onnx.export: {op}'s rank changes with the input sizes "
                                    f"({vals} vs {vals2})")
        parts = [self.size(v, w, op) for v, w in zip(vals, vals2)]
        if all(isinstance(p, int) for p in parts):
            return self.ints(parts)
        pieces, run = [], []
        for p in parts:
            if isinstance(p, int):
                run.append(p)
            else:
                if run:
                    pieces.append(self.ints(run))
                    run = []
                pieces.append(p)
        if run:
            pieces.append(self.ints(run))
        return self.node("Concat", pieces, axis=0)

    # -- dtypes ----------------------------------------------------------------------------------
    def _onnx_type(self, dtype) -> int:
        return self.helper.np_dtype_to_tensor_dtype(np.dtype(dtype))

    def cast(self, name: str, dtype, current=None) -> str:
        """``name`` as ``dtype`` (a Cast node only when its dtype differs)."""
        current = current if current is not None else self.dtypes.get(name)
        if current is not None and np.dtype(current) == np.dtype(dtype):
            return name
        out = self.node("Cast", [name], to=self._onnx_type(dtype))
        self.dtypes[out] = np.dtype(dtype)
        return out


def _is_arange(a: np.ndarray) -> bool:
    return bool((np.diff(a) == 1).all())
