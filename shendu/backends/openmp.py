"""``shendu.backends.openmp``: whether an OpenMP runtime is loaded in this process (found with threadpoolctl).

shendu's own code has no OpenMP; NumPy's BLAS (OpenBLAS, MKL) or SciPy may bring one in.
"""


def is_available() -> bool:
    from threadpoolctl import threadpool_info
    return any(info.get("user_api") == "openmp" for info in threadpool_info())
