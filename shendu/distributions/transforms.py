"""Bijective transforms for ``TransformedDistribution`` (``torch.distributions.transforms``, the parts
used here): ``y = T(x)``, ``T.inv(y)``, and ``log |dy/dx|`` per element (``log_abs_det_jacobian``)."""
from __future__ import annotations

import math

import numpy as np

from shendu.distributions import constraints
from shendu.tensor import Tensor

__all__ = ["AbsTransform", "AffineTransform", "ComposeTransform", "ExpTransform", "PowerTransform", "SigmoidTransform",
           "SoftmaxTransform", "SoftplusTransform", "TanhTransform", "Transform", "identity_transform",
           "IndependentTransform", "LowerCholeskyTransform", "PositiveDefiniteTransform", "StickBreakingTransform"]


class Transform:
    """An invertible map with a computable log |det Jacobian|.

    Attributes:
        domain, codomain: constraints on inputs and outputs. bijective: True for the ones here.
        sign: +1 or -1 for a monotone map of scalars (increasing or decreasing).
    """

    bijective = False
    domain = constraints.real
    codomain = constraints.real

    def __init__(self, cache_size: int = 0):
        self._inv = None

    @property
    def event_dim(self) -> int:
        """How many rightmost dims one event of the input has."""
        return self.domain.event_dim

    @property
    def inv(self) -> Transform:
        """The inverse transform (``T.inv(T(x)) == x``)."""
        return _InverseTransform(self)

    @property
    def sign(self) -> int:
        """+1 for an increasing map, -1 for a decreasing one."""
        raise NotImplementedError

    def __call__(self, x: Tensor) -> Tensor:
        return self._call(x)

    def _call(self, x):
        raise NotImplementedError

    def _inverse(self, y):
        raise NotImplementedError

    def log_abs_det_jacobian(self, x: Tensor, y: Tensor) -> Tensor:
        """``log |det dy/dx|`` at ``x`` (with ``y = T(x)``), per event."""
        raise NotImplementedError

    def forward_shape(self, shape):
        """The output shape for an input of ``shape``."""
        return shape

    def inverse_shape(self, shape):
        """The input shape for an output of ``shape``."""
        return shape

    def __eq__(self, other) -> bool:
        return self is other

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        return type(self).__name__ + "()"


class _ParameterFree(Transform):
    """A transform without parameters: all instances of one class are equal."""

    def __eq__(self, other) -> bool:
        return type(self) is type(other)

    __hash__ = object.__hash__


class _InverseTransform(Transform):
    def __init__(self, transform: Transform):
        super().__init__()
        self._inv = transform
        self.bijective = transform.bijective

    @property
    def domain(self):
        return self._inv.codomain

    @property
    def codomain(self):
        return self._inv.domain

    @property
    def sign(self):
        return self._inv.sign

    @property
    def inv(self):
        return self._inv

    def __call__(self, x):
        return self._inv._inverse(x)

    def log_abs_det_jacobian(self, x, y):
        return -self._inv.log_abs_det_jacobian(y, x)


class ExpTransform(_ParameterFree):
    """``y = exp(x)``."""

    domain = constraints.real
    codomain = constraints.positive
    bijective = True
    sign = +1

    def _call(self, x):
        return x.exp()

    def _inverse(self, y):
        return y.log()

    def log_abs_det_jacobian(self, x, y):
        return x


class SigmoidTransform(_ParameterFree):
    """``y = 1 / (1 + exp(-x))``."""

    domain = constraints.real
    codomain = constraints.unit_interval
    bijective = True
    sign = +1

    def _call(self, x):
        return x.sigmoid()

    def _inverse(self, y):
        from shendu.ops.special import logit
        e = float(np.finfo(y.dtype).eps)
        return logit(y.clamp(min=e, max=1 - e))

    def log_abs_det_jacobian(self, x, y):
        from shendu.nn.functional import softplus
        return -softplus(-x) - softplus(x)


class AffineTransform(Transform):
    """``y = loc + scale · x`` (elementwise; ``event_dim`` rightmost dims count as one event)."""

    bijective = True

    def __init__(self, loc, scale, event_dim: int = 0, cache_size: int = 0):
        super().__init__(cache_size)
        self.loc, self.scale, self._event_dim = loc, scale, event_dim

    @property
    def event_dim(self):
        return self._event_dim

    @property
    def domain(self):
        """Real numbers (vectors when ``event_dim`` > 0)."""
        return constraints.real if self._event_dim == 0 else constraints.independent(constraints.real,
                                                                                     self._event_dim)

    codomain = domain

    @property
    def sign(self):
        if isinstance(self.scale, (int, float)):
            return 1 if float(self.scale) > 0 else -1 if float(self.scale) < 0 else 0
        return self.scale.sign()

    def _call(self, x):
        return self.loc + self.scale * x

    def _inverse(self, y):
        return (y - self.loc) / self.scale

    def log_abs_det_jacobian(self, x, y):
        if isinstance(self.scale, (int, float)):
            result = x * 0 + math.log(abs(self.scale))
        else:
            result = self.scale.abs().log() + x * 0
        for _ in range(self._event_dim):
            result = result.sum(-1)
        return result


class ComposeTransform(Transform):
    """``parts`` applied in order: ``ComposeTransform([f, g])(x) = g(f(x))``."""

    bijective = True

    def __init__(self, parts: list, cache_size: int = 0):
        super().__init__(cache_size)
        self.parts = list(parts)

    @property
    def domain(self):
        """The first part's domain."""
        return self.parts[0].domain if self.parts else constraints.real

    @property
    def codomain(self):
        """The last part's codomain."""
        return self.parts[-1].codomain if self.parts else constraints.real

    @property
    def event_dim(self):
        return max((p.event_dim for p in self.parts), default=0)

    @property
    def sign(self):
        s = 1
        for p in self.parts:
            s = s * p.sign
        return s

    def __call__(self, x):
        for p in self.parts:
            x = p(x)
        return x

    def _inverse(self, y):
        for p in reversed(self.parts):
            y = p.inv(y)
        return y

    def forward_shape(self, shape):
        for p in self.parts:
            shape = p.forward_shape(shape)
        return shape

    def inverse_shape(self, shape):
        for p in reversed(self.parts):
            shape = p.inverse_shape(shape)
        return shape

    def log_abs_det_jacobian(self, x, y):
        total = x * 0
        for p in self.parts:
            y_p = p(x)
            total = total + p.log_abs_det_jacobian(x, y_p)
            x = y_p
        return total


class AbsTransform(_ParameterFree):
    """``y = |x|`` (not injective: ``inv`` returns the non-negative preimage)."""

    domain = constraints.real
    codomain = constraints.positive

    def _call(self, x):
        return x.abs()

    def _inverse(self, y):
        return y


class TanhTransform(_ParameterFree):
    """``y = tanh(x)``; log |dy/dx| = 2 (log 2 - x - softplus(-2x)), stable for large |x|."""

    domain = constraints.real
    codomain = constraints.interval(-1.0, 1.0)
    bijective = True
    sign = +1

    def _call(self, x):
        return x.tanh()

    def _inverse(self, y):
        e = float(np.finfo(y.dtype).eps)
        return y.clamp(min=-1 + e, max=1 - e).atanh()

    def log_abs_det_jacobian(self, x, y):
        from shendu.nn.functional import softplus
        return 2.0 * (math.log(2.0) - x - softplus(-2.0 * x))


class SoftplusTransform(_ParameterFree):
    """``y = log(1 + exp(x))``."""

    domain = constraints.real
    codomain = constraints.positive
    bijective = True
    sign = +1

    def _call(self, x):
        from shendu.nn.functional import softplus
        return softplus(x)

    def _inverse(self, y):
        return y + (-(-y).expm1()).log()  # log(exp(y) - 1) without overflow

    def log_abs_det_jacobian(self, x, y):
        from shendu.nn.functional import softplus
        return -softplus(-x)


class PowerTransform(Transform):
    """``y = x ** exponent`` on x > 0."""

    domain = constraints.positive
    codomain = constraints.positive
    bijective = True

    def __init__(self, exponent, cache_size: int = 0):
        super().__init__(cache_size)
        self.exponent = exponent

    @property
    def sign(self):
        """The sign of the exponent (decreasing for a negative one)."""
        e = self.exponent
        return e.sign() if isinstance(e, Tensor) else (1 if e > 0 else -1)

    def _call(self, x):
        return x.pow(self.exponent)

    def _inverse(self, y):
        return y.pow(1 / self.exponent)

    def log_abs_det_jacobian(self, x, y):
        e = self.exponent
        scale = e.abs().log() if isinstance(e, Tensor) else math.log(abs(e))
        return scale + (y / x).log()


class SoftmaxTransform(_ParameterFree):
    """Unconstrained vectors to the simplex by ``softmax`` over the last dim (not injective)."""

    domain = constraints.real_vector
    codomain = constraints.simplex

    def _call(self, x):
        from shendu.ops.fused import softmax
        return softmax(x - x.amax(-1, keepdim=True), -1)

    def _inverse(self, y):
        probs = y
        return probs.log()


identity_transform = ComposeTransform([])


class StickBreakingTransform(_ParameterFree):
    """R^(K-1) to the K-simplex by stick breaking: a bijection (unlike softmax), with the offset that
    maps 0 to the uniform point."""

    domain = constraints.real_vector
    codomain = constraints.simplex
    bijective = True

    @staticmethod
    def _offset(x, n):
        from shendu.creation import arange
        return (n + 1 - arange(1, n + 1, dtype=x.dtype)).log()

    def _call(self, x):
        from shendu.nn.functional import pad
        z = (x - self._offset(x, x.shape[-1])).sigmoid()
        e = float(np.finfo(x.dtype).eps)
        z = z.clamp(min=float(np.finfo(x.dtype).tiny), max=1 - e)
        return pad(z, [0, 1], value=1.0) * pad((1 - z).cumprod(-1), [1, 0], value=1.0)

    def _inverse(self, y):
        y_crop = y[..., :-1]
        sf = (1 - y_crop.cumsum(-1)).clamp(min=float(np.finfo(y.dtype).tiny))
        return y_crop.log() - sf.log() + self._offset(y, y_crop.shape[-1])

    def log_abs_det_jacobian(self, x, y):
        from shendu.nn.functional import logsigmoid
        x = x - self._offset(x, x.shape[-1])
        return (-x + logsigmoid(x) + y[..., :-1].log()).sum(-1)

    def forward_shape(self, shape):
        return tuple(shape[:-1]) + (shape[-1] + 1,)

    def inverse_shape(self, shape):
        return tuple(shape[:-1]) + (shape[-1] - 1,)


class LowerCholeskyTransform(_ParameterFree):
    """Square matrices to lower-triangular ones with a positive diagonal: the strict lower triangle
    kept, the diagonal exponentiated (not a bijection of all matrices: the upper triangle is dropped)."""

    domain = constraints.independent(constraints.real, 2)
    codomain = constraints.lower_cholesky

    def _call(self, x):
        return x.tril(-1) + x.diagonal(dim1=-2, dim2=-1).exp().diag_embed()

    def _inverse(self, y):
        return y.tril(-1) + y.diagonal(dim1=-2, dim2=-1).log().diag_embed()


class PositiveDefiniteTransform(_ParameterFree):
    """Square matrices to positive-definite ones: ``L Lᵀ`` with L from LowerCholeskyTransform."""

    domain = constraints.independent(constraints.real, 2)
    codomain = constraints.positive_definite

    def _call(self, x):
        L = LowerCholeskyTransform()(x)
        return L @ L.transpose(-2, -1)

    def _inverse(self, y):
        from shendu.linalg import cholesky
        return LowerCholeskyTransform().inv(cholesky(y))


class IndependentTransform(Transform):
    """``base_transform`` with ``reinterpreted_batch_ndims`` more dims per event: its log |det J|
    is summed over them."""

    def __init__(self, base_transform: Transform, reinterpreted_batch_ndims: int, cache_size: int = 0):
        super().__init__(cache_size)
        self.base_transform, self.reinterpreted_batch_ndims = base_transform, int(reinterpreted_batch_ndims)

    @property
    def bijective(self):
        """Whether the base transform is a bijection."""
        return self.base_transform.bijective

    @property
    def domain(self):
        """The base domain with the extra event dims."""
        return constraints.independent(self.base_transform.domain, self.reinterpreted_batch_ndims)

    @property
    def codomain(self):
        """The base codomain with the extra event dims."""
        return constraints.independent(self.base_transform.codomain, self.reinterpreted_batch_ndims)

    @property
    def sign(self):
        return self.base_transform.sign

    def __call__(self, x):
        return self.base_transform(x)

    def _inverse(self, y):
        return self.base_transform.inv(y)

    def log_abs_det_jacobian(self, x, y):
        result = self.base_transform.log_abs_det_jacobian(x, y)
        for _ in range(self.reinterpreted_batch_ndims):
            result = result.sum(-1)
        return result
