"""``shendu.nn.functional``: the neural-network functions (PyTorch's ``torch.nn.functional``).

The differentiable kernels live in ``shendu.ops``; this module gathers them under PyTorch's names
and adds the losses and helpers that are compositions of them.
"""
from __future__ import annotations

from shendu.nn.functional_conv import (  # noqa: F401 - re-exported
    adaptive_avg_pool1d,
    adaptive_avg_pool2d,
    adaptive_max_pool1d,
    adaptive_max_pool2d,
    avg_pool1d,
    avg_pool2d,
    conv1d,
    conv2d,
    conv_transpose1d,
    conv_transpose2d,
    fold,
    max_pool1d,
    max_pool2d,
    unfold,
)
from shendu.nn.functional_losses import (  # noqa: F401 - re-exported (every loss lives there)
    _reduce,
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cosine_embedding_loss,
    cross_entropy,
    gaussian_nll_loss,
    hinge_embedding_loss,
    huber_loss,
    kl_div,
    l1_loss,
    margin_ranking_loss,
    mse_loss,
    multi_margin_loss,
    multilabel_margin_loss,
    multilabel_soft_margin_loss,
    nll_loss,
    poisson_nll_loss,
    smooth_l1_loss,
    soft_margin_loss,
    triplet_margin_loss,
    triplet_margin_with_distance_loss,
)
from shendu.nn.functional_norm import batch_norm, group_norm, layer_norm, rms_norm  # noqa: F401 - re-exported
from shendu.ops.activation import (  # noqa: F401 - re-exported
    celu,
    elu,
    gelu,
    glu,
    hardshrink,
    hardsigmoid,
    hardswish,
    hardtanh,
    leaky_relu,
    logsigmoid,
    mish,
    prelu,
    relu6,
    rrelu,
    selu,
    silu,
    softplus,
    softshrink,
    softsign,
    tanhshrink,
    threshold,
)
from shendu.ops.attention import scaled_dot_product_attention  # noqa: F401 - re-exported
from shendu.ops.distance import cosine_similarity, normalize, pairwise_distance, pdist  # noqa: F401
from shendu.ops.elementwise import relu, sigmoid  # noqa: F401 - re-exported
from shendu.ops.fused import log_softmax, softmax, softmin  # noqa: F401
from shendu.ops.linalg import linear  # noqa: F401
from shendu.ops.resize import (  # noqa: F401 - re-exported
    interpolate,
    pixel_shuffle,
    pixel_unshuffle,
    upsample,
    upsample_bilinear,
    upsample_nearest,
)
from shendu.ops.shape import pad  # noqa: F401
from shendu.ops.trig import tanh  # noqa: F401 - re-exported
from shendu.random import _generator
from shendu.tensor import Tensor


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """(…) int64 class indices -> (…, num_classes) int64 one-hot codes."""
    if tensor.dtype.kind not in "iu":
        raise RuntimeError(f"one_hot: expected an integer tensor, got {tensor.dtype}")
    xp = tensor._xp()
    idx = tensor._data
    if num_classes < 0:
        num_classes = int(idx.max()) + 1 if idx.size else 0
    if idx.size and (idx.min() < 0 or idx.max() >= num_classes):
        raise RuntimeError(f"one_hot: class values must be in [0, {num_classes}), got "
                           f"min {int(idx.min())} and max {int(idx.max())}")
    return Tensor._wrap((idx[..., None] == xp.arange(num_classes)).astype(xp.int64))


def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False,
            generator=None) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by 1/(1-p) (inverted dropout)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return input
    if inplace:
        from shendu.autograd.inplace import apply_inplace
        return apply_inplace(input, "dropout_", dropout, p=p, training=training, generator=generator)
    if p == 1.0:
        return input * 0.0
    keep = _generator(generator).random(input.shape, dtype=input.dtype if input.dtype.kind == "f" else None) >= p
    mask = keep.astype(input.dtype) * (1.0 / (1.0 - p))
    return input * Tensor._wrap(mask.astype(input.dtype, copy=False))


def embedding(input: Tensor, weight: Tensor, padding_idx: int | None = None, max_norm=None,
              norm_type: float = 2.0, scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """Rows of ``weight`` (V, D) at integer ``input`` (…) -> (…, D); the pad row gets no gradient."""
    if input.dtype.kind not in "iu":
        raise RuntimeError(f"embedding: indices must be integers, got {input.dtype}")
    V = weight.shape[0]
    idx = input._data
    if idx.size and (idx.min() < -V or idx.max() >= V):
        raise IndexError(f"embedding: index {int(idx.max()) if idx.max() >= V else int(idx.min())} "
                         f"is out of range for an embedding table of {V} rows")
    out = weight[input]
    from shendu.grad_mode import _state
    if padding_idx is not None and weight.requires_grad and _state.enabled:
        # The pad row's lookups contribute no gradient: mask them out of the graph (nothing to mask without one).
        keep = (idx != (padding_idx % V))[..., None].astype(weight.dtype)
        out = out * Tensor._wrap(keep) + Tensor._wrap((1 - keep) * weight._data[padding_idx % V])
    return out
