"""Matplotlib set-up shared by the experiments (imported only when an experiment draws).

Figures use matplotlib's constrained layout, so a legend placed outside the axes
(``legend_outside``) takes room of its own instead of covering data.
"""
from __future__ import annotations


def pyplot():
    """matplotlib.pyplot on the non-interactive Agg backend (no display needed)."""
    try:
        import matplotlib
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("the experiments draw with matplotlib: pip install 'shendu[demo]'") from e
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def figure(nrows: int = 1, ncols: int = 1, *, figsize: tuple, title: str | None = None, squeeze: bool = True,
           **kwargs):
    """``(fig, axes)`` with constrained layout and an optional figure title (the figure's caption line)."""
    plt = pyplot()
    fig, axes = plt.subplots(nrows, ncols, figsize=figsize, layout="constrained", squeeze=squeeze, **kwargs)
    if title:
        fig.suptitle(title)
    return fig, axes


def legend_outside(fig, ax=None, *, loc: str = "lower center", ncol: int | None = None, handles=None, labels=None,
                   **kwargs):
    """One legend for the figure, outside every axes (``loc`` "lower center", "upper center" or "right"),
    built from ``ax``'s lines (default: the first axes) unless ``handles``/``labels`` are given."""
    if handles is None:
        handles, labels = (ax or fig.axes[0]).get_legend_handles_labels()
    if ncol is None:
        ncol = 1 if loc in ("right", "center right", "left", "center left") else min(len(handles), 4)
    return fig.legend(handles, labels, loc=f"outside {loc}", ncol=ncol, fontsize=8, frameon=False, **kwargs)


def integer_ticks(ax, axis: str = "x") -> None:
    """Ticks at whole numbers only on ``axis`` ("x", "y" or "both"): for counts, orders, epochs and layers."""
    from matplotlib.ticker import MaxNLocator
    for name in ("x", "y") if axis == "both" else (axis,):
        getattr(ax, f"{name}axis").set_major_locator(MaxNLocator(integer=True))


def save(fig, path) -> str:
    """Write ``fig`` as a PNG (110 dpi) and close it; returns the path."""
    if fig.get_layout_engine() is None:
        fig.tight_layout()
    fig.savefig(path, dpi=110)
    import matplotlib.pyplot as plt
    plt.close(fig)
    return str(path)
