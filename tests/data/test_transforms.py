"""Transforms on tiny hand-made inputs: exact flips, crop offsets, formulas, Mixup's convex combination."""
import numpy as np
import pytest
import torch

import shendu as sd
from shendu.data import transforms as T


def _img(n=None, c=2, h=4, w=5):
    shape = (c, h, w) if n is None else (n, c, h, w)
    return np.arange(np.prod(shape), dtype=np.float32).reshape(shape)


def test_horizontal_flip_exact():
    x = _img()
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=1.0)(x), x[..., ::-1])
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=0.0)(x), x)
    out = T.RandomHorizontalFlip(p=1.0)(sd.tensor(x))
    assert isinstance(out, sd.Tensor) and out.dtype == sd.float32
    np.testing.assert_array_equal(out.numpy(), x[..., ::-1])
    np.testing.assert_array_equal(T.RandomVerticalFlip(p=1.0)(x), x[..., ::-1, :])


def test_horizontal_flip_per_image_in_batch():
    x = _img(n=64)
    out = T.RandomHorizontalFlip(p=0.5, generator=sd.Generator().manual_seed(0))(x)
    flipped = np.array([np.array_equal(o, xi[..., ::-1]) for o, xi in zip(out, x)])
    kept = np.array([np.array_equal(o, xi) for o, xi in zip(out, x)])
    assert np.all(flipped ^ kept) and 16 < flipped.sum() < 48


def test_random_crop_with_padding_offsets():
    x = _img(n=6, h=4, w=4)
    crop = T.RandomCrop(4, padding=1, generator=sd.Generator().manual_seed(1))
    out = crop(x)
    assert out.shape == x.shape and out.dtype == x.dtype
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    offsets = []
    for o, p in zip(out, padded):
        hits = [(i, j) for i in range(3) for j in range(3) if np.array_equal(o, p[:, i:i + 4, j:j + 4])]
        assert hits, "every crop is a window of the padded image"
        offsets.append(hits[0])
    assert len(set(offsets)) > 1  # offsets drawn per image
    # crop = padded size: the padded image itself, with the fill value
    np.testing.assert_array_equal(T.RandomCrop((6, 7), padding=(1, 1), fill=-1)(_img(h=4, w=5)),
                                  np.pad(_img(h=4, w=5), ((0, 0), (1, 1), (1, 1)), constant_values=-1))


def test_normalize_formula_matches_torch():
    x = np.random.default_rng(0).normal(size=(3, 3, 4, 4)).astype(np.float32)
    mean, std = [0.1, 0.2, 0.3], [0.5, 1.5, 2.0]
    ours = T.Normalize(mean, std)(sd.tensor(x))
    ref = (torch.tensor(x) - torch.tensor(mean)[:, None, None]) / torch.tensor(std)[:, None, None]
    np.testing.assert_allclose(ours.numpy(), ref.numpy(), rtol=1e-6)
    assert ours.dtype == sd.float32
    with pytest.raises(ValueError, match="std"):
        T.Normalize([0.0], [0.0])


def test_standardize_fit_and_inverse():
    x = np.random.default_rng(1).normal(3.0, 2.0, size=(50, 4)).astype(np.float32)
    x[:, 3] = 7.0  # constant feature stays finite
    st = T.Standardize(x)
    z = st(x)
    np.testing.assert_allclose(z[:, :3].mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(z[:, :3].std(0), 1, atol=1e-5)
    np.testing.assert_array_equal(z[:, 3], 0)
    np.testing.assert_allclose(st.inverse(z), x, rtol=1e-5)


def test_rotation_and_shift():
    x = _img(n=2, h=5, w=5)
    for mode in ("nearest", "bilinear"):
        np.testing.assert_allclose(T.RandomRotation((90, 90), interpolation=mode)(x), np.rot90(x, 1, axes=(2, 3)),
                                   atol=1e-4)
        np.testing.assert_allclose(T.RandomRotation(0, interpolation=mode)(x), x, atol=1e-5)
    np.testing.assert_array_equal(T.RandomShift(0)(x), x)
    out = T.RandomShift(1, generator=sd.Generator().manual_seed(0))(_img(n=8, h=4, w=4))
    for o, xi in zip(out, _img(n=8, h=4, w=4)):
        pad = np.pad(xi, ((0, 0), (1, 1), (1, 1)))
        assert any(np.array_equal(o, pad[:, i:i + 4, j:j + 4]) for i in range(3) for j in range(3))


def test_gaussian_noise_and_compose():
    x = np.zeros((200, 50), dtype=np.float32)
    noisy = T.GaussianNoise(0.5, generator=sd.Generator().manual_seed(0))(x)
    assert noisy.dtype == np.float32 and abs(noisy.std() - 0.5) < 0.01
    again = T.GaussianNoise(0.5, generator=sd.Generator().manual_seed(0))(x)
    np.testing.assert_array_equal(noisy, again)
    pipeline = T.Compose([T.Lambda(lambda a: a + 1), T.Normalize([1.0], [2.0])])
    np.testing.assert_allclose(pipeline(np.ones((1, 2, 2), np.float32)), np.full((1, 2, 2), 0.5))


def test_mixup_convex_combination():
    x = np.random.default_rng(0).normal(size=(6, 3)).astype(np.float32)
    y = np.array([0, 1, 2, 0, 1, 2])
    mix = T.Mixup(alpha=0.4, num_classes=3, generator=sd.Generator().manual_seed(0))
    xm, ym = mix(sd.tensor(x), sd.tensor(y))
    lam, perm = mix.last_lambda, mix.last_permutation
    assert 0 <= lam <= 1 and sorted(perm) == list(range(6))
    onehot = np.eye(3, dtype=np.float32)[y]
    np.testing.assert_allclose(xm.numpy(), lam * x + (1 - lam) * x[perm], rtol=1e-6)
    np.testing.assert_allclose(ym.numpy(), lam * onehot + (1 - lam) * onehot[perm], rtol=1e-6)
    np.testing.assert_allclose(ym.numpy().sum(1), 1, rtol=1e-6)
    assert xm.dtype == sd.float32 and ym.dtype == sd.float32
    with pytest.raises(ValueError, match="num_classes"):
        T.Mixup()(x, y)
