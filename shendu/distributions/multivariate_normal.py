"""``MultivariateNormal``: N(loc, Σ) over vectors, parameterised by Σ, its inverse (the precision) or
its lower Cholesky factor L (Σ = L Lᵀ). Everything is computed from L (``shendu.linalg.cholesky`` and
``solve_triangular``), so log_prob, entropy and rsample are differentiable in each parameterisation."""
from __future__ import annotations

import math
from functools import cached_property

from shendu.distributions import constraints
from shendu.distributions.distribution import Distribution
from shendu.distributions.utils import draw
from shendu.size import Size
from shendu.tensor import Tensor

__all__ = ["LowRankMultivariateNormal", "MultivariateNormal"]


def _linalg():
    from shendu import linalg
    return linalg


def batch_mahalanobis(L: Tensor, x: Tensor) -> Tensor:
    """``xᵀ (L Lᵀ)⁻¹ x`` for L (*, n, n) lower triangular and x (*, n); batch dims broadcast."""
    z = _linalg().solve_triangular(L, x.unsqueeze(-1), upper=False).squeeze(-1)  # L z = x
    return (z * z).sum(-1)


def _precision_to_scale_tril(P: Tensor) -> Tensor:
    # flip(chol(flip(P))) is upper U with P = U Uᵀ; then Σ = P⁻¹ = U⁻ᵀ U⁻¹, and U⁻ᵀ is lower triangular
    from shendu.creation import eye
    lf = _linalg().cholesky(P.flip((-2, -1)))
    l_inv = lf.flip((-2, -1)).transpose(-2, -1)
    identity = eye(P.shape[-1], dtype=P.dtype).expand(P.shape)
    return _linalg().solve_triangular(l_inv, identity, upper=False)


class MultivariateNormal(Distribution):
    """A multivariate normal (Gaussian) distribution.

    Args:
        loc: (*, n) mean.
        covariance_matrix: (*, n, n) positive-definite Σ, or
        precision_matrix: (*, n, n) positive-definite Σ⁻¹, or
        scale_tril: (*, n, n) lower-triangular L with a positive diagonal (Σ = L Lᵀ). Exactly one of the three.
    """

    arg_constraints = {"loc": constraints.real_vector, "covariance_matrix": constraints.positive_definite,
                       "precision_matrix": constraints.positive_definite, "scale_tril": constraints.lower_cholesky}
    support = constraints.real_vector
    has_rsample = True

    def __init__(self, loc, covariance_matrix=None, precision_matrix=None, scale_tril=None, validate_args=None):
        if loc.dim() < 1:
            raise ValueError("loc must be at least one-dimensional.")
        if sum(m is not None for m in (covariance_matrix, precision_matrix, scale_tril)) != 1:
            raise ValueError("Exactly one of covariance_matrix or precision_matrix or scale_tril may be specified.")
        import numpy as np
        matrix = next(m for m in (scale_tril, covariance_matrix, precision_matrix) if m is not None)
        name = "scale_tril" if scale_tril is not None else (
            "covariance_matrix" if covariance_matrix is not None else "precision_matrix")
        if matrix.dim() < 2:
            raise ValueError(f"{name} matrix must be at least two-dimensional, with optional leading batch dimensions")
        batch_shape = Size(np.broadcast_shapes(tuple(matrix.shape[:-2]), tuple(loc.shape[:-1])))
        self.__dict__[name] = matrix.expand(batch_shape + (-1, -1))
        self.loc = loc.expand(batch_shape + (-1,))
        super().__init__(batch_shape, self.loc.shape[-1:], validate_args=validate_args)
        if scale_tril is not None:
            self._unbroadcasted_scale_tril = scale_tril
        elif covariance_matrix is not None:
            self._unbroadcasted_scale_tril = _linalg().cholesky(covariance_matrix)
        else:
            self._unbroadcasted_scale_tril = _precision_to_scale_tril(precision_matrix)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(MultivariateNormal, _instance)
        batch_shape = Size(batch_shape)
        new.loc = self.loc.expand(batch_shape + self.event_shape)
        new._unbroadcasted_scale_tril = self._unbroadcasted_scale_tril
        for name in ("covariance_matrix", "scale_tril", "precision_matrix"):
            if name in self.__dict__:
                new.__dict__[name] = self.__dict__[name].expand(batch_shape + self.event_shape + self.event_shape)
        Distribution.__init__(new, batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @cached_property
    def scale_tril(self):
        return self._unbroadcasted_scale_tril.expand(self._batch_shape + self._event_shape + self._event_shape)

    @cached_property
    def covariance_matrix(self):
        L = self._unbroadcasted_scale_tril
        return (L @ L.transpose(-2, -1)).expand(self._batch_shape + self._event_shape + self._event_shape)

    @cached_property
    def precision_matrix(self):
        from shendu.creation import eye
        L = self._unbroadcasted_scale_tril
        l_inv = _linalg().solve_triangular(L, eye(L.shape[-1], dtype=L.dtype).expand(L.shape), upper=False)
        return (l_inv.transpose(-2, -1) @ l_inv).expand(self._batch_shape + self._event_shape + self._event_shape)

    @property
    def mean(self):
        return self.loc

    @property
    def mode(self):
        return self.loc

    @property
    def variance(self):
        return self._unbroadcasted_scale_tril.pow(2).sum(-1).expand(self._batch_shape + self._event_shape)

    def rsample(self, sample_shape=Size()):
        shape = self._extended_shape(sample_shape)
        eps = draw(self.loc, lambda rng: rng.standard_normal(shape))
        return self.loc + (self._unbroadcasted_scale_tril @ eps.unsqueeze(-1)).squeeze(-1)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        diff = value - self.loc
        m = batch_mahalanobis(self._unbroadcasted_scale_tril, diff)
        half_log_det = self._unbroadcasted_scale_tril.diagonal(dim1=-2, dim2=-1).log().sum(-1)
        return -0.5 * (self._event_shape[0] * math.log(2 * math.pi) + m) - half_log_det

    def entropy(self):
        half_log_det = self._unbroadcasted_scale_tril.diagonal(dim1=-2, dim2=-1).log().sum(-1)
        h = 0.5 * self._event_shape[0] * (1.0 + math.log(2 * math.pi)) + half_log_det
        return h.expand(self._batch_shape) if len(self._batch_shape) else h


class LowRankMultivariateNormal(Distribution):
    """N(loc, W Wᵀ + diag(D)) with a low-rank ``cov_factor`` W (*, n, r) and a positive ``cov_diag`` D
    (*, n); log_prob and entropy cost O(n r²) through the capacitance matrix I + Wᵀ D⁻¹ W (Woodbury)."""

    arg_constraints = {"loc": constraints.real_vector, "cov_factor": constraints.independent(constraints.real, 2),
                       "cov_diag": constraints.independent(constraints.positive, 1)}
    support = constraints.real_vector
    has_rsample = True

    def __init__(self, loc, cov_factor, cov_diag, validate_args=None):
        from shendu.ops.shape import broadcast_tensors
        if loc.dim() < 1:
            raise ValueError("loc must be at least one-dimensional.")
        event_shape = loc.shape[-1:]
        if cov_factor.dim() < 2:
            raise ValueError("cov_factor must be at least two-dimensional, with optional leading batch dimensions")
        if tuple(cov_factor.shape[-2:-1]) != tuple(event_shape):
            raise ValueError(f"cov_factor must be a batch of matrices with shape {event_shape[0]} x m, "
                             f"got {tuple(cov_factor.shape)}")
        if tuple(cov_diag.shape[-1:]) != tuple(event_shape):
            raise ValueError(f"cov_diag must be a batch of vectors with shape {tuple(event_shape)}, "
                             f"got {tuple(cov_diag.shape)}")
        try:
            loc_, self.cov_factor, diag_ = broadcast_tensors(loc.unsqueeze(-1), cov_factor, cov_diag.unsqueeze(-1))
        except (RuntimeError, ValueError) as e:
            raise ValueError(f"Incompatible batch shapes: loc {tuple(loc.shape)}, cov_factor "
                             f"{tuple(cov_factor.shape)}, cov_diag {tuple(cov_diag.shape)}") from e
        self.loc, self.cov_diag = loc_[..., 0], diag_[..., 0]
        self._unbroadcasted_cov_factor, self._unbroadcasted_cov_diag = cov_factor, cov_diag
        self._capacitance_tril = self._capacitance(cov_factor, cov_diag)
        super().__init__(self.loc.shape[:-1], event_shape, validate_args=validate_args)

    @staticmethod
    def _capacitance(W, D):
        from shendu.creation import eye
        Wt_Dinv = W.transpose(-2, -1) / D.unsqueeze(-2)  # (*, r, n)
        K = Wt_Dinv @ W  # (*, r, r)
        return _linalg().cholesky(K + eye(W.shape[-1], dtype=W.dtype))

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(LowRankMultivariateNormal, _instance)
        batch_shape = Size(batch_shape)
        new.loc = self.loc.expand(batch_shape + self.event_shape)
        new.cov_diag = self.cov_diag.expand(batch_shape + self.event_shape)
        new.cov_factor = self.cov_factor.expand(batch_shape + tuple(self.cov_factor.shape[-2:]))
        new._unbroadcasted_cov_factor = self._unbroadcasted_cov_factor
        new._unbroadcasted_cov_diag = self._unbroadcasted_cov_diag
        new._capacitance_tril = self._capacitance_tril
        Distribution.__init__(new, batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @property
    def mean(self):
        return self.loc

    @property
    def mode(self):
        return self.loc

    @property
    def variance(self):
        W = self._unbroadcasted_cov_factor
        return ((W * W).sum(-1) + self._unbroadcasted_cov_diag).expand(self._batch_shape + self._event_shape)

    @cached_property
    def covariance_matrix(self):
        """W Wᵀ + diag(D)."""
        W = self._unbroadcasted_cov_factor
        cov = W @ W.transpose(-2, -1) + self._unbroadcasted_cov_diag.diag_embed()
        return cov.expand(self._batch_shape + self._event_shape + self._event_shape)

    @cached_property
    def precision_matrix(self):
        """(W Wᵀ + D)⁻¹ = D⁻¹ - D⁻¹ W C⁻ᵀ C⁻¹ Wᵀ D⁻¹ (Woodbury, C the capacitance's Cholesky factor)."""
        W, D = self._unbroadcasted_cov_factor, self._unbroadcasted_cov_diag
        Wt_Dinv = W.transpose(-2, -1) / D.unsqueeze(-2)
        A = _linalg().solve_triangular(self._capacitance_tril, Wt_Dinv, upper=False)
        prec = (1.0 / D).diag_embed() - A.transpose(-2, -1) @ A
        return prec.expand(self._batch_shape + self._event_shape + self._event_shape)

    @cached_property
    def scale_tril(self):
        """The lower Cholesky factor of the covariance."""
        return _linalg().cholesky(self.covariance_matrix)

    def rsample(self, sample_shape=Size()):
        shape = self._extended_shape(sample_shape)
        r = self._unbroadcasted_cov_factor.shape[-1]
        eps_w = draw(self.loc, lambda rng: rng.standard_normal(tuple(shape[:-1]) + (r,)))
        eps_d = draw(self.loc, lambda rng: rng.standard_normal(shape))
        Wz = (self._unbroadcasted_cov_factor @ eps_w.unsqueeze(-1)).squeeze(-1)
        return self.loc + Wz + self._unbroadcasted_cov_diag.sqrt() * eps_d

    def _log_det(self):
        C = self._capacitance_tril
        return 2 * C.diagonal(dim1=-2, dim2=-1).log().sum(-1) + self._unbroadcasted_cov_diag.log().sum(-1)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        diff = value - self.loc
        W, D = self._unbroadcasted_cov_factor, self._unbroadcasted_cov_diag
        Wt_Dinv_diff = (W.transpose(-2, -1) @ (diff / D).unsqueeze(-1)).squeeze(-1)  # (*, r)
        m = (diff * diff / D).sum(-1) - batch_mahalanobis(self._capacitance_tril, Wt_Dinv_diff)
        return -0.5 * (self._event_shape[0] * math.log(2 * math.pi) + self._log_det() + m)

    def entropy(self):
        h = 0.5 * (self._event_shape[0] * (1.0 + math.log(2 * math.pi)) + self._log_det())
        return h.expand(self._batch_shape) if len(self._batch_shape) else h
