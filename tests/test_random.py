"""Random numbers: seeding, ``Generator`` objects, RNG state round trips, distributions' shapes/dtypes/ranges."""
import numpy as np
import pytest
import torch

import shendu as sd

DRAWS = [
    ("rand", lambda **kw: sd.rand(3, 4, **kw)),
    ("randn", lambda **kw: sd.randn(3, 4, **kw)),
    ("randint", lambda **kw: sd.randint(0, 100, (3, 4), **kw)),
    ("randperm", lambda **kw: sd.randperm(20, **kw)),
    ("normal", lambda **kw: sd.normal(0.0, 1.0, size=(5,), **kw)),
    ("bernoulli", lambda **kw: sd.bernoulli(sd.full((20,), 0.5), **kw)),
    ("multinomial", lambda **kw: sd.multinomial(sd.ones(2, 10), 4, **kw)),
]
DRAW_IDS = [d[0] for d in DRAWS]


@pytest.mark.parametrize("name, draw", DRAWS, ids=DRAW_IDS)
def test_manual_seed_reproduces(name, draw):
    sd.manual_seed(1234)
    a = draw()
    sd.manual_seed(1234)
    b = draw()
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    sd.manual_seed(4321)
    c = draw()
    assert not np.array_equal(a.numpy(), c.numpy())


@pytest.mark.parametrize("name, draw", DRAWS, ids=DRAW_IDS)
def test_generator_object_is_independent_of_global(name, draw):
    g = sd.Generator().manual_seed(7)
    a = draw(generator=g)
    sd.manual_seed(0)
    sd.randn(10)  # consuming the global stream must not affect g
    g.manual_seed(7)
    b = draw(generator=g)
    np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_consecutive_draws_differ():
    a, b = sd.rand(8), sd.rand(8)
    assert not np.array_equal(a.numpy(), b.numpy())


def test_rng_state_round_trip():
    sd.manual_seed(3)
    sd.randn(5)
    state = sd.get_rng_state()
    a = sd.randn(6)
    b = sd.randint(0, 10, (4,))
    sd.set_rng_state(state)
    np.testing.assert_array_equal(sd.randn(6).numpy(), a.numpy())
    np.testing.assert_array_equal(sd.randint(0, 10, (4,)).numpy(), b.numpy())
    sd.set_rng_state(state)  # a state can be restored more than once
    np.testing.assert_array_equal(sd.randn(6).numpy(), a.numpy())


def test_generator_state_round_trip():
    g = sd.Generator().manual_seed(11)
    state = g.get_state()
    a = sd.rand(4, generator=g)
    g.set_state(state)
    np.testing.assert_array_equal(sd.rand(4, generator=g).numpy(), a.numpy())
    assert g.initial_seed() == 11


def test_seed_helpers():
    gen = sd.manual_seed(5)
    assert isinstance(gen, sd.Generator)
    assert sd.initial_seed() == 5
    s = sd.seed()
    assert isinstance(s, int) and sd.initial_seed() == s


def test_rand_and_randn_shapes_dtypes_and_ranges():
    u = sd.rand(1000)
    assert u.dtype == sd.float32 and u.shape == (1000,)
    assert 0.0 <= float(u.min()) and float(u.max()) < 1.0
    assert abs(float(u.mean()) - 0.5) < 0.05
    n = sd.randn((200, 50))
    assert n.shape == (200, 50) and n.dtype == sd.float32
    assert abs(float(n.mean())) < 0.05 and abs(float(n.std()) - 1.0) < 0.05
    assert sd.rand(2, dtype=sd.float64).dtype == sd.float64
    assert sd.randn(2, 3, requires_grad=True).requires_grad
    assert sd.randn(2, device="cpu").device == "cpu"
    assert sd.randn(()).shape == ()


def test_randint_forms():
    a = sd.randint(3, 7, (500,))
    assert a.dtype == sd.int64 and a.shape == (500,)
    assert set(a.tolist()) == {3, 4, 5, 6}
    b = sd.randint(5, (2, 3))  # PyTorch's randint(high, size)
    assert b.shape == (2, 3) and 0 <= int(b.min()) and int(b.max()) < 5
    c = sd.randint(4, size=(10,))
    assert c.shape == (10,) and int(c.max()) < 4
    assert sd.randint(0, 2, (3,), dtype=sd.int32).dtype == sd.int32
    with pytest.raises(RuntimeError, match="low < high"):  # RuntimeError, as in PyTorch
        sd.randint(5, 5, (2,))


def test_randperm_is_a_permutation():
    p = sd.randperm(50)
    assert p.dtype == sd.int64
    assert sorted(p.tolist()) == list(range(50))


def test_normal_forms():
    m = sd.zeros(3, dtype=sd.float64)
    out = sd.normal(m, 1.0)
    assert out.shape == (3,) and out.dtype == sd.float64  # the dtype follows a tensor mean
    out = sd.normal(sd.tensor([0.0, 100.0]), sd.tensor([1e-6, 1e-6]))
    np.testing.assert_allclose(out.numpy(), [0.0, 100.0], atol=1e-3)
    assert sd.normal(2.0, 3.0, size=(2, 2)).dtype == sd.float32


def test_like_draws():
    x = sd.zeros(2, 3, dtype=sd.float64)
    assert sd.rand_like(x).shape == (2, 3) and sd.rand_like(x).dtype == sd.float64
    assert sd.randn_like(x).dtype == sd.float64
    r = sd.randint_like(sd.zeros(4, dtype=sd.int64), 3)
    assert r.dtype == sd.int64 and int(r.max()) < 3


def test_bernoulli_and_multinomial_values():
    assert set(sd.bernoulli(sd.full((100,), 0.5)).tolist()) == {0.0, 1.0}
    np.testing.assert_array_equal(sd.bernoulli(sd.tensor([0.0, 1.0])).numpy(), [0.0, 1.0])
    probs = sd.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 5.0]])
    np.testing.assert_array_equal(sd.multinomial(probs, 1).numpy(), [[1], [2]])
    draws = sd.multinomial(sd.ones(6), 6)  # without replacement: a permutation
    assert sorted(draws.tolist()) == list(range(6))
    wr = sd.multinomial(sd.tensor([1.0, 3.0]), 4000, replacement=True)
    assert abs(float(wr.float().mean()) - 0.75) < 0.05


def test_inplace_init_uses_the_seed():
    sd.manual_seed(9)
    a = sd.empty(5).uniform_(-1, 1)
    sd.manual_seed(9)
    b = sd.empty(5).uniform_(-1, 1)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert float(a.min()) >= -1 and float(a.max()) < 1 and a.dtype == sd.float32
    n = sd.empty(1000).normal_(2.0, 0.5)
    assert abs(float(n.mean()) - 2.0) < 0.1


# -- multinomial, poisson, bernoulli, normal with tensors, states, fork_rng ------------------------
def test_multinomial_with_replacement_proportions_2d():
    probs = sd.tensor([[1.0, 2.0, 7.0, 0.0], [5.0, 0.0, 0.0, 5.0]])
    draws = sd.multinomial(probs, 20000, replacement=True, generator=sd.Generator().manual_seed(0))
    assert draws.shape == (2, 20000) and draws.dtype == sd.int64
    for row, p in zip(draws.numpy(), probs.numpy()):
        counts = np.bincount(row, minlength=4)
        expected = p / p.sum() * len(row)
        assert np.all(counts[p == 0] == 0)
        nz = p > 0
        chi2 = (((counts[nz] - expected[nz]) ** 2) / expected[nz]).sum()
        assert chi2 < 16.27, counts  # at most 3 dof, p = 0.001


def test_multinomial_without_replacement():
    g = sd.Generator().manual_seed(1)
    probs = sd.tensor([1.0, 1.0, 1.0, 50.0, 1.0])
    firsts = []
    for _ in range(200):
        d = sd.multinomial(probs, 5, generator=g).tolist()
        assert sorted(d) == [0, 1, 2, 3, 4]
        firsts.append(d[0])
    assert abs(np.mean(np.array(firsts) == 3) - 50 / 54) < 0.06
    assert sd.multinomial(sd.ones(3, 6), 2).shape == (3, 2)


@pytest.mark.parametrize("probs, n, replacement, match", [
    ([1.0, 2.0], 3, False, "without replacement"),
    ([0.0, 0.0], 1, True, "sum of probabilities"),
    ([-1.0, 2.0], 1, True, "element < 0"),
    ([[[1.0]]], 1, True, "1 or 2 dim"),
    ([1.0, 2.0], 0, True, "n_sample <= 0"),
])
def test_multinomial_errors_as_torch(probs, n, replacement, match):
    with pytest.raises(RuntimeError, match=match):
        sd.multinomial(sd.tensor(probs), n, replacement)
    with pytest.raises(RuntimeError, match=match.replace("element < 0", "element < 0")):
        torch.multinomial(torch.tensor(probs), n, replacement)


def test_poisson_and_bernoulli_statistics():
    g = sd.Generator().manual_seed(2)
    rates = sd.full((50000,), 3.0)
    p = sd.poisson(rates, generator=g)
    assert p.dtype == sd.float32 and abs(float(p.mean()) - 3.0) < 0.05 and abs(float(p.var()) - 3.0) < 0.1
    b = sd.bernoulli(sd.full((50000,), 0.3), generator=g)
    assert set(np.unique(b.numpy())) <= {0.0, 1.0} and abs(float(b.mean()) - 0.3) < 0.01
    assert abs(float(sd.bernoulli(sd.zeros(50000), 0.8, generator=g).mean()) - 0.8) < 0.01
    with pytest.raises(RuntimeError, match="rates"):
        sd.poisson(sd.tensor([-1.0]))


def test_sampling_from_tensors_that_require_grad_gives_zero_gradients_as_torch():
    mean = sd.zeros(3, requires_grad=True)
    std = sd.ones(3, requires_grad=True)
    y = sd.normal(mean, std)
    assert y.requires_grad
    y.backward(sd.randn(3))
    assert mean.grad.tolist() == [0.0] * 3 and std.grad.tolist() == [0.0] * 3
    tm, ts = torch.zeros(3, requires_grad=True), torch.ones(3, requires_grad=True)
    torch.normal(tm, ts).backward(torch.randn(3))
    assert tm.grad.tolist() == [0.0] * 3  # PyTorch's normal is not reparameterized either
    rates = sd.full((4,), 2.0, requires_grad=True)
    assert sd.poisson(rates).requires_grad and sd.bernoulli(rates * 0.1).requires_grad


def test_normal_forms_shapes_and_dtypes():
    g = sd.Generator().manual_seed(4)
    m = sd.normal(sd.full((20000,), 2.0, dtype=sd.float64), 0.5, generator=g)
    assert m.dtype == sd.float64 and abs(float(m.mean()) - 2.0) < 0.02 and abs(float(m.std()) - 0.5) < 0.02
    assert sd.normal(0.0, sd.ones(4)).shape == (4,) and sd.normal(sd.zeros(2, 3), 1.0).shape == (2, 3)
    assert sd.normal(2.0, 3.0, size=(2,)).dtype == sd.float32
    with pytest.raises(RuntimeError, match="std"):
        sd.normal(0.0, -1.0, size=(2,))


def test_generator_state_is_a_uint8_tensor():
    g = sd.Generator().manual_seed(9)
    assert g.manual_seed(9) is g and g.initial_seed() == 9
    state = g.get_state()
    assert isinstance(state, sd.Tensor) and state.dtype == sd.uint8
    assert state.dtype == torch.Generator().get_state().numpy().dtype
    a = sd.rand(5, generator=g)
    g.set_state(state)
    np.testing.assert_array_equal(sd.rand(5, generator=g).numpy(), a.numpy())
    with pytest.raises(RuntimeError, match="uint8"):
        g.set_state(sd.zeros(3))


def test_fork_rng_restores_the_global_stream():
    sd.manual_seed(11)
    expected = sd.randn(4).numpy()
    sd.manual_seed(11)
    with sd.random.fork_rng():
        sd.randn(100)
    np.testing.assert_array_equal(sd.randn(4).numpy(), expected)
    assert sd.random.default_generator is sd.default_generator
    with sd.random.fork_rng(enabled=False):
        pass
