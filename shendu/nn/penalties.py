"""Parameter penalties to add to a loss, and the max-norm constraint to apply after an optimizer step.

    loss = F.cross_entropy(model(x), y) + 1e-4 * l2_penalty(model.parameters())
    loss.backward(); optimizer.step()
    apply_max_norm_(model, max_norm=3.0)           # Keras' MaxNorm, as in the dropout paper

The penalties are ordinary differentiable Tensor expressions (0-d, in the parameters' dtype), so
they work in any loss and under ``create_graph``.

The factor of ``l2_penalty``: it is the plain sum of squares Σ p², with no ½. Its gradient is
therefore 2λp, so ``λ * l2_penalty(params)`` matches an optimizer's ``weight_decay = 2λ`` (SGD's
weight decay adds ``wd * p`` to the gradient, the gradient of ½ wd Σ p²). The plain sum is what
"L2 penalty" means in Keras' ``regularizers.L2`` and what ``torch.norm(p) ** 2`` gives; halve λ
yourself to match a ½-convention formula. ``elastic_net_penalty`` mixes the two penalties as
defined here, without sklearn's extra ½ on the squared term.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from shendu.grad_mode import no_grad
from shendu.tensor import Tensor

if TYPE_CHECKING:
    from shendu.nn.module import Module


def _params(params) -> list:
    """A list of tensors from a Module (its ``parameters()``), one tensor, or an iterable of tensors."""
    if isinstance(params, Tensor):
        return [params]
    if hasattr(params, "parameters") and callable(params.parameters):
        params = params.parameters()
    out = list(params)
    for i, p in enumerate(out):
        if not isinstance(p, Tensor):
            raise TypeError(f"penalty: expected tensors (or a Module), got a {type(p).__name__} at position {i}")
    return out


def _total(terms: list) -> Tensor:
    if not terms:  # no parameters: a 0-d zero, so `loss + penalty` still works
        import numpy as np
        return Tensor._wrap(np.zeros((), dtype=np.float32))
    total = terms[0]
    for t in terms[1:]:
        total = total + t
    return total


def l1_penalty(params: Tensor | Iterable[Tensor] | Module) -> Tensor:
    """Σ |p| over every element of every parameter (a 0-d tensor; gradient sign(p))."""
    ps = _params(params)
    return _total([p.abs().sum() for p in ps])


def l2_penalty(params: Tensor | Iterable[Tensor] | Module) -> Tensor:
    """Σ p² over every element of every parameter, without a ½ (see the module docstring; gradient 2p)."""
    ps = _params(params)
    return _total([(p * p).sum() for p in ps])


def elastic_net_penalty(params: Tensor | Iterable[Tensor] | Module, l1_ratio: float = 0.5) -> Tensor:
    """l1_ratio · Σ|p| + (1 - l1_ratio) · Σp²: 1 is the L1 penalty, 0 the L2 penalty."""
    if not 0.0 <= l1_ratio <= 1.0:
        raise ValueError(f"elastic_net_penalty: l1_ratio must be in [0, 1], got {l1_ratio}")
    ps = _params(params)
    return _total([l1_ratio * p.abs().sum() + (1.0 - l1_ratio) * (p * p).sum() for p in ps])


def apply_max_norm_(params_or_module: Tensor | Iterable[Tensor] | Module, max_norm: float, dim: int = 0,
                    norm_type: float = 2.0) -> None:
    """Rescale in place each slice ``p.select(dim, i)`` whose ``norm_type``-norm exceeds ``max_norm``.

    The slices along ``dim`` are the ones ``torch.renorm(p, norm_type, dim, max_norm)`` scales, with
    the same factor max_norm / (norm + 1e-7); ``dim=0`` constrains each row of a Linear weight
    (out, in), i.e. each unit's incoming weights, and each filter of a Conv weight (out, in, *k),
    as Keras' ``MaxNorm`` does for a kernel. Slices within the bound are left untouched. The slices
    of a 1-D tensor are its elements, so each |p_i| is clipped to max_norm.

    Given a Module, only its parameters with at least 2 dims are constrained (weights, not biases
    or normalization scales), as Keras applies the constraint to kernels; given tensors, all of
    them are. Runs under ``no_grad``: call it after ``optimizer.step()``.
    """
    if max_norm < 0:
        raise ValueError(f"apply_max_norm_: max_norm must be non-negative, got {max_norm}")
    is_module = not isinstance(params_or_module, Tensor) and hasattr(params_or_module, "parameters")
    ps = _params(params_or_module)
    if is_module:
        ps = [p for p in ps if p.ndim >= 2]
    with no_grad():
        for p in ps:
            if p.ndim == 0:
                raise ValueError("apply_max_norm_: cannot renormalize a 0-d tensor")
            if not -p.ndim <= dim < p.ndim:
                raise IndexError(f"apply_max_norm_: dim {dim} is out of range for a parameter of shape {p.shape}")
            xp = p._xp()
            d = p._data
            axes = tuple(a for a in range(d.ndim) if a != dim % d.ndim)
            a = xp.abs(d)
            if norm_type == float("inf"):
                norms = a.max(axis=axes, keepdims=True) if axes else a
            elif norm_type == 1:
                norms = a.sum(axis=axes, keepdims=True)
            else:
                norms = (a ** norm_type).sum(axis=axes, keepdims=True) ** (1.0 / norm_type)
            scale = xp.where(norms > max_norm, max_norm / (norms + 1e-7), 1.0).astype(d.dtype, copy=False)
            d *= scale
