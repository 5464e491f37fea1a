"""Samplers: lazily drawn epochs (minGPT's "infinite" sampler), WeightedRandomSampler proportions,
and DistributedSampler's shares against PyTorch's."""
import itertools

import numpy as np
import pytest
import torch
import torch.utils.data as tud

import shendu as sd
from shendu.data import DataLoader, DistributedSampler, RandomSampler, WeightedRandomSampler
from shendu.data import sampler as sampler_module


def test_random_sampler_with_replacement_draws_lazily():
    s = RandomSampler(range(10), replacement=True, num_samples=10 ** 10)
    assert len(s) == 10 ** 10
    first = list(itertools.islice(iter(s), 5000))  # would need 80 GB if drawn eagerly
    assert len(first) == 5000 and set(first) <= set(range(10)) and len(set(first)) == 10
    chunk = next(s.chunks())
    assert chunk.dtype == np.int64 and len(chunk) == sampler_module.CHUNK


def test_dataloader_over_infinite_sampler_yields_batches():
    data = sd.data.TensorDataset(sd.arange(20.0))
    loader = DataLoader(data, batch_size=4, sampler=RandomSampler(data, replacement=True, num_samples=10 ** 10))
    batches = list(itertools.islice(iter(loader), 3))
    assert [b[0].shape for b in batches] == [(4,)] * 3
    assert len(loader) == 10 ** 10 // 4
    no_batch = DataLoader(list(range(6)), batch_size=None,
                          sampler=RandomSampler(range(6), replacement=True, num_samples=10 ** 9))
    assert all(0 <= int(v) < 6 for v in itertools.islice(iter(no_batch), 10))


def test_lazy_epoch_is_reproducible_and_independent_of_later_global_draws():
    s = RandomSampler(range(7), replacement=True, num_samples=10 ** 8)
    sd.manual_seed(5)
    it = iter(s)
    a = list(itertools.islice(it, 100))
    sd.manual_seed(5)
    it2 = iter(s)
    next(it2)  # the epoch's stream is seeded when the epoch starts...
    sd.randn(1000)  # ...so draws from the global stream afterwards (a training step) change nothing
    b = [a[0]] + list(itertools.islice(it2, 99))
    assert a == b


def test_random_sampler_epochs_longer_than_the_dataset_without_replacement():
    s = RandomSampler(range(5), num_samples=12, generator=sd.Generator().manual_seed(0))
    order = list(s)
    assert len(order) == 12
    assert sorted(order[:5]) == sorted(order[5:10]) == list(range(5))  # whole permutations back to back
    assert len(set(order[10:])) == 2


def test_batch_sampler_stitches_chunks(monkeypatch):
    monkeypatch.setattr(sampler_module, "CHUNK", 7)  # batches straddle chunk boundaries
    s = RandomSampler(range(100), replacement=True, num_samples=30, generator=sd.Generator().manual_seed(1))
    flat = list(s.indices())
    for drop_last, sizes in ((False, [4] * 7 + [2]), (True, [4] * 7)):
        bs = sd.data.BatchSampler(RandomSampler(range(100), replacement=True, num_samples=30,
                                                generator=sd.Generator().manual_seed(1)), 4, drop_last)
        got = list(bs)
        assert [len(b) for b in got] == sizes
        assert sum(got, []) == flat[:sum(sizes)]


def _chi_square(counts: np.ndarray, probs: np.ndarray) -> float:
    expected = probs * counts.sum()
    return float(((counts - expected) ** 2 / expected).sum())


def test_weighted_random_sampler_proportions():
    weights = [1.0, 2.0, 3.0, 4.0, 0.0]
    n = 20000
    s = WeightedRandomSampler(weights, num_samples=n, generator=sd.Generator().manual_seed(0))
    counts = np.bincount(np.fromiter(iter(s), dtype=np.int64), minlength=5)
    assert counts[4] == 0  # zero weight: never drawn
    p = np.array(weights[:4]) / 10.0
    # 3 degrees of freedom: P(chi2 > 16.27) = 0.001
    assert _chi_square(counts[:4], p) < 16.27, counts
    wrong = np.array([0.25, 0.25, 0.25, 0.25])
    assert _chi_square(counts[:4], wrong) > 100  # the test can fail: uniform draws would be caught


def test_weighted_random_sampler_lazy_and_tensor_weights():
    s = WeightedRandomSampler(sd.tensor([0.0, 1.0, 3.0]), num_samples=10 ** 10)
    first = np.fromiter(itertools.islice(iter(s), 40000), dtype=np.int64)
    counts = np.bincount(first, minlength=3)
    assert counts[0] == 0 and _chi_square(counts[1:], np.array([0.25, 0.75])) < 10.83  # 1 dof, p = 0.001


def test_weighted_random_sampler_without_replacement():
    weights = np.array([1.0, 1.0, 1.0, 1.0, 100.0, 0.0])
    firsts, seen = [], []
    g = sd.Generator().manual_seed(3)
    for _ in range(300):
        draw = list(WeightedRandomSampler(weights, num_samples=5, replacement=False, generator=g))
        assert len(set(draw)) == 5 and 5 not in draw  # distinct, and the zero weight never drawn
        firsts.append(draw[0])
        seen.append(sorted(draw))
    assert all(s == [0, 1, 2, 3, 4] for s in seen)
    # the heavy index comes first with probability 100/104
    assert abs(np.mean(np.array(firsts) == 4) - 100 / 104) < 0.05
    with pytest.raises(RuntimeError, match="without replacement"):
        WeightedRandomSampler(weights, num_samples=6, replacement=False)


@pytest.mark.parametrize("kwargs, match", [
    ({"weights": [1.0, 2.0], "num_samples": 0}, "positive integer"),
    ({"weights": [1.0, 2.0], "num_samples": 2.5}, "positive integer"),
    ({"weights": [1.0, 2.0], "num_samples": 2, "replacement": 1}, "boolean"),
    ({"weights": [[1.0, 2.0]], "num_samples": 2}, "1-D"),
])
def test_weighted_random_sampler_argument_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        WeightedRandomSampler(**kwargs)
    with pytest.raises(RuntimeError, match="non-negative"):
        WeightedRandomSampler([-1.0, 2.0], 2)


@pytest.mark.parametrize("n, replicas, drop_last", [(10, 3, False), (10, 3, True), (12, 4, False), (2, 5, False)])
def test_distributed_sampler_shares_match_torch_without_shuffle(n, replicas, drop_last):
    for rank in range(replicas):
        ours = list(DistributedSampler(range(n), num_replicas=replicas, rank=rank, shuffle=False, drop_last=drop_last))
        theirs = list(tud.DistributedSampler(range(n), num_replicas=replicas, rank=rank, shuffle=False,
                                             drop_last=drop_last))
        assert ours == theirs
        assert len(DistributedSampler(range(n), replicas, rank, drop_last=drop_last)) == len(theirs)


def test_distributed_sampler_shuffle_partitions_each_epoch():
    n, replicas = 23, 4
    samplers = [DistributedSampler(range(n), num_replicas=replicas, rank=r, seed=7) for r in range(replicas)]
    orders = []
    for epoch in range(2):
        for s in samplers:
            s.set_epoch(epoch)
        shares = [list(s) for s in samplers]
        assert sorted(set(sum(shares, []))) == list(range(n))  # every index visited (plus padding)
        assert all(len(sh) == 6 for sh in shares)
        orders.append(shares)
    assert orders[0] != orders[1]  # a new shuffle per epoch
    assert list(DistributedSampler(range(n), 4, 0, seed=7)) == orders[0][0]  # same seed+epoch, same order


def test_distributed_sampler_defaults_to_one_process():
    s = DistributedSampler(range(5), shuffle=False)
    assert (s.num_replicas, s.rank) == (1, 0) and list(s) == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="rank"):
        DistributedSampler(range(5), num_replicas=2, rank=2)


def test_torch_distributed_sampler_reference_is_importable():
    assert torch.utils.data.distributed.DistributedSampler is tud.DistributedSampler
