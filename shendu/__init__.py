"""shendu (深度): a deep learning framework written from first principles over NumPy.

``import shendu as sd`` (or ``import shendu as torch``) gives PyTorch's names: tensors with
reverse-mode autodiff, ``shendu.nn``, ``shendu.nn.functional``, ``shendu.optim``.
"""
import builtins

import numpy as _np

from shendu import dtypes
from shendu.autograd import (
    Function, enable_grad, grad, gradcheck, gradgradcheck, inference_mode, is_grad_enabled,
    no_grad, set_grad_enabled,
)
from shendu.backend import Device as device
from shendu.creation import (
    arange, as_tensor, empty, empty_like, eye, from_numpy, full, full_like, linspace, logspace,
    ones, ones_like, tensor, zeros, zeros_like,
)
from shendu.dtypes import (
    bool_, double, float16, float32, float64, get_default_dtype, half, int8, int16, int32, int64,
    long, set_default_dtype, short, uint8,
)
from shendu.ops.activation import celu, hardshrink, prelu, rrelu, selu, threshold
from shendu.ops.binary import (
    add, addcdiv, addcmul, allclose, copysign, div, divide, eq, equal, float_power, floor_divide,
    fmod, ge, greater, greater_equal, gt, heaviside, isclose, le, lerp, less, less_equal,
    logical_and, logical_or, logical_xor, lt, maximum, minimum, mul, ne, not_equal, pow,
    remainder, sub, true_divide,
)
from shendu.ops.binary import mul as multiply
from shendu.ops.binary import sub as subtract
from shendu.ops.clamp import (
    clamp, clamp_max, clamp_min, clip, isfinite, isinf, isnan, isneginf, isposinf, logical_not, nan_to_num,
)
from shendu.ops.elementwise import (
    abs, absolute, ceil, clone, exp, exp2, expm1, fix, floor, frac, log, log1p, log2, log10,
    neg, negative, positive, reciprocal, relu, round, rsqrt, sgn, sigmoid, sign, signbit, sqrt, square,
    trunc, where,
)
from shendu.ops.special import (
    digamma, erf, erfc, erfinv, lgamma, logaddexp, logaddexp2, logit, mvlgamma, polygamma, xlogy,
)
from shendu.ops.trig import (
    acos, acosh, arccos, arccosh, arcsin, arcsinh, arctan, arctan2, arctanh, asin, asinh, atan,
    atan2, atanh, cos, cosh, deg2rad, hypot, rad2deg, sin, sinc, sinh, tan, tanh,
)
from shendu.io import load, save
from shendu.ops.fused import log_softmax, softmax
from shendu.ops.index import (
    gather, index_add, index_put, index_select, masked_fill, nonzero, scatter_add, take_along_dim,
)
from shendu.ops.linalg import bmm, dot, einsum, outer
from shendu.ops.linalg import (  # noqa: I001  (products, distances and resizing: one block per family)
    addbmm, addmm, addmv, addr, baddbmm, chain_matmul, ger, inner, mv, vdot,
)
from shendu.ops.distance import cdist, cosine_similarity, pairwise_distance, pdist  # noqa: I001
from shendu.ops.solve import (  # noqa: I001  (torch.det, torch.inverse, ...: the linalg families' top-level names)
    cholesky_inverse, cholesky_solve, det, inverse, logdet, slogdet, triangular_solve,
)
from shendu.ops.matrix_functions import matrix_exp, matrix_power, pinverse  # noqa: I001
from shendu.ops.lu import lu_legacy as lu, lu_solve_legacy as lu_solve, lu_unpack  # noqa: I001
from shendu.ops.matrix_norm import frobenius_norm, nuclear_norm  # noqa: I001
from shendu.ops.matrix_functions import vander_legacy as vander  # noqa: I001
from shendu.ops.solve import _cholesky_legacy as cholesky  # noqa: I001
from shendu.ops.decompositions import geqrf, orgqr, ormqr, qr_legacy as qr, svd_legacy as svd  # noqa: I001
from shendu.ops.decompositions import pca_lowrank, svd_lowrank  # noqa: I001
from shendu.ops.resize import pixel_shuffle, pixel_unshuffle  # noqa: I001
from shendu.ops.recurrent import gru_cell, lstm_cell, rnn_relu_cell, rnn_tanh_cell  # noqa: I001
from shendu.ops.reduce import (
    all, amax, amin, any, argmax, argmin, count_nonzero, logsumexp, max, mean, min, norm,
    prod, std, std_mean, sum, var, var_mean,
)
from shendu.ops.shape import (
    broadcast_tensors, broadcast_to, cat, chunk, concat, concatenate, flatten, flip, hstack,
    movedim, permute, repeat_interleave, reshape, split, squeeze, stack, swapaxes, t, tile,
    transpose, tril, triu, unbind, unflatten, unsqueeze, vstack,
)
from shendu.ops.combine import (
    block_diag, cartesian_prod, combinations, cross, diag, diag_embed, diagonal, kron, meshgrid,
    tensordot, trace, tril_indices, triu_indices,
)
from shendu.ops.index import (
    argwhere, index_copy, index_fill, masked_scatter, masked_select, scatter, scatter_reduce, take,
)
from shendu.ops.reduce import aminmax, nanmean, nansum
from shendu.ops.scan import cummax, cummin, cumprod, cumsum, logcumsumexp
from shendu.ops.rearrange import (
    atleast_1d, atleast_2d, atleast_3d, column_stack, dsplit, dstack, hsplit, narrow, roll, rot90,
    tensor_split, vsplit,
)
from shendu.ops.shape import moveaxis, swapdims
from shendu.ops.sort import (
    argsort, bincount, bucketize, histc, kthvalue, median, mode, msort, nanmedian, searchsorted, sort,
    topk, unique, unique_consecutive,
)
from shendu.random import (
    Generator, bernoulli, get_rng_state, initial_seed, manual_seed, multinomial, normal, rand,
    rand_like, randint, randint_like, randn, randn_like, randperm, seed, set_rng_state,
)
from shendu.tensor import Tensor
from shendu.threads import get_num_interop_threads, get_num_threads, set_num_interop_threads, set_num_threads
# ---- the PyTorch surface around the core (creation, random, dtypes info, sparse, device namespaces) ----
from shendu.creation import (  # noqa: I001
    BFloat16Tensor, BoolTensor, ByteTensor, CharTensor, DoubleTensor, FloatTensor, HalfTensor, IntTensor,
    LongTensor, ShortTensor, asarray, empty_strided, get_default_device, set_default_device,
)
from shendu.dtypes import bfloat16, cdouble, cfloat, complex64, complex128  # noqa: I001
from shendu.random import default_generator, poisson  # noqa: I001
from shendu.size import Size  # noqa: I001
from shendu.sparse import matmul, mm, sparse_coo, sparse_coo_tensor, strided  # noqa: I001  (sparse-aware)
from shendu.sparse import layout  # noqa: I001
from shendu.tensor_api import (  # noqa: I001
    get_printoptions, is_complex, is_floating_point, is_nonzero, is_storage, is_tensor, numel, set_printoptions,
)
from shendu.type_info import finfo, iinfo  # noqa: I001
from shendu import accelerator, backends, cuda, onnx, random, sparse  # noqa: E402,F401,I001
from shendu import distributed  # noqa: E402,F401,I001  (mpi4py loads only in init_process_group)
# ---- end of the surface block ----

bool = bool_  # noqa: A001 - PyTorch's name; the builtin stays reachable as builtins.bool
dtype = _np.dtype  # noqa: A001 - the class of every dtype here (NumPy's), as torch.dtype
pi, e, inf, nan = 3.141592653589793, 2.718281828459045, builtins.float("inf"), builtins.float("nan")
float = float32  # noqa: A001
int = int32  # noqa: A001

from shendu import amp, autograd, nn, optim, utils  # noqa: E402,F401  (they import the names above)
from shendu.amp import autocast, get_autocast_dtype, is_autocast_enabled  # noqa: E402
from shendu import linalg  # noqa: E402,F401,I001
from shendu import distributions  # noqa: E402,F401,I001
from shendu.nn.summary import summary  # noqa: E402  (a Keras-style model table; not in torch)

# Every op module is imported by now: give Tensor its operators and methods, once.
from shendu.ops import _bind_tensor_methods  # noqa: E402

_bind_tensor_methods(Tensor)

__version__ = "0.1.0"

__all__ = [
    "BFloat16Tensor", "BoolTensor", "ByteTensor", "CharTensor", "DoubleTensor", "FloatTensor", "HalfTensor",
    "IntTensor", "LongTensor", "ShortTensor", "Size", "accelerator", "amp", "autocast", "get_autocast_dtype",
    "is_autocast_enabled", "asarray", "dtype", "e", "inf", "nan", "pi",
    "backends", "bfloat16",
    "cdouble",
    "cfloat", "complex64", "complex128", "cuda", "default_generator", "distributed", "empty_strided", "finfo",
    "get_default_device", "get_printoptions", "iinfo", "is_complex", "is_floating_point", "is_nonzero",
    "is_storage", "is_tensor", "layout", "numel", "onnx", "poisson", "random", "set_default_device",
    "set_printoptions", "sparse", "sparse_coo", "sparse_coo_tensor", "strided",
    "aminmax", "argsort", "argwhere", "atleast_1d", "atleast_2d", "atleast_3d", "bincount",
    "block_diag", "bucketize", "cartesian_prod", "column_stack", "combinations", "cross", "cummax",
    "cummin", "cumprod", "diag", "diag_embed", "diagonal", "dsplit", "dstack", "histc", "hsplit",
    "index_copy", "index_fill", "kron", "kthvalue", "logcumsumexp", "masked_scatter", "masked_select",
    "median", "meshgrid", "mode", "moveaxis", "msort", "nanmean", "nanmedian", "nansum", "narrow",
    "roll", "rot90", "scatter", "scatter_reduce", "searchsorted", "sort", "swapdims", "take",
    "tensor_split", "tensordot", "topk", "trace", "tril_indices", "triu_indices", "unique",
    "unique_consecutive", "vsplit",
    "absolute", "acos", "acosh", "addcdiv", "addcmul", "arccos", "arccosh", "arcsin", "arcsinh",
    "arctan", "arctan2", "arctanh", "asin", "asinh", "atan", "atan2", "atanh", "celu", "clamp_max",
    "clamp_min", "copysign", "cosh", "deg2rad", "divide", "erfc", "erfinv", "exp2", "fix",
    "float_power", "fmod", "frac", "greater", "greater_equal", "hardshrink", "heaviside", "hypot",
    "isneginf", "isposinf", "lerp", "less", "less_equal", "log2", "log10", "logaddexp",
    "logaddexp2", "logit", "multiply", "nan_to_num", "negative", "not_equal", "positive", "prelu",
    "rad2deg", "reciprocal", "rrelu", "selu", "sgn", "signbit", "sinc", "sinh", "square",
    "subtract", "tan", "threshold", "true_divide", "xlogy",
    "digamma", "lgamma", "mvlgamma", "polygamma",
    "addbmm", "addmm", "addmv", "addr", "baddbmm", "cdist", "chain_matmul", "cosine_similarity", "ger",
    "distributions", "inner", "linalg", "mv", "pairwise_distance", "pdist", "pixel_shuffle", "pixel_unshuffle", "vdot",
    "cholesky", "cholesky_inverse", "cholesky_solve", "det", "inverse", "logdet", "matrix_exp", "matrix_power",
    "frobenius_norm", "geqrf", "lu", "lu_solve", "lu_unpack", "nuclear_norm", "orgqr", "ormqr", "pinverse", "qr",
    "pca_lowrank", "slogdet", "svd", "svd_lowrank", "triangular_solve", "vander",
    "gru_cell", "lstm_cell", "rnn_relu_cell", "rnn_tanh_cell",
    "Function", "Generator", "Tensor", "abs", "add", "all", "allclose", "amax", "amin", "any",
    "arange", "argmax", "argmin", "as_tensor", "autograd", "bernoulli", "bmm", "bool",
    "broadcast_tensors", "broadcast_to", "cat", "ceil", "chunk", "clamp", "clip", "clone",
    "concat", "concatenate", "cos", "count_nonzero", "cumsum", "device", "div", "dot", "double",
    "dtypes", "einsum", "empty", "empty_like", "enable_grad", "eq", "equal", "erf", "exp",
    "expm1", "eye", "flatten", "flip", "float", "float16", "float32", "float64", "floor",
    "floor_divide", "from_numpy", "full", "full_like", "gather", "ge", "get_default_dtype",
    "get_num_interop_threads", "get_num_threads",
    "get_rng_state", "grad", "gradcheck", "gradgradcheck", "gt", "half", "hstack", "index_add",
    "index_put", "index_select", "inference_mode", "initial_seed", "int", "int8", "int16", "int32", "int64",
    "is_grad_enabled", "isclose", "isfinite", "isinf", "isnan", "le", "linspace", "load", "log",
    "log1p", "log_softmax", "logical_and", "logical_not", "logical_or", "logical_xor",
    "logspace", "logsumexp", "long", "lt", "manual_seed", "masked_fill", "matmul", "max",
    "maximum", "mean", "min", "minimum", "mm", "movedim", "mul", "multinomial", "ne", "neg",
    "nn", "no_grad", "optim", "nonzero", "norm", "normal", "ones", "ones_like", "outer", "permute", "pow",
    "prod", "rand", "rand_like", "randint", "randint_like", "randn", "randn_like", "randperm",
    "relu", "remainder", "repeat_interleave", "reshape", "round", "rsqrt", "save", "scatter_add", "seed",
    "set_default_dtype", "set_num_interop_threads", "set_num_threads",
    "set_grad_enabled", "set_rng_state", "short", "sigmoid", "sign", "sin",
    "softmax", "split", "sqrt", "squeeze", "stack", "std", "std_mean", "sub", "sum", "summary", "swapaxes",
    "t", "take_along_dim", "tanh", "tensor", "tile", "transpose", "tril", "triu", "trunc",
    "uint8", "unbind", "utils", "unflatten", "unsqueeze", "var", "var_mean", "vstack", "where", "zeros",
    "zeros_like",
]
