"""``shendu.linalg``: PyTorch's ``torch.linalg`` namespace.

The ops live in ``shendu.ops.linalg`` (products), ``shendu.ops.distance`` (vector norms),
``shendu.ops.solve`` (cholesky, triangular and general solves, inv, det, pinv, lstsq, powers),
``shendu.ops.decompositions`` (svd, eigh, eig, qr) and ``shendu.ops.matrix_norm`` (matrix norms,
rank, condition number); this module only gathers them under PyTorch's names.
"""
from shendu.ops.combine import linalg_cross as cross
from shendu.ops.decompositions import eig, eigh, eigvals, eigvalsh, qr, svd, svdvals
from shendu.ops.distance import vector_norm
from shendu.ops.linalg import matmul, multi_dot, vdot
from shendu.ops.matrix_norm import cond, matrix_norm, matrix_rank, norm
from shendu.ops.solve import (
    LinAlgError,
    cholesky,
    cholesky_ex,
    det,
    inv,
    inv_ex,
    lstsq,
    matrix_power,
    pinv,
    slogdet,
    solve,
    solve_triangular,
)

__all__ = [
    "LinAlgError", "cholesky", "cholesky_ex", "cond", "cross", "det", "eig", "eigh", "eigvals", "eigvalsh", "inv",
    "inv_ex", "lstsq", "matmul", "matrix_norm", "matrix_power", "matrix_rank", "multi_dot", "norm", "pinv", "qr",
    "slogdet", "solve", "solve_triangular", "svd", "svdvals", "vdot", "vector_norm",
]
