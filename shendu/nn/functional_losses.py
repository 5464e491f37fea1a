"""Loss functions of ``shendu.nn.functional`` beyond the fused cross-entropy family and mse_loss.

Each is a composition of differentiable Tensor ops (so ``create_graph`` works), except
``binary_cross_entropy``, a small fused op whose backward follows PyTorch's formula
(x - t) / max(x (1 - x), 1e-12): a composite through the clamped logs would give 0/0 = nan at
probabilities of exactly 0 or 1, which a saturated float32 sigmoid produces.

Every loss takes PyTorch's ``reduction`` ('mean' | 'sum' | 'none'; ``kl_div`` also 'batchmean')
and the deprecated ``size_average`` / ``reduce`` flags, which override it as in PyTorch.
"""
from __future__ import annotations

from shendu.autograd.function import Function
from shendu.grad_mode import is_grad_enabled
from shendu.backend import array_module
from shendu.ops.elementwise import relu, where
from shendu.ops.fused import composite_backward
from shendu.tensor import Tensor

_REDUCTIONS = ("mean", "sum", "none")


def _legacy_reduction(size_average, reduce, reduction: str) -> str:
    """PyTorch's mapping of the deprecated flags: reduce=False -> 'none', size_average=False -> 'sum'."""
    if size_average is None and reduce is None:
        return reduction
    if reduce is False:
        return "none"
    return "sum" if size_average is False else "mean"


def _reduce(loss: Tensor, reduction: str, op: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"{op}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _check_reduction(reduction: str, op: str, allowed=_REDUCTIONS) -> None:
    if reduction not in allowed:
        raise ValueError(f"{op}: reduction must be one of {allowed}, got {reduction!r}")


def _same_shape(input: Tensor, target: Tensor, op: str, what: str = "target") -> None:
    if tuple(input.shape) != tuple(target.shape):
        raise ValueError(f"{op}: input of shape {input.shape} and {what} of shape {target.shape} must "
                         "have the same shape")


def _as_tensor(x, like: Tensor) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor._wrap(like._xp().asarray(x))


def _weighted(loss: Tensor, weight: Tensor | None, input: Tensor, op: str) -> Tensor:
    if weight is not None and tuple(weight.shape) != tuple(input.shape):
        raise ValueError(f"{op}: weight of shape {weight.shape} must have the input's shape {input.shape}")
    return loss if weight is None else loss * weight


# -- regression losses --------------------------------------------------------------------------
def l1_loss(input: Tensor, target: Tensor, size_average=None, reduce=None, reduction: str = "mean",
            weight: Tensor | None = None) -> Tensor:
    """|input - target| elementwise; with ``weight`` (input's shape), 'mean' is Σ w|d| / Σ w as in PyTorch."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, "l1_loss")
    target = _as_tensor(target, input)
    _same_shape(input, target, "l1_loss")
    loss = _weighted((input - target).abs(), weight, input, "l1_loss")
    if weight is not None and reduction == "mean":
        return loss.sum() / weight.sum()
    return _reduce(loss, reduction, "l1_loss")


def huber_loss(input: Tensor, target: Tensor, reduction: str = "mean", delta: float = 1.0,
               weight: Tensor | None = None) -> Tensor:
    """0.5 d² where |d| < delta, else delta (|d| - 0.5 delta), for d = input - target."""
    _check_reduction(reduction, "huber_loss")
    if delta <= 0:
        raise ValueError(f"huber_loss: delta must be positive, got {delta}")
    target = _as_tensor(target, input)
    _same_shape(input, target, "huber_loss")
    d = input - target
    ad = d.abs()
    loss = where(ad < delta, 0.5 * d * d, delta * (ad - 0.5 * delta))
    return _reduce(_weighted(loss, weight, input, "huber_loss"), reduction, "huber_loss")


def smooth_l1_loss(input: Tensor, target: Tensor, size_average=None, reduce=None, reduction: str = "mean",
                   beta: float = 1.0) -> Tensor:
    """0.5 d² / beta where |d| < beta, else |d| - 0.5 beta (beta = 0 is the L1 loss)."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, "smooth_l1_loss")
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must be non-negative, got {beta}")
    target = _as_tensor(target, input)
    _same_shape(input, target, "smooth_l1_loss")
    d = input - target
    ad = d.abs()
    loss = ad if beta == 0 else where(ad < beta, (0.5 / beta) * d * d, ad - 0.5 * beta)
    return _reduce(loss, reduction, "smooth_l1_loss")


# -- binary cross-entropy on probabilities ------------------------------------------------------
class BinaryCrossEntropy(Function):
    """-w [t log x + (1 - t) log(1 - x)] elementwise, each log clamped to >= -100 (PyTorch's choice)."""

    raw = True

    def forward(ctx, x, t, w):
        xp = array_module(x)
        with xp.errstate(divide="ignore"):
            log_x = xp.maximum(xp.log(x), -100.0)
            log_1mx = xp.maximum(xp.log1p(-x), -100.0)
        ctx.logs = (log_x, log_1mx)
        loss = -(t * (log_x - log_1mx) + log_1mx)
        return (loss * w if w is not None else loss).astype(x.dtype, copy=False)

    def backward(ctx, grad):
        x, t, w = ctx.inputs
        if is_grad_enabled():
            return composite_backward(ctx, lambda x_, t_, _: _bce_composite(x_, t_, w), (grad,))
        need_x, need_t = ctx.needs_input_grad[:2]
        xp = grad._xp()
        g = grad._data * w if w is not None else grad._data
        xd, td = x._data, (t._data if isinstance(t, Tensor) else t)
        grad_x = grad_t = None
        if need_x:
            grad_x = Tensor._wrap((g * (xd - td) / xp.maximum(xd * (1 - xd), 1e-12)).astype(xd.dtype, copy=False))
        if need_t:
            log_x, log_1mx = ctx.logs
            grad_t = Tensor._wrap((g * (log_1mx - log_x)).astype(t.dtype, copy=False))
        return grad_x, grad_t, None


def _bce_composite(x: Tensor, t: Tensor, w) -> Tensor:
    loss = -(t * x.log().clamp(min=-100.0) + (1.0 - t) * (1.0 - x).log().clamp(min=-100.0))
    return loss * Tensor._wrap(w) if w is not None else loss


def binary_cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None, size_average=None,
                         reduce=None, reduction: str = "mean") -> Tensor:
    """Binary cross-entropy of probabilities ``input`` in [0, 1] against ``target`` (same shape).

    ``weight`` (broadcastable to the input) rescales each element's loss and needs no gradient.
    """
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, "binary_cross_entropy")
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
    return _reduce(BinaryCrossEntropy.apply(input, target.to(input.dtype), w), reduction, "binary_cross_entropy")


# -- divergences and embeddings -----------------------------------------------------------------
def kl_div(input: Tensor, target: Tensor, size_average=None, reduce=None, reduction: str = "mean",
           log_target: bool = False) -> Tensor:
    """Pointwise KL divergence t (log t - input) of log-probabilities ``input`` from ``target``.

    ``log_target=True`` takes ``target`` as log-probabilities: exp(t) (t - input). 'batchmean'
    divides the sum by the batch size (input.shape[0]), the mathematically correct KL; 'mean'
    divides by the number of elements, as in PyTorch.
    """
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, "kl_div", _REDUCTIONS + ("batchmean",))
    target = _as_tensor(target, input)
    _same_shape(input, target, "kl_div")
    if log_target:
        loss = target.exp() * (target - input)
    else:
        # xlogy(t, t): 0 where t = 0; log of 1 there keeps the unused branch's gradient finite
        safe = where(Tensor._wrap(target._data > 0), target, 1.0)
        loss = target * safe.log() - target * input
    if reduction == "batchmean":
        return loss.sum() / input.shape[0] if input.ndim else loss.sum()
    return _reduce(loss, reduction, "kl_div")


def _sign_target(target, like: Tensor, op: str, shape: tuple) -> Tensor:
    target = _as_tensor(target, like)
    if tuple(target.shape) != tuple(shape):
        raise ValueError(f"{op}: target of shape {target.shape} does not match the expected shape {shape}")
    if target.dtype.kind not in "iuf":
        raise RuntimeError(f"{op}: target must hold numbers 1 or -1, got dtype {target.dtype}")
    return target


def hinge_embedding_loss(input: Tensor, target: Tensor, margin: float = 1.0, size_average=None, reduce=None,
                         reduction: str = "mean") -> Tensor:
    """input where target = 1, max(0, margin - input) where target = -1 (distances and ±1 labels)."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, "hinge_embedding_loss")
    td = _sign_target(target, input, "hinge_embedding_loss", input.shape)._data
    # As PyTorch: a label that is neither 1 nor -1 contributes both terms.
    loss = (where(Tensor._wrap(td != 1), (margin - input).clamp(min=0.0), 0.0)
            + where(Tensor._wrap(td != -1), input, 0.0))
    return _reduce(loss, reduction, "hinge_embedding_loss")


def multi_margin_loss(input: Tensor, target: Tensor, p: int = 1, margin: float = 1.0,
                      weight: Tensor | None = None, size_average=None, reduce=None,
                      reduction: str = "mean") -> Tensor:
    """Multi-class hinge loss: Σ_{j≠y} w_y max(0, margin - x_y + x_j)^p / C per sample.

    Shape: input (N, C) or (C,); target (N,) (or () / (1,) for one sample) int64 class indices;
    weight (C,); output (N,) with reduction='none', else a scalar.
    """
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, "multi_margin_loss")
    if p not in (1, 2):
        raise ValueError(f"multi_margin_loss: only p == 1 and p == 2 are supported, got p={p}")
    if input.ndim not in (1, 2):
        raise ValueError(f"multi_margin_loss: expected an input of shape (N, C) or (C,), got {input.shape}")
    target = _as_tensor(target, input)
    if target.dtype.kind not in "iu":
        raise RuntimeError(f"multi_margin_loss: target must hold integer class indices, got {target.dtype}")
    x = input if input.ndim == 2 else input.reshape(1, -1)
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


def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """Σ (x1 / max(‖x1‖, eps)) (x2 / max(‖x2‖, eps)) along ``dim`` of the broadcast inputs (dim removed).

    As in PyTorch, the clamp to ``eps`` changes the value but not the gradient: a norm below eps is
    differentiated as the unclamped norm (PyTorch clamps it in place under no_grad).
    """
    return (_unit(x1, dim, eps) * _unit(x2, dim, eps)).sum(dim)


def _unit(x: Tensor, dim: int, eps: float) -> Tensor:
    xp = x._xp()
    # sum of squares floored at the smallest normal number: a zero vector gets a zero gradient, not 0/0
    norm = (x * x).sum(dim, keepdim=True).clamp(min=float(xp.finfo(x.dtype).tiny)).sqrt()
    return x / (norm + Tensor._wrap(xp.maximum(norm._data, eps) - norm._data))  # max(‖x‖, eps), straight-through


def cosine_embedding_loss(input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0,
                          size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    """1 - cos(x1, x2) where target = 1, max(0, cos(x1, x2) - margin) where target = -1.

    Shape: inputs (N, D) with target (N,), or inputs (D,) with a 0-d target; output (N,) or ().
    """
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, "cosine_embedding_loss")
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
