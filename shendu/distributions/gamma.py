"""The gamma family: Gamma, Chi2, Beta, Dirichlet, StudentT.

Gamma draws are reparameterised implicitly (Figurnov et al. 2018, "Implicit Reparameterization
Gradients"): for x ~ Gamma(α, 1) with CDF F(x; α), dx/dα = -(∂F/∂α) / p(x; α). ∂F/∂α of the regularised
incomplete gamma function has no closed form; it is a central difference in α (float64, ~1e-8
relative). Beta, Dirichlet and StudentT are built on gamma draws, so their rsample is differentiable
too (the gradient of a Dirichlet draw comes through its normalised gammas).
"""
from __future__ import annotations

import math

import numpy as np

from shendu import backend
from shendu.autograd.function import Function
from shendu.backend import array_module
from shendu.distributions import constraints
from shendu.distributions.continuous import _expand_params
from shendu.distributions.distribution import Distribution
from shendu.distributions.utils import broadcast_all, draw, numpy_of, tiny
from shendu.ops.shape import stack
from shendu.ops.special import _scipy, digamma, lgamma, lgamma_array, xlogy
from shendu.size import Size
from shendu.tensor import Tensor

__all__ = ["Beta", "Chi2", "Dirichlet", "FisherSnedecor", "Gamma", "StudentT", "gammainc"]


# -- the regularised lower incomplete gamma function P(a, x) -----------------------------------------
def _gammainc_approx(a, x):
    """P(a, x) by its power series for x < a + 1 and Lentz's continued fraction for Q = 1 - P otherwise
    (Numerical Recipes' gser / gcf, vectorised, float64)."""
    a, x = np.broadcast_arrays(np.asarray(a, np.float64), np.asarray(x, np.float64))
    xs = np.maximum(x, 0.0)
    log_pre = a * np.log(np.where(xs > 0, xs, 1.0)) - xs - lgamma_array(a)
    series_term = 1.0 / a
    total = series_term.copy()
    ap = a.copy()
    for _ in range(400):
        ap = ap + 1.0
        series_term = series_term * xs / ap
        total = total + series_term
    p_series = total * np.exp(log_pre)
    tiny_ = 1e-300
    b = xs + 1.0 - a
    c = np.full_like(b, 1.0 / tiny_)
    d = 1.0 / np.where(b == 0, tiny_, b)
    h = d.copy()
    for i in range(1, 400):
        an = -i * (i - a)
        b = b + 2.0
        d = an * d + b
        d = 1.0 / np.where(np.abs(d) < tiny_, tiny_, d)
        c = b + an / c
        c = np.where(np.abs(c) < tiny_, tiny_, c)
        h = h * d * c
    q_frac = np.exp(log_pre) * h
    out = np.where(xs < a + 1.0, p_series, 1.0 - q_frac)
    return np.where(x <= 0, 0.0, np.clip(out, 0.0, 1.0))


def _gammainc_array(a, x):
    exact = _scipy("gammainc")
    with np.errstate(all="ignore"):
        return exact(a, x) if exact is not None else _gammainc_approx(a, x)


def _dgammainc_da(a, x):
    """∂P(a, x)/∂a by a central difference (float64)."""
    h = 1e-5 * np.maximum(a, 1e-3)
    return (_gammainc_array(a + h, x) - _gammainc_array(a - h, x)) / (2 * h)


def _log_gamma_density(a, x):
    return (a - 1) * np.log(x) - x - lgamma_array(a)


class Gammainc(Function):
    """P(a, x) = γ(a, x) / Γ(a); d/dx = x^(a-1) e^(-x) / Γ(a), d/da numerically (once differentiable)."""

    def forward(ctx, a, x):
        a64 = np.asarray(backend.to_numpy(a), np.float64)
        x64 = np.asarray(backend.to_numpy(x), np.float64)
        return array_module(a).asarray(_gammainc_array(a64, x64).astype(np.result_type(a, x)))

    def backward(ctx, grad):
        a, x = ctx.inputs
        a64, x64 = np.broadcast_arrays(numpy_of(a), numpy_of(x))
        grad_a = grad_x = None
        if ctx.needs_input_grad[0]:
            grad_a = grad * _wrap_like(_dgammainc_da(a64, x64), grad)
        if ctx.needs_input_grad[1]:
            with np.errstate(all="ignore"):
                dens = np.where(x64 > 0, np.exp(_log_gamma_density(a64, np.maximum(x64, 1e-300))), 0.0)
            grad_x = grad * _wrap_like(dens, grad)
        return grad_a, grad_x


def _wrap_like(arr: np.ndarray, like: Tensor) -> Tensor:
    return Tensor._wrap(backend.to_device(np.asarray(arr).astype(like.dtype), like.device))


def gammainc(input: Tensor, other: Tensor) -> Tensor:
    """The regularised lower incomplete gamma function P(input, other) (``torch.special.gammainc``)."""
    a, x = broadcast_all(input, other)
    return Gammainc.apply(a, x)


class _StandardGamma(Function):
    """Carries Gamma(α, 1) draws into the graph with the implicit reparameterisation gradient."""

    def forward(ctx, alpha, *, sample):
        return sample

    def backward(ctx, grad):
        alpha = numpy_of(ctx.inputs[0])
        x = numpy_of(ctx.output)
        with np.errstate(all="ignore"):
            dx_da = -_dgammainc_da(alpha, x) / np.exp(_log_gamma_density(alpha, x))
        return grad * _wrap_like(np.nan_to_num(dx_da, nan=0.0, posinf=0.0, neginf=0.0), grad)

    saves_output = True


def standard_gamma(alpha: Tensor) -> Tensor:
    """One Gamma(α, 1) draw per element of ``alpha``, differentiable in ``alpha`` (at least ``tiny``)."""
    a = numpy_of(alpha)
    sample = draw(alpha, lambda rng: rng.standard_gamma(a))
    sample._data = sample._data.clip(tiny(sample), None)
    if alpha.requires_grad:
        return _StandardGamma.apply(alpha, sample=sample._data)
    return sample


class Gamma(Distribution):
    """The gamma distribution with shape ``concentration`` (α) and ``rate`` (β): density
    ``β^α x^(α-1) e^(-βx) / Γ(α)`` on x >= 0."""

    arg_constraints = {"concentration": constraints.positive, "rate": constraints.positive}
    support = constraints.nonnegative
    has_rsample = True

    def __init__(self, concentration, rate, validate_args=None):
        self.concentration, self.rate = broadcast_all(concentration, rate)
        super().__init__(self.concentration.shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        return _expand_params(self, Gamma, ("concentration", "rate"), batch_shape, _instance)

    @property
    def mean(self):
        return self.concentration / self.rate

    @property
    def mode(self):
        return ((self.concentration - 1) / self.rate).clamp(min=0)

    @property
    def variance(self):
        return self.concentration / (self.rate * self.rate)

    def rsample(self, sample_shape=Size()):
        shape = self._extended_shape(sample_shape)
        value = standard_gamma(self.concentration.expand(shape)) / self.rate.expand(shape)
        value._data = value._data.clip(tiny(value), None)  # a float32 draw can underflow to 0 after / rate
        return value

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        a, r = self.concentration, self.rate
        return xlogy(a, r) + xlogy(a - 1, value) - r * value - lgamma(a)

    def cdf(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return gammainc(self.concentration, self.rate * value)

    def entropy(self):
        a = self.concentration
        return a - self.rate.log() + lgamma(a) + (1.0 - a) * digamma(a)


class Chi2(Gamma):
    """The chi-squared distribution with ``df`` degrees of freedom: Gamma(df / 2, 1 / 2)."""

    arg_constraints = {"df": constraints.positive}

    def __init__(self, df, validate_args=None):
        (df,) = broadcast_all(df)
        super().__init__(0.5 * df, 0.5, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        return super().expand(batch_shape, self._get_checked_instance(Chi2, _instance))

    @property
    def df(self):
        """The degrees of freedom (twice the concentration)."""
        return self.concentration * 2


class Dirichlet(Distribution):
    """The Dirichlet distribution on the probability simplex, with ``concentration`` α (last dim: the
    K categories): density ``Γ(Σα) / ΠΓ(α_k) · Π x_k^(α_k - 1)``."""

    arg_constraints = {"concentration": constraints.independent(constraints.positive, 1)}
    support = constraints.simplex
    has_rsample = True

    def __init__(self, concentration, validate_args=None):
        if concentration.dim() < 1:
            raise ValueError("`concentration` parameter must be at least one-dimensional.")
        self.concentration = concentration
        super().__init__(concentration.shape[:-1], concentration.shape[-1:], validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(Dirichlet, _instance)
        batch_shape = Size(batch_shape)
        new.concentration = self.concentration.expand(batch_shape + self.event_shape)
        Distribution.__init__(new, batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def rsample(self, sample_shape=Size()):
        shape = self._extended_shape(sample_shape)
        g = standard_gamma(self.concentration.expand(shape))
        return g / g.sum(-1, keepdim=True)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        c = self.concentration
        return xlogy(c - 1.0, value).sum(-1) + lgamma(c.sum(-1)) - lgamma(c).sum(-1)

    @property
    def mean(self):
        return self.concentration / self.concentration.sum(-1, keepdim=True)

    @property
    def mode(self):
        from shendu.nn.functional import one_hot
        from shendu.ops.elementwise import where
        cm1 = (self.concentration - 1).clamp(min=0.0)
        mode = cm1 / cm1.sum(-1, keepdim=True)
        all_below_one = (self.concentration < 1).all(-1, keepdim=True)
        peak = one_hot(self.concentration.argmax(-1), self.concentration.shape[-1]).to(mode.dtype)
        return where(all_below_one, peak, mode)

    @property
    def variance(self):
        c = self.concentration
        c0 = c.sum(-1, keepdim=True)
        return c * (c0 - c) / (c0 * c0 * (c0 + 1))

    def entropy(self):
        c = self.concentration
        k = c.shape[-1]
        c0 = c.sum(-1)
        return lgamma(c).sum(-1) - lgamma(c0) - (k - c0) * digamma(c0) - ((c - 1.0) * digamma(c)).sum(-1)


class Beta(Distribution):
    """The beta distribution on [0, 1] with ``concentration1`` (α) and ``concentration0`` (β): density
    ``x^(α-1) (1-x)^(β-1) / B(α, β)``; a two-category Dirichlet."""

    arg_constraints = {"concentration1": constraints.positive, "concentration0": constraints.positive}
    support = constraints.unit_interval
    has_rsample = True

    def __init__(self, concentration1, concentration0, validate_args=None):
        c1, c0 = broadcast_all(concentration1, concentration0)
        self._dirichlet = Dirichlet(stack([c1, c0], -1), validate_args=False)  # checked below, by name
        super().__init__(self._dirichlet._batch_shape, validate_args=validate_args)
        self._dirichlet._validate_args = self._validate_args

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(Beta, _instance)
        batch_shape = Size(batch_shape)
        new._dirichlet = self._dirichlet.expand(batch_shape)
        Distribution.__init__(new, batch_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @property
    def concentration1(self):
        """α, the exponent of x."""
        return self._dirichlet.concentration[..., 0]

    @property
    def concentration0(self):
        """β, the exponent of 1 - x."""
        return self._dirichlet.concentration[..., 1]

    @property
    def mean(self):
        return self.concentration1 / (self.concentration1 + self.concentration0)

    @property
    def mode(self):
        return self._dirichlet.mode[..., 0]

    @property
    def variance(self):
        total = self.concentration1 + self.concentration0
        return self.concentration1 * self.concentration0 / (total * total * (total + 1))

    def rsample(self, sample_shape=()):
        return self._dirichlet.rsample(sample_shape)[..., 0]

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return self._dirichlet.log_prob(stack([value, 1.0 - value], -1))

    def entropy(self):
        return self._dirichlet.entropy()


class StudentT(Distribution):
    """Student's t distribution with ``df`` degrees of freedom, location ``loc`` and ``scale``."""

    arg_constraints = {"df": constraints.positive, "loc": constraints.real, "scale": constraints.positive}
    support = constraints.real
    has_rsample = True

    def __init__(self, df, loc=0.0, scale=1.0, validate_args=None):
        self.df, self.loc, self.scale = broadcast_all(df, loc, scale)
        self._chi2 = Chi2(self.df)
        super().__init__(self.df.shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = _expand_params(self, StudentT, ("df", "loc", "scale"), batch_shape, _instance)
        new._chi2 = self._chi2.expand(Size(batch_shape))
        return new

    @property
    def mean(self):
        from shendu.ops.elementwise import where
        return where(self.df <= 1, math.nan, self.loc)

    @property
    def mode(self):
        return self.loc

    @property
    def variance(self):
        from shendu.ops.elementwise import where
        df = self.df
        finite = self.scale * self.scale * df / (df - 2).clamp(min=1e-30)
        return where(df > 2, finite, where(df > 1, math.inf, math.nan))

    def rsample(self, sample_shape=Size()):
        # X ~ N(0, 1), Z ~ χ²(df): loc + scale · X / sqrt(Z / df)
        shape = self._extended_shape(sample_shape)
        x = draw(self.df, lambda rng: rng.standard_normal(shape))
        z = self._chi2.rsample(sample_shape)
        return self.loc + self.scale * x * (z / self.df).rsqrt()

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        y = (value - self.loc) / self.scale
        norm = (self.scale.log() + 0.5 * self.df.log() + 0.5 * math.log(math.pi) + lgamma(0.5 * self.df)
                - lgamma(0.5 * (self.df + 1.0)))
        return -0.5 * (self.df + 1.0) * (y * y / self.df).log1p() - norm

    def entropy(self):
        df = self.df
        lbeta = lgamma(0.5 * df) + math.lgamma(0.5) - lgamma(0.5 * (df + 1))
        return (self.scale.log() + 0.5 * (df + 1) * (digamma(0.5 * (df + 1)) - digamma(0.5 * df))
                + 0.5 * df.log() + lbeta)


class FisherSnedecor(Distribution):
    """Fisher's F distribution with ``df1`` and ``df2`` degrees of freedom: ``(X1 / df1) / (X2 / df2)``
    for independent chi-squared X1, X2."""

    arg_constraints = {"df1": constraints.positive, "df2": constraints.positive}
    support = constraints.positive
    has_rsample = True

    def __init__(self, df1, df2, validate_args=None):
        self.df1, self.df2 = broadcast_all(df1, df2)
        self._gamma1 = Gamma(self.df1 * 0.5, self.df1)
        self._gamma2 = Gamma(self.df2 * 0.5, self.df2)
        super().__init__(self.df1.shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = _expand_params(self, FisherSnedecor, ("df1", "df2"), batch_shape, _instance)
        new._gamma1, new._gamma2 = self._gamma1.expand(Size(batch_shape)), self._gamma2.expand(Size(batch_shape))
        return new

    @property
    def mean(self):
        from shendu.ops.elementwise import where
        d2 = where(self.df2 > 2, self.df2, 3.0)
        return where(self.df2 > 2, d2 / (d2 - 2), math.nan)

    @property
    def mode(self):
        from shendu.ops.elementwise import where
        return where(self.df1 > 2, (self.df1 - 2) / self.df1 * self.df2 / (self.df2 + 2), math.nan)

    @property
    def variance(self):
        from shendu.ops.elementwise import where
        d1, d2 = self.df1, where(self.df2 > 4, self.df2, 5.0)
        v = 2 * d2.pow(2) * (d1 + d2 - 2) / (d1 * (d2 - 2).pow(2) * (d2 - 4))
        return where(self.df2 > 4, v, math.nan)

    def rsample(self, sample_shape=Size()):
        # X1 ~ Gamma(df1 / 2, df1), X2 ~ Gamma(df2 / 2, df2): X1 / X2 ~ F(df1, df2)
        x1 = self._gamma1.rsample(sample_shape)
        x2 = self._gamma2.rsample(sample_shape)
        return x1 / x2.clamp(min=tiny(x2))

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        ct1, ct2, ct3 = self.df1 * 0.5, self.df2 * 0.5, self.df1 / self.df2
        t1 = lgamma(ct1 + ct2) - lgamma(ct1) - lgamma(ct2)
        t2 = ct1 * ct3.log() + (ct1 - 1) * value.log()
        return t1 + t2 - (ct1 + ct2) * (ct3 * value).log1p()
