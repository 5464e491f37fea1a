"""``History``: what ``fit`` returns — one list per metric, one entry per epoch (Keras' ``History``)."""
from __future__ import annotations

import math
import os
from collections.abc import Iterator


class History:
    """Per-epoch logs of a ``fit`` run.

    Attributes:
        history: ``{name: [value per epoch]}``, e.g. ``"loss"``, ``"accuracy"``, ``"val_loss"``,
            ``"lr"`` (the learning rate used during the epoch), ``"skipped_steps"`` (with
            ``on_nonfinite='skip'``). A key that first appears at a later epoch is padded with NaN.
        epoch: the epoch indices (0-based) the lists refer to.
    """

    def __init__(self):
        self.history: dict[str, list] = {}
        self.epoch: list[int] = []

    def append(self, epoch: int, logs: dict) -> None:
        """Record one epoch's logs (numbers only)."""
        self.epoch.append(int(epoch))
        for values in self.history.values():
            values.append(math.nan)
        self.update_last(logs)

    def update_last(self, logs: dict) -> None:
        """Overwrite the last epoch's entries with ``logs`` (callbacks may add or change logs)."""
        for key, value in logs.items():
            if key not in self.history:
                self.history[key] = [math.nan] * len(self.epoch)
            self.history[key][-1] = float(value)

    # -- mapping-like access -------------------------------------------------------------------
    def __getitem__(self, key: str) -> list:
        return self.history[key]

    def __contains__(self, key: str) -> bool:
        return key in self.history

    def __iter__(self) -> Iterator[str]:
        return iter(self.history)

    def __len__(self) -> int:
        return len(self.epoch)

    def keys(self):
        """The logged names (``loss``, metrics, ``val_*``, ``lr``, ...)."""
        return self.history.keys()

    def items(self):
        """``(name, [value per epoch])`` pairs."""
        return self.history.items()

    def __repr__(self) -> str:
        last = ", ".join(f"{k}={v[-1]:.4g}" for k, v in self.history.items() if v)
        return f"History(epochs={len(self.epoch)}{', ' + last if last else ''})"

    def state_dict(self) -> dict:
        """The epochs and every logged series, as plain lists (what a checkpoint stores)."""
        return {"epoch": list(self.epoch), "history": {k: list(v) for k, v in self.history.items()}}

    def load_state_dict(self, state: dict) -> None:
        """Restore what ``state_dict()`` returned."""
        self.epoch = [int(e) for e in state["epoch"]]
        self.history = {k: [float(x) for x in v] for k, v in state["history"].items()}

    # -- figure --------------------------------------------------------------------------------
    def plot(self, path: str | os.PathLike | None = None, keys: list[str] | None = None):
        """Plot each metric against the epoch, ``name`` and ``val_name`` on one axis.

        Args:
            path: where to save the figure (format from the suffix, e.g. ``.png``); None: don't save.
            keys: the metrics to draw (default: all but ``lr`` and ``skipped_steps`` and the
                ``val_`` twins, which join their base metric).

        Returns the matplotlib Figure.
        """
        import matplotlib.pyplot as plt

        if keys is None:
            keys = [k for k in self.history if not k.startswith("val_") and k not in ("lr", "skipped_steps")]
            keys += [k[4:] for k in self.history if k.startswith("val_") and k[4:] not in self.history]
        if not keys:
            raise ValueError("History.plot: nothing to plot (the history is empty)")
        fig, axes = plt.subplots(1, len(keys), figsize=(4.5 * len(keys), 3.5), squeeze=False)
        epochs = [e + 1 for e in self.epoch]
        for ax, key in zip(axes[0], keys):
            for name, style in ((key, "-o"), (f"val_{key}", "--s")):
                if name in self.history:
                    ax.plot(epochs, self.history[name], style, label=name, markersize=3)
            ax.set_xlabel("epoch")
            ax.set_ylabel(key)
            ax.set_title(f"{key} per epoch" + (" (training and validation)" if f"val_{key}" in self.history else ""))
            ax.xaxis.get_major_locator().set_params(integer=True)  # epochs are counts
            ax.grid(alpha=0.3)
            ax.legend(loc="best")
        fig.tight_layout()
        if path is not None:
            fig.savefig(path)
            plt.close(fig)
        return fig
