"""All differentiable operations, and the table that binds them to ``Tensor`` as methods."""
from __future__ import annotations


def _to_sparse(self, sparse_dim=None, *, layout=None):
    """This tensor as a sparse COO tensor (``shendu.sparse.SparseTensor``); ``sparse_dim`` leading dims sparse."""
    from shendu.sparse import to_sparse
    return to_sparse(self, sparse_dim, layout=layout)


def _conveniences(shape, reduce) -> dict:
    """Methods PyTorch offers that are one line over an op (their ops hold the gradients)."""
    from shendu import random

    def select(self, dim: int, index: int):
        """The slice at ``index`` along ``dim``, that dim removed (``x.select(0, i)`` is ``x[i]``); a view.

        Shape: ``self.shape`` without ``dim``.
        """
        from shendu.ops.dims import wrap_dim
        axis = wrap_dim(dim, self.ndim, "select")
        if not -self.shape[axis] <= index < self.shape[axis]:
            raise IndexError(f"select: index {index} is out of range for dim {dim} of size {self.shape[axis]}")
        return self[(slice(None),) * axis + (index,)]

    def sum_to_size(self, *size):
        """Sum ``self`` down to ``size``, a shape it broadcasts from (what autograd does to a broadcast
        gradient).

        Shape: ``size``.
        """
        size = tuple(size[0]) if len(size) == 1 and isinstance(size[0], (tuple, list)) else size
        return reduce.sum_to(self, size)

    def split_with_sizes(self, split_sizes, dim: int = 0):
        """Split along ``dim`` into pieces of the given ``split_sizes`` (they sum to ``self.shape[dim]``); views."""
        return shape.split(self, list(split_sizes), dim)

    return {
        "ravel": lambda self: shape.reshape(self, (-1,)),
        "select": select,
        "fliplr": lambda self: shape.flip(self, (1,)),
        "flipud": lambda self: shape.flip(self, (0,)),
        "sum_to_size": sum_to_size,
        "split_with_sizes": split_with_sizes,
        "bernoulli": lambda self, p=None, *, generator=None: random.bernoulli(self, p, generator=generator),
        "multinomial": lambda self, num_samples, replacement=False, *, generator=None: random.multinomial(
            self, num_samples, replacement, generator=generator),
    }


_LAMBDA_DOCS = {
    "where": "``shendu.where(condition, self, other)``: ``self`` where ``condition`` is True, else ``other`` "
             "(broadcast).",
    "view_as": "``self.view(other.shape)``. Shape: ``other.shape``.",
    "reshape_as": "``self.reshape(other.shape)``. Shape: ``other.shape``.",
    "ravel": "The elements as one flat dim, ``reshape(-1)`` (a view when the memory allows). Shape: (numel,).",
    "fliplr": "Reversed along dim 1 (left/right), ``flip(1)``; needs at least 2 dims.",
    "flipud": "Reversed along dim 0 (up/down), ``flip(0)``; needs at least 1 dim.",
    "bernoulli": "A new tensor of 0/1 samples, 1 with probability ``self`` (or ``p``) elementwise. Shape: ``self``'s.",
    "multinomial": "``num_samples`` category indices per row drawn with the row's (unnormalised) weights ``self``, "
                   "``replacement`` or not. Shape: (num_samples,) for (C,), (N, num_samples) for (N, C).",
}


def _decomposition_methods() -> dict:
    """The Tensor methods of the factor/solve/decomposition families (torch's names and signatures)."""
    from shendu.ops import decompositions as dec
    from shendu.ops import lu
    from shendu.ops import matrix_functions as mf
    from shendu.ops import solve as sv
    return {"det": sv.det, "inverse": sv.inverse, "cholesky": sv._cholesky_legacy, "slogdet": sv.slogdet,
            "logdet": sv.logdet, "pinverse": mf.pinverse, "matrix_power": mf.matrix_power, "matrix_exp": mf.matrix_exp,
            "cholesky_solve": sv.cholesky_solve, "cholesky_inverse": sv.cholesky_inverse,
            "svd": dec.svd_legacy, "qr": dec.qr_legacy, "geqrf": dec.geqrf, "orgqr": dec.orgqr, "ormqr": dec.ormqr,
            "triangular_solve": sv.triangular_solve, "lu": lu.lu_legacy, "lu_solve": lu.lu_solve_legacy}


def _bind_tensor_methods(Tensor) -> None:
    """Attach operators and methods to ``Tensor`` (called once, by ``shendu/__init__.py``, after every op exists)."""
    from shendu.ops import (  # the rest of the pointwise family
        activation,
        binary,
        clamp,
        combine,
        elementwise,
        fused,
        index,
        linalg,
        rearrange,
        reduce,
        scan,
        shape,
        sort,
        special,
        trig,
    )

    def reflected(fn):
        return lambda self, other: fn(other, self)

    table = {
        # operators
        "__add__": binary.add, "__radd__": reflected(binary.add),
        "__sub__": binary.sub, "__rsub__": binary._rsub,
        "__mul__": binary.mul, "__rmul__": reflected(binary.mul),
        "__truediv__": binary.div, "__rtruediv__": binary._rtruediv,
        "__pow__": binary.pow, "__rpow__": binary._rpow,
        "__floordiv__": binary.floor_divide, "__rfloordiv__": reflected(binary.floor_divide),
        "__mod__": binary.remainder, "__rmod__": reflected(binary.remainder),
        "__matmul__": linalg.matmul, "__rmatmul__": reflected(linalg.matmul),
        "__neg__": elementwise.neg, "__pos__": lambda self: self, "__abs__": elementwise.abs,
        "__eq__": binary.eq, "__ne__": binary.ne, "__lt__": binary.lt, "__le__": binary.le,
        "__gt__": binary.gt, "__ge__": binary.ge,
        "__and__": binary.logical_and, "__or__": binary.logical_or, "__xor__": binary.logical_xor,
        "__invert__": clamp.logical_not,
        "__getitem__": index.getitem,
        # arithmetic (binary.py)
        "add": binary.add, "sub": binary.sub, "subtract": binary.sub, "mul": binary.mul,
        "multiply": binary.mul, "div": binary.div, "divide": binary.div, "true_divide": binary.div,
        "pow": binary.pow, "float_power": binary.float_power, "maximum": binary.maximum,
        "minimum": binary.minimum, "eq": binary.eq, "ne": binary.ne, "lt": binary.lt,
        "le": binary.le, "gt": binary.gt, "ge": binary.ge, "greater": binary.gt,
        "greater_equal": binary.ge, "less": binary.lt, "less_equal": binary.le,
        "not_equal": binary.ne, "floor_divide": binary.floor_divide,
        "remainder": binary.remainder, "fmod": binary.fmod, "copysign": binary.copysign,
        "heaviside": binary.heaviside, "lerp": binary.lerp, "addcmul": binary.addcmul,
        "addcdiv": binary.addcdiv, "logical_and": binary.logical_and,
        "logical_or": binary.logical_or, "logical_xor": binary.logical_xor,
        "equal": binary.equal, "allclose": binary.allclose, "isclose": binary.isclose,
        # elementwise (elementwise.py, trig.py, special.py)
        "neg": elementwise.neg, "negative": elementwise.neg, "positive": elementwise.positive,
        "exp": elementwise.exp, "exp2": elementwise.exp2, "expm1": elementwise.expm1,
        "log": elementwise.log, "log2": elementwise.log2, "log10": elementwise.log10,
        "log1p": elementwise.log1p, "sqrt": elementwise.sqrt, "rsqrt": elementwise.rsqrt,
        "square": elementwise.square, "reciprocal": elementwise.reciprocal,
        "abs": elementwise.abs, "absolute": elementwise.abs, "sign": elementwise.sign,
        "sgn": elementwise.sgn, "signbit": elementwise.signbit,
        "floor": elementwise.floor, "ceil": elementwise.ceil, "round": elementwise.round,
        "trunc": elementwise.trunc, "fix": elementwise.trunc, "frac": elementwise.frac,
        "clamp": clamp.clamp, "clip": clamp.clamp, "clamp_min": clamp.clamp_min,
        "clamp_max": clamp.clamp_max, "nan_to_num": clamp.nan_to_num,
        "where": lambda self, cond, other: elementwise.where(cond, self, other),
        "clone": elementwise.clone, "isnan": clamp.isnan, "isinf": clamp.isinf,
        "isfinite": clamp.isfinite, "isposinf": clamp.isposinf,
        "isneginf": clamp.isneginf, "logical_not": clamp.logical_not,
        "sigmoid": elementwise.sigmoid, "relu": elementwise.relu,
        "sin": trig.sin, "cos": trig.cos, "tan": trig.tan, "asin": trig.asin, "acos": trig.acos,
        "atan": trig.atan, "arcsin": trig.asin, "arccos": trig.acos, "arctan": trig.atan,
        "sinh": trig.sinh, "cosh": trig.cosh, "tanh": trig.tanh, "asinh": trig.asinh,
        "acosh": trig.acosh, "atanh": trig.atanh, "arcsinh": trig.asinh, "arccosh": trig.acosh,
        "arctanh": trig.atanh, "atan2": trig.atan2, "arctan2": trig.atan2, "hypot": trig.hypot,
        "sinc": trig.sinc, "deg2rad": trig.deg2rad, "rad2deg": trig.rad2deg,
        "erf": special.erf, "erfc": special.erfc, "erfinv": special.erfinv, "logit": special.logit,
        "xlogy": special.xlogy, "logaddexp": special.logaddexp, "logaddexp2": special.logaddexp2,
        "lgamma": special.lgamma, "digamma": special.digamma, "polygamma": special._polygamma_method,
        "mvlgamma": special.mvlgamma,
        "hardshrink": activation.hardshrink, "prelu": activation.prelu,
        # reductions
        "sum": reduce.sum, "mean": reduce.mean, "var": reduce.var, "std": reduce.std,
        "max": reduce.max, "min": reduce.min, "amax": reduce.amax, "amin": reduce.amin,
        "argmax": reduce.argmax, "argmin": reduce.argmin, "prod": reduce.prod,
        "logsumexp": reduce.logsumexp, "norm": reduce.norm, "all": reduce.all, "any": reduce.any,
        "cumsum": scan.cumsum, "count_nonzero": reduce.count_nonzero,
        # shape
        "reshape": shape.reshape, "view": shape.view, "flatten": shape.flatten,
        "unflatten": shape.unflatten, "permute": shape.permute, "transpose": shape.transpose,
        "swapaxes": shape.transpose, "swapdims": shape.transpose, "t": shape.t,
        "movedim": shape.movedim, "expand": shape.expand, "expand_as": shape.expand_as,
        "broadcast_to": shape.broadcast_to, "squeeze": shape.squeeze, "unsqueeze": shape.unsqueeze,
        "split": shape.split, "chunk": shape.chunk, "unbind": shape.unbind, "flip": shape.flip,
        "repeat": shape.repeat, "tile": shape.tile, "repeat_interleave": shape.repeat_interleave,
        "triu": shape.triu, "tril": shape.tril,
        "view_as": lambda self, other: shape.reshape(self, other.shape),
        "reshape_as": lambda self, other: shape.reshape(self, other.shape),
        # indexing
        "gather": index.gather, "scatter_add": index.scatter_add, "index_select": index.index_select,
        "index_add": index.index_add, "index_put": index.index_put, "masked_fill": index.masked_fill,
        "take_along_dim": index.take_along_dim, "nonzero": index.nonzero,
        # sorting and counting (sort.py), scans (scan.py), diagonals and products (combine.py)
        "sort": sort.sort, "argsort": sort.argsort, "msort": sort.msort, "topk": sort.topk,
        "kthvalue": sort.kthvalue, "median": sort.median, "nanmedian": sort.nanmedian,
        "mode": sort.mode, "unique": sort.unique, "unique_consecutive": sort.unique_consecutive,
        "bincount": sort.bincount, "histc": sort.histc,
        "cumprod": scan.cumprod, "cummax": scan.cummax, "cummin": scan.cummin,
        "logcumsumexp": scan.logcumsumexp,
        "diagonal": combine.diagonal, "diag": combine.diag, "diag_embed": combine.diag_embed,
        "trace": combine.trace, "kron": combine.kron, "cross": combine.cross,
        "roll": rearrange.roll, "narrow": rearrange.narrow, "rot90": rearrange.rot90, "unfold": rearrange.unfold,
        "tensor_split": rearrange.tensor_split, "hsplit": rearrange.hsplit, "vsplit": rearrange.vsplit,
        "dsplit": rearrange.dsplit, "moveaxis": shape.movedim, "type_as": rearrange.type_as,
        "stride": rearrange.stride, "new_zeros": rearrange.new_zeros, "new_ones": rearrange.new_ones,
        "new_full": rearrange.new_full, "new_empty": rearrange.new_empty, "new_tensor": rearrange.new_tensor,
        "scatter": index.scatter, "scatter_reduce": index.scatter_reduce,
        "index_fill": index.index_fill, "index_copy": index.index_copy,
        "masked_select": index.masked_select, "masked_scatter": index.masked_scatter,
        "take": index.take, "argwhere": index.argwhere,
        "aminmax": reduce.aminmax, "nansum": reduce.nansum, "nanmean": reduce.nanmean,
        # linear algebra
        "matmul": linalg.matmul, "mm": linalg.mm, "bmm": linalg.bmm, "dot": linalg.dot,
        "outer": linalg.outer, "ger": linalg.outer, "mv": linalg.mv, "inner": linalg.inner,
        "vdot": linalg.vdot, "addmm": linalg.addmm, "addmv": linalg.addmv, "addr": linalg.addr,
        "addbmm": linalg.addbmm, "baddbmm": linalg.baddbmm,
        **_decomposition_methods(),  # det, inverse, cholesky, svd, qr, ... (shendu.ops.solve / decompositions)
        "to_sparse": _to_sparse,  # shendu.sparse (a SparseTensor overrides the products it supports)
        # neural-network functions that PyTorch also offers as methods
        "softmax": fused.softmax, "log_softmax": fused.log_softmax, "softmin": fused.softmin,
    }
    table.update(_conveniences(shape, reduce))
    for name, doc in _LAMBDA_DOCS.items():  # the one-line methods are lambdas: help() shows these
        table[name].__doc__ = doc
    for name, fn in table.items():
        setattr(Tensor, name, fn)
    from shendu.autograd import inplace
    inplace.bind(Tensor)  # the in-place twins (add_, masked_fill_, x[i] = v, ...) of the methods above
    Tensor.T = property(shape._T)
    Tensor.mT = property(shape._mT)
