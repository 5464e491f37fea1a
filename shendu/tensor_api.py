"""PyTorch's top-level questions about tensors (``is_tensor``, ``numel``, ...) and print options.

``set_printoptions`` keeps PyTorch's options (precision, threshold, edgeitems, linewidth, sci_mode,
profile) in ``PRINT_OPTS``; ``format_array(arr)`` renders an array with them, for ``Tensor.__repr__``.
"""
from __future__ import annotations

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
    return input.numel()


def is_floating_point(input: Tensor) -> bool:
    dt = input.dtype
    return dt.kind == "f" or dt.name == "bfloat16"


def is_complex(input: Tensor) -> bool:
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
    return dict(PRINT_OPTS.__dict__)


def format_array(arr: np.ndarray, prefix: str = "tensor(") -> str:
    """``arr`` as ``Tensor.__repr__`` shows it under the current print options."""
    threshold = PRINT_OPTS.threshold
    threshold = np.iinfo(np.int64).max if threshold == float("inf") else int(threshold)
    formatter = None
    if PRINT_OPTS.sci_mode is not None and arr.dtype.kind == "f":
        p = PRINT_OPTS.precision
        fmt = (lambda v: f"{v:.{p}e}") if PRINT_OPTS.sci_mode else (lambda v: f"{v:.{p}f}")
        formatter = {"float_kind": fmt}
    return np.array2string(arr, separator=", ", prefix=prefix, precision=PRINT_OPTS.precision,
                           threshold=threshold, edgeitems=PRINT_OPTS.edgeitems,
                           max_line_width=PRINT_OPTS.linewidth, formatter=formatter)
