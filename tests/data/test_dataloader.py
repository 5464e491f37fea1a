"""DataLoader: order, seeding, drop_last, collation (vs torch's default_collate), prefetching."""
import collections

import numpy as np
import pytest
import torch

import shendu as sd
from shendu.data import DataLoader, Dataset, IterableDataset, Subset, TensorDataset, default_collate


def _ds(n=10):
    return TensorDataset(sd.arange(n * 2, dtype=sd.float32).reshape(n, 2), sd.arange(n))


def _order(loader):
    return np.concatenate([yb.numpy() for _, yb in loader])


def test_sequential_order_and_batches():
    batches = list(DataLoader(_ds(), batch_size=4))
    assert [len(b[1]) for b in batches] == [4, 4, 2]
    assert isinstance(batches[0], list)  # as torch: a batch of tuples collates into a list
    np.testing.assert_array_equal(_order(DataLoader(_ds(), batch_size=4)), np.arange(10))
    assert batches[0][0].shape == (4, 2) and batches[0][0].dtype == sd.float32 and batches[0][1].dtype == sd.int64


@pytest.mark.parametrize("n,bs", [(10, 4), (12, 4), (3, 5), (1, 1)])
@pytest.mark.parametrize("drop_last", [False, True])
def test_len_matches_torch(n, bs, drop_last):
    ours = DataLoader(_ds(n), batch_size=bs, drop_last=drop_last)
    theirs = torch.utils.data.DataLoader(range(n), batch_size=bs, drop_last=drop_last)
    assert len(ours) == len(theirs) == len(list(ours))


def test_shuffle_seeding_and_reshuffle_per_epoch():
    loader = DataLoader(_ds(20), batch_size=3, shuffle=True, generator=sd.Generator().manual_seed(0))
    e1, e2 = _order(loader), _order(loader)
    assert sorted(e1) == list(range(20)) and sorted(e2) == list(range(20))
    assert not np.array_equal(e1, e2)
    again = DataLoader(_ds(20), batch_size=3, shuffle=True, generator=sd.Generator().manual_seed(0))
    np.testing.assert_array_equal(_order(again), e1)
    # the global generator: same seed, same order
    sd.manual_seed(5)
    g1 = _order(DataLoader(_ds(20), batch_size=3, shuffle=True))
    sd.manual_seed(5)
    g2 = _order(DataLoader(_ds(20), batch_size=3, shuffle=True))
    np.testing.assert_array_equal(g1, g2)


def test_drop_last_drops_incomplete_batch():
    loader = DataLoader(_ds(10), batch_size=4, shuffle=True, drop_last=True)
    sizes = [len(b[1]) for b in loader]
    assert sizes == [4, 4] and len(loader) == 2


def test_fast_path_equals_item_by_item_collation():
    ds = Subset(_ds(15), list(range(14, -1, -1)))
    fast = DataLoader(ds, batch_size=4, shuffle=True, generator=sd.Generator().manual_seed(2))
    slow = DataLoader(ds, batch_size=4, shuffle=True, generator=sd.Generator().manual_seed(2),
                      collate_fn=lambda b: default_collate(b))
    for (fx, fy), (sx, sy) in zip(fast, slow):
        np.testing.assert_array_equal(fx.numpy(), sx.numpy())
        np.testing.assert_array_equal(fy.numpy(), sy.numpy())
        assert fx.dtype == sx.dtype and fy.dtype == sy.dtype


def test_prefetch_thread_gives_the_same_batches():
    plain = DataLoader(_ds(23), batch_size=4, shuffle=True, generator=sd.Generator().manual_seed(7))
    fetched = DataLoader(_ds(23), batch_size=4, shuffle=True, num_workers=2, prefetch_factor=1,
                         generator=sd.Generator().manual_seed(7))
    for _ in range(2):  # two epochs: the reshuffles agree too
        np.testing.assert_array_equal(_order(plain), _order(fetched))
    sd.manual_seed(1)
    a = _order(DataLoader(_ds(23), batch_size=4, shuffle=True))
    sd.manual_seed(1)
    b = _order(DataLoader(_ds(23), batch_size=4, shuffle=True, num_workers=1))
    np.testing.assert_array_equal(a, b)


class _Failing(Dataset):
    def __len__(self):
        return 6

    def __getitem__(self, i):
        if i == 4:
            raise KeyError("bad item 4")
        return np.float32(i)


def test_prefetch_reraises_and_early_break():
    with pytest.raises(KeyError, match="bad item 4"):
        list(DataLoader(_Failing(), batch_size=2, num_workers=1))
    loader = DataLoader(_ds(100), batch_size=2, num_workers=1, prefetch_factor=1)
    for i, _ in enumerate(loader):
        if i == 1:
            break
    assert len(list(loader)) == 50


Point = collections.namedtuple("Point", "x y")


def _compare(ours, theirs):
    if isinstance(theirs, torch.Tensor):
        assert isinstance(ours, sd.Tensor)
        assert str(ours.dtype) == str(theirs.dtype).replace("torch.", "")
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    elif isinstance(theirs, dict):
        assert type(ours) is type(theirs) and ours.keys() == theirs.keys()
        for k in theirs:
            _compare(ours[k], theirs[k])
    elif isinstance(theirs, (list, tuple)):
        assert type(ours) is type(theirs) and len(ours) == len(theirs)
        for o, t in zip(ours, theirs):
            _compare(o, t)
    else:
        assert ours == theirs


@pytest.mark.parametrize("make", [
    lambda i: {"x": np.full((2, 3), i, dtype=np.float64), "y": i, "w": float(i) / 2, "name": f"s{i}"},
    lambda i: (np.arange(3, dtype=np.float32) + i, np.int64(i), True),
    lambda i: Point(x=np.float32(i), y=[i, i + 1]),
    lambda i: [np.uint8(i), {"nested": (i, 2.5)}],
])
def test_default_collate_matches_torch(make):
    samples = [make(i) for i in range(3)]
    ours = default_collate(samples)
    theirs = torch.utils.data.default_collate(samples)
    _compare(ours, theirs)


def test_collate_stacks_tensors_and_dict_dataset():
    class Dicts(Dataset):
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return {"image": sd.full((1, 2, 2), float(i)), "label": i}

    batches = list(DataLoader(Dicts(), batch_size=2))
    assert batches[0]["image"].shape == (2, 1, 2, 2) and batches[0]["image"].dtype == sd.float32
    np.testing.assert_array_equal(batches[2]["label"].numpy(), [4])


def test_iterable_dataset_and_no_batching():
    class Stream(IterableDataset):
        def __iter__(self):
            return iter(range(7))

    assert [b.numpy().tolist() for b in DataLoader(Stream(), batch_size=3)] == [[0, 1, 2], [3, 4, 5], [6]]
    assert len(list(DataLoader(Stream(), batch_size=3, drop_last=True))) == 2
    single = list(DataLoader(_ds(3), batch_size=None))
    assert len(single) == 3 and single[1][0].shape == (2,)


def test_argument_errors():
    with pytest.raises(ValueError, match="mutually exclusive"):
        DataLoader(_ds(), sampler=[0, 1], shuffle=True)
    with pytest.raises(ValueError, match="num_workers > 0"):
        DataLoader(_ds(), prefetch_factor=2)
