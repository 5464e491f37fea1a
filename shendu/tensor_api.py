"""PyTorch's top-level questions about tensors (``is_tensor``, ``numel``, ...) and print options.

``set_printoptions`` keeps PyTorch's options (precision, threshold, edgeitems, linewidth, sci_mode,
profile) in ``PRINT_OPTS``; ``format_array(arr)`` renders an array with them, for ``Tensor.__repr__``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from shendu.tensor import Tensor


def is_tensor(obj) -> bool:
    """True for shendu Tensors (dense or sparse), as ``torch.is_tensor``."""
    return isinstance(obj, Tensor)


def is_storage(obj) -> bool:
    """False: shendu has no separate storage objects (a tensor's array is its storage)."""
    return False


def numel(input: Tensor) -> int:
    """The number of elements of ``input`` (the product of its shape)."""
    return input.numel()


def is_floating_point(input: Tensor) -> bool:
    """True when ``input``'s dtype is a floating-point type (float16, bfloat16, float32, float64)."""
    dt = input.dtype
    return dt.kind == "f" or dt.name == "bfloat16"


def is_complex(input: Tensor) -> bool:
    """True when ``input``'s dtype is complex."""
    return input.dtype.kind == "c"


def is_nonzero(input: Tensor) -> bool:
    """The truth of a one-element tensor (RuntimeError otherwise, as in PyTorch)."""
    if input.numel() != 1:
        raise RuntimeError(f"is_nonzero: a tensor with {input.numel()} elements cannot be converted to a boolean")
    return bool(input.item())


@dataclass
class _PrintOptions:
    precision: int = 4
    threshold: float = 1000
    edgeitems: int = 3
    linewidth: int = 80
    sci_mode: bool | None = None


PRINT_OPTS = _PrintOptions()

_PROFILES = {"default": _PrintOptions(), "short": _PrintOptions(2, 1000, 2, 80),
             "full": _PrintOptions(4, float("inf"), 3, 80)}


def set_printoptions(precision: int | None = None, threshold: float | None = None, edgeitems: int | None = None,
                     linewidth: int | None = None, profile: str | None = None, sci_mode: bool | None = None) -> None:
    """Set how tensors print (PyTorch's ``torch.set_printoptions``; ``profile`` is "default", "short" or "full")."""
    if profile is not None:
        if profile not in _PROFILES:
            raise ValueError(f"set_printoptions: profile must be one of {sorted(_PROFILES)}, got {profile!r}")
        base = _PROFILES[profile]
        PRINT_OPTS.precision, PRINT_OPTS.threshold = base.precision, base.threshold
        PRINT_OPTS.edgeitems, PRINT_OPTS.linewidth = base.edgeitems, base.linewidth
    for name, value in (("precision", precision), ("threshold", threshold), ("edgeitems", edgeitems),
                        ("linewidth", linewidth)):
        if value is not None:
            setattr(PRINT_OPTS, name, value)
    PRINT_OPTS.sci_mode = sci_mode


def get_printoptions() -> dict:
    """The current print options (``precision``, ``threshold``, ``edgeitems``, ``linewidth``, ``sci_mode``)
    as a dict; change them with ``set_printoptions``.
    """
    return dict(PRINT_OPTS.__dict__)


def format_array(arr: np.ndarray, prefix: str = "tensor(") -> str:
    """``arr`` as ``Tensor.__repr__`` shows it: PyTorch's layout (``torch/_tensor_str.py``), under the
    current print options — one width for every element, 4 decimals (``1.5000``), integer-valued floats
    as ``2.``, scientific notation when the magnitudes span more than 1000x, rows wrapped at
    ``linewidth``, and ``...`` past ``threshold`` elements."""
    summarize = arr.size > PRINT_OPTS.threshold
    fmt = _Formatter(_summarized(arr) if summarize else arr)
    indent = len(prefix)
    if arr.ndim == 0:
        return fmt.format(arr.item())
    if arr.size == 0:
        return "[]"
    return _nested(arr, fmt, indent, summarize)


def with_suffixes(text: str, suffixes: list, indent: int) -> str:
    """``text`` + ", dtype=..." etc. + ")": a suffix that would pass the print width starts a new line
    (PyTorch's rule)."""
    parts = [text]
    last_line = len(text) - text.rfind("\n") + 1
    for suffix in suffixes:
        if last_line + len(suffix) + 2 > PRINT_OPTS.linewidth:
            parts.append(",\n" + " " * indent + suffix)
            last_line = indent + len(suffix)
        else:
            parts.append(", " + suffix)
            last_line += len(suffix) + 2
    return "".join(parts) + ")"


def _summarized(arr: np.ndarray) -> np.ndarray:
    """The elements a summarized print shows (the first and last ``edgeitems`` along every dim)."""
    e = PRINT_OPTS.edgeitems
    for axis in range(arr.ndim):
        if arr.shape[axis] > 2 * e:
            arr = np.concatenate([np.take(arr, range(e), axis), np.take(arr, range(arr.shape[axis] - e,
                                                                                   arr.shape[axis]), axis)], axis)
    return arr


class _Formatter:
    """PyTorch's choice of one number format (and one width) for a whole tensor."""

    def __init__(self, arr: np.ndarray):
        self.complex = arr.dtype.kind == "c"
        if self.complex:  # PyTorch formats the real and the imaginary parts each with a formatter of its own
            self.real, self.imag = _Formatter(arr.real), _Formatter(np.abs(arr.imag))
            self.width = self.real.width + self.imag.width + 2
            return
        self.floating = arr.dtype.kind in "fc" or arr.dtype.name == "bfloat16"
        self.int_mode, self.sci_mode, self.width = True, False, 1
        flat = arr.reshape(-1)
        p = PRINT_OPTS.precision
        if not self.floating:
            self.width = max((len(str(v)) for v in flat.tolist()), default=1)
            return
        values = flat.astype(np.float64)
        finite = values[np.isfinite(values) & (values != 0)]
        if finite.size:
            big, small = np.abs(finite).max(), np.abs(finite).min()
            self.int_mode = bool(np.all(finite == np.ceil(finite)))
            spread = big / small > 1000.0 or big > 1.0e8
            self.sci_mode = spread if self.int_mode else spread or small < 1.0e-4
            if self.sci_mode:
                self.width = max(len(f"{v:.{p}e}") for v in finite.tolist())
            elif self.int_mode:
                self.width = max(len(f"{v:.0f}") + 1 for v in finite.tolist())
            else:
                self.width = max(len(f"{v:.{p}f}") for v in finite.tolist())
        if PRINT_OPTS.sci_mode is not None:
            self.sci_mode = PRINT_OPTS.sci_mode

    def format(self, value) -> str:
        p = PRINT_OPTS.precision
        if self.complex:
            imag = self.imag.format(abs(value.imag)).lstrip()
            return self.real.format(value.real) + ("-" if math.copysign(1.0, value.imag) < 0 else "+") + imag + "j"
        if not self.floating:
            text = str(value)
        elif self.sci_mode:
            text = f"{value:{self.width}.{p}e}"
        elif self.int_mode:
            text = f"{value:.0f}" + ("" if math.isinf(value) or math.isnan(value) else ".")
        else:
            text = f"{value:.{p}f}"
        return " " * (self.width - len(text)) + text


def _nested(arr: np.ndarray, fmt: _Formatter, indent: int, summarize: bool) -> str:
    e = PRINT_OPTS.edgeitems
    if arr.ndim == 1:
        items = [fmt.format(v) for v in arr.tolist()]
        if summarize and arr.shape[0] > 2 * e:
            items = [fmt.format(v) for v in arr[:e].tolist()] + [" ..."] + [fmt.format(v) for v in arr[-e:].tolist()]
        per_line = max(1, (PRINT_OPTS.linewidth - indent) // (fmt.width + 2))
        lines = [", ".join(items[i:i + per_line]) for i in range(0, len(items), per_line)]
        return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"
    if summarize and arr.shape[0] > 2 * e:
        rows = ([_nested(arr[i], fmt, indent + 1, summarize) for i in range(e)] + ["..."]
                + [_nested(arr[i], fmt, indent + 1, summarize) for i in range(arr.shape[0] - e, arr.shape[0])])
    else:
        rows = [_nested(arr[i], fmt, indent + 1, summarize) for i in range(arr.shape[0])]
    return "[" + ("," + "\n" * (arr.ndim - 1) + " " * (indent + 1)).join(rows) + "]"
