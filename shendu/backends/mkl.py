"""``shendu.backends.mkl``: whether NumPy's BLAS is Intel MKL (found with threadpoolctl)."""


def is_available() -> bool:
    from threadpoolctl import threadpool_info
    return any(info.get("internal_api") == "mkl" for info in threadpool_info())
