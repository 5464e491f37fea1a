"""Count vectors and over-dispersed counts: Multinomial and NegativeBinomial."""
from __future__ import annotations

import math
from functools import cached_property

import numpy as np

from shendu.distributions import constraints
from shendu.distributions.discrete import Binomial, Categorical, _one_of, _ProbsOrLogits
from shendu.distributions.distribution import Distribution
from shendu.distributions.utils import broadcast_all, draw, logits_to_probs, numpy_of, probs_to_logits
from shendu.ops.elementwise import where
from shendu.ops.special import lgamma
from shendu.size import Size

__all__ = ["Multinomial", "NegativeBinomial"]


def _logsigmoid(x):
    from shendu.nn.functional import logsigmoid
    return logsigmoid(x)


class Multinomial(Distribution):
    """Counts of ``total_count`` draws from a Categorical(``probs`` / ``logits``) over the last dim."""

    arg_constraints = {"probs": constraints.simplex, "logits": constraints.real_vector}

    def __init__(self, total_count: int = 1, probs=None, logits=None, validate_args=None):
        if not isinstance(total_count, int):
            raise NotImplementedError("inhomogeneous total_count is not supported")
        self.total_count = total_count
        self._categorical = Categorical(probs=probs, logits=logits)
        self._binomial = Binomial(total_count=total_count, probs=self.probs)
        super().__init__(self._categorical.batch_shape, self._categorical.param_shape[-1:],
                         validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(Multinomial, _instance)
        batch_shape = Size(batch_shape)
        new.total_count = self.total_count
        new._categorical = self._categorical.expand(batch_shape)
        new._binomial = Binomial(self.total_count, probs=new._categorical.probs, validate_args=False)
        Distribution.__init__(new, batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @constraints.dependent_property(is_discrete=True, event_dim=1)
    def support(self):
        return constraints.multinomial(self.total_count)

    @property
    def probs(self):
        """The category probabilities (last dim)."""
        return self._categorical.probs

    @property
    def logits(self):
        """The normalised log-probabilities (last dim)."""
        return self._categorical.logits

    @property
    def param_shape(self):
        """The shape of ``probs`` / ``logits``."""
        return self._categorical.param_shape

    @property
    def mean(self):
        return self.probs * self.total_count

    @property
    def variance(self):
        return self.total_count * self.probs * (1 - self.probs)

    def sample(self, sample_shape=Size()):
        shape = self._extended_shape(sample_shape)
        p = np.broadcast_to(numpy_of(self.probs), shape)
        p = p / p.sum(-1, keepdims=True)
        return draw(self.probs, lambda rng: rng.multinomial(self.total_count, p).astype(np.float64))

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        logits, value = broadcast_all(self.logits, value)
        logits = where((value == 0) & (logits == -math.inf), 0.0, logits)  # 0 · log 0 counts as 0
        return lgamma(value.sum(-1) + 1) - lgamma(value + 1).sum(-1) + (logits * value).sum(-1)

    def entropy(self):
        # H = -log n! + Σ_i E[log x_i!] - n Σ_i p_i log p_i, E[log x_i!] from each Binomial(n, p_i) marginal
        support = self._binomial.enumerate_support(expand=False)[1:]  # (n, 1, ...)
        binomial_probs = self._binomial.log_prob(support).exp()
        weights = lgamma(support + 1)
        return (self.total_count * self._categorical.entropy() - math.lgamma(self.total_count + 1)
                + (binomial_probs * weights).sum((0, -1)))


class NegativeBinomial(_ProbsOrLogits):
    """The number of successes before ``total_count`` failures in Bernoulli(``probs``) trials."""

    arg_constraints = {"total_count": constraints.greater_than_eq(0), "probs": constraints.half_open_interval(0.0, 1.0),
                       "logits": constraints.real}
    support = constraints.nonnegative_integer

    def __init__(self, total_count, probs=None, logits=None, validate_args=None):
        _one_of("NegativeBinomial", probs, logits)
        if probs is not None:
            self.total_count, self.probs = broadcast_all(total_count, probs)
            self.total_count = self.total_count.to(self.probs.dtype)
        else:
            self.total_count, self.logits = broadcast_all(total_count, logits)
            self.total_count = self.total_count.to(self.logits.dtype)
        super().__init__(self.param_shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        return self._expand_pl(NegativeBinomial, batch_shape, _instance, extra=("total_count",))

    @cached_property
    def logits(self):
        return probs_to_logits(self.probs, is_binary=True)

    @cached_property
    def probs(self):
        return logits_to_probs(self.logits, is_binary=True)

    @property
    def mean(self):
        return self.total_count * self.logits.exp()

    @property
    def mode(self):
        return ((self.total_count - 1) * self.logits.exp()).floor().clamp(min=0.0)

    @property
    def variance(self):
        return self.mean / (-self.logits).sigmoid()

    def sample(self, sample_shape=Size()):
        # a Poisson draw with a Gamma(total_count, (1 - p) / p) rate
        shape = self._extended_shape(sample_shape)
        r = np.broadcast_to(numpy_of(self.total_count), shape)
        odds = np.broadcast_to(np.exp(numpy_of(self.logits)), shape)
        return draw(self.probs, lambda rng: rng.poisson(rng.standard_gamma(r) * odds).astype(np.float64))

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        r = self.total_count
        unnormalized = r * _logsigmoid(-self.logits) + value * _logsigmoid(self.logits)
        normalization = -lgamma(r + value) + lgamma(1.0 + value) + lgamma(r)
        return unnormalized - where(r + value == 0, 0.0, normalization)
