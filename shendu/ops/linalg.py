"""Matrix products: matmul (batched, broadcast, 1-D) and its relatives, einsum, and a fused linear.

Three ops have a backward of their own (``MatMul``, ``Linear``, ``Einsum``); everything else (mm,
bmm, mv, dot, inner, the beta/alpha ``add*`` family, multi_dot) is a composition of them, so its
gradient, including under ``create_graph``, comes for free. ``Scale`` is the one helper the
``add*`` family needs: ``beta * input`` where ``beta = 0`` ignores the input's values (nan and inf
included) but still gives it a (zero) gradient, as PyTorch does.
"""
from __future__ import annotations

import string

import numpy as np

from shendu import dtypes, threads
from shendu.amp import autocast_mode as _amp
from shendu.autograd.function import Function
from shendu.autograd.inplace import write_out
from shendu.backend import array_module
from shendu.tensor import Tensor

# Products of at least this many multiply-adds are split by rows across shendu's pool (BLAS itself runs
# at one thread: shendu/threads.py); below it, handing rows to a pool thread costs more than it saves.
SPLIT_MULTIPLY_ADDS = 1 << 22
_BFLOAT16 = np.dtype(dtypes.bfloat16)
_MIN_ROWS = 16  # rows per piece at least: thinner pieces run BLAS's kernels at poor efficiency


def product(a, b):
    """``a @ b`` on raw arrays; a large NumPy product is cut into row blocks computed on the pool's threads.

    The values may differ from the unsplit product's in the last bits, as a multithreaded BLAS's do (the
    kernels BLAS picks depend on the block's size). a (..., M, K) with b (K, N) folds a's batch dims into
    the rows; a and b with the same batch dims split along the first; anything else (broadcast batch
    dims, CuPy arrays) is one ``a @ b``.
    """
    if a.dtype is _BFLOAT16:  # ml_dtypes' matmul loop returns float32: the product stays bfloat16, as in PyTorch
        return (a @ b).astype(_BFLOAT16)
    if type(a) is not np.ndarray or type(b) is not np.ndarray or a.ndim < 2 or b.ndim < 2:
        return a @ b
    K, N = a.shape[-1], b.shape[-1]
    if a.size * N < SPLIT_MULTIPLY_ADDS or K != b.shape[-2] or not threads.splits_products():
        return a @ b
    if b.ndim == 2:
        rows = a if a.ndim == 2 else a.reshape(-1, K)
        out = np.empty(a.shape[:-1] + (N,), dtype=np.result_type(a, b))
        flat = out if out.ndim == 2 else out.reshape(-1, N)
        min_chunk = _MIN_ROWS
    elif a.shape[:-2] == b.shape[:-2]:
        rows, flat = a, None
        out = np.empty(a.shape[:-1] + (N,), dtype=np.result_type(a, b))
        min_chunk = 1  # whole matrices per piece
    else:
        return a @ b
    target = flat if flat is not None else out

    def block(start: int, stop: int) -> None:
        np.matmul(rows[start:stop], b if flat is not None else b[start:stop], out=target[start:stop])

    threads.parallel_for(block, len(rows), min_chunk=min_chunk)
    return out


class MatMul(Function):
    """``a @ b`` for a, b with >= 2 dims; batch dims broadcast (the engine sums them back)."""


    def forward(ctx, a, b):
        if a.shape[-1] != b.shape[-2]:
            raise RuntimeError(f"matmul: shapes {a.shape} and {b.shape} cannot be multiplied "
                               f"({a.shape[-1]} != {b.shape[-2]})")
        if a.dtype != b.dtype:
            raise RuntimeError(f"matmul: expected both operands to have the same dtype, got "
                               f"{a.dtype} and {b.dtype}")
        try:
            return product(a, b)
        except ValueError:
            raise RuntimeError(f"matmul: the batch dims of shapes {a.shape} and {b.shape} do not "
                               "broadcast") from None

    def backward(ctx, grad):
        a, b = ctx.inputs
        need_a, need_b = ctx.needs_input_grad
        grad_a = grad @ b.mT if need_a else None
        grad_b = a.mT @ grad if need_b else None
        return grad_a, grad_b

    def grad_arrays(ctx, grad):
        a, b = ctx.inputs[0]._data, ctx.inputs[1]._data
        need_a, need_b = ctx.needs_input_grad
        return (product(grad, b.swapaxes(-1, -2)) if need_a else None), (
            product(a.swapaxes(-1, -2), grad) if need_b else None)


class Linear(Function):
    """``x @ weight.T + bias`` in one node: (..., in) x (out, in) -> (..., out)."""

    saved_inputs = (0, 1)  # the bias's value never enters a gradient

    def forward(ctx, x, weight, bias):
        if x.shape[-1] != weight.shape[1]:
            raise RuntimeError(f"linear: input has {x.shape[-1]} features (shape {x.shape}) but "
                               f"the weight expects {weight.shape[1]} (weight shape {weight.shape})")
        out = product(x, weight.T)
        if bias is not None:
            out += bias
        return out

    def backward(ctx, grad):
        x, weight, _ = ctx.inputs
        need_x, need_w, need_b = ctx.needs_input_grad
        grad_x = grad @ weight if need_x else None
        grad_w = grad_b = None
        if need_w or need_b:
            g2 = grad.reshape(-1, grad.shape[-1])
            if need_w:
                grad_w = g2.mT @ x.reshape(-1, x.shape[-1])
            if need_b:
                grad_b = g2.sum(0)
        return grad_x, grad_w, grad_b

    def grad_arrays(ctx, grad):
        x, weight = ctx.inputs[0]._data, ctx.inputs[1]._data
        need_x, need_w, need_b = ctx.needs_input_grad
        g2 = grad.reshape(-1, grad.shape[-1])
        return (product(grad, weight) if need_x else None,
                product(g2.T, x.reshape(-1, x.shape[-1])) if need_w else None,
                g2.sum(0) if need_b else None)


def matmul(input: Tensor, other: Tensor, *, out: Tensor | None = None) -> Tensor:
    """Matrix product with PyTorch's rules for 1-D operands and broadcast batch dims."""
    if out is not None:
        return write_out(out, matmul(input, other), "matmul")
    if _amp.active:
        input, other = _amp.cast("matmul", input, other)
    return _matmul(input, other)


def _matmul(input: Tensor, other: Tensor) -> Tensor:
    """``matmul`` without autocasting (for the products autocast leaves in their inputs' dtype: dot, mv, ...)."""
    if input.ndim == 0 or other.ndim == 0:
        raise RuntimeError(f"matmul: both arguments need at least 1 dim, got shapes "
                           f"{input.shape} and {other.shape}")
    if input.ndim >= 2 and other.ndim >= 2:
        return MatMul.apply(input, other)
    a = input.unsqueeze(0) if input.ndim == 1 else input
    b = other.unsqueeze(-1) if other.ndim == 1 else other
    if a.shape[-1] != b.shape[-2]:
        raise RuntimeError(f"matmul: shapes {input.shape} and {other.shape} cannot be multiplied "
                           f"({a.shape[-1]} != {b.shape[-2]})")
    out = MatMul.apply(a, b)
    if input.ndim == 1 and other.ndim == 1:
        return out.reshape(())
    return out.squeeze(-1) if other.ndim == 1 else out.squeeze(-2)


def mm(input: Tensor, mat2: Tensor, *, out: Tensor | None = None) -> Tensor:
    """Matrix product of two 2-D tensors (no broadcasting; ``matmul`` broadcasts).

    Shape: (N, M) and (M, P) -> (N, P).
    """
    if out is not None:
        return write_out(out, mm(input, mat2), "mm")
    if _amp.active:
        input, mat2 = _amp.cast("mm", input, mat2)
    if input.ndim != 2 or mat2.ndim != 2:
        raise RuntimeError(f"mm: expected 2-D tensors, got shapes {input.shape} and {mat2.shape}")
    return MatMul.apply(input, mat2)


def bmm(input: Tensor, mat2: Tensor, *, out: Tensor | None = None) -> Tensor:
    """Batched matrix product: ``out[b] = input[b] @ mat2[b]`` (no broadcasting; ``matmul`` broadcasts).

    Shape: (B, N, M) and (B, M, P) -> (B, N, P).
    """
    if out is not None:
        return write_out(out, bmm(input, mat2), "bmm")
    if _amp.active:
        input, mat2 = _amp.cast("bmm", input, mat2)
    if input.ndim != 3 or mat2.ndim != 3 or input.shape[0] != mat2.shape[0]:
        raise RuntimeError(f"bmm: expected 3-D tensors with equal batch size, got shapes "
                           f"{input.shape} and {mat2.shape}")
    return MatMul.apply(input, mat2)


def dot(input: Tensor, other: Tensor) -> Tensor:
    """The dot product of two 1-D tensors of one length, ``sum(input * other)``. Shape: (N,) and (N,) -> ()."""
    if input.ndim != 1 or other.ndim != 1 or input.shape != other.shape:
        raise RuntimeError(f"dot: expected two 1-D tensors of equal length, got shapes "
                           f"{input.shape} and {other.shape}")
    return _matmul(input, other)


def outer(input: Tensor, vec2: Tensor) -> Tensor:
    """The outer product of two vectors: ``out[i, j] = input[i] * vec2[j]``. Alias: ``ger``.

    Shape: (N,) and (M,) -> (N, M).
    """
    if input.ndim != 1 or vec2.ndim != 1:
        raise RuntimeError(f"outer: expected two 1-D tensors, got shapes {input.shape} and {vec2.shape}")
    return input.unsqueeze(1) * vec2.unsqueeze(0)


ger = outer


def mv(input: Tensor, vec: Tensor) -> Tensor:
    """Matrix-vector product: (n, m) @ (m,) -> (n,)."""
    if input.ndim != 2 or vec.ndim != 1 or input.shape[1] != vec.shape[0]:
        raise RuntimeError(f"mv: expected a 2-D matrix (n, m) and a 1-D vector (m,), got shapes {input.shape} "
                           f"and {vec.shape}")
    if _amp.active:
        input, vec = _amp.cast("mv", input, vec)
    return _matmul(input, vec)


def inner(input: Tensor, other: Tensor) -> Tensor:
    """Sum over the last dims: (*a, K) and (*b, K) -> (*a, *b); a 0-d operand multiplies."""
    if input.ndim == 0 or other.ndim == 0:
        return input * other
    K = input.shape[-1]
    if other.shape[-1] != K:
        raise RuntimeError(f"inner: the last dims must match, got shapes {input.shape} and {other.shape}")
    out = input.reshape(-1, K) @ other.reshape(-1, K).mT  # (prod a, prod b)
    return out.reshape(input.shape[:-1] + other.shape[:-1])


def vdot(input: Tensor, other: Tensor) -> Tensor:
    """Dot product of two 1-D tensors (the first conjugated: for real tensors, ``dot``)."""
    if input.ndim != 1 or other.ndim != 1 or input.shape != other.shape:
        raise RuntimeError(f"vdot: expected two 1-D tensors of equal length, got shapes {input.shape} "
                           f"and {other.shape}")
    return _matmul(input, other)


class Scale(Function):
    """``factor * x``; ``factor = 0`` gives zeros whatever x holds (PyTorch's beta = 0 rule)."""

    saved_inputs = ()

    def forward(ctx, x, *, factor):
        ctx.factor = factor
        if factor == 0:
            return array_module(x).zeros_like(x)
        return x * factor if factor != 1 else x.copy()

    def backward(ctx, grad):
        return grad * ctx.factor


def _plus_scaled(product: Tensor, input: Tensor, beta, alpha, op: str) -> Tensor:
    """beta * input + alpha * product, with input broadcast to the product's shape."""
    if not isinstance(input, Tensor):
        input = Tensor._wrap(product._xp().asarray(input, dtype=product.dtype))
    if not _broadcasts(tuple(input.shape), tuple(product.shape)):
        raise RuntimeError(f"{op}: input of shape {input.shape} does not broadcast to the product's shape "
                           f"{product.shape}")
    if alpha != 1:
        product = product * alpha
    if beta == 0 and not input.requires_grad:
        return product  # the input's values are ignored, nan and inf included
    return Scale.apply(input, factor=beta) + product


def _broadcasts(a: tuple, b: tuple) -> bool:
    """Whether shape ``a`` broadcasts to shape ``b`` (b unchanged)."""
    return len(a) <= len(b) and all(x in (1, y) for x, y in zip(a[::-1], b[::-1]))


def addmm(input: Tensor, mat1: Tensor, mat2: Tensor, *, beta=1, alpha=1) -> Tensor:
    """beta * input + alpha * (mat1 @ mat2): mat1 (n, m), mat2 (m, p), input broadcastable to (n, p)."""
    if _amp.active:
        input, mat1, mat2 = _amp.cast("addmm", input, mat1, mat2)
    return _plus_scaled(mm(mat1, mat2), input, beta, alpha, "addmm")


def addmv(input: Tensor, mat: Tensor, vec: Tensor, *, beta=1, alpha=1) -> Tensor:
    """beta * input + alpha * (mat @ vec): mat (n, m), vec (m,), input broadcastable to (n,)."""
    if _amp.active:
        input, mat, vec = _amp.cast("addmv", input, mat, vec)
    return _plus_scaled(mv(mat, vec), input, beta, alpha, "addmv")


def addr(input: Tensor, vec1: Tensor, vec2: Tensor, *, beta=1, alpha=1) -> Tensor:
    """beta * input + alpha * outer(vec1, vec2): vec1 (n,), vec2 (m,), input broadcastable to (n, m)."""
    if _amp.active:
        input, vec1, vec2 = _amp.cast("addr", input, vec1, vec2)
    return _plus_scaled(outer(vec1, vec2), input, beta, alpha, "addr")


def baddbmm(input: Tensor, batch1: Tensor, batch2: Tensor, *, beta=1, alpha=1) -> Tensor:
    """beta * input + alpha * bmm(batch1, batch2): (b, n, m) @ (b, m, p), input broadcastable to (b, n, p)."""
    if _amp.active:
        input, batch1, batch2 = _amp.cast("baddbmm", input, batch1, batch2)
    return _plus_scaled(bmm(batch1, batch2), input, beta, alpha, "baddbmm")


def addbmm(input: Tensor, batch1: Tensor, batch2: Tensor, *, beta=1, alpha=1) -> Tensor:
    """beta * input + alpha * Σ_b batch1[b] @ batch2[b]: (b, n, m), (b, m, p) -> (n, p)."""
    if _amp.active:
        input, batch1, batch2 = _amp.cast("addbmm", input, batch1, batch2)
    if batch1.ndim != 3 or batch2.ndim != 3 or batch1.shape[0] != batch2.shape[0] \
            or batch1.shape[2] != batch2.shape[1]:
        raise RuntimeError(f"addbmm: expected 3-D batches (b, n, m) and (b, m, p), got shapes {batch1.shape} "
                           f"and {batch2.shape}")
    b, n, m = batch1.shape
    # the batch sum is one product over the joint (b, m) axis
    product = mm(batch1.permute(1, 0, 2).reshape(n, b * m), batch2.reshape(b * m, batch2.shape[2]))
    return _plus_scaled(product, input, beta, alpha, "addbmm")


def multi_dot(tensors) -> Tensor:
    """The product of a chain of matrices in the cheapest order (the first and last may be 1-D)."""
    tensors = list(tensors)
    if _amp.active:
        tensors = list(_amp.cast("multi_dot", *tensors))
    if len(tensors) < 2:
        raise RuntimeError(f"multi_dot: expected at least 2 tensors, got {len(tensors)}")
    first_1d, last_1d = tensors[0].ndim == 1, tensors[-1].ndim == 1
    mats = [t.unsqueeze(0) if i == 0 and first_1d else t for i, t in enumerate(tensors)]
    if last_1d:
        mats[-1] = mats[-1].unsqueeze(1)
    for i, t in enumerate(mats):
        if t.ndim != 2:
            raise RuntimeError(f"multi_dot: tensor {i} must be 2-D (only the first and last may be 1-D), got "
                               f"shape {tensors[i].shape}")
        if i and mats[i - 1].shape[1] != t.shape[0]:
            raise RuntimeError(f"multi_dot: tensors {i - 1} and {i} with shapes {tensors[i - 1].shape} and "
                               f"{tensors[i].shape} cannot be multiplied")
    out = _chain(mats, _chain_order([mats[0].shape[0]] + [t.shape[1] for t in mats]), 0, len(mats) - 1)
    if last_1d:
        out = out.squeeze(1)
    if first_1d:
        out = out.squeeze(0)
    return out


def _chain_order(dims: list) -> list:
    """The matrix-chain dynamic programme: split[i][j] is where to cut the product of mats i..j."""
    n = len(dims) - 1
    cost = [[0] * n for _ in range(n)]
    split = [[0] * n for _ in range(n)]
    for length in range(1, n):
        for i in range(n - length):
            j = i + length
            cost[i][j] = None
            for k in range(i, j):
                c = cost[i][k] + cost[k + 1][j] + dims[i] * dims[k + 1] * dims[j + 1]
                if cost[i][j] is None or c < cost[i][j]:
                    cost[i][j], split[i][j] = c, k
    return split


def _chain(mats: list, split: list, i: int, j: int) -> Tensor:
    if i == j:
        return mats[i]
    k = split[i][j]
    return MatMul.apply(_chain(mats, split, i, k), _chain(mats, split, k + 1, j))


def chain_matmul(*matrices) -> Tensor:
    """Deprecated PyTorch alias of ``linalg.multi_dot`` for 2-D matrices."""
    if len(matrices) == 1:
        return matrices[0]
    return multi_dot(matrices)


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y = x Wᵀ + b: input (*, in_features), weight (out_features, in_features), bias (out_features)."""
    if _amp.active:
        input, weight, bias = _amp.cast("linear", input, weight, bias)
    return Linear.apply(input, weight, bias)


# -- einsum -------------------------------------------------------------------------------------
def _parse_einsum(equation: str, shapes: list) -> tuple:
    """Expand '...' into letters and add an explicit output: returns (input specs, output spec)."""
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    specs = lhs.split(",")
    if len(specs) != len(shapes):
        raise RuntimeError(f"einsum: equation {equation!r} names {len(specs)} operands, got {len(shapes)}")
    used = set(eq) - set(".,->")
    spare = [c for c in string.ascii_letters if c not in used]
    ell_len = 0
    for spec, shape in zip(specs, shapes):
        if "..." in spec:
            ell_len = max(ell_len, len(shape) - (len(spec) - 3))
    ell = "".join(spare[:ell_len])
    out_specs = []
    for spec, shape in zip(specs, shapes):
        if "..." in spec:
            n = len(shape) - (len(spec) - 3)
            spec = spec.replace("...", ell[ell_len - n:])
        if len(spec) != len(shape):
            raise RuntimeError(f"einsum: operand spec {spec!r} has {len(spec)} letters but the "
                               f"operand has shape {shape}")
        out_specs.append(spec)
    if arrow:
        out = rhs.replace("...", ell)
    else:
        counts = {}
        for s in out_specs:
            for c in s:
                counts[c] = counts.get(c, 0) + 1
        out = ell + "".join(sorted(c for c, k in counts.items() if k == 1 and c not in ell))
    return out_specs, out


class Einsum(Function):
    """Einstein summation of the operands by a normalised ``equation`` (explicit output, no '...')."""


    def forward(ctx, *ops, equation):
        ctx.equation = equation
        try:
            return array_module(ops[0]).einsum(equation, *ops, optimize=len(ops) > 2)
        except ValueError as e:
            shapes = ", ".join(str(o.shape) for o in ops)
            raise RuntimeError(f"einsum: {equation!r} does not fit operands of shapes {shapes}: {e}") from None

    def backward(ctx, grad):
        ops = ctx.inputs
        specs, out = _parse_einsum(ctx.equation, [o.shape for o in ops])
        grads = []
        for i, (spec, need) in enumerate(zip(specs, ctx.needs_input_grad)):
            if not need:
                grads.append(None)
                continue
            others = [(s, o) for j, (s, o) in enumerate(zip(specs, ops)) if j != i]
            avail = set(out).union(*[set(s) for s, _ in others])
            sizes = dict(zip(spec, ops[i].shape))
            uniq = "".join(dict.fromkeys(spec))  # a repeated letter ('ii') reads a diagonal
            target = "".join(c for c in uniq if c in avail)
            eq = ",".join([out] + [s for s, _ in others]) + "->" + target
            g = einsum(eq, grad, *[o for _, o in others])
            if target != uniq:  # letters summed only within this operand: broadcast back
                g = g.reshape(tuple(sizes[c] if c in avail else 1 for c in uniq))
                g = g.expand(tuple(sizes[c] for c in uniq))
            if uniq != spec:
                g = _onto_diagonal(g, uniq, spec, sizes)
            grads.append(g)
        return tuple(grads)


def _onto_diagonal(g: Tensor, uniq: str, spec: str, sizes: dict) -> Tensor:
    """Place ``g`` (letters ``uniq``) on the diagonals of an operand whose ``spec`` repeats letters.

    Each repeat of a letter gets a fresh letter tied to the first by an identity matrix, e.g.
    'ij' -> 'iij' is einsum('ij,ik->ikj', g, eye): zero off the diagonal, so it stays differentiable.
    """
    xp = g._xp()
    fresh = iter(c for c in string.ascii_letters if c not in spec)
    seen, new_spec, eyes = set(), [], []
    for c in spec:
        if c in seen:
            f = next(fresh)
            new_spec.append(f)
            eyes.append((c + f, Tensor._wrap(xp.eye(sizes[c], dtype=g.dtype))))
        else:
            seen.add(c)
            new_spec.append(c)
    eq = ",".join([uniq] + [s for s, _ in eyes]) + "->" + "".join(new_spec)
    return einsum(eq, g, *[e for _, e in eyes])


def einsum(equation: str, *operands) -> Tensor:
    """Einstein summation over Tensors (``'ij,jk->ik'``, ``'bhqd,bhkd->bhqk'``, ``'...ij->...ji'``)."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    specs, out = _parse_einsum(equation, [o.shape for o in operands])
    return Einsum.apply(*operands, equation=",".join(specs) + "->" + out)
