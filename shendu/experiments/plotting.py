"""Matplotlib set-up shared by the experiments (imported only when an experiment draws)."""
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


def save(fig, path) -> str:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    import matplotlib.pyplot as plt
    plt.close(fig)
    return str(path)
