"""Matrix products: matmul (batched, broadcast, 1-D), dot, outer, einsum, and a fused linear."""
from __future__ import annotations

import string

from shendu.autograd.function import Function
from shendu.backend import array_module
from shendu.tensor import Tensor


class MatMul(Function):
    """``a @ b`` for a, b with >= 2 dims; batch dims broadcast (the engine sums them back)."""

    raw = True

    def forward(ctx, a, b):
        if a.shape[-1] != b.shape[-2]:
            raise RuntimeError(f"matmul: shapes {a.shape} and {b.shape} cannot be multiplied "
                               f"({a.shape[-1]} != {b.shape[-2]})")
        if a.dtype != b.dtype:
            raise RuntimeError(f"matmul: expected both operands to have the same dtype, got "
                               f"{a.dtype} and {b.dtype}")
        try:
            return a @ b
        except ValueError:
            raise RuntimeError(f"matmul: the batch dims of shapes {a.shape} and {b.shape} do not "
                               "broadcast") from None

    def backward(ctx, grad):
        a, b = ctx.inputs
        need_a, need_b = ctx.needs_input_grad
        grad_a = grad @ b.mT if need_a else None
        grad_b = a.mT @ grad if need_b else None
        return grad_a, grad_b


class Linear(Function):
    """``x @ weight.T + bias`` in one node: (..., in) x (out, in) -> (..., out)."""

    raw = True

    def forward(ctx, x, weight, bias):
        if x.shape[-1] != weight.shape[1]:
            raise RuntimeError(f"linear: input has {x.shape[-1]} features (shape {x.shape}) but "
                               f"the weight expects {weight.shape[1]} (weight shape {weight.shape})")
        out = x @ weight.T
        if bias is not None:
            out += bias
        return out

    def backward(ctx, grad):
        x, weight, bias = ctx.inputs
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


def matmul(input: Tensor, other: Tensor) -> Tensor:
    """Matrix product with PyTorch's rules for 1-D operands and broadcast batch dims."""
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
    if other.ndim == 1:
        out = out.squeeze(-1)
    if input.ndim == 1:
        out = out.squeeze(-2)
    return out


def mm(input: Tensor, mat2: Tensor) -> Tensor:
    if input.ndim != 2 or mat2.ndim != 2:
        raise RuntimeError(f"mm: expected 2-D tensors, got shapes {input.shape} and {mat2.shape}")
    return MatMul.apply(input, mat2)


def bmm(input: Tensor, mat2: Tensor) -> Tensor:
    if input.ndim != 3 or mat2.ndim != 3 or input.shape[0] != mat2.shape[0]:
        raise RuntimeError(f"bmm: expected 3-D tensors with equal batch size, got shapes "
                           f"{input.shape} and {mat2.shape}")
    return MatMul.apply(input, mat2)


def dot(input: Tensor, other: Tensor) -> Tensor:
    if input.ndim != 1 or other.ndim != 1 or input.shape != other.shape:
        raise RuntimeError(f"dot: expected two 1-D tensors of equal length, got shapes "
                           f"{input.shape} and {other.shape}")
    return matmul(input, other)


def outer(input: Tensor, vec2: Tensor) -> Tensor:
    if input.ndim != 1 or vec2.ndim != 1:
        raise RuntimeError(f"outer: expected two 1-D tensors, got shapes {input.shape} and {vec2.shape}")
    return input.unsqueeze(1) * vec2.unsqueeze(0)


ger = outer


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y = x Wᵀ + b: input (*, in_features), weight (out_features, in_features), bias (out_features)."""
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
    raw = True

    def forward(ctx, equation, *ops):
        try:
            return array_module(ops[0]).einsum(equation, *ops, optimize=len(ops) > 2)
        except ValueError as e:
            shapes = ", ".join(str(o.shape) for o in ops)
            raise RuntimeError(f"einsum: {equation!r} does not fit operands of shapes {shapes}: {e}") from None

    def backward(ctx, grad):
        equation = ctx.inputs[0]
        ops = ctx.inputs[1:]
        specs, out = _parse_einsum(equation, [o.shape for o in ops])
        grads = [None]
        for i, (spec, need) in enumerate(zip(specs, ctx.needs_input_grad[1:])):
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
    return Einsum.apply(",".join(specs) + "->" + out, *operands)
