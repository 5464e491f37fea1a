"""Built-in datasets: shapes, dtypes, determinism, statistics; the stdlib corpus."""
import sys

import numpy as np
import pytest

import shendu as sd
from shendu.data import (
    CharDataset,
    DataLoader,
    gaussian_blobs,
    load_breast_cancer,
    load_diabetes,
    load_digits,
    load_iris,
    load_wine,
    sin_curve,
    spirals,
    stdlib_corpus,
    two_moons,
    xor,
)
from shendu.data.datasets.text import ByteTokenizer, CharTokenizer


def test_sin_curve_layout_and_statistics():
    x, t = sin_curve()
    assert x.shape == t.shape == (10,) and x.dtype == t.dtype == sd.float32
    np.testing.assert_allclose(x.numpy(), np.linspace(0, 1, 10), rtol=1e-6)
    x2, t2 = sin_curve(seed=0)
    np.testing.assert_array_equal(t.numpy(), t2.numpy())
    assert not np.array_equal(t.numpy(), sin_curve(seed=1)[1].numpy())
    x, t = sin_curve(20000, noise=0.3, seed=0, spacing="uniform", dtype=sd.float64)
    residual = t.numpy() - np.sin(2 * np.pi * x.numpy())
    assert abs(residual.mean()) < 0.01 and abs(residual.std() - 0.3) < 0.01
    assert np.all(np.diff(x.numpy()) >= 0) and x.numpy().min() >= 0 and x.numpy().max() <= 1
    assert sin_curve(5, noise=0.0, x_range=(0, 0.5))[1].numpy()[-1] == pytest.approx(0.0, abs=1e-6)


def test_toy_sets():
    X, y = xor()
    np.testing.assert_array_equal(y.numpy(), [0, 1, 1, 0])
    assert X.dtype == sd.float32 and y.dtype == sd.int64
    for make, kwargs, classes in [(two_moons, {"n": 101, "noise": 0.1}, 2), (spirals, {"n": 301, "classes": 3}, 3),
                                  (gaussian_blobs, {"n": 300, "centers": 4, "std": 0.5}, 4)]:
        X, y = make(seed=0, **kwargs)
        n = kwargs["n"]
        assert X.shape == (n, 2) and y.shape == (n,) and X.dtype == sd.float32 and y.dtype == sd.int64
        counts = np.bincount(y.numpy())
        assert len(counts) == classes and counts.max() - counts.min() <= 1
        X2, y2 = make(seed=0, **kwargs)
        np.testing.assert_array_equal(X.numpy(), X2.numpy())
        assert not np.array_equal(X.numpy(), make(seed=1, **kwargs)[0].numpy())
    centers = np.array([[0.0, 0.0], [10.0, 10.0]])
    X, y = gaussian_blobs(400, centers=centers, std=0.1, seed=0)
    for k in range(2):
        np.testing.assert_allclose(X.numpy()[y.numpy() == k].mean(0), centers[k], atol=0.05)


@pytest.mark.parametrize("load,shape,classes", [
    (load_digits, (1797, 64), 10), (load_iris, (150, 4), 3), (load_wine, (178, 13), 3),
    (load_breast_cancer, (569, 30), 2), (load_diabetes, (442, 10), None)])
def test_sklearn_sets(load, shape, classes):
    X, y = load()
    assert X.shape == shape and X.dtype == sd.float32 and y.shape == (shape[0],)
    if classes is None:
        assert y.dtype == sd.float32
    else:
        assert y.dtype == sd.int64 and len(np.unique(y.numpy())) == classes
    Xs, _ = load(standardize=True)
    nonconstant = X.numpy().std(0) > 0
    np.testing.assert_allclose(Xs.numpy().mean(0), 0, atol=1e-4)
    np.testing.assert_allclose(Xs.numpy().std(0)[nonconstant], 1, atol=1e-4)


def test_sklearn_missing_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    with pytest.raises(ImportError, match=r"shendu\[demo\]"):
        load_iris()


def test_stdlib_corpus_deterministic_and_split():
    a = stdlib_corpus(max_bytes=50_000, seed=0)
    b = stdlib_corpus(max_bytes=50_000, seed=0)
    assert a.text == b.text and a.files == b.files and len(a.text.encode()) <= 50_000
    np.testing.assert_array_equal(a.train, b.train)
    assert len(a.val) == pytest.approx(0.1 * (len(a.train) + len(a.val)), abs=1)
    assert a.tokenizer.decode(np.concatenate([a.train, a.val])) == a.text
    assert a.vocab_size == len(set(a.text)) and a.tokenizer.chars == sorted(set(a.text))
    sorted_files = stdlib_corpus(max_bytes=20_000, seed=None).files
    assert sorted_files == sorted(sorted_files)
    assert stdlib_corpus(max_bytes=20_000, seed=1).text != stdlib_corpus(max_bytes=20_000, seed=2).text
    by = stdlib_corpus(max_bytes=20_000, level="byte")
    assert by.vocab_size == 256 and by.train.max() < 256 and len(by.train) + len(by.val) == 20_000


def test_tokenizers_round_trip():
    tok = CharTokenizer("hello, 世界!")
    ids = tok.encode("世界 hello")
    assert ids.dtype == np.int64 and tok.decode(ids) == "世界 hello"
    with pytest.raises(KeyError):
        tok.encode("z")
    bt = ByteTokenizer()
    assert bt.decode(bt.encode("héllo")) == "héllo"


def test_char_dataset_windows_and_loader():
    ids = np.arange(20) * 3
    ds = CharDataset(ids, block_size=4)
    assert len(ds) == 16
    x, y = ds[5]
    np.testing.assert_array_equal(x.numpy(), ids[5:9])
    np.testing.assert_array_equal(y.numpy(), ids[6:10])
    for xb, yb in DataLoader(ds, batch_size=5, shuffle=True):
        assert xb.shape == yb.shape and xb.dtype == sd.int64
        np.testing.assert_array_equal(xb.numpy()[:, 1:], yb.numpy()[:, :-1])
        assert np.all(np.diff(xb.numpy(), axis=1) == 3)
    corpus = stdlib_corpus(max_bytes=10_000)
    xb, yb = corpus.get_batch("val", 3, 8, generator=sd.Generator().manual_seed(0))
    assert xb.shape == (3, 8) and np.array_equal(xb.numpy()[:, 1:], yb.numpy()[:, :-1])
