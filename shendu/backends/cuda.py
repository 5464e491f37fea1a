"""``shendu.backends.cuda``: PyTorch's CUDA matmul flags (kept; CuPy's matmuls follow CuPy's own settings)."""
from types import SimpleNamespace

matmul = SimpleNamespace(allow_tf32=False, allow_fp16_reduced_precision_reduction=True,
                         allow_bf16_reduced_precision_reduction=True)


def is_built() -> bool:
    """Whether shendu can reach CUDA at all: CuPy is importable."""
    from shendu import backend
    return backend._cupy is not None


def preferred_linalg_library(backend=None) -> str:
    return "default"


def flash_sdp_enabled() -> bool:
    return False


def mem_efficient_sdp_enabled() -> bool:
    return False


def math_sdp_enabled() -> bool:
    return True
