"""``summary(model, input_size)``: a Keras-style table of a model's layers, output shapes and sizes."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from shendu import creation, dtypes
from shendu.grad_mode import no_grad
from shendu.nn.module import Module
from shendu.tensor import Tensor


def _shape_of(out: Any) -> str:
    if isinstance(out, Tensor):
        return str(list(out.shape))
    if isinstance(out, (tuple, list)):
        return ", ".join(_shape_of(o) for o in out if isinstance(o, (Tensor, tuple, list)))
    return "-"


def _sizes(input_size) -> list:
    """One shape per model input: ``(2, 3)`` is one input, ``[(2, 3), (2, 5)]`` two."""
    if isinstance(input_size, (tuple, list)) and input_size and all(isinstance(s, (tuple, list)) for s in input_size):
        return [tuple(s) for s in input_size]
    return [tuple(input_size)]


def summary(model: Module, input_size: Sequence | None = None, dtype=None, *,
            input_data: Any = None, col_width: int = 24) -> str:
    """Run ``model`` once and return a table of each leaf layer's name, output shape and parameter count.

    Args:
        model: the module to describe.
        input_size: the input shape *including* the batch dim, e.g. ``(1, 3, 32, 32)``; a list of
            shapes for a model with several inputs. Inputs are zeros of ``dtype`` (default: the
            default float dtype; give ``shendu.int64`` for token ids).
        dtype: the inputs' dtype (one for all inputs, or a list with one per input).
        input_data: the input tensor (or tuple of tensors) to use instead of ``input_size``.

    The forward pass runs once in eval mode under ``no_grad`` (the mode is restored after).
    Each row is one call of a leaf module (or of a module with parameters of its own), in call
    order; a module called again shows ``(shared)`` instead of a second count. The totals count
    every parameter of ``model`` once. Returns the table; prints nothing.
    """
    if input_data is None:
        if input_size is None:
            raise ValueError("summary: give input_size (a shape including the batch dim) or input_data")
        sizes = _sizes(input_size)
        dts = dtype if isinstance(dtype, (list, tuple)) else [dtype] * len(sizes)
        inputs = tuple(creation.zeros(*s, dtype=dtypes.as_dtype(d) if d is not None else None)
                       for s, d in zip(sizes, dts))
    else:
        inputs = tuple(input_data) if isinstance(input_data, (tuple, list)) else (input_data,)

    rows: list[tuple[str, str, str]] = []
    seen: set[int] = set()

    def make_hook(name: str):
        def hook(module: Module, args: tuple, output: Any) -> None:
            label = f"{name} ({type(module).__name__})" if name else type(module).__name__
            if id(module) in seen:
                count = "(shared)"
            else:
                seen.add(id(module))
                count = f"{sum(p.numel() for p in module.parameters(recurse=False)):,}"
            rows.append((label, _shape_of(output), count))
        return hook

    handles = []
    for name, module in model.named_modules():
        is_leaf = not any(True for _ in module.children())
        if is_leaf or any(True for _ in module.parameters(recurse=False)):
            handles.append(module.register_forward_hook(make_hook(name)))
    was_training = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        with no_grad():
            model(*inputs)
    finally:
        for h in handles:
            h.remove()
        for m, mode in was_training:
            m.training = mode

    params = list(model.parameters())
    total = sum(p.numel() for p in params)
    trainable = sum(p.numel() for p in params if p.requires_grad)
    size_mb = sum(p.numel() * p.element_size() for p in params) / 2 ** 20
    header = ("Layer (type)", "Output Shape", "Param #")
    w0 = max([col_width] + [len(r[0]) + 2 for r in rows])
    w1 = max([col_width] + [len(r[1]) + 2 for r in rows])
    width = w0 + w1 + 12
    line = "=" * width

    def fmt(r):
        return f"{r[0]:<{w0}}{r[1]:<{w1}}{r[2]:>12}"

    out = [line, fmt(header), line, *(fmt(r) for r in rows), line,
           f"Total params: {total:,}", f"Trainable params: {trainable:,}",
           f"Non-trainable params: {total - trainable:,}", f"Params size (MB): {size_mb:.2f}", line]
    return "\n".join(out)


__all__ = ["summary"]
