"""shendu/backend.py: the cached zero arrays hot ops compare against."""
import numpy as np
import pytest
import torch

import shendu as sd
from shendu import backend


def test_zeros_like_array_is_a_read_only_zero_view_of_the_right_shape_and_dtype():
    for shape, dtype in [((3, 4), np.float32), ((5,), np.float64), ((2, 3, 70, 80), np.float32), ((), np.float32)]:
        z = backend.zeros_like_array(np.ones(shape, dtype))
        assert z.shape == shape and z.dtype == dtype and not z.any()
        with pytest.raises(ValueError):
            z[...] = 1


def test_zeros_like_array_falls_back_to_the_scalar_where_no_buffer_is_kept():
    assert backend.zeros_like_array(np.ones(3, np.int64)) == 0
    big = np.lib.stride_tricks.as_strided(np.zeros(1, np.float32), shape=(backend._ZEROS_MAX_BYTES // 4 + 1,),
                                          strides=(0,))
    assert backend.zeros_like_array(big) == 0


def test_relu_against_the_zero_buffer_matches_torch_at_signed_zeros_nan_and_inf():
    x = np.array([-0.0, 0.0, np.nan, -np.inf, np.inf, -1.5, 2.5], np.float32)
    ours = sd.relu(sd.tensor(x)).numpy()
    ref = torch.relu(torch.tensor(x)).numpy()
    np.testing.assert_array_equal(ours, ref)
    assert np.array_equal(np.signbit(ours), np.signbit(ref))


@pytest.mark.parametrize("shape, index_shape", [((96, 16), (2048,)), ((50, 3, 4), (20, 30)), ((7,), (600,))])
def test_scatter_add_sums_repeated_rows_like_add_at(shape, index_shape):
    rng = np.random.default_rng(0)
    index = rng.integers(-shape[0], shape[0], index_shape)  # negative indices name the same rows too
    values = rng.standard_normal(index_shape + shape[1:])
    expected = np.zeros(shape)
    np.add.at(expected, index, values)
    out = np.zeros(shape)
    backend.scatter_add(out, index, values)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)


def test_embedding_gradient_through_the_sorted_scatter_matches_torch():
    rng = np.random.default_rng(0)
    idx = rng.integers(0, 30, (16, 40))
    w = rng.standard_normal((30, 8), dtype=np.float32)
    g = rng.standard_normal((16, 40, 8), dtype=np.float32)
    ws, wt = sd.tensor(w, requires_grad=True), torch.tensor(w, requires_grad=True)
    sd.nn.functional.embedding(sd.tensor(idx), ws).backward(sd.tensor(g))
    torch.nn.functional.embedding(torch.tensor(idx), wt).backward(torch.tensor(g))
    np.testing.assert_allclose(ws.grad.numpy(), wt.grad.numpy(), rtol=1e-5, atol=1e-5)
