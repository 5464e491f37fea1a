"""Datasets, Subset, ConcatDataset, random_split and samplers."""
import math

import numpy as np
import pytest
import torch

import shendu as sd
from shendu.data import (
    BatchSampler,
    ConcatDataset,
    RandomSampler,
    SequentialSampler,
    Subset,
    SubsetRandomSampler,
    TensorDataset,
    WeightedRandomSampler,
    random_split,
)


def test_tensor_dataset_items_and_length():
    x, y = sd.arange(12).reshape(6, 2), sd.tensor([0, 1, 0, 1, 1, 0])
    ds = TensorDataset(x, y)
    assert len(ds) == 6
    xi, yi = ds[4]
    np.testing.assert_array_equal(xi.numpy(), [8, 9])
    assert int(yi) == 1
    xb, yb = ds.get_batch(np.array([5, 0, 5]))
    np.testing.assert_array_equal(xb.numpy(), [[10, 11], [0, 1], [10, 11]])
    np.testing.assert_array_equal(yb.numpy(), [0, 0, 0])


def test_tensor_dataset_size_mismatch_names_sizes():
    with pytest.raises(ValueError, match=r"\[3, 4\]"):
        TensorDataset(sd.zeros(3, 2), sd.zeros(4))


def test_subset_and_concat():
    ds = TensorDataset(sd.arange(10))
    sub = Subset(ds, [7, 2, 5])
    assert len(sub) == 3 and int(sub[0][0]) == 7 and int(sub[2][0]) == 5
    cat = ConcatDataset([sub, ds])
    assert len(cat) == 13 and int(cat[2][0]) == 5 and int(cat[3][0]) == 0 and int(cat[-1][0]) == 9
    assert len(sub + ds) == 13


@pytest.mark.parametrize("lengths", [[0.3, 0.3, 0.4], [0.5, 0.5], [0.33, 0.33, 0.34], [3, 7]])
def test_random_split_lengths_match_torch_and_partition(lengths):
    n = 10
    ours = random_split(TensorDataset(sd.arange(n)), lengths, generator=sd.Generator().manual_seed(1))
    theirs = torch.utils.data.random_split(range(n), lengths, generator=torch.Generator().manual_seed(1))
    assert [len(s) for s in ours] == [len(s) for s in theirs]
    covered = np.sort(np.concatenate([np.asarray(s.indices, dtype=np.int64) for s in ours]))
    np.testing.assert_array_equal(covered, np.arange(n))
    again = random_split(TensorDataset(sd.arange(n)), lengths, generator=sd.Generator().manual_seed(1))
    assert [s.indices for s in ours] == [s.indices for s in again]


def test_random_split_bad_lengths():
    with pytest.raises(ValueError, match="does not equal"):
        random_split(TensorDataset(sd.arange(5)), [2, 2])


def test_samplers():
    data = list(range(7))
    assert list(SequentialSampler(data)) == data
    perm = list(RandomSampler(data, generator=sd.Generator().manual_seed(3)))
    assert sorted(perm) == data
    assert perm == list(RandomSampler(data, generator=sd.Generator().manual_seed(3)))
    draws = list(RandomSampler(data, replacement=True, num_samples=20))
    assert len(draws) == 20 and all(0 <= d < 7 for d in draws)
    assert sorted(SubsetRandomSampler([4, 1, 6])) == [1, 4, 6]
    w = list(WeightedRandomSampler([0.0, 1.0, 0.0], num_samples=5))
    assert w == [1] * 5
    # BatchSampler matches torch's grouping and length
    for drop_last in (False, True):
        ours = list(BatchSampler(SequentialSampler(data), 3, drop_last))
        theirs = list(torch.utils.data.BatchSampler(torch.utils.data.SequentialSampler(data), 3, drop_last))
        assert ours == theirs
        assert len(BatchSampler(SequentialSampler(data), 3, drop_last)) == len(theirs) == math.floor(7 / 3) + (
            0 if drop_last else 1)
