"""``shendu.linalg``: PyTorch's ``torch.linalg`` namespace.

The ops live in ``shendu.ops.linalg`` (products), ``shendu.ops.distance`` (vector norms),
``shendu.ops.solve`` (cholesky, triangular and general solves, inv, det, pinv, lstsq, powers),
``shendu.ops.decompositions`` (svd, eigh, eig, qr), ``shendu.ops.lu`` (lu, lu_factor, lu_solve), ``shendu.ops.ldl``,
``shendu.ops.matrix_functions`` (pinv, lstsq, matrix_exp, ...) and ``shendu.ops.matrix_norm`` (matrix norms,
rank, condition number); this module only gathers them under PyTorch's names.
"""
from shendu.ops.combine import diagonal as _diagonal
from shendu.ops.combine import linalg_cross as cross
from shendu.ops.decompositions import eig, eigh, eigvals, eigvalsh, householder_product, qr, svd, svdvals
from shendu.ops.distance import vector_norm
from shendu.ops.ldl import ldl_factor, ldl_factor_ex, ldl_solve
from shendu.ops.linalg import matmul, multi_dot, vdot
from shendu.ops.lu import lu, lu_factor, lu_factor_ex, lu_solve
from shendu.ops.matrix_functions import (
    lstsq,
    matrix_exp,
    matrix_power,
    pinv,
    solve_ex,
    tensorinv,
    tensorsolve,
    vander,
    vecdot,
)
from shendu.ops.matrix_norm import cond, matrix_norm, matrix_rank, norm
from shendu.ops.solve import (
    LinAlgError,
    cholesky,
    cholesky_ex,
    det,
    inv,
    inv_ex,
    slogdet,
    solve,
    solve_triangular,
)


def diagonal(A, *, offset: int = 0, dim1: int = -2, dim2: int = -1):
    """``torch.linalg.diagonal``: ``torch.diagonal`` with the last two dims as the default."""
    return _diagonal(A, offset, dim1, dim2)


__all__ = [
    "LinAlgError", "cholesky", "cholesky_ex", "cond", "cross", "det", "diagonal", "eig", "eigh", "eigvals",
    "eigvalsh", "householder_product", "inv", "inv_ex", "ldl_factor", "ldl_factor_ex", "ldl_solve", "lstsq", "lu",
    "lu_factor", "lu_factor_ex", "lu_solve", "matmul", "matrix_exp", "matrix_norm", "matrix_power", "matrix_rank",
    "multi_dot", "norm", "pinv", "qr", "slogdet", "solve", "solve_ex", "solve_triangular", "svd", "svdvals",
    "tensorinv", "tensorsolve", "vander", "vdot", "vecdot", "vector_norm",
]
