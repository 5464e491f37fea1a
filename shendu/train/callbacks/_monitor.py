"""What the monitoring callbacks share: the direction of a monitored log, reading it, improvement."""
from __future__ import annotations

import math


def monitor_mode(monitor: str, mode: str, who: str) -> str:
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"{who}: mode must be 'auto', 'min' or 'max', got {mode!r}")
    if mode != "auto":
        return mode
    name = monitor[4:] if monitor.startswith("val_") else monitor
    return "max" if any(s in name for s in ("acc", "auc", "f1", "precision", "recall", "r2")) else "min"


def monitored(logs: dict | None, monitor: str, who: str) -> float:
    if not logs or monitor not in logs:
        have = ", ".join(sorted(logs or {})) or "nothing"
        hint = " (pass validation_data or validation_split, or monitor='loss')" if monitor.startswith("val_") else ""
        raise KeyError(f"{who}: monitor {monitor!r} is not in the logs (they have {have}){hint}")
    return float(logs[monitor])


def improved(current: float, best: float, mode: str, min_delta: float) -> bool:
    if math.isnan(current):
        return False
    return current < best - min_delta if mode == "min" else current > best + min_delta


def copy_state(model) -> dict:
    return {k: v._data.copy() for k, v in model.state_dict().items()}
