"""Embedding: contract, PyTorch parity (padding_idx, max_norm, scale_grad_by_freq), from_pretrained, init."""
import numpy as np
import pytest
import torch
from layer_harness import check_layer_grad, check_parity, run_layer_test

import shendu as sd
from shendu import nn

IDS = np.array([[1, 2, 2, 0, 7], [9, 2, 3, 3, 3]], dtype=np.int64)


def test_contract():
    run_layer_test(nn.Embedding, {"num_embeddings": 10, "embedding_dim": 4}, input_data=IDS,
                   expected_output_shape=(2, 5, 4), expected_output_dtype=np.float32,
                   expected_param_names=["weight"], expected_num_params=40)


@pytest.mark.parametrize("kw", [{}, {"padding_idx": 2}, {"padding_idx": -1}, {"max_norm": 1.0},
                                {"max_norm": 1.5, "norm_type": 1.0}, {"scale_grad_by_freq": True}],
                         ids=["plain", "pad", "pad-neg", "max_norm", "max_norm-l1", "freq"])
def test_parity(kw):
    m = nn.Embedding(10, 4, **kw)
    check_parity(m, torch.nn.Embedding(10, 4, **kw), IDS)
    assert repr(m) == repr(torch.nn.Embedding(10, 4, **kw))


def test_gradcheck_and_padding_row_gets_no_gradient():
    # (padding_idx and scale_grad_by_freq change the gradient on purpose, so only the plain lookup
    # is a true derivative; their gradients are checked against PyTorch above)
    check_layer_grad(nn.Embedding(10, 3), IDS)
    m = nn.Embedding(10, 3, padding_idx=2)
    out = m(sd.from_numpy(IDS))
    out.backward(sd.randn(*out.shape))
    assert not np.any(m.weight.grad._data[2]) and np.any(m.weight.grad._data[3])


def test_init():
    m = nn.Embedding(2000, 50, padding_idx=0)
    w = m.weight._data
    assert not np.any(w[0])
    assert abs(w[1:].mean()) < 0.01 and abs(w[1:].std() - 1) < 0.01
    assert nn.Embedding(10, 4, padding_idx=-3).padding_idx == 7
    assert nn.Embedding(10, 4, dtype=sd.float64).weight.dtype == np.float64


def test_from_pretrained():
    table = sd.randn(5, 3)
    m = nn.Embedding.from_pretrained(table)
    assert not m.weight.requires_grad and m.weight._data is table._data
    np.testing.assert_array_equal(m(sd.tensor([4, 0]))._data, table._data[[4, 0]])
    assert nn.Embedding.from_pretrained(table, freeze=False, padding_idx=1).weight.requires_grad
    t = torch.nn.Embedding.from_pretrained(torch.from_numpy(table._data.copy()), freeze=False)
    check_parity(nn.Embedding.from_pretrained(table, freeze=False), t, np.array([[0, 4, 4]]))
    with pytest.raises(ValueError, match="2-dimensional"):
        nn.Embedding.from_pretrained(sd.randn(5))


def test_errors():
    m = nn.Embedding(10, 4)
    with pytest.raises(RuntimeError, match=r"Embedding\(10, 4\): expected integer ids, got a tensor of dtype float32"):
        m(sd.randn(2))
    with pytest.raises(IndexError, match="out of range"):
        m(sd.tensor([3, 10]))
    with pytest.raises(ValueError, match="padding_idx 10 must be within num_embeddings"):
        nn.Embedding(10, 4, padding_idx=10)
