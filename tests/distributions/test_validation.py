"""Argument validation (PyTorch's default: on): invalid parameters and out-of-support values raise
ValueError naming the parameter, the distribution and the constraint; validate_args=False and
Distribution.set_default_validate_args turn it off; constraints themselves."""
import numpy as np
import pytest
import torch

import shendu as sd

D = sd.distributions
C = D.constraints


@pytest.fixture
def restore_default():
    yield
    D.Distribution.set_default_validate_args(True)


BAD_PARAMS = [
    (lambda: D.Normal(0.0, -1.0), r"Expected parameter scale \(Tensor of shape \(\)\) of distribution Normal\("
                                  r"loc: 0.0, scale: -1.0\) to satisfy the constraint GreaterThan\(lower_bound=0.0\)"),
    (lambda: D.Normal(sd.tensor([0.0, float("nan")]), 1.0), r"parameter loc .* constraint Real\(\)"),
    (lambda: D.Bernoulli(probs=sd.tensor([0.2, 1.5])),
     r"parameter probs .* Interval\(lower_bound=0.0, upper_bound=1.0\)"),
    (lambda: D.Categorical(probs=sd.tensor([0.5, -0.1, 0.6])), r"parameter probs .* Simplex\(\)"),
    (lambda: D.Gamma(sd.tensor([1.0, 0.0]), 1.0), r"parameter concentration .* GreaterThan"),
    (lambda: D.Dirichlet(sd.tensor([1.0, -2.0])), r"parameter concentration .* IndependentConstraint"),
    (lambda: D.Beta(0.5, -1.0), r"parameter concentration0"),
    (lambda: D.Poisson(sd.tensor([-1.0])), r"parameter rate .* GreaterThanEq\(lower_bound=0.0\)"),
    (lambda: D.Binomial(2.5, probs=sd.tensor(0.5)), r"parameter total_count .* IntegerGreaterThan"),
    (lambda: D.Exponential(sd.tensor([0.0])), r"parameter rate"),
    (lambda: D.StudentT(-1.0), r"parameter df"),
    (lambda: D.LogNormal(0.0, 0.0), r"parameter scale"),
    (lambda: D.MultivariateNormal(sd.zeros(2), scale_tril=sd.tensor([[1.0, 0.0], [0.5, -1.0]])),
     r"parameter scale_tril .* LowerCholesky"),
    (lambda: D.MultivariateNormal(sd.zeros(2), precision_matrix=sd.tensor([[1.0, 2.0], [2.0, 1.0]])),
     r"parameter precision_matrix .* PositiveDefinite"),
    (lambda: D.Uniform(1.0, 0.0), r"Uniform is not defined when low >= high"),
    (lambda: D.Geometric(probs=sd.tensor(0.0)), r"probs > 0"),
]


@pytest.mark.parametrize("build,match", BAD_PARAMS)
def test_invalid_parameters_raise(build, match):
    with pytest.raises(ValueError, match=match):
        build()


def test_message_matches_torch_for_normal():
    with pytest.raises(ValueError) as ours:
        D.Normal(0.0, -1.0)
    with pytest.raises(ValueError) as theirs:
        torch.distributions.Normal(0.0, -1.0)
    assert str(ours.value).split(":\n")[0] == str(theirs.value).split(":\n")[0]


def test_cholesky_failure_names_the_matrix():
    """A covariance that is not positive definite is caught by its constraint before the factorisation."""
    with pytest.raises(ValueError, match="covariance_matrix"):
        D.MultivariateNormal(sd.zeros(2), sd.tensor([[1.0, 2.0], [2.0, 1.0]]))


def test_values_outside_the_support_raise():
    with pytest.raises(ValueError, match=r"Expected value argument .* within the support \(GreaterThanEq"):
        D.Exponential(1.0).log_prob(sd.tensor([-1.0]))
    with pytest.raises(ValueError, match="within the support"):
        D.Bernoulli(probs=sd.tensor(0.3)).log_prob(sd.tensor(0.5))
    with pytest.raises(ValueError, match="IntegerInterval"):
        D.Categorical(probs=sd.tensor([0.5, 0.5])).log_prob(sd.tensor(2))
    with pytest.raises(ValueError, match="within the support"):
        D.Dirichlet(sd.tensor([1.0, 1.0])).log_prob(sd.tensor([0.7, 0.7]))
    with pytest.raises(ValueError, match="right-most size of value must match event_shape"):
        D.MultivariateNormal(sd.zeros(3), sd.eye(3)).log_prob(sd.zeros(2))
    with pytest.raises(ValueError, match="not broadcastable"):
        D.Normal(sd.zeros(3), 1.0).log_prob(sd.zeros(2))
    with pytest.raises(ValueError, match="Interval"):
        D.Uniform(0.0, 1.0).log_prob(sd.tensor(2.0))


def test_validate_args_false_and_the_class_default(restore_default):
    n = D.Normal(0.0, -1.0, validate_args=False)
    assert np.isnan(n.log_prob(sd.tensor(0.0)).item())
    assert D.Exponential(1.0, validate_args=False).log_prob(sd.tensor(-1.0)).item() == pytest.approx(-1.0 * -1 * 1 + 0)
    D.Distribution.set_default_validate_args(False)
    D.Gamma(-1.0, 1.0)
    D.Exponential(1.0).log_prob(sd.tensor([-1.0]))
    with pytest.raises(ValueError, match="parameter scale"):
        D.Normal(0.0, -1.0, validate_args=True)
    D.Distribution.set_default_validate_args(True)
    with pytest.raises(ValueError):
        D.Gamma(-1.0, 1.0)
    with pytest.raises(ValueError, match="True or False"):
        D.Distribution.set_default_validate_args("yes")


def test_exactly_one_parameterisation():
    with pytest.raises(ValueError, match="either `probs` or `logits`"):
        D.Bernoulli(probs=sd.tensor(0.5), logits=sd.tensor(0.0))
    with pytest.raises(ValueError, match="either `probs` or `logits`"):
        D.Categorical()
    with pytest.raises(ValueError, match="Exactly one of covariance_matrix or precision_matrix or scale_tril"):
        D.MultivariateNormal(sd.zeros(2), sd.eye(2), scale_tril=sd.eye(2))
    with pytest.raises(ValueError, match="at least one-dimensional"):
        D.Dirichlet(sd.tensor(1.0))


def test_mixture_and_independent_shape_errors():
    with pytest.raises(ValueError, match="does not equal"):
        D.MixtureSameFamily(D.Categorical(probs=sd.ones(3) / 3), D.Normal(sd.zeros(2), 1.0))
    with pytest.raises(ValueError, match="instance of torch.distributions.Categorical"):
        D.MixtureSameFamily(D.Normal(0.0, 1.0), D.Normal(sd.zeros(2), 1.0))
    with pytest.raises(ValueError, match="reinterpreted_batch_ndims <= len"):
        D.Independent(D.Normal(sd.zeros(2), 1.0), 2)


@pytest.mark.parametrize("name,values", [
    ("real", [0.0, np.inf, np.nan]), ("positive", [1.0, 0.0, -1.0]), ("nonnegative", [1.0, 0.0, -1.0]),
    ("unit_interval", [0.0, 1.0, 1.5]), ("boolean", [0.0, 1.0, 0.5]), ("nonnegative_integer", [0.0, 3.0, 1.5]),
    ("positive_integer", [0.0, 3.0, -1.0]),
])
def test_scalar_constraints_match_torch(name, values):
    got = getattr(C, name).check(sd.tensor(values, dtype=sd.float64)).numpy()
    want = getattr(torch.distributions.constraints, name).check(torch.tensor(values, dtype=torch.float64)).numpy()
    np.testing.assert_array_equal(got, want)


def test_event_constraints_match_torch():
    mats = np.array([[[2.0, 0.5], [0.5, 1.0]], [[1.0, 2.0], [2.0, 1.0]], [[1.0, 0.0], [0.3, 2.0]]])
    for name in ("positive_definite", "lower_cholesky", "lower_triangular", "symmetric"):
        # one matrix at a time: torch's batched positive_definite skips the Cholesky test when any
        # matrix of the batch is not symmetric
        for m in mats:
            got = getattr(C, name).check(sd.tensor(m)).numpy()
            want = getattr(torch.distributions.constraints, name).check(torch.tensor(m)).numpy()
            np.testing.assert_array_equal(got, want, err_msg=name)
    np.testing.assert_array_equal(C.positive_definite.check(sd.tensor(mats)).numpy(), [True, False, False])
    vecs = np.array([[0.2, 0.8], [0.5, 0.6], [1.0, 0.0], [0.0, 1.0]])
    for name in ("simplex", "one_hot", "real_vector"):
        got = getattr(C, name).check(sd.tensor(vecs)).numpy()
        want = getattr(torch.distributions.constraints, name).check(torch.tensor(vecs)).numpy()
        np.testing.assert_array_equal(got, want, err_msg=name)
    assert repr(C.interval(0.0, 2.0)) == repr(torch.distributions.constraints.interval(0.0, 2.0))
    assert C.is_dependent(D.Uniform.support) and not C.is_dependent(C.real)
    assert C.independent(C.real, 1).event_dim == 1 and C.simplex.event_dim == 1


def test_repr_like_torch():
    assert repr(D.Normal(0.0, 1.0)) == "Normal(loc: 0.0, scale: 1.0)"
    assert repr(D.Normal(sd.zeros(2), 1.0)) == "Normal(loc: shendu.Size([2]), scale: shendu.Size([2]))"
