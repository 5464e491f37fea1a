"""Heavy-tailed and extreme-value families: Cauchy, HalfCauchy, HalfNormal, Gumbel, Weibull, Pareto.

Each is sampled by its inverse CDF applied to a uniform (or normal) draw, so ``rsample`` is
differentiable in the parameters.
"""
from __future__ import annotations

import math

from shendu.distributions import constraints
from shendu.distributions.continuous import LocScale, _expand_params
from shendu.distributions.distribution import Distribution
from shendu.distributions.utils import broadcast_all, draw, eps
from shendu.ops.elementwise import where
from shendu.ops.special import erf, erfinv, lgamma
from shendu.size import Size

__all__ = ["Cauchy", "Gumbel", "HalfCauchy", "HalfNormal", "Pareto", "Weibull"]

_EULER = 0.57721566490153286061
_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


def _uniform_open(like, shape):
    """Uniform draws in (0, 1): both ends excluded so logs and tangents stay finite."""
    e = eps(like)
    return draw(like, lambda rng: rng.uniform(e, 1.0 - e, shape))


class Cauchy(LocScale):
    """The Cauchy (Lorentz) distribution: density ``1 / (π scale (1 + ((x - loc) / scale)²))``; no mean."""

    @property
    def mean(self):
        return self.loc * math.nan

    @property
    def mode(self):
        return self.loc

    @property
    def variance(self):
        return self.loc * 0 + math.inf

    def rsample(self, sample_shape=Size()):
        u = _uniform_open(self.loc, self._extended_shape(sample_shape))
        return self.loc + self.scale * (math.pi * (u - 0.5)).tan()

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        z = (value - self.loc) / self.scale
        return -math.log(math.pi) - self.scale.log() - (z * z).log1p()

    def cdf(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return ((value - self.loc) / self.scale).atan() / math.pi + 0.5

    def icdf(self, value):
        return self.loc + self.scale * (math.pi * (value - 0.5)).tan()

    def entropy(self):
        return math.log(4 * math.pi) + self.scale.log()


class HalfNormal(Distribution):
    """|X| for X ~ N(0, scale²)."""

    arg_constraints = {"scale": constraints.positive}
    support = constraints.nonnegative
    has_rsample = True

    def __init__(self, scale, validate_args=None):
        (self.scale,) = broadcast_all(scale)
        super().__init__(self.scale.shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        return _expand_params(self, HalfNormal, ("scale",), batch_shape, _instance)

    @property
    def mean(self):
        return self.scale * math.sqrt(2 / math.pi)

    @property
    def mode(self):
        return self.scale * 0

    @property
    def variance(self):
        return self.scale.pow(2) * (1 - 2 / math.pi)

    def rsample(self, sample_shape=Size()):
        z = draw(self.scale, lambda rng: rng.standard_normal(self._extended_shape(sample_shape)))
        return (z * self.scale).abs()

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        z = value / self.scale
        lp = -0.5 * z * z - self.scale.log() - _LOG_SQRT_2PI + math.log(2)
        return where(value >= 0, lp, -math.inf)

    def cdf(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return erf(value / (self.scale * math.sqrt(2)))

    def icdf(self, prob):
        return self.scale * erfinv(prob) * math.sqrt(2)

    def entropy(self):
        return 0.5 * math.log(math.pi / 2) + 0.5 + self.scale.log()


class HalfCauchy(Distribution):
    """|X| for X ~ Cauchy(0, scale)."""

    arg_constraints = {"scale": constraints.positive}
    support = constraints.nonnegative
    has_rsample = True

    def __init__(self, scale, validate_args=None):
        (self.scale,) = broadcast_all(scale)
        super().__init__(self.scale.shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        return _expand_params(self, HalfCauchy, ("scale",), batch_shape, _instance)

    @property
    def mean(self):
        return self.scale * 0 + math.inf

    @property
    def mode(self):
        return self.scale * 0

    @property
    def variance(self):
        return self.scale * 0 + math.inf

    def rsample(self, sample_shape=Size()):
        u = _uniform_open(self.scale, self._extended_shape(sample_shape))
        return self.scale * (0.5 * math.pi * u).tan()

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        z = value / self.scale
        lp = math.log(2 / math.pi) - self.scale.log() - (z * z).log1p()
        return where(value >= 0, lp, -math.inf)

    def cdf(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return 2 / math.pi * (value / self.scale).atan()

    def icdf(self, prob):
        return self.scale * (0.5 * math.pi * prob).tan()

    def entropy(self):
        return math.log(2 * math.pi) + self.scale.log()


class Gumbel(LocScale):
    """The Gumbel (type-I extreme value) distribution: CDF ``exp(-exp(-(x - loc) / scale))``."""

    @property
    def mean(self):
        return self.loc + self.scale * _EULER

    @property
    def mode(self):
        return self.loc

    @property
    def variance(self):
        return self.scale.pow(2) * (math.pi ** 2 / 6)

    @property
    def stddev(self):
        return self.scale * (math.pi / math.sqrt(6))

    def rsample(self, sample_shape=Size()):
        u = _uniform_open(self.loc, self._extended_shape(sample_shape))
        return self.loc - self.scale * (-u.log()).log()

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        z = (value - self.loc) / self.scale
        return -(z + (-z).exp()) - self.scale.log()

    def cdf(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return (-(-(value - self.loc) / self.scale).exp()).exp()

    def icdf(self, value):
        return self.loc - self.scale * (-value.log()).log()

    def entropy(self):
        return self.scale.log() + (1 + _EULER)


class Weibull(Distribution):
    """The Weibull distribution: CDF ``1 - exp(-(x / scale)^concentration)`` on x >= 0."""

    arg_constraints = {"scale": constraints.positive, "concentration": constraints.positive}
    support = constraints.positive
    has_rsample = True

    def __init__(self, scale, concentration, validate_args=None):
        self.scale, self.concentration = broadcast_all(scale, concentration)
        super().__init__(self.scale.shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        return _expand_params(self, Weibull, ("scale", "concentration"), batch_shape, _instance)

    @property
    def mean(self):
        return self.scale * lgamma(1 + self.concentration.reciprocal()).exp()

    @property
    def mode(self):
        k = self.concentration
        return self.scale * ((k - 1) / k) ** k.reciprocal()

    @property
    def variance(self):
        k = self.concentration
        return self.scale.pow(2) * (lgamma(1 + 2 / k).exp() - lgamma(1 + 1 / k).exp().pow(2))

    def rsample(self, sample_shape=Size()):
        e = draw(self.scale, lambda rng: rng.standard_exponential(self._extended_shape(sample_shape)))
        return self.scale * e.pow(self.concentration.reciprocal())

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        k = self.concentration
        z = value / self.scale
        return k.log() - self.scale.log() + (k - 1) * z.log() - z.pow(k)

    def cdf(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return -(-(value / self.scale).pow(self.concentration)).expm1()

    def icdf(self, value):
        return self.scale * (-(-value).log1p()).pow(self.concentration.reciprocal())

    def entropy(self):
        inv_k = self.concentration.reciprocal()
        return _EULER * (1 - inv_k) + (self.scale * inv_k).log() + 1


class Pareto(Distribution):
    """The Pareto (type I) distribution: density ``alpha scale^alpha / x^(alpha + 1)`` on x >= scale."""

    arg_constraints = {"alpha": constraints.positive, "scale": constraints.positive}
    has_rsample = True

    def __init__(self, scale, alpha, validate_args=None):
        self.scale, self.alpha = broadcast_all(scale, alpha)
        super().__init__(self.scale.shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        return _expand_params(self, Pareto, ("scale", "alpha"), batch_shape, _instance)

    @constraints.dependent_property(is_discrete=False, event_dim=0)
    def support(self):
        return constraints.greater_than_eq(self.scale)

    @property
    def mean(self):
        # infinite for alpha <= 1; the safe stand-in keeps that branch's gradient finite (0, as in torch)
        a = where(self.alpha > 1, self.alpha, 2.0)
        return where(self.alpha > 1, a * self.scale / (a - 1), math.inf)

    @property
    def mode(self):
        return self.scale

    @property
    def variance(self):
        a = where(self.alpha > 2, self.alpha, 3.0)  # infinite for alpha <= 2
        return where(self.alpha > 2, self.scale.pow(2) * a / ((a - 1).pow(2) * (a - 2)), math.inf)

    def rsample(self, sample_shape=Size()):
        e = draw(self.scale, lambda rng: rng.standard_exponential(self._extended_shape(sample_shape)))
        return self.scale * (e / self.alpha).exp()

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return self.alpha.log() + self.alpha * self.scale.log() - (self.alpha + 1) * value.log()

    def cdf(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return 1 - (self.scale / value).pow(self.alpha)

    def icdf(self, value):
        return self.scale * (-value).log1p().mul(-1 / self.alpha).exp()

    def entropy(self):
        return (self.scale / self.alpha).log() + self.alpha.reciprocal() + 1
