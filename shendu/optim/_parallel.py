"""The one executor of elementwise optimizer updates: any formula, in place, over flat chunks, on threads.

An optimizer writes its update once, as plain array math on one parameter (MLX's ``apply_single``)::

    def _update(p, g, state, *, lr, beta1, ...):   # state: {name: buffer shaped like p}
        m = beta1 * state["exp_avg"] + (1 - beta1) * g
        state["exp_avg"] = m                       # the buffer's new value
        return p - lr * m                          # the parameter's new value

``run_updates`` runs it for every parameter and writes the results back in place: the returned value
into ``p``, every state entry the formula replaced into its buffer.

Speed lives here, not in the formulas. On NumPy the formula is *traced* once per optimizer and
option set (the arrays and the float settings are symbols; the arithmetic records a small program of
ufuncs) and the program then runs with ``out=`` arguments: intermediate values go to a few reused
per-thread buffers and each result is written straight into its destination as soon as nothing
reads the old value any more, so an update allocates nothing and costs no more passes than
hand-written in-place code. The program runs over flat chunks of ``CHUNK`` elements (512 KiB of
float32: the dozen passes of one update stay in the cache), on the threads of ``shendu.threads``
(NumPy releases the GIL inside ufunc loops). Every chunk runs the same ufuncs on the same elements,
so results are bitwise the same whatever the chunking. CuPy arrays run the formula as written, on
whole arrays, in the calling thread.

What a formula may do: arithmetic (``+ - * / **``, unary ``-``, ``abs``) and NumPy ufuncs
(``xp.sqrt``, ``xp.maximum``, ``xp.sign``...) on the arrays and settings, and Python ``if``s on
settings that are not numbers (bools, None) or on whether a number setting is zero
(``if weight_decay != 0``); a float setting's value is only known when the program runs. Arithmetic
on settings alone stays in Python floats: write a scalar root as ``bc2 ** 0.5`` (``xp.sqrt`` of a
float is a float64 NumPy scalar, which would turn float32 arrays into float64 where the formula
runs as written).
"""
from __future__ import annotations

import math
import operator
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from shendu import threads
from shendu.threads import get_num_threads, set_num_threads  # noqa: F401 - the optimizers' thread count

# Measured on W1's Adam (0.67M float32) over 2 cores: 128K-element chunks beat 64K and 256K; below ~32K
# the threads spend their time handing the GIL back and forth between short ufunc calls.
CHUNK = 1 << 17  # elements per piece when a parameter is cut into chunks
PARALLEL_MIN = 1 << 18  # a step over fewer elements than this runs whole, in the calling thread

Item = tuple  # (p, g, state: {name: array shaped like p}, settings: dict), raw arrays


# -- tracing a formula into a program ---------------------------------------------------------------
class _Sym:
    """A symbolic value of a traced formula: an input array or setting, or a ufunc of symbols."""

    __slots__ = ("ufunc", "args", "is_array", "leaf")
    __array_priority__ = 1000

    def __init__(self, ufunc, args: tuple, is_array: bool, leaf: int | None = None):
        self.ufunc, self.args, self.is_array, self.leaf = ufunc, args, is_array, leaf

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if method != "__call__" or kwargs or ufunc.nout != 1:
            raise TypeError(f"optimizer formula: only plain ufunc calls can be traced, not {ufunc.__name__}.{method}"
                            f" with {sorted(kwargs)}")
        for x in inputs:
            if not isinstance(x, (_Sym, int, float)):
                raise TypeError(f"optimizer formula: {ufunc.__name__} got a {type(x).__name__}; a formula computes "
                                "with its arrays, its settings and Python numbers only")
        if len(inputs) == 2:  # x * 1, 1 * x, x / 1, x + 0, 0 + x, x - 0 are x: no pass over the array
            a, b = inputs
            if (ufunc in (np.multiply, np.true_divide) and _is_const(b, 1.0)) or (
                    ufunc in (np.add, np.subtract) and _is_const(b, 0.0)):
                return a
            if (ufunc is np.multiply and _is_const(a, 1.0)) or (ufunc is np.add and _is_const(a, 0.0)):
                return b
        return _Sym(ufunc, inputs, any(isinstance(x, _Sym) and x.is_array for x in inputs))

    def __add__(self, o): return np.add(self, o)
    def __radd__(self, o): return np.add(o, self)
    def __sub__(self, o): return np.subtract(self, o)
    def __rsub__(self, o): return np.subtract(o, self)
    def __mul__(self, o): return np.multiply(self, o)
    def __rmul__(self, o): return np.multiply(o, self)
    def __truediv__(self, o): return np.true_divide(self, o)
    def __rtruediv__(self, o): return np.true_divide(o, self)
    def __pow__(self, o): return np.power(self, o)
    def __rpow__(self, o): return np.power(o, self)
    def __neg__(self): return np.negative(self)
    def __abs__(self): return np.absolute(self)

    def _known_nonzero(self, other, op: str) -> bool:
        # A number setting is a symbol only when it is not zero (zero is traced as the constant 0.0),
        # so "setting == 0" is known at trace time; anything else depends on the value.
        if self.leaf is not None and not self.is_array and isinstance(other, (int, float)) and other == 0:
            return True
        raise TypeError(f"optimizer formula: `{op}` on a traced value is only known when the update runs; branch on "
                        "a bool setting, or compare a number setting with 0")

    def __eq__(self, o): return not self._known_nonzero(o, "==")  # type: ignore[override]
    def __ne__(self, o): return self._known_nonzero(o, "!=")  # type: ignore[override]
    __hash__ = object.__hash__

    def __lt__(self, o): return self._known_nonzero(None, "<")
    def __le__(self, o): return self._known_nonzero(None, "<=")
    def __gt__(self, o): return self._known_nonzero(None, ">")
    def __ge__(self, o): return self._known_nonzero(None, ">=")

    def __bool__(self):
        raise TypeError("optimizer formula: the truth of a traced value is only known when the update runs; branch "
                        "on a bool setting, or compare a number setting with 0")


def _is_const(x: Any, value: float) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and x == value


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


class _Program:
    """A traced formula, ready to run on arrays.

    Slots of one run: ``[p, g, *buffers | *number settings, *constants, *scalars | *temps]``: the
    scalars (settings arithmetic) are computed once per parameter, the array instructions once per chunk.
    """

    def __init__(self, update: Callable, names: tuple[str, ...], settings: dict):
        n_arrays = 2 + len(names)
        leaves = [_Sym(None, (), True, i) for i in range(n_arrays)]
        self.number_keys = [k for k, v in settings.items() if _is_number(v) and v != 0]
        symbols = {k: _Sym(None, (), False, n_arrays + i) for i, k in enumerate(self.number_keys)}
        traced = {k: symbols.get(k, 0.0 if _is_number(v) else v) for k, v in settings.items()}
        state = dict(zip(names, leaves[2:]))
        new_p = update(leaves[0], leaves[1], state, **traced)
        outputs = [(0, new_p)] + [(2 + i, state[name]) for i, name in enumerate(names)]
        self.n_arrays = n_arrays
        self._compile(update.__qualname__, [(dest, node) for dest, node in outputs if node is not leaves[dest]])

    def _compile(self, who: str, outputs: list) -> None:
        for _, node in outputs:
            if not isinstance(node, _Sym) or not node.is_array:
                raise TypeError(f"optimizer formula {who}: a new parameter or buffer must be an array expression, "
                                f"got {node!r}")

        def topological(outputs_in_order) -> list[_Sym]:
            order: list[_Sym] = []  # the computed nodes, each after its arguments
            seen: set[int] = set()

            def visit(node) -> None:
                if isinstance(node, _Sym) and node.leaf is None and id(node) not in seen:
                    seen.add(id(node))
                    for a in node.args:
                        visit(a)
                    order.append(node)

            for _, node in outputs_in_order:
                visit(node)
            return order

        order = topological(outputs)
        base = self.n_arrays + len(self.number_keys)
        self.constants: list[float] = []
        const_slot: dict[str, int] = {}
        for n in order:
            for a in n.args:
                if not isinstance(a, _Sym) and repr(float(a)) not in const_slot:
                    const_slot[repr(float(a))] = base + len(self.constants)
                    self.constants.append(float(a))
        slot: dict[int, int] = {}
        next_slot = base + len(self.constants)
        self.scalar_steps = []
        for n in order:
            if not n.is_array:
                ins = tuple(const_slot[repr(float(a))] if not isinstance(a, _Sym) else
                            a.leaf if a.leaf is not None else slot[id(a)] for a in n.args)
                self.scalar_steps.append((n.ufunc, ins, next_slot))
                slot[id(n)] = next_slot
                next_slot += 1
        self.temp_start = next_slot
        for _, node in outputs:
            if node.leaf is not None and node.leaf != 1:  # (the gradient is never written, so it may be copied)
                raise NotImplementedError(f"optimizer formula {who}: a buffer set to the old value of another array")
        # Two evaluation orders (the parameter's chain first, or the buffers' first); keep the one that
        # needs fewer final copies, then fewer temps.
        candidates = []
        for outputs_in_order in (outputs, sorted(outputs, key=lambda output: output[0] == 0)):
            ops = [n for n in topological(outputs_in_order) if n.is_array]
            candidates.append(self._allocate(ops, outputs, dict(slot), const_slot))
        self.instrs, self.n_temps, self.copies = min(candidates, key=lambda c: (len(c[2]), c[1]))
        for f, ins, _ in self.instrs:
            if len(ins) not in (1, 2):
                raise TypeError(f"optimizer formula {who}: {f.__name__} takes {len(ins)} arguments; 1 or 2 can be run")
        self._steps = [(f, ins[0], ins[1] if len(ins) == 2 else None, out) for f, ins, out in self.instrs]
        self._memo: tuple | None = None  # (number settings, dtype, scalars) of the last call

    def _allocate(self, ops: list, outputs: list, slot: dict, const_slot: dict) -> tuple:
        """(instructions, number of temps, final copies) for the array nodes ``ops`` in this order.

        A value goes into a destination (the parameter or a buffer) as soon as nothing later reads that
        destination's old value: the destination's final value directly, and before it any value that
        is dead by the time the final one is written there (so a chain like ``beta * m + c * g`` runs
        in place, as hand-written code would). Other values go to temps, reused once their last reader
        has run (an elementwise ufunc may write over one of its own inputs).
        """
        n = len(ops)
        index = {id(node): i for i, node in enumerate(ops)}
        last_read: dict = {}  # ("leaf", slot) or ("node", id) -> index of the last instruction reading it
        for i, node in enumerate(ops):
            for a in node.args:
                if isinstance(a, _Sym) and a.is_array:
                    last_read[("leaf", a.leaf) if a.leaf is not None else ("node", id(a))] = i
        final_at: dict[int, int] = {}  # destination -> index of the instruction computing its final value
        dest_of: dict[int, int] = {}
        for dest, node in outputs:
            if node.leaf is None:
                last_read[("node", id(node))] = n  # kept until the final copies
                if id(node) not in dest_of:
                    dest_of[id(node)] = dest
                    final_at[dest] = index[id(node)]

        def dead(dest: int, i: int) -> bool:  # nothing at or after instruction i + 1 reads dest's old value
            return last_read.get(("leaf", dest), -1) <= i

        def slot_of(a) -> int:
            if not isinstance(a, _Sym):
                return const_slot[repr(float(a))]
            return a.leaf if a.leaf is not None else slot[id(a)]

        instrs, free, held, n_temps = [], [], set(), 0
        for i, node in enumerate(ops):
            ins = tuple(slot_of(a) for a in node.args)
            for a in node.args:  # values read for the last time here release their slots
                if isinstance(a, _Sym) and a.is_array and a.leaf is None and last_read[("node", id(a))] == i:
                    s = slot[id(a)]
                    if s >= self.temp_start:
                        if s not in free:
                            free.append(s)
                    else:
                        held.discard(s)
            dest = dest_of.get(id(node))
            later = [d for d, at in final_at.items() if at > i and d not in held and dead(d, i)
                     and last_read[("node", id(node))] <= at]
            if dest is not None and dest not in held and dead(dest, i):
                out = dest
            elif later:
                out = min(later, key=lambda d: final_at[d])
            elif free:
                out = free.pop()
            else:
                out = self.temp_start + n_temps
                n_temps += 1
            if out < self.temp_start:
                held.add(out)
            slot[id(node)] = out
            instrs.append((node.ufunc, ins, out))
        copies = [(dest, slot_of(node)) for dest, node in outputs if slot_of(node) != dest]
        return instrs, n_temps, copies

    def scalars(self, settings: dict, dtype) -> list:
        """Slots ``n_arrays:temp_start`` for one parameter: its number settings, the constants and the
        scalars derived from them (computed in Python floats), as 0-d arrays of the parameter's dtype:
        the value a ufunc would round a Python float to, passed without that conversion on every call."""
        values = [float(settings[k]) for k in self.number_keys]
        memo = self._memo  # (one tuple: another thread may be stepping another optimizer with this program)
        if memo is not None and memo[0] == values and memo[1] == dtype:  # a group's parameters share settings
            return memo[2]
        env = values + self.constants
        offset = self.n_arrays
        for f, ins, _ in self.scalar_steps:
            env.append(float(_SCALAR_OPS.get(f, f)(*[env[s - offset] for s in ins])))
        env = [np.array(x, dtype=dtype) for x in env]
        self._memo = (values, dtype, env)
        return env

    def run(self, arrays: list, scalars: list, temps: list) -> None:
        env = arrays + scalars + temps
        for f, a, b, out in self._steps:
            if b is None:
                f(env[a], env[out])
            else:
                f(env[a], env[b], env[out])
        for dest, src in self.copies:
            env[dest][...] = env[src]


# Settings arithmetic in Python floats (a ufunc on two floats costs a microsecond and returns a NumPy scalar).
_SCALAR_OPS = {np.add: operator.add, np.subtract: operator.sub, np.multiply: operator.mul,
               np.true_divide: operator.truediv, np.power: operator.pow, np.negative: operator.neg,
               np.absolute: abs, np.sqrt: math.sqrt, np.maximum: max, np.minimum: min}


_programs: dict = {}
_last_program: dict = {}  # (update, names) -> (settings items, program) of the last lookup
_local = threading.local()  # this thread's temps: .buffers {(dtype, i): flat array}, .views of them


def _program(update: Callable, names: tuple[str, ...], settings: dict) -> _Program:
    """The program of ``update`` for these buffers and settings: one per formula, buffer names, setting
    names, and values of the settings that are not numbers (of a number only whether it is zero)."""
    items = tuple(settings.items())
    last = _last_program.get((update, names))
    if last is not None and last[0] == items:  # the parameters of one group usually share every setting
        return last[1]
    signature = tuple(v == 0 if v.__class__ in (int, float) else v for v in settings.values())
    key = (update, names, tuple(settings), signature)
    program = _programs.get(key)
    if program is None:
        program = _programs[key] = _Program(update, names, settings)  # (two threads may both trace: harmless)
    _last_program[(update, names)] = (items, program)
    return program


def _temps(n: int, like) -> list:
    """``n`` temps shaped and typed like ``like``: views of this thread's buffers."""
    views = getattr(_local, "views", None)
    if views is None:
        views = _local.views = {}
        _local.buffers = {}
    key = (like.dtype, like.shape, n)
    out = views.get(key)
    if out is None:
        buffers = _local.buffers
        out = []
        for i in range(n):
            buf = buffers.get((like.dtype, i))
            if buf is None or buf.size < like.size:
                buf = buffers[(like.dtype, i)] = np.empty(max(like.size, CHUNK), dtype=like.dtype)
                views.clear()  # views of the old buffer are still valid, but let it go
            out.append(buf[:like.size].reshape(like.shape))
        views[key] = out
    return out


# -- running programs over chunks and threads ---------------------------------------------------------
Job = tuple  # (program, arrays [p, g, *buffers], scalars)


def _run(job: Job) -> None:
    program, arrays, scalars = job
    program.run(arrays, scalars, _temps(program.n_temps, arrays[0]))


def _chunks(job: Job, chunk: int) -> list[Job]:
    """The job cut into flat pieces of ``chunk`` elements (views), or whole when it can't be."""
    program, arrays, scalars = job
    p = arrays[0]
    if p.size <= chunk or not all(a.flags.c_contiguous and a.shape == p.shape for a in arrays):
        return [job]
    flat = [a.reshape(-1) for a in arrays]  # views: every array is C-contiguous
    return [(program, [a[i:i + chunk] for a in flat], scalars) for i in range(0, p.size, chunk)]


def _apply_as_written(update: Callable, item: Item) -> None:
    """The formula on whole arrays (CuPy), its results written back in place."""
    p, g, state, settings = item
    new_state = dict(state)
    new_p = update(p, g, new_state, **settings)
    for name, value in new_state.items():
        if value is not state[name]:
            state[name][...] = value
    if new_p is not p:
        p[...] = new_p


def run_updates(update: Callable, items: list[Item]) -> None:
    """``update(p, g, state, **settings)`` for every item, written back in place, over chunks and threads.

    Args:
        update: the formula; it returns the new parameter and may replace entries of ``state``.
        items: ``(p, g, state, settings)`` per parameter: raw arrays, ``state`` the buffers shaped
            like ``p``, ``settings`` the keyword arguments of ``update`` for this parameter.
    """
    jobs = []
    for item in items:
        p, g, state, settings = item
        if not isinstance(p, np.ndarray):  # CuPy: the GPU runs whole arrays asynchronously
            _apply_as_written(update, item)
            continue
        program = _program(update, tuple(state), settings)
        jobs.append((program, [p, g, *state.values()], program.scalars(settings, p.dtype)))
    n_threads = get_num_threads()
    if not jobs:
        return
    if n_threads == 1 or sum(job[1][0].size for job in jobs) < PARALLEL_MIN:
        for job in jobs:
            _run(job)
        return
    pieces = [piece for job in jobs for piece in _chunks(job, CHUNK)]
    n_bins = min(n_threads, len(pieces))
    # Largest first onto the least loaded thread: the threads finish at about the same time.
    bins: list[list[Job]] = [[] for _ in range(n_bins)]
    loads = [0] * n_bins
    for piece in sorted(pieces, key=lambda piece: piece[1][0].size, reverse=True):
        k = loads.index(min(loads))
        bins[k].append(piece)
        loads[k] += piece[1][0].size

    def run_bins(start: int, stop: int) -> None:
        for k in range(start, stop):
            for piece in bins[k]:
                _run(piece)

    threads.parallel_for(run_bins, n_bins, threads=n_bins)
