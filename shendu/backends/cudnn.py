"""``shendu.backends.cudnn``: PyTorch's cuDNN flags; shendu has no cuDNN code, so they are kept, not used."""
from contextlib import contextmanager

enabled = True
benchmark = False
deterministic = False
allow_tf32 = True
benchmark_limit = 10


def is_available() -> bool:
    """False: shendu's GPU path is CuPy without cuDNN kernels."""
    return False


def version() -> None:
    return None


@contextmanager
def flags(enabled: bool = False, benchmark: bool = False, deterministic: bool = False, allow_tf32: bool = True):
    """Set the flags for a block and restore them after (PyTorch's ``torch.backends.cudnn.flags``)."""
    import sys
    mod = sys.modules[__name__]
    names = ("enabled", "benchmark", "deterministic", "allow_tf32")
    saved = {n: getattr(mod, n) for n in names}
    for n, v in zip(names, (enabled, benchmark, deterministic, allow_tf32)):
        setattr(mod, n, v)
    try:
        yield
    finally:
        for n, v in saved.items():
            setattr(mod, n, v)
