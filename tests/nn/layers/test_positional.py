"""Positional encodings: tables against independent formulas, RoPE's relative-position property, gradients."""
import math

import numpy as np
import pytest
import torch
from layer_harness import check_layer_grad, run_layer_test

import shendu as sd
from shendu.nn.layers.positional import (
    LearnedPositionalEmbedding,
    RotaryEmbedding,
    SinusoidalPositionalEncoding,
    sinusoidal_table,
)


def _paper_table(L, d):
    """The paper's formula, element by element (an independent oracle)."""
    t = np.zeros((L, d))
    for p in range(L):
        for j in range(d):
            i = j // 2
            ang = p / 10000 ** (2 * i / d)
            t[p, j] = math.sin(ang) if j % 2 == 0 else math.cos(ang)
    return t


@pytest.mark.parametrize("d", [8, 7])
def test_sinusoidal_table_matches_formula(d):
    np.testing.assert_allclose(sinusoidal_table(50, d)._data, _paper_table(50, d), rtol=1e-5, atol=1e-6)


def test_sinusoidal_adds_table_with_offset_positions_and_layouts():
    m = SinusoidalPositionalEncoding(8, max_len=20)
    x = np.random.default_rng(0).standard_normal((2, 5, 8)).astype(np.float32)
    table = _paper_table(20, 8)
    np.testing.assert_allclose(m(sd.from_numpy(x))._data, x + table[:5], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(m(sd.from_numpy(x), offset=3)._data, x + table[3:8], rtol=1e-5, atol=1e-6)
    pos = np.array([[0, 0, 1, 2, 3], [4, 5, 6, 7, 8]])
    np.testing.assert_allclose(m(sd.from_numpy(x), positions=sd.from_numpy(pos))._data, x + table[pos],
                               rtol=1e-5, atol=1e-6)
    seq_first = SinusoidalPositionalEncoding(8, max_len=20, batch_first=False)
    xt = x.transpose(1, 0, 2).copy()
    np.testing.assert_allclose(seq_first(sd.from_numpy(xt))._data, xt + table[:5, None], rtol=1e-5, atol=1e-6)
    assert m.state_dict() == {} and m(sd.from_numpy(x)).dtype == np.float32


def test_sinusoidal_dropout_and_contract():
    run_layer_test(SinusoidalPositionalEncoding, {"d_model": 6, "max_len": 12, "dropout": 0.5},
                   input_shape=(2, 4, 6), expected_output_shape=(2, 4, 6), expected_param_names=[],
                   expected_num_params=0, train_differs=True, run_training_check=False)
    m = SinusoidalPositionalEncoding(6, max_len=12, dropout=0.5).train()
    out = m(sd.zeros(200, 12, 6))._data
    kept = out != 0
    np.testing.assert_allclose(out[kept], 2 * np.broadcast_to(_paper_table(12, 6), out.shape)[kept], rtol=1e-5,
                               atol=1e-6)


def test_learned_contract_values_and_grad():
    run_layer_test(LearnedPositionalEmbedding, {"max_len": 10, "d_model": 4}, input_shape=(2, 5, 4),
                   expected_output_shape=(2, 5, 4), expected_output_dtype=np.float32,
                   expected_param_names=["weight"], expected_num_params=40)
    m = LearnedPositionalEmbedding(10, 4)
    assert abs(float(m.weight._data.std()) - 0.02) < 0.01
    x = sd.randn(2, 5, 4, requires_grad=True)
    out = m(x, offset=4)
    np.testing.assert_allclose(out._data, x._data + m.weight._data[4:9], rtol=1e-6)
    g = np.random.default_rng(1).standard_normal(out.shape).astype(np.float32)
    out.backward(sd.from_numpy(g))
    want = np.zeros((10, 4), np.float32)
    want[4:9] = g.sum(0)
    np.testing.assert_allclose(m.weight.grad._data, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(x.grad._data, g)
    check_layer_grad(LearnedPositionalEmbedding(6, 3), (2, 4, 3))


def test_positional_errors():
    m = SinusoidalPositionalEncoding(8, max_len=6)
    with pytest.raises(ValueError, match="exceed max_len=6"):
        m(sd.randn(1, 5, 8), offset=2)
    with pytest.raises(ValueError, match=r"expected input \(B, T, 8\)"):
        m(sd.randn(1, 5, 7))
    with pytest.raises(ValueError, match=r"positions must lie in \[0, 6\)"):
        m(sd.randn(1, 2, 8), positions=sd.tensor([0, 6]))
    with pytest.raises(TypeError, match="integers"):
        m(sd.randn(1, 2, 8), positions=sd.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="even"):
        RotaryEmbedding(7)


def _torch_rope(x, pos, base=10000.0):
    """GPT-NeoX / Hugging Face LLaMA's rotate_half formulation, written in torch."""
    d = x.shape[-1]
    inv = 1.0 / (base ** (torch.arange(0, d, 2, dtype=torch.float64) / d))
    ang = pos.to(torch.float64)[..., None] * inv
    emb = torch.cat([ang, ang], -1)
    cos, sin = emb.cos().to(x.dtype), emb.sin().to(x.dtype)
    if cos.ndim == 3:
        cos, sin = cos[:, None], sin[:, None]
    x1, x2 = x.chunk(2, -1)
    return x * cos + torch.cat([-x2, x1], -1) * sin


def _complex_rope(x, pos, base=10000.0):
    """Independent oracle: pair j with j + d/2 as a complex number and multiply by exp(i p theta_j)."""
    d = x.shape[-1]
    z = x[..., : d // 2] + 1j * x[..., d // 2:]
    theta = base ** (-np.arange(0, d, 2) / d)
    z = z * np.exp(1j * pos[:, None] * theta)
    return np.concatenate([z.real, z.imag], -1)


def test_rope_matches_formulas_and_torch_gradients():
    rng = np.random.default_rng(0)
    q = rng.standard_normal((2, 3, 6, 8)).astype(np.float32)
    k = rng.standard_normal((2, 3, 6, 8)).astype(np.float32)
    r = RotaryEmbedding(8)
    qs, ks = sd.from_numpy(q).requires_grad_(), sd.from_numpy(k).requires_grad_()
    qr, kr = r.apply_rotary(qs, ks, positions=5)
    np.testing.assert_allclose(qr._data, _complex_rope(q, np.arange(5, 11)), rtol=1e-5, atol=1e-5)
    qt, kt = torch.from_numpy(q).requires_grad_(), torch.from_numpy(k).requires_grad_()
    pos = torch.arange(5, 11)
    tq, tk = _torch_rope(qt, pos), _torch_rope(kt, pos)
    np.testing.assert_allclose(kr._data, tk.detach().numpy(), rtol=1e-5, atol=1e-6)
    gq, gk = rng.standard_normal(q.shape).astype(np.float32), rng.standard_normal(k.shape).astype(np.float32)
    sd.autograd.backward([qr, kr], [sd.from_numpy(gq), sd.from_numpy(gk)])
    torch.autograd.backward([tq, tk], [torch.from_numpy(gq), torch.from_numpy(gk)])
    np.testing.assert_allclose(qs.grad._data, qt.grad.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ks.grad._data, kt.grad.numpy(), rtol=1e-5, atol=1e-6)
    # per-row positions (B, T), e.g. left padding
    bpos = np.array([[0, 0, 0, 1, 2, 3], [0, 1, 2, 3, 4, 5]])
    out = r.rotate(sd.from_numpy(q), sd.from_numpy(bpos))._data
    np.testing.assert_allclose(out, _torch_rope(torch.from_numpy(q), torch.from_numpy(bpos)).numpy(), rtol=1e-5,
                               atol=1e-6)
    assert r.state_dict() == {} and r(qs, ks)[0].dtype == np.float32


def test_rope_scores_depend_only_on_offset():
    rng = np.random.default_rng(3)
    r = RotaryEmbedding(16, base=500.0)
    q = sd.from_numpy(rng.standard_normal((1, 16)))
    k = sd.from_numpy(rng.standard_normal((1, 16)))
    scores = {}
    for m_pos in range(0, 12):
        for n_pos in range(0, 12):
            qm = r.rotate(q, sd.tensor([m_pos]))._data[0]
            kn = r.rotate(k, sd.tensor([n_pos]))._data[0]
            scores.setdefault(m_pos - n_pos, []).append(qm @ kn)
    for offset, vals in scores.items():
        np.testing.assert_allclose(vals, vals[0], rtol=1e-10, atol=1e-10, err_msg=f"offset {offset}")
    assert not np.isclose(scores[0][0], scores[3][0])
    # a rotation keeps norms
    np.testing.assert_allclose(np.linalg.norm(r.rotate(q, 7)._data), np.linalg.norm(q._data), rtol=1e-12)


def test_rope_gradcheck():
    r = RotaryEmbedding(4)
    q = sd.randn(2, 3, 4, dtype=sd.float64, requires_grad=True)
    k = sd.randn(2, 3, 4, dtype=sd.float64, requires_grad=True)
    assert sd.autograd.gradcheck(lambda a, b: r.apply_rotary(a, b, positions=2), (q, k))
    assert sd.autograd.gradgradcheck(lambda a, b: r.apply_rotary(a, b, positions=2), (q, k))
    check_layer_grad(SinusoidalPositionalEncoding(4, 8), (2, 3, 4))
