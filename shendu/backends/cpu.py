"""``shendu.backends.cpu``: the CPU's vector capability as PyTorch reports it (NumPy picks its own kernels)."""


def get_cpu_capability() -> str:
    """NumPy's best SIMD extension on this CPU, in PyTorch's words ("AVX512", "AVX2", "DEFAULT")."""
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as features
    except ImportError:  # a NumPy without that table
        features = {}
    if features.get("AVX512F"):
        return "AVX512"
    if features.get("AVX2"):
        return "AVX2"
    return "DEFAULT"
