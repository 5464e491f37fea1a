"""``shendu.distributions``: probability distributions with ``torch.distributions``' API.

Each distribution has ``batch_shape`` / ``event_shape``, ``sample`` (and, where reparameterisable,
the differentiable ``rsample``), ``log_prob``, ``entropy``, ``mean``, ``mode``, ``variance``,
``stddev``, ``cdf`` / ``icdf`` where PyTorch has them, ``expand``, ``support`` and ``arg_constraints``
(checked on construction unless ``validate_args=False``). ``kl_divergence(p, q)`` looks closed forms up
in a registry (``register_kl``). Samples come from shendu's global generator (``shendu.manual_seed``).

Families: Normal, Laplace, Uniform, Exponential (continuous.py); Gamma, Chi2, Beta, Dirichlet, StudentT
(gamma.py); Bernoulli, Binomial, Geometric, Poisson, Categorical, OneHotCategorical (discrete.py);
MultivariateNormal, LowRankMultivariateNormal (multivariate_normal.py); TransformedDistribution,
LogNormal, InverseGamma (transformed.py); Independent, MixtureSameFamily (independent.py); Cauchy,
HalfCauchy, HalfNormal, Gumbel, Weibull, Pareto (tails.py); Multinomial, NegativeBinomial (counts.py);
RelaxedBernoulli, RelaxedOneHotCategorical (relaxed.py). ``biject_to`` / ``transform_to`` map
unconstrained reals onto a constraint's set (constraint_registry.py).
"""
from shendu.distributions import constraint_registry, constraints, transforms
from shendu.distributions.constraint_registry import biject_to, transform_to
from shendu.distributions.continuous import Exponential, Laplace, Normal, Uniform
from shendu.distributions.counts import Multinomial, NegativeBinomial
from shendu.distributions.discrete import Bernoulli, Binomial, Categorical, Geometric, OneHotCategorical, Poisson
from shendu.distributions.distribution import Distribution
from shendu.distributions.gamma import Beta, Chi2, Dirichlet, FisherSnedecor, Gamma, StudentT
from shendu.distributions.independent import Independent, MixtureSameFamily
from shendu.distributions.kl import kl_divergence, register_kl
from shendu.distributions.multivariate_normal import LowRankMultivariateNormal, MultivariateNormal
from shendu.distributions.relaxed import (
    ExpRelaxedCategorical,
    LogitRelaxedBernoulli,
    OneHotCategoricalStraightThrough,
    RelaxedBernoulli,
    RelaxedOneHotCategorical,
)
from shendu.distributions.tails import Cauchy, Gumbel, HalfCauchy, HalfNormal, Pareto, Weibull
from shendu.distributions.transformed import InverseGamma, LogisticNormal, LogNormal, TransformedDistribution
from shendu.distributions.transforms import (
    AbsTransform,
    AffineTransform,
    ComposeTransform,
    ExpTransform,
    IndependentTransform,
    LowerCholeskyTransform,
    PositiveDefiniteTransform,
    PowerTransform,
    SigmoidTransform,
    SoftmaxTransform,
    SoftplusTransform,
    StickBreakingTransform,
    TanhTransform,
    Transform,
    identity_transform,
)

__all__ = [
    "FisherSnedecor", "LogisticNormal", "OneHotCategoricalStraightThrough",
    "LowRankMultivariateNormal",
    "IndependentTransform", "LowerCholeskyTransform", "PositiveDefiniteTransform", "StickBreakingTransform",
    "biject_to", "constraint_registry", "transform_to",
    "ExpRelaxedCategorical", "InverseGamma", "LogitRelaxedBernoulli", "RelaxedBernoulli", "RelaxedOneHotCategorical",
    "Cauchy", "Gumbel", "HalfCauchy", "HalfNormal", "Multinomial", "NegativeBinomial", "Pareto", "Weibull",
    "AbsTransform", "PowerTransform", "SoftmaxTransform", "SoftplusTransform", "TanhTransform", "identity_transform",
    "AffineTransform", "Bernoulli", "Beta", "Binomial", "Categorical", "Chi2", "ComposeTransform", "Dirichlet",
    "Distribution", "ExpTransform", "Exponential", "Gamma", "Geometric", "Independent", "Laplace", "LogNormal",
    "MixtureSameFamily", "MultivariateNormal", "Normal", "OneHotCategorical", "Poisson", "SigmoidTransform",
    "StudentT", "Transform", "TransformedDistribution", "Uniform", "constraints", "kl_divergence", "register_kl",
    "transforms",
]
