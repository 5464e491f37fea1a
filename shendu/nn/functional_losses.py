"""Every loss function of ``shendu.nn.functional`` (the Modules are in ``shendu.nn.losses``).

Each loss takes PyTorch's ``reduction`` ('mean' | 'sum' | 'none'; ``kl_div`` also 'batchmean') and,
where PyTorch does, the deprecated ``size_average`` / ``reduce`` flags: when either is given it
overrides ``reduction`` by PyTorch's rule (``legacy_get_string``: reduce=False -> 'none', else
size_average=False -> 'sum', else 'mean') and warns as PyTorch does.

The losses are compositions of differentiable Tensor ops (so ``create_graph`` works), except the
softmax cross-entropy (the fused op of ``shendu.ops.fused``) and ``binary_cross_entropy``, a small
fused op whose backward follows PyTorch's formula (x - t) / max(x (1 - x), 1e-12): a composite
through the clamped logs would give 0/0 = nan at probabilities of exactly 0 or 1, which a
saturated float32 sigmoid produces.
"""
from __future__ import annotations

import functools
import math
import warnings

from shendu.amp import autocast_mode as _amp
from shendu.autograd.function import Function
from shendu.backend import array_module
from shendu.grad_mode import is_grad_enabled
from shendu.ops.activation import logsigmoid, softplus
from shendu.ops.distance import pairwise_distance
from shendu.ops.elementwise import relu, where
from shendu.ops.fused import _move_class_last, composite_backward, softmax_cross_entropy
from shendu.tensor import Tensor

_REDUCTIONS = ("mean", "sum", "none")


def _float32_under_autocast(loss):
    """Under ``autocast`` the loss takes its floating inputs in float32 (PyTorch's float32 list)."""
    name = loss.__name__

    @functools.wraps(loss)
    def run(*args, **kwargs):
        if _amp.active:
            args = _amp.cast(name, *args)
            if kwargs:
                keys = list(kwargs)
                kwargs = dict(zip(keys, _amp.cast(name, *(kwargs[k] for k in keys))))
        return loss(*args, **kwargs)
    return run


# -- reduction -----------------------------------------------------------------------------------
def legacy_get_string(size_average, reduce, emit_warning: bool = True) -> str:
    """PyTorch's ``_Reduction.legacy_get_string``: the reduction the deprecated flags stand for."""
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    ret = "mean" if size_average and reduce else "sum" if reduce else "none"
    if emit_warning:
        warnings.warn(f"size_average and reduce args will be deprecated, please use reduction='{ret}' instead.",
                      UserWarning, stacklevel=3)
    return ret


def _reduction(size_average, reduce, reduction: str, op: str, allowed=_REDUCTIONS) -> str:
    """The effective reduction: the legacy flags override ``reduction`` when either is given."""
    if size_average is not None or reduce is not None:
        reduction = legacy_get_string(size_average, reduce)
    if reduction not in allowed:
        raise ValueError(f"{op}: reduction must be one of {allowed}, got {reduction!r}")
    return reduction


def _reduce(loss: Tensor, reduction: str, op: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"{op}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _as_tensor(x, like: Tensor) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor._wrap(like._xp().asarray(x, dtype=like.dtype))


def _same_shape(input: Tensor, target: Tensor, op: str, what: str = "target") -> None:
    if tuple(input.shape) != tuple(target.shape):
        raise ValueError(f"{op}: input of shape {input.shape} and {what} of shape {target.shape} must "
                         "have the same shape")


def _broadcastable(input: Tensor, target: Tensor, op: str) -> None:
    """PyTorch's regression losses broadcast a target of another shape, with a warning."""
    if tuple(input.shape) == tuple(target.shape):
        return
    try:
        array_module(input._data).broadcast_shapes(input.shape, target.shape)
    except ValueError:
        raise RuntimeError(f"{op}: the target's shape {target.shape} does not broadcast with the input's "
                           f"shape {input.shape}") from None
    warnings.warn(f"{op}: using a target size ({target.shape}) that is different to the input size "
                  f"({input.shape}). This will likely lead to incorrect results due to broadcasting. "
                  "Please ensure they have the same size.", UserWarning, stacklevel=3)


def _elementwise_weight(loss: Tensor, weight: Tensor | None, input: Tensor, op: str) -> Tensor:
    if weight is None:
        return loss
    if tuple(weight.shape) != tuple(input.shape):
        raise ValueError(f"{op}: weight of shape {weight.shape} must have the input's shape {input.shape}")
    return loss * weight


# -- regression losses --------------------------------------------------------------------------
@_float32_under_autocast
def mse_loss(input: Tensor, target: Tensor, size_average=None, reduce=None, reduction: str = "mean",
             weight: Tensor | None = None) -> Tensor:
    """(input - target)² elementwise; with ``weight`` (input's shape), 'mean' is Σ w d² / Σ w as in PyTorch."""
    reduction = _reduction(size_average, reduce, reduction, "mse_loss")
    target = _as_tensor(target, input)
    _broadcastable(input, target, "mse_loss")
    d = input - target
    loss = _elementwise_weight(d * d, weight, input, "mse_loss")
    if weight is not None and reduction == "mean":
        return loss.sum() / weight.sum()
    return _reduce(loss, reduction, "mse_loss")


@_float32_under_autocast
def l1_loss(input: Tensor, target: Tensor, size_average=None, reduce=None, reduction: str = "mean",
            weight: Tensor | None = None) -> Tensor:
    """|input - target| elementwise; with ``weight`` (input's shape), 'mean' is Σ w|d| / Σ w as in PyTorch."""
    reduction = _reduction(size_average, reduce, reduction, "l1_loss")
    target = _as_tensor(target, input)
    _broadcastable(input, target, "l1_loss")
    loss = _elementwise_weight((input - target).abs(), weight, input, "l1_loss")
    if weight is not None and reduction == "mean":
        return loss.sum() / weight.sum()
    return _reduce(loss, reduction, "l1_loss")


@_float32_under_autocast
def huber_loss(input: Tensor, target: Tensor, reduction: str = "mean", delta: float = 1.0,
               weight: Tensor | None = None) -> Tensor:
    """0.5 d² where |d| < delta, else delta (|d| - 0.5 delta), for d = input - target.

    With ``weight`` (input's shape) 'mean' is the plain mean of w * loss, as in PyTorch.
    """
    reduction = _reduction(None, None, reduction, "huber_loss")
    if delta <= 0:
        raise ValueError(f"huber_loss: delta must be positive, got {delta}")
    target = _as_tensor(target, input)
    _broadcastable(input, target, "huber_loss")
    d = input - target
    ad = d.abs()
    loss = where(ad < delta, 0.5 * d * d, delta * (ad - 0.5 * delta))
    return _reduce(_elementwise_weight(loss, weight, input, "huber_loss"), reduction, "huber_loss")


@_float32_under_autocast
def smooth_l1_loss(input: Tensor, target: Tensor, size_average=None, reduce=None, reduction: str = "mean",
                   beta: float = 1.0) -> Tensor:
    """0.5 d² / beta where |d| < beta, else |d| - 0.5 beta (beta = 0 is the L1 loss)."""
    reduction = _reduction(size_average, reduce, reduction, "smooth_l1_loss")
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must be non-negative, got {beta}")
    target = _as_tensor(target, input)
    _broadcastable(input, target, "smooth_l1_loss")
    d = input - target
    ad = d.abs()
    loss = ad if beta == 0 else where(ad < beta, (0.5 / beta) * d * d, ad - 0.5 * beta)
    return _reduce(loss, reduction, "smooth_l1_loss")


@_float32_under_autocast
def poisson_nll_loss(input: Tensor, target: Tensor, log_input: bool = True, full: bool = False,
                     size_average=None, eps: float = 1e-8, reduce=None, reduction: str = "mean") -> Tensor:
    """Poisson negative log-likelihood: exp(x) - t x (``log_input``) or x - t log(x + eps).

    ``full`` adds Stirling's approximation of log(t!), t log t - t + ½ log(2π t), where t > 1.
    """
    reduction = _reduction(size_average, reduce, reduction, "poisson_nll_loss")
    target = _as_tensor(target, input)
    loss = input.exp() - target * input if log_input else input - target * (input + eps).log()
    if full:
        td = target._data
        xp = array_module(td)
        with xp.errstate(divide="ignore", invalid="ignore"):
            stirling = td * xp.log(td) - td + 0.5 * xp.log(2 * math.pi * td)
        loss = loss + Tensor._wrap(xp.where(td > 1, stirling, 0).astype(input.dtype, copy=False))
    return _reduce(loss, reduction, "poisson_nll_loss")


def gaussian_nll_loss(input: Tensor, target: Tensor, var, full: bool = False, eps: float = 1e-6,
                      reduction: str = "mean") -> Tensor:
    """½ (log max(var, eps) + (input - target)² / max(var, eps)) (+ ½ log 2π with ``full``).

    ``var`` is a float, a tensor of the input's shape, or one with one dim of size 1 (or the last dim
    missing): one variance shared along that dim. As in PyTorch, the clamp to ``eps`` changes the
    value but not the gradient.
    """
    _reduction(None, None, reduction, "gaussian_nll_loss")
    if not isinstance(var, Tensor):
        if var < 0:
            raise ValueError(f"gaussian_nll_loss: var has a negative entry ({var})")
        var = Tensor._wrap(input._xp().full(input.shape, var, dtype=input.dtype))
    elif var.numel() and bool((var._data < 0).any()):
        raise ValueError("gaussian_nll_loss: var has negative entry/entries")
    if tuple(var.shape) != tuple(input.shape):
        if tuple(input.shape[:-1]) == tuple(var.shape):
            var = var.unsqueeze(-1)
        elif not (input.ndim == var.ndim
                  and sum(v for i, v in zip(input.shape, var.shape) if i != v) == 1):
            raise ValueError(f"gaussian_nll_loss: var of shape {var.shape} is of incorrect size for an input "
                             f"of shape {input.shape}")
    xp = var._xp()
    var = var + Tensor._wrap(xp.maximum(var._data, eps) - var._data)  # clamped value, identity gradient
    d = input - target
    loss = 0.5 * (var.log() + d * d / var)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, reduction, "gaussian_nll_loss")


# -- classification: cross-entropy and NLL ---------------------------------------------------------
@_float32_under_autocast
def cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None, size_average=None,
                  ignore_index: int = -100, reduce=None, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """Softmax cross-entropy between logits and class indices or class probabilities (fused).

    Shape: input (N, C), (C,) or (N, C, d1, ...); target (N,) / () / (N, d1, ...) int64 class
    indices in [0, C) (or ``ignore_index``), or probabilities of the input's shape; weight (C,).
    Output: a scalar, or the target's batch shape with reduction='none'. 'mean' with class
    indices is the weighted mean over the non-ignored targets (Σ w_y l / Σ w_y), as in PyTorch.
    """
    reduction = _reduction(size_average, reduce, reduction, "cross_entropy")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    target = target if isinstance(target, Tensor) else Tensor._wrap(input._xp().asarray(target))
    soft = target.dtype.kind == "f"
    if input.ndim == 1:
        out = cross_entropy(input.unsqueeze(0), target.unsqueeze(0), weight, ignore_index=ignore_index,
                            reduction=reduction, label_smoothing=label_smoothing)
        return out.squeeze(0) if reduction == "none" else out
    expected = input.shape if soft else (input.shape[0],) + input.shape[2:]
    if input.ndim == 0 or tuple(target.shape) != tuple(expected):
        raise RuntimeError(f"cross_entropy: input of shape {input.shape} expects a target of shape "
                           f"{expected} ({'probabilities' if soft else 'class indices'}), got "
                           f"{target.shape} with dtype {target.dtype}")
    if not soft and target.dtype.kind not in "iu":
        raise RuntimeError(f"cross_entropy: class-index targets must be integers, got {target.dtype}")
    if input.dtype.kind != "f":
        raise RuntimeError(f"cross_entropy: logits must be floating point, got {input.dtype}")
    C = input.shape[1]
    if weight is not None and tuple(weight.shape) != (C,):
        raise RuntimeError(f"cross_entropy: weight should have shape ({C},) for {C} classes, got {weight.shape}")
    spatial = input.shape[2:]
    z, t = _move_class_last(input, target)
    w = weight._data.astype(input.dtype, copy=False) if weight is not None else None
    td = t._data.astype(input.dtype, copy=False) if soft else t._data
    out = softmax_cross_entropy(z, td, w, ignore_index, label_smoothing, reduction)
    if reduction == "none" and spatial:
        out = out.reshape((input.shape[0],) + spatial)
    return out


@_float32_under_autocast
def nll_loss(input: Tensor, target: Tensor, weight: Tensor | None = None, size_average=None,
             ignore_index: int = -100, reduce=None, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood -w_y x_y of log-probabilities (N, C) or (N, C, d1, ...) at class indices.

    'mean' is the weighted mean Σ w_y (-x_y) / Σ w_y over the non-ignored targets.
    """
    reduction = _reduction(size_average, reduce, reduction, "nll_loss")
    target = target if isinstance(target, Tensor) else Tensor._wrap(input._xp().asarray(target))
    if input.ndim == 1:
        out = nll_loss(input.unsqueeze(0), target.unsqueeze(0), weight, ignore_index=ignore_index,
                       reduction=reduction)
        return out.squeeze(0) if reduction == "none" else out
    expected = (input.shape[0],) + input.shape[2:] if input.ndim >= 2 else ()
    if input.ndim == 0 or tuple(target.shape) != expected or target.dtype.kind not in "iu":
        raise RuntimeError(f"nll_loss: input of shape {input.shape} expects integer class indices of shape "
                           f"{expected}, got a target of shape {target.shape} and dtype {target.dtype}")
    spatial = input.shape[2:]
    z, t = _move_class_last(input, target)
    xp = input._xp()
    td = t._data
    valid = td != ignore_index
    safe = xp.where(valid, td, 0)
    C = z.shape[1]
    if weight is not None and tuple(weight.shape) != (C,):
        raise RuntimeError(f"nll_loss: weight should have shape ({C},) for {C} classes, got {weight.shape}")
    if safe.size and (safe.min() < 0 or safe.max() >= C):
        bad = td[valid & ((td < 0) | (td >= C))]
        raise IndexError(f"nll_loss: target {int(bad.flat[0])} is out of range for {C} classes "
                         f"(expected 0 <= target < {C}, or ignore_index={ignore_index})")
    r = (weight._data[safe] if weight is not None else xp.ones(safe.shape, dtype=z.dtype)) * valid
    picked = -z.gather(1, Tensor._wrap(safe[:, None])).squeeze(1) * Tensor._wrap(r.astype(z.dtype))
    if reduction == "mean":
        return picked.sum() / float(r.sum())
    if reduction == "sum":
        return picked.sum()
    return picked.reshape((input.shape[0],) + spatial) if spatial else picked


# -- binary cross-entropy -------------------------------------------------------------------------
class BinaryCrossEntropy(Function):
    """-w [t log x + (1 - t) log(1 - x)] elementwise, each log clamped to >= -100 (PyTorch's choice)."""

    raw = True

    def forward(ctx, x, t, *, weight):
        ctx.weight = weight
        xp = array_module(x)
        with xp.errstate(divide="ignore"):
            log_x = xp.maximum(xp.log(x), -100.0)
            log_1mx = xp.maximum(xp.log1p(-x), -100.0)
        ctx.logs = (log_x, log_1mx)
        loss = -(t * (log_x - log_1mx) + log_1mx)
        return (loss * weight if weight is not None else loss).astype(x.dtype, copy=False)

    def backward(ctx, grad):
        x, t = ctx.inputs
        w = ctx.weight
        if is_grad_enabled():
            return composite_backward(ctx, lambda x_, t_: _bce_composite(x_, t_, w), (grad,))
        need_x, need_t = ctx.needs_input_grad
        xp = grad._xp()
        g = grad._data * w if w is not None else grad._data
        xd, td = x._data, (t._data if isinstance(t, Tensor) else t)
        grad_x = grad_t = None
        if need_x:
            grad_x = Tensor._wrap((g * (xd - td) / xp.maximum(xd * (1 - xd), 1e-12)).astype(xd.dtype, copy=False))
        if need_t:
            log_x, log_1mx = ctx.logs
            grad_t = Tensor._wrap((g * (log_1mx - log_x)).astype(t.dtype, copy=False))
        return grad_x, grad_t


def _bce_composite(x: Tensor, t: Tensor, w) -> Tensor:
    loss = -(t * x.log().clamp(min=-100.0) + (1.0 - t) * (1.0 - x).log().clamp(min=-100.0))
    return loss * Tensor._wrap(w) if w is not None else loss


@_float32_under_autocast
def binary_cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None, size_average=None,
                         reduce=None, reduction: str = "mean") -> Tensor:
    """Binary cross-entropy of probabilities ``input`` in [0, 1] against ``target`` (same shape).

    ``weight`` (broadcastable to the input) rescales each element's loss and needs no gradient.
    """
    reduction = _reduction(size_average, reduce, reduction, "binary_cross_entropy")
    target = _as_tensor(target, input)
    _same_shape(input, target, "binary_cross_entropy")
    if input.dtype.kind != "f" or target.dtype.kind != "f":
        raise RuntimeError(f"binary_cross_entropy: input and target must be floating point (probabilities), "
                           f"got {input.dtype} and {target.dtype}")
    xd = input._data
    if xd.size and ((xd < 0).any() or (xd > 1).any()):
        raise RuntimeError(f"binary_cross_entropy: all elements of input should be between 0 and 1, got "
                           f"min {float(xd.min())} and max {float(xd.max())}")
    w = None
    if weight is not None:
        w = weight._data.astype(input.dtype, copy=False)
        try:
            fits = array_module(w).broadcast_shapes(w.shape, xd.shape) == xd.shape
        except ValueError:
            fits = False
        if not fits:
            raise ValueError(f"binary_cross_entropy: weight of shape {weight.shape} does not broadcast to "
                             f"the input's shape {input.shape}")
    loss = BinaryCrossEntropy.apply(input, target.to(input.dtype), weight=w)
    return _reduce(loss, reduction, "binary_cross_entropy")


@_float32_under_autocast
def binary_cross_entropy_with_logits(input: Tensor, target: Tensor, weight: Tensor | None = None,
                                     size_average=None, reduce=None, reduction: str = "mean",
                                     pos_weight: Tensor | None = None) -> Tensor:
    """-w [p t log σ(x) + (1 - t) log(1 - σ(x))] on logits, stable for any logit (softplus form).

    ``pos_weight`` (broadcast over the last dim, one per class) weighs the positive term.
    """
    reduction = _reduction(size_average, reduce, reduction, "binary_cross_entropy_with_logits")
    target = _as_tensor(target, input)
    if tuple(input.shape) != tuple(target.shape):
        raise ValueError(f"binary_cross_entropy_with_logits: target size ({target.shape}) must be the same as "
                         f"input size ({input.shape})")
    # log σ(x) = -softplus(-x), log(1 - σ(x)) = -softplus(x)
    pos = softplus(-input) * target
    loss = (pos * pos_weight if pos_weight is not None else pos) + softplus(input) * (1.0 - target)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction, "binary_cross_entropy_with_logits")


# -- divergences ----------------------------------------------------------------------------------
@_float32_under_autocast
def kl_div(input: Tensor, target: Tensor, size_average=None, reduce=None, reduction: str = "mean",
           log_target: bool = False) -> Tensor:
    """Pointwise KL divergence t (log t - input) of log-probabilities ``input`` from ``target``.

    ``log_target=True`` takes ``target`` as log-probabilities: exp(t) (t - input). 'batchmean'
    divides the sum by the batch size (input.shape[0]), the mathematically correct KL; 'mean'
    divides by the number of elements, as in PyTorch.
    """
    reduction = _reduction(size_average, reduce, reduction, "kl_div", _REDUCTIONS + ("batchmean",))
    target = _as_tensor(target, input)
    if log_target:
        loss = target.exp() * (target - input)
    else:
        # xlogy(t, t): 0 where t = 0; log of 1 there keeps the unused branch's gradient finite
        safe = where(Tensor._wrap(target._data > 0), target, 1.0)
        loss = target * safe.log() - target * input
    if reduction == "batchmean":
        return loss.sum() / input.shape[0] if input.ndim else loss.sum()
    return _reduce(loss, reduction, "kl_div")


# -- margin and embedding losses ----------------------------------------------------------------
def _sign_target(target, like: Tensor, op: str, shape: tuple) -> Tensor:
    target = _as_tensor(target, like)
    if tuple(target.shape) != tuple(shape):
        raise ValueError(f"{op}: target of shape {target.shape} does not match the expected shape {shape}")
    if target.dtype.kind not in "iuf":
        raise RuntimeError(f"{op}: target must hold numbers 1 or -1, got dtype {target.dtype}")
    return target


@_float32_under_autocast
def margin_ranking_loss(input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0,
                        size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    """max(0, -y (x1 - x2) + margin): y = 1 asks x1 to rank above x2 by ``margin``, y = -1 below."""
    reduction = _reduction(size_average, reduce, reduction, "margin_ranking_loss")
    target = _as_tensor(target, input1)
    if input1.ndim != input2.ndim or input1.ndim != target.ndim:
        raise RuntimeError(f"margin_ranking_loss: all input tensors should have the same number of dims, got "
                           f"input1 {input1.shape}, input2 {input2.shape} and target {target.shape}")
    return _reduce(relu(-target * (input1 - input2) + margin), reduction, "margin_ranking_loss")


@_float32_under_autocast
def hinge_embedding_loss(input: Tensor, target: Tensor, margin: float = 1.0, size_average=None, reduce=None,
                         reduction: str = "mean") -> Tensor:
    """input where target = 1, max(0, margin - input) where target = -1 (distances and ±1 labels)."""
    reduction = _reduction(size_average, reduce, reduction, "hinge_embedding_loss")
    td = _sign_target(target, input, "hinge_embedding_loss", input.shape)._data
    # As PyTorch: a label that is neither 1 nor -1 contributes both terms.
    loss = (where(Tensor._wrap(td != 1), (margin - input).clamp(min=0.0), 0.0)
            + where(Tensor._wrap(td != -1), input, 0.0))
    return _reduce(loss, reduction, "hinge_embedding_loss")


@_float32_under_autocast
def soft_margin_loss(input: Tensor, target: Tensor, size_average=None, reduce=None,
                     reduction: str = "mean") -> Tensor:
    """log(1 + exp(-y x)) elementwise: a smooth two-class hinge on ±1 labels."""
    reduction = _reduction(size_average, reduce, reduction, "soft_margin_loss")
    target = _as_tensor(target, input)
    _same_shape(input, target, "soft_margin_loss")
    return _reduce(softplus(-target * input), reduction, "soft_margin_loss")


def multilabel_soft_margin_loss(input: Tensor, target: Tensor, weight: Tensor | None = None,
                                size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    """-[y log σ(x) + (1 - y) log σ(-x)] averaged over the C classes of each sample (multi-label).

    Shape: input (N, C) or (C,); target of the same shape with 0/1 labels; weight (C,); output (N,)
    with reduction='none', else a scalar.
    """
    reduction = _reduction(size_average, reduce, reduction, "multilabel_soft_margin_loss")
    target = _as_tensor(target, input)
    _same_shape(input, target, "multilabel_soft_margin_loss")
    loss = -(target * logsigmoid(input) + (1 - target) * logsigmoid(-input))
    if weight is not None:
        loss = loss * weight
    loss = loss.sum(input.ndim - 1) / input.shape[-1]  # (N,)
    return _reduce(loss, reduction, "multilabel_soft_margin_loss")


def _class_target(target, input: Tensor, op: str) -> tuple:
    """(x as (N, C), target indices as a raw (N,) array) for the multi-class margin losses."""
    if input.ndim not in (1, 2):
        raise ValueError(f"{op}: expected an input of shape (N, C) or (C,), got {input.shape}")
    target = _as_tensor(target, input) if isinstance(target, Tensor) else Tensor._wrap(input._xp().asarray(target))
    if target.dtype.kind not in "iu":
        raise RuntimeError(f"{op}: target must hold integer class indices, got {target.dtype}")
    return (input if input.ndim == 2 else input.reshape(1, -1)), target


@_float32_under_autocast
def multi_margin_loss(input: Tensor, target: Tensor, p: int = 1, margin: float = 1.0,
                      weight: Tensor | None = None, size_average=None, reduce=None,
                      reduction: str = "mean") -> Tensor:
    """Multi-class hinge loss: Σ_{j≠y} w_y max(0, margin - x_y + x_j)^p / C per sample.

    Shape: input (N, C) or (C,); target (N,) (or () / (1,) for one sample) int64 class indices;
    weight (C,); output (N,) with reduction='none', else a scalar.
    """
    reduction = _reduction(size_average, reduce, reduction, "multi_margin_loss")
    if p not in (1, 2):
        raise ValueError(f"multi_margin_loss: only p == 1 and p == 2 are supported, got p={p}")
    x, target = _class_target(target, input, "multi_margin_loss")
    N, C = x.shape
    if target.numel() != N or target.ndim > 1:
        raise ValueError(f"multi_margin_loss: input of shape {input.shape} expects a target of shape ({N},), "
                         f"got {target.shape}")
    xp = input._xp()
    t = target._data.reshape(N)
    if t.size and (t.min() < 0 or t.max() >= C):
        raise IndexError(f"multi_margin_loss: target values must be in [0, {C}), got min {int(t.min())} "
                         f"and max {int(t.max())}")
    if weight is not None and tuple(weight.shape) != (C,):
        raise ValueError(f"multi_margin_loss: weight should have shape ({C},), got {weight.shape}")
    x_y = x.gather(1, Tensor._wrap(t[:, None]))  # (N, 1)
    h = relu(margin - x_y + x)  # (N, C)
    if p == 2:
        h = h * h
    scale = (t[:, None] != xp.arange(C)).astype(x.dtype)  # the target class is not a margin violation
    if weight is not None:
        scale = scale * weight._data[t][:, None].astype(x.dtype, copy=False)
    loss = (h * Tensor._wrap(scale)).sum(1) * (1.0 / C)  # (N,)
    if input.ndim == 1:
        loss = loss.reshape(target.shape)
    return _reduce(loss, reduction, "multi_margin_loss")


@_float32_under_autocast
def multilabel_margin_loss(input: Tensor, target: Tensor, size_average=None, reduce=None,
                           reduction: str = "mean") -> Tensor:
    """Σ_{j ∈ targets} Σ_{i ∉ targets} max(0, 1 - (x_j - x_i)) / C per sample (multi-label hinge).

    ``target`` has the input's shape and lists each sample's target classes first, ended by the
    first -1 (the rest is ignored). Output (N,) (or () for a 1-D input) with reduction='none'.
    """
    reduction = _reduction(size_average, reduce, reduction, "multilabel_margin_loss")
    x, target = _class_target(target, input, "multilabel_margin_loss")
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"multilabel_margin_loss: target of shape {target.shape} must have the input's "
                         f"shape {input.shape}")
    xp = input._xp()
    N, C = x.shape
    t = target._data.reshape(N, C)
    listed = xp.cumprod(t != -1, axis=1).astype(bool)  # the entries before the first -1
    if bool(((t < 0) | (t >= C))[listed].any()):
        raise IndexError(f"multilabel_margin_loss: target classes must be in [0, {C}) before the first -1")
    safe = xp.where(listed, t, 0)
    is_target = xp.zeros((N, C), dtype=bool)
    is_target[xp.nonzero(listed)[0], safe[listed]] = True
    x_j = x.gather(1, Tensor._wrap(safe))  # (N, K=C): the listed targets' scores
    h = relu(1.0 - x_j.unsqueeze(2) + x.unsqueeze(1))  # (N, K, C)
    mask = (listed[:, :, None] & ~is_target[:, None, :]).astype(x.dtype)
    loss = (h * Tensor._wrap(mask)).sum((1, 2)) * (1.0 / C)  # (N,)
    if input.ndim == 1:
        loss = loss.reshape(())
    return _reduce(loss, reduction, "multilabel_margin_loss")


@_float32_under_autocast
def cosine_embedding_loss(input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0,
                          size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    """1 - cos(x1, x2) where target = 1, max(0, cos(x1, x2) - margin) where target = -1.

    Shape: inputs (N, D) with target (N,), or inputs (D,) with a 0-d target; output (N,) or ().
    """
    reduction = _reduction(size_average, reduce, reduction, "cosine_embedding_loss")
    target = _as_tensor(target, input1)
    if target.ndim not in (0, 1) or input1.ndim != target.ndim + 1 or input2.ndim != target.ndim + 1:
        raise ValueError(f"cosine_embedding_loss: expected inputs (N, D) with target (N,), or (D,) with a 0-d "
                         f"target, got {input1.shape}, {input2.shape} and target {target.shape}")
    _same_shape(input1, input2, "cosine_embedding_loss", "input2")
    td = _sign_target(target, input1, "cosine_embedding_loss", input1.shape[:-1])._data
    d = target.ndim
    eps = 1e-12  # PyTorch's: cos = x1·x2 / sqrt((‖x1‖² + eps)(‖x2‖² + eps))
    cos = (input1 * input2).sum(d) / (((input1 * input1).sum(d) + eps) * ((input2 * input2).sum(d) + eps)).sqrt()
    loss = (where(Tensor._wrap(td == 1), 1.0 - cos, 0.0)
            + where(Tensor._wrap(td == -1), (cos - margin).clamp(min=0.0), 0.0))
    return _reduce(loss, reduction, "cosine_embedding_loss")


def _triplet_check(anchor: Tensor, positive: Tensor, negative: Tensor, op: str) -> None:
    if not (anchor.ndim == positive.ndim == negative.ndim) or anchor.ndim not in (1, 2):
        raise RuntimeError(f"{op}: expected anchor, positive and negative of the same number of dims, (N, D) "
                           f"or (D,), got {anchor.shape}, {positive.shape} and {negative.shape}")


@_float32_under_autocast
def triplet_margin_loss(anchor: Tensor, positive: Tensor, negative: Tensor, margin: float = 1.0,
                        p: float = 2, eps: float = 1e-6, swap: bool = False, size_average=None,
                        reduce=None, reduction: str = "mean") -> Tensor:
    """max(0, d(a, p) - d(a, n) + margin) with d the p-norm distance ``pairwise_distance(·, ·, p, eps)``.

    ``swap`` uses min(d(a, n), d(p, n)) as the negative distance. Shape: (N, D) or (D,) inputs;
    output (N,) or () with reduction='none'.
    """
    reduction = _reduction(size_average, reduce, reduction, "triplet_margin_loss")
    _triplet_check(anchor, positive, negative, "triplet_margin_loss")
    d_pos = pairwise_distance(anchor, positive, p, eps)
    d_neg = pairwise_distance(anchor, negative, p, eps)
    if swap:
        d_neg = d_neg.minimum(pairwise_distance(positive, negative, p, eps))
    return _reduce(relu(margin + d_pos - d_neg), reduction, "triplet_margin_loss")


def triplet_margin_with_distance_loss(anchor: Tensor, positive: Tensor, negative: Tensor, *,
                                      distance_function=None, margin: float = 1.0, swap: bool = False,
                                      reduction: str = "mean") -> Tensor:
    """max(0, d(a, p) - d(a, n) + margin) with any ``distance_function`` (default: pairwise_distance)."""
    reduction = _reduction(None, None, reduction, "triplet_margin_with_distance_loss")
    if margin <= 0:
        raise ValueError(f"triplet_margin_with_distance_loss: margin must be greater than 0, got {margin}")
    _triplet_check(anchor, positive, negative, "triplet_margin_with_distance_loss")
    dist = distance_function if distance_function is not None else pairwise_distance
    d_pos, d_neg = dist(anchor, positive), dist(anchor, negative)
    if swap:
        d_neg = d_neg.minimum(dist(positive, negative))
    return _reduce(relu(margin + d_pos - d_neg), reduction, "triplet_margin_with_distance_loss")


__all__ = [
    "binary_cross_entropy", "binary_cross_entropy_with_logits", "cosine_embedding_loss", "cross_entropy",
    "gaussian_nll_loss", "hinge_embedding_loss", "huber_loss", "kl_div", "l1_loss",
    "margin_ranking_loss", "mse_loss", "multi_margin_loss", "multilabel_margin_loss",
    "multilabel_soft_margin_loss", "nll_loss", "poisson_nll_loss", "smooth_l1_loss", "soft_margin_loss",
    "triplet_margin_loss", "triplet_margin_with_distance_loss",
]
