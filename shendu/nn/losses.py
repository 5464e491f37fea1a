"""Loss Modules (PyTorch's names, arguments and defaults), each a thin wrapper of its functional form.

Every loss takes ``reduction`` ('mean' | 'sum' | 'none'; ``KLDivLoss`` also 'batchmean') and, where
PyTorch does, the deprecated ``size_average`` / ``reduce`` flags, which override it by PyTorch's rule
(``functional_losses.legacy_get_string``). Class weights and ``pos_weight`` are buffers: they move
with ``to()`` and are saved in ``state_dict`` but not trained.

Each loss declares what its targets are in the class attribute ``target_kind``, which a trainer
reads instead of guessing from the class name:

- ``"class_indices"``: integer class indices (CrossEntropyLoss also accepts class probabilities of
  the input's shape; NLLLoss, MultiMarginLoss, MultiLabelMarginLoss),
- ``"probabilities"``: values in [0, 1] of the input's shape (BCELoss, BCEWithLogitsLoss, KLDivLoss,
  MultiLabelSoftMarginLoss),
- ``"signs"``: labels 1 / -1 (HingeEmbeddingLoss, SoftMarginLoss, MarginRankingLoss,
  CosineEmbeddingLoss),
- ``"values"``: real values of the input's shape (regression: MSELoss, L1Loss, HuberLoss, ...),
- ``"embeddings"``: no target; the inputs are compared with each other (TripletMarginLoss),
- ``"sequences"``: padded label sequences with their lengths (CTCLoss).
"""
from __future__ import annotations

from shendu.nn import functional_losses as F
from shendu.nn.functional_losses import _REDUCTIONS, _reduction
from shendu.nn.module import Module
from shendu.tensor import Tensor


class _Loss(Module):
    _reductions = _REDUCTIONS
    #: what the targets of this loss are (see the module docstring); a trainer reads it
    target_kind = "values"

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = _reduction(size_average, reduce, reduction, type(self).__name__, self._reductions)

    def extra_repr(self) -> str:
        return "" if self.reduction == "mean" else f"reduction={self.reduction!r}"


class _WeightedLoss(_Loss):
    def __init__(self, weight: Tensor | None = None, size_average=None, reduce=None, reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)


class MSELoss(_Loss):
    r"""Mean squared error :math:`(x - y)^2` elementwise, then reduced.

    Shape: input (*), target (*) of the same shape; output a scalar, or (*) with reduction='none'.
    """

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.mse_loss(input, target, reduction=self.reduction)


class L1Loss(_Loss):
    r"""Mean absolute error :math:`|x - y|` elementwise, then reduced.

    Shape: input (*), target (*) of the same shape; output a scalar, or (*) with reduction='none'.
    """

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.l1_loss(input, target, reduction=self.reduction)


class HuberLoss(_Loss):
    r"""Huber loss: :math:`\tfrac12 d^2` where :math:`|d| < \delta`, else :math:`\delta(|d| - \tfrac12\delta)`.

    Args:
        reduction: 'mean' | 'sum' | 'none'. Default: 'mean'.
        delta: where the quadratic part turns linear (positive). Default: 1.0.

    Shape: input (*), target (*) of the same shape; output a scalar, or (*) with reduction='none'.
    """

    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        super().__init__(reduction=reduction)
        if delta <= 0:
            raise ValueError(f"HuberLoss: delta must be positive, got {delta}")
        self.delta = delta

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.huber_loss(input, target, reduction=self.reduction, delta=self.delta)


class SmoothL1Loss(_Loss):
    r"""Smooth L1 loss: :math:`\tfrac12 d^2/\beta` where :math:`|d| < \beta`, else :math:`|d| - \tfrac12\beta`.

    Equal to HuberLoss / beta; ``beta=0`` is the L1 loss.

    Shape: input (*), target (*) of the same shape; output a scalar, or (*) with reduction='none'.
    """

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean", beta: float = 1.0) -> None:
        super().__init__(size_average, reduce, reduction)
        self.beta = beta

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.smooth_l1_loss(input, target, reduction=self.reduction, beta=self.beta)


class CrossEntropyLoss(_WeightedLoss):
    r"""Softmax cross-entropy between logits and class indices or class probabilities (fused).

    Args:
        weight: (C,) rescaling of each class's loss. Default: ``None``.
        ignore_index: a class-index target that contributes no loss or gradient. Default: -100.
        reduction: 'mean' (weighted mean over the non-ignored targets) | 'sum' | 'none'.
        label_smoothing: in [0, 1]; mixes the target with the uniform distribution. Default: 0.0.

    Shape:
        - Input: (N, C), (C,) or (N, C, d1, ...) logits.
        - Target: (N,) / () / (N, d1, ...) int64 indices in [0, C), or probabilities of the input's shape.
        - Output: a scalar, or (N,) / (N, d1, ...) with reduction='none'.
    """

    target_kind = "class_indices"

    def __init__(self, weight: Tensor | None = None, size_average=None, ignore_index: int = -100, reduce=None,
                 reduction: str = "mean", label_smoothing: float = 0.0) -> None:
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.cross_entropy(input, target, weight=self.weight, ignore_index=self.ignore_index,
                               reduction=self.reduction, label_smoothing=self.label_smoothing)


class NLLLoss(_WeightedLoss):
    r"""Negative log-likelihood :math:`-w_y x_y` of log-probabilities (e.g. from ``log_softmax``).

    Args:
        weight: (C,) rescaling of each class. Default: ``None``.
        ignore_index: a target that contributes nothing. Default: -100.
        reduction: 'mean' (weighted mean) | 'sum' | 'none'. Default: 'mean'.

    Shape: input (N, C), (C,) or (N, C, d1, ...); target (N,), () or (N, d1, ...) int64 class indices;
    output a scalar, or the target's shape with reduction='none'.
    """

    target_kind = "class_indices"

    def __init__(self, weight: Tensor | None = None, size_average=None, ignore_index: int = -100, reduce=None,
                 reduction: str = "mean") -> None:
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        if target.dtype.kind not in "iu":
            raise RuntimeError(f"NLLLoss: target must hold integer class indices, got dtype {target.dtype}")
        expected = (input.shape[0],) + input.shape[2:] if input.ndim >= 2 else ()
        if input.ndim == 0 or tuple(target.shape) != expected:
            raise ValueError(f"NLLLoss: input of shape {input.shape} expects a target of shape {expected}, "
                             f"got {target.shape}")
        return F.nll_loss(input, target, weight=self.weight, ignore_index=self.ignore_index, reduction=self.reduction)


class BCELoss(_WeightedLoss):
    r"""Binary cross-entropy of probabilities: :math:`-w[y \log x + (1-y) \log(1-x)]`, logs clamped to >= -100.

    Prefer ``BCEWithLogitsLoss`` on logits: it is stable where a sigmoid saturates.

    Shape: input (*) in [0, 1], target (*) of the same shape; weight broadcastable to (*);
    output a scalar, or (*) with reduction='none'.
    """

    target_kind = "probabilities"

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.binary_cross_entropy(input, target, weight=self.weight, reduction=self.reduction)


class BCEWithLogitsLoss(_Loss):
    r"""Sigmoid and binary cross-entropy in one stable expression, on logits.

    :math:`-w[p\,y \log\sigma(x) + (1-y)\log(1-\sigma(x))]`.

    Args:
        weight: rescaling of each element's loss, broadcastable to the input. Default: ``None``.
        pos_weight: weight of the positive term per class (broadcast over the last dim), e.g.
            #negatives / #positives for an unbalanced class. Default: ``None``.

    Shape: input (*) logits, target (*) of the same shape; output a scalar, or (*) with reduction='none'.
    """

    target_kind = "probabilities"

    def __init__(self, weight: Tensor | None = None, size_average=None, reduce=None, reduction: str = "mean",
                 pos_weight: Tensor | None = None) -> None:
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)
        self.register_buffer("pos_weight", pos_weight)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.binary_cross_entropy_with_logits(input, target, self.weight, reduction=self.reduction,
                                                  pos_weight=self.pos_weight)


class KLDivLoss(_Loss):
    r"""Kullback-Leibler divergence :math:`y(\log y - x)` of log-probabilities ``input`` from ``target``.

    Args:
        reduction: 'mean' (over all elements, as PyTorch) | 'batchmean' (sum / N: the true KL per
            sample, recommended) | 'sum' | 'none'. Default: 'mean'.
        log_target: the target is given as log-probabilities. Default: ``False``.

    Shape: input (*) log-probabilities, target (*) of the same shape; output a scalar, or (*).
    """

    target_kind = "probabilities"

    _reductions = _REDUCTIONS + ("batchmean",)

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean", log_target: bool = False) -> None:
        super().__init__(size_average, reduce, reduction)
        self.log_target = log_target

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.kl_div(input, target, reduction=self.reduction, log_target=self.log_target)


class HingeEmbeddingLoss(_Loss):
    r"""``x`` where the label is 1, :math:`\max(0, \text{margin} - x)` where it is -1 (x: a distance).

    Shape: input (*), target (*) of ±1 labels of the same shape; output a scalar, or (*).
    """

    target_kind = "signs"

    def __init__(self, margin: float = 1.0, size_average=None, reduce=None, reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        self.margin = margin

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.hinge_embedding_loss(input, target, margin=self.margin, reduction=self.reduction)


class MultiMarginLoss(_WeightedLoss):
    r"""Multi-class hinge loss: :math:`\sum_{j \ne y} w_y \max(0, \text{margin} - x_y + x_j)^p / C`.

    Args:
        p: 1 or 2. Default: 1.
        margin: the required gap between the target's score and the others. Default: 1.0.
        weight: (C,) rescaling per target class. Default: ``None``.

    Shape: input (N, C) or (C,); target (N,) or () int64 indices; output a scalar, or (N,) / ().
    """

    target_kind = "class_indices"

    def __init__(self, p: int = 1, margin: float = 1.0, weight: Tensor | None = None, size_average=None,
                 reduce=None, reduction: str = "mean") -> None:
        if p not in (1, 2):
            raise ValueError(f"MultiMarginLoss: only p == 1 and p == 2 are supported, got p={p}")
        if weight is not None and weight.ndim != 1:
            raise ValueError(f"MultiMarginLoss: weight must be 1-D (C,), got shape {weight.shape}")
        super().__init__(weight, size_average, reduce, reduction)
        self.p = p
        self.margin = margin

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.multi_margin_loss(input, target, p=self.p, margin=self.margin, weight=self.weight,
                                   reduction=self.reduction)


class CosineEmbeddingLoss(_Loss):
    r""":math:`1 - \cos(x_1, x_2)` where the label is 1, :math:`\max(0, \cos(x_1, x_2) - \text{margin})` where -1.

    Args:
        margin: in [-1, 1]; 0 to 0.5 is typical. Default: 0.

    Shape: inputs (N, D) with target (N,), or (D,) with a 0-d target; output a scalar, or (N,) / ().
    """

    target_kind = "signs"

    def __init__(self, margin: float = 0.0, size_average=None, reduce=None, reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        self.margin = margin

    def forward(self, input1: Tensor, input2: Tensor, target: Tensor) -> Tensor:
        return F.cosine_embedding_loss(input1, input2, target, margin=self.margin, reduction=self.reduction)


class PoissonNLLLoss(_Loss):
    r"""Poisson negative log-likelihood: :math:`e^x - y x` (``log_input``) or :math:`x - y \log(x + \epsilon)`.

    Args:
        log_input: the input is the log of the rate. Default: ``True``.
        full: add Stirling's term :math:`y \log y - y + \tfrac12 \log(2\pi y)` where y > 1. Default: ``False``.
        eps: keeps the log finite when ``log_input=False``. Default: 1e-8.

    Shape: input (*), target (*) counts of the same shape; output a scalar, or (*) with reduction='none'.
    """

    def __init__(self, log_input: bool = True, full: bool = False, size_average=None, eps: float = 1e-8,
                 reduce=None, reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        self.log_input, self.full, self.eps = log_input, full, eps

    def forward(self, log_input: Tensor, target: Tensor) -> Tensor:
        return F.poisson_nll_loss(log_input, target, log_input=self.log_input, full=self.full, eps=self.eps,
                                  reduction=self.reduction)


class GaussianNLLLoss(_Loss):
    r"""Gaussian negative log-likelihood :math:`\tfrac12(\log \sigma^2 + (x - y)^2 / \sigma^2)`, σ² clamped to eps.

    Args:
        full: add the constant :math:`\tfrac12 \log 2\pi`. Default: ``False``.
        eps: the floor of the variance (it does not change the gradient). Default: 1e-6.

    Shape: input (N, *), target (N, *), var (N, *) or with one dim of size 1 (shared variance);
    output a scalar, or (N, *) with reduction='none'.
    """

    def __init__(self, *, full: bool = False, eps: float = 1e-6, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)
        self.full, self.eps = full, eps

    def forward(self, input: Tensor, target: Tensor, var) -> Tensor:
        return F.gaussian_nll_loss(input, target, var, full=self.full, eps=self.eps, reduction=self.reduction)


class MarginRankingLoss(_Loss):
    r""":math:`\max(0, -y (x_1 - x_2) + \text{margin})`: y = 1 wants x1 ranked above x2, y = -1 below.

    Shape: input1 (N,) or (), input2 and target (±1) of the same shape; output a scalar, or (N,).
    """

    target_kind = "signs"

    def __init__(self, margin: float = 0.0, size_average=None, reduce=None, reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        self.margin = margin

    def forward(self, input1: Tensor, input2: Tensor, target: Tensor) -> Tensor:
        return F.margin_ranking_loss(input1, input2, target, margin=self.margin, reduction=self.reduction)


class SoftMarginLoss(_Loss):
    r"""Two-class logistic loss :math:`\log(1 + e^{-y x})` on ±1 labels.

    Shape: input (*), target (*) of ±1 of the same shape; output a scalar, or (*) with reduction='none'.
    """

    target_kind = "signs"

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.soft_margin_loss(input, target, reduction=self.reduction)


class MultiLabelSoftMarginLoss(_WeightedLoss):
    r"""Multi-label one-versus-all logistic loss, averaged over the C classes of each sample.

    Args:
        weight: (C,) rescaling of each class. Default: ``None``.

    Shape: input (N, C) or (C,) logits, target of the same shape with 0/1 labels; output a scalar, or (N,).
    """

    target_kind = "probabilities"

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.multilabel_soft_margin_loss(input, target, weight=self.weight, reduction=self.reduction)


class MultiLabelMarginLoss(_Loss):
    r"""Multi-label hinge loss :math:`\sum_{j \in y} \sum_{i \notin y} \max(0, 1 - (x_j - x_i)) / C`.

    Shape: input (N, C) or (C,); target of the same shape, int64 class indices ended by -1;
    output a scalar, or (N,) with reduction='none'.
    """

    target_kind = "class_indices"

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.multilabel_margin_loss(input, target, reduction=self.reduction)


class TripletMarginLoss(_Loss):
    r""":math:`\max(0, d(a, p) - d(a, n) + \text{margin})` with the p-norm distance :math:`d`.

    Args:
        margin: the required gap. Default: 1.0.
        p: the norm degree. Default: 2.
        eps: added to differences, against a zero norm. Default: 1e-6.
        swap: use min(d(a, n), d(p, n)) as the negative distance (Balntas et al., 2016). Default: ``False``.

    Shape: anchor, positive, negative (N, D) or (D,); output a scalar, or (N,) with reduction='none'.
    """

    target_kind = "embeddings"

    def __init__(self, margin: float = 1.0, p: float = 2.0, eps: float = 1e-6, swap: bool = False,
                 size_average=None, reduce=None, reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        if margin <= 0:
            raise ValueError(f"TripletMarginLoss: margin must be greater than 0, got {margin}")
        self.margin, self.p, self.eps, self.swap = margin, p, eps, swap

    def forward(self, anchor: Tensor, positive: Tensor, negative: Tensor) -> Tensor:
        return F.triplet_margin_loss(anchor, positive, negative, margin=self.margin, p=self.p, eps=self.eps,
                                     swap=self.swap, reduction=self.reduction)


class TripletMarginWithDistanceLoss(_Loss):
    r""":math:`\max(0, d(a, p) - d(a, n) + \text{margin})` with any distance function :math:`d`.

    Args:
        distance_function: (x1, x2) -> distances. Default: ``PairwiseDistance()``.
        margin: the required gap (positive). Default: 1.0.
        swap: use min(d(a, n), d(p, n)) as the negative distance. Default: ``False``.

    Shape: anchor, positive, negative (N, *); output a scalar, or (N,) with reduction='none'.
    """

    target_kind = "embeddings"

    def __init__(self, *, distance_function=None, margin: float = 1.0, swap: bool = False,
                 reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)
        if margin <= 0:
            raise ValueError(f"TripletMarginWithDistanceLoss: margin must be greater than 0, got {margin}")
        self.distance_function, self.margin, self.swap = distance_function, margin, swap

    def forward(self, anchor: Tensor, positive: Tensor, negative: Tensor) -> Tensor:
        return F.triplet_margin_with_distance_loss(anchor, positive, negative,
                                                   distance_function=self.distance_function,
                                                   margin=self.margin, swap=self.swap, reduction=self.reduction)
