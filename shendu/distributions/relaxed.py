"""Continuous relaxations of discrete draws (Maddison et al. 2017; Jang et al. 2017, "Gumbel-softmax"):
RelaxedBernoulli and RelaxedOneHotCategorical, differentiable samples that approach 0/1 (one-hot)
as ``temperature`` goes to 0; built on their logit-space bases LogitRelaxedBernoulli and
ExpRelaxedCategorical."""
from __future__ import annotations

import math

from shendu.distributions import constraints
from shendu.distributions.discrete import Categorical, OneHotCategorical, _one_of, _ProbsOrLogits
from shendu.distributions.distribution import Distribution
from shendu.distributions.transformed import TransformedDistribution
from shendu.distributions.transforms import ExpTransform, SigmoidTransform
from shendu.distributions.utils import broadcast_all, clamp_probs, draw
from shendu.size import Size

__all__ = ["ExpRelaxedCategorical", "LogitRelaxedBernoulli", "OneHotCategoricalStraightThrough", "RelaxedBernoulli",
           "RelaxedOneHotCategorical"]


class LogitRelaxedBernoulli(_ProbsOrLogits):
    """The logit of a RelaxedBernoulli draw: ``(logits + log u - log(1 - u)) / temperature``."""

    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
    support = constraints.real
    has_rsample = True

    def __init__(self, temperature, probs=None, logits=None, validate_args=None):
        _one_of("LogitRelaxedBernoulli", probs, logits)
        self.temperature = temperature
        if probs is not None:
            (self.probs,) = broadcast_all(probs)
        else:
            (self.logits,) = broadcast_all(logits)
        super().__init__(self.param_shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._expand_pl(LogitRelaxedBernoulli, batch_shape, _instance)
        new.temperature = self.temperature
        return new

    def rsample(self, sample_shape=Size()):
        shape = self._extended_shape(sample_shape)
        u = clamp_probs(draw(self.logits, lambda rng: rng.random(shape)))
        return (u.log() - (-u).log1p() + self.logits) / self.temperature

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        logits, value = broadcast_all(self.logits, value)
        diff = logits - value * self.temperature
        t = self.temperature
        log_t = t.log() if hasattr(t, "log") else math.log(t)
        return log_t + diff - 2 * diff.exp().log1p()


class RelaxedBernoulli(TransformedDistribution):
    """A draw in (0, 1) that concentrates on {0, 1} as ``temperature`` → 0: ``sigmoid`` of a
    LogitRelaxedBernoulli."""

    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
    support = constraints.unit_interval
    has_rsample = True

    def __init__(self, temperature, probs=None, logits=None, validate_args=None):
        base = LogitRelaxedBernoulli(temperature, probs, logits)
        super().__init__(base, SigmoidTransform(), validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        return super().expand(batch_shape, self._get_checked_instance(RelaxedBernoulli, _instance))

    @property
    def temperature(self):
        """The relaxation temperature (> 0)."""
        return self.base_dist.temperature

    @property
    def logits(self):
        """The log-odds of the Bernoulli being relaxed."""
        return self.base_dist.logits

    @property
    def probs(self):
        """The success probability of the Bernoulli being relaxed."""
        return self.base_dist.probs


class ExpRelaxedCategorical(Distribution):
    """The log of a RelaxedOneHotCategorical draw: ``log_softmax((logits + Gumbel noise) / temperature)``."""

    arg_constraints = {"probs": constraints.simplex, "logits": constraints.real_vector}
    support = constraints.real_vector
    has_rsample = True

    def __init__(self, temperature, probs=None, logits=None, validate_args=None):
        self._categorical = Categorical(probs, logits)
        self.temperature = temperature
        super().__init__(self._categorical.batch_shape, self._categorical.param_shape[-1:],
                         validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(ExpRelaxedCategorical, _instance)
        batch_shape = Size(batch_shape)
        new.temperature = self.temperature
        new._categorical = self._categorical.expand(batch_shape)
        Distribution.__init__(new, batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @property
    def logits(self):
        """The normalised log-probabilities of the categorical being relaxed."""
        return self._categorical.logits

    @property
    def probs(self):
        """The probabilities of the categorical being relaxed."""
        return self._categorical.probs

    @property
    def param_shape(self):
        """The shape of ``probs`` / ``logits``."""
        return self._categorical.param_shape

    def rsample(self, sample_shape=Size()):
        shape = self._extended_shape(sample_shape)
        u = clamp_probs(draw(self.logits, lambda rng: rng.random(shape)))
        gumbels = -(-u.log()).log()
        scores = (self.logits + gumbels) / self.temperature
        return scores - scores.logsumexp(-1, keepdim=True)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        k = self._categorical._num_events
        t = self.temperature
        log_t = t.log() if hasattr(t, "log") else math.log(t)
        log_scale = math.lgamma(k) + log_t * (k - 1)
        logits, value = broadcast_all(self.logits, value)
        score = logits - value * t
        score = (score - score.logsumexp(-1, keepdim=True)).sum(-1)
        return score + log_scale


class RelaxedOneHotCategorical(TransformedDistribution):
    """A draw on the simplex that concentrates on the one-hot vertices as ``temperature`` → 0
    (the Gumbel-softmax / Concrete distribution)."""

    arg_constraints = {"probs": constraints.simplex, "logits": constraints.real_vector}
    support = constraints.simplex
    has_rsample = True

    def __init__(self, temperature, probs=None, logits=None, validate_args=None):
        base = ExpRelaxedCategorical(temperature, probs, logits, validate_args=validate_args)
        super().__init__(base, ExpTransform(), validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        return super().expand(batch_shape, self._get_checked_instance(RelaxedOneHotCategorical, _instance))

    @property
    def temperature(self):
        """The relaxation temperature (> 0)."""
        return self.base_dist.temperature

    @property
    def logits(self):
        """The normalised log-probabilities of the categorical being relaxed."""
        return self.base_dist.logits

    @property
    def probs(self):
        """The probabilities of the categorical being relaxed."""
        return self.base_dist.probs




class OneHotCategoricalStraightThrough(OneHotCategorical):
    """A OneHotCategorical whose ``rsample`` is the one-hot draw with the straight-through gradient of
    ``probs`` (Bengio et al. 2013): the forward value is exact, the backward treats it as ``probs``."""

    has_rsample = True

    def rsample(self, sample_shape=Size()):
        samples = self.sample(sample_shape)
        probs = self._categorical.probs
        return samples + (probs - probs.detach())
