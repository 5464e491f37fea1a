"""Random numbers: seeding, ``Generator`` objects, RNG state round trips, distributions' shapes/dtypes/ranges."""
import numpy as np
import pytest

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
