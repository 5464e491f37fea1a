"""Transformer layers: PyTorch parity with the same weights (outputs, input and parameter gradients under a
random upstream gradient), pre-/post-LN, activations, masks, batch_first; state_dict names; causality."""
import numpy as np
import pytest
import torch
from layer_harness import check_layer_grad

import shendu as sd
from shendu import nn
from shendu.nn import functional as F

E, H, FF = 8, 2, 12
RNG = np.random.default_rng(0)
pytestmark = pytest.mark.filterwarnings("ignore:enable_nested_tensor is True")


def _load_into_torch(m, tm):
    state = {k: torch.from_numpy(np.array(v._data)) for k, v in m.state_dict().items()}
    tm.load_state_dict(state, strict=True)  # same names, same shapes


def _parity(m, tm, args, kwargs=None, rtol=1e-4, atol=1e-5):
    """Outputs and every gradient (inputs, parameters) against torch under a random upstream gradient."""
    kwargs = kwargs or {}
    _load_into_torch(m, tm)
    m.eval()
    tm.eval()
    xs = [sd.from_numpy(a.copy()).requires_grad_() for a in args]
    ts = [torch.from_numpy(a.copy()).requires_grad_() for a in args]
    skw = {k: sd.from_numpy(v.copy()) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
    tkw = {k: torch.from_numpy(v.copy()) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
    out, tout = m(*xs, **skw), tm(*ts, **tkw)
    assert out.shape == tuple(tout.shape) and out.dtype == np.float32
    np.testing.assert_allclose(out._data, tout.detach().numpy(), rtol=rtol, atol=atol, err_msg="forward")
    g = np.random.default_rng(1).standard_normal(out.shape).astype(np.float32)
    out.backward(sd.from_numpy(g.copy()))
    tout.backward(torch.from_numpy(g.copy()))
    for i, (x, t) in enumerate(zip(xs, ts)):
        np.testing.assert_allclose(x.grad._data, t.grad.numpy(), rtol=rtol, atol=atol, err_msg=f"grad input {i}")
    tparams = dict(tm.named_parameters())
    names = [n for n, _ in m.named_parameters()]
    assert sorted(names) == sorted(tparams)
    for n, p in m.named_parameters():
        np.testing.assert_allclose(p.grad._data, tparams[n].grad.numpy(), rtol=rtol, atol=atol,
                                   err_msg=f"grad of {n}")


def _x(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def _causal(T):
    return np.triu(np.full((T, T), -np.inf, np.float32), 1)


# activation: PyTorch's names, or a callable (one for each framework)
ACTS = {"relu": ("relu", "relu"), "gelu": ("gelu", "gelu"),
        "callable": (lambda x: F.silu(x), lambda x: torch.nn.functional.silu(x))}


@pytest.mark.parametrize("norm_first", [False, True], ids=["postLN", "preLN"])
@pytest.mark.parametrize("act", ["relu", "gelu", "callable"])
@pytest.mark.parametrize("batch_first", [False, True], ids=["TBE", "BTE"])
def test_encoder_layer_parity(norm_first, act, batch_first):
    sd_act, t_act = ACTS[act]
    kw = {"norm_first": norm_first, "batch_first": batch_first}
    m = nn.TransformerEncoderLayer(E, H, FF, 0.0, sd_act, **kw)
    tm = torch.nn.TransformerEncoderLayer(E, H, FF, 0.0, t_act, **kw)
    src = _x(2, 5, E) if batch_first else _x(5, 2, E)
    _parity(m, tm, [src])
    _parity(m, tm, [src], {"src_mask": _causal(5)})


@pytest.mark.parametrize("norm_first", [False, True], ids=["postLN", "preLN"])
def test_encoder_layer_masks(norm_first):
    m = nn.TransformerEncoderLayer(E, H, FF, 0.0, batch_first=True, norm_first=norm_first)
    tm = torch.nn.TransformerEncoderLayer(E, H, FF, 0.0, batch_first=True, norm_first=norm_first)
    src = _x(3, 6, E)
    pad = np.zeros((3, 6), bool)
    pad[0, 4:] = True
    pad[2, 1] = True
    bool_mask = np.triu(np.ones((6, 6), bool), 1)
    _parity(m, tm, [src], {"src_key_padding_mask": pad})
    _parity(m, tm, [src], {"src_mask": bool_mask, "src_key_padding_mask": pad})
    _parity(m, tm, [src], {"src_mask": _causal(6), "is_causal": True})
    float_mask = _x(6, 6)  # an additive float mask
    _parity(m, tm, [src], {"src_mask": float_mask})
    _parity(m, tm, [_x(6, E)])  # unbatched (T, E)


@pytest.mark.parametrize("norm_first", [False, True], ids=["postLN", "preLN"])
@pytest.mark.parametrize("act", ["relu", "gelu"])
def test_decoder_layer_parity_and_masks(norm_first, act):
    m = nn.TransformerDecoderLayer(E, H, FF, 0.0, act, norm_first=norm_first)
    tm = torch.nn.TransformerDecoderLayer(E, H, FF, 0.0, act, norm_first=norm_first)
    tgt, mem = _x(5, 2, E), _x(7, 2, E)
    _parity(m, tm, [tgt, mem])
    tpad, mpad = np.zeros((2, 5), bool), np.zeros((2, 7), bool)
    tpad[1, 3:] = True
    mpad[0, 5:] = True
    _parity(m, tm, [tgt, mem], {"tgt_mask": np.triu(np.ones((5, 5), bool), 1), "tgt_key_padding_mask": tpad,
                                "memory_key_padding_mask": mpad, "memory_mask": np.eye(5, 7, 3, dtype=bool),
                                "tgt_is_causal": True})
    sq = _x(5, 2, E)  # a causal memory mask (T == S), and unbatched input
    _parity(m, tm, [tgt, sq], {"memory_mask": _causal(5), "memory_is_causal": True, "tgt_mask": _causal(5)})
    _parity(m, tm, [_x(5, E), _x(7, E)], {"tgt_mask": _causal(5)})


def test_stacks_and_transformer_parity():
    layer = nn.TransformerEncoderLayer(E, H, FF, 0.0, batch_first=True, norm_first=True)
    tlayer = torch.nn.TransformerEncoderLayer(E, H, FF, 0.0, batch_first=True, norm_first=True)
    m = nn.TransformerEncoder(layer, 2, nn.LayerNorm(E))
    tm = torch.nn.TransformerEncoder(tlayer, 2, torch.nn.LayerNorm(E), enable_nested_tensor=False)
    assert m.layers[0].linear1.weight is not m.layers[1].linear1.weight
    src = _x(2, 5, E)
    pad = np.zeros((2, 5), bool)
    pad[1, 4] = True
    _parity(m, tm, [src], {"mask": np.triu(np.ones((5, 5), bool), 1), "src_key_padding_mask": pad})

    dm = nn.TransformerDecoder(nn.TransformerDecoderLayer(E, H, FF, 0.0), 2, nn.LayerNorm(E))
    tdm = torch.nn.TransformerDecoder(torch.nn.TransformerDecoderLayer(E, H, FF, 0.0), 2, torch.nn.LayerNorm(E))
    _parity(dm, tdm, [_x(4, 2, E), _x(6, 2, E)], {"tgt_mask": _causal(4)})

    for batch_first, norm_first in [(False, False), (True, True)]:
        kw = {"d_model": E, "nhead": H, "num_encoder_layers": 2, "num_decoder_layers": 1, "dim_feedforward": FF,
              "dropout": 0.0, "batch_first": batch_first, "norm_first": norm_first, "activation": "gelu"}
        t, tt = nn.Transformer(**kw), torch.nn.Transformer(**kw)
        src, tgt = (_x(2, 6, E), _x(2, 4, E)) if batch_first else (_x(6, 2, E), _x(4, 2, E))
        spad = np.zeros((2, 6), bool)
        spad[0, 5] = True
        _parity(t, tt, [src, tgt], {"tgt_mask": _causal(4), "src_key_padding_mask": spad,
                                    "memory_key_padding_mask": spad})


def test_state_dict_names_load_from_torch():
    pairs = [
        (nn.TransformerEncoderLayer(E, H, FF), torch.nn.TransformerEncoderLayer(E, H, FF)),
        (nn.TransformerDecoderLayer(E, H, FF, bias=False), torch.nn.TransformerDecoderLayer(E, H, FF, bias=False)),
        (nn.Transformer(E, H, 1, 2, FF), torch.nn.Transformer(E, H, 1, 2, FF)),
    ]
    for m, tm in pairs:
        tstate = tm.state_dict()
        assert list(m.state_dict()) == list(tstate)
        m.load_state_dict({k: sd.from_numpy(v.numpy().copy()) for k, v in tstate.items()})
        for k, v in m.state_dict().items():
            np.testing.assert_array_equal(v._data, tstate[k].numpy())


def test_defaults_and_init():
    layer = nn.TransformerEncoderLayer(16, 4)
    assert layer.linear1.out_features == 2048 and layer.dropout.p == 0.1 and layer.norm1.eps == 1e-5
    assert not layer.norm_first and layer.activation is F.relu
    t = nn.Transformer(16, 4, 1, 1, 32)
    assert t.d_model == 16 and t.nhead == 4 and not t.batch_first and len(t.encoder.layers) == 1
    w = t.encoder.layers[0].linear1.weight._data  # Xavier-uniform: bound sqrt(6 / (fan_in + fan_out))
    bound = np.sqrt(6 / (16 + 32))
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.8 * bound


def test_generate_square_subsequent_mask():
    got = nn.Transformer.generate_square_subsequent_mask(5)
    want = torch.nn.Transformer.generate_square_subsequent_mask(5)
    np.testing.assert_array_equal(got._data, want.numpy())
    assert got.dtype == np.float32
    assert nn.Transformer.generate_square_subsequent_mask(3, dtype=sd.float64).dtype == np.float64


def _future_change_never_changes_past(run, x, T):
    base = run(x)
    for t in range(1, T):
        y = x.copy()
        y[:, t:] += RNG.standard_normal(y[:, t:].shape).astype(np.float32)
        out = run(y)
        np.testing.assert_allclose(out[:, :t], base[:, :t], rtol=1e-5, atol=1e-6, err_msg=f"position < {t}")
        assert not np.allclose(out[:, t:], base[:, t:])


def test_causality():
    T = 6
    enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(E, H, FF, 0.0, batch_first=True), 2).eval()
    x = _x(2, T, E)
    _future_change_never_changes_past(lambda a: enc(sd.from_numpy(a), is_causal=True)._data, x, T)
    mask = nn.Transformer.generate_square_subsequent_mask(T)
    _future_change_never_changes_past(lambda a: enc(sd.from_numpy(a), mask=mask)._data, x, T)
    dec = nn.TransformerDecoder(nn.TransformerDecoderLayer(E, H, FF, 0.0, batch_first=True, norm_first=True), 2)
    mem = sd.from_numpy(_x(2, 4, E))
    _future_change_never_changes_past(lambda a: dec(sd.from_numpy(a), mem, tgt_is_causal=True)._data, x, T)
    # without a mask the future does leak into the past (the test can fail)
    out = enc(sd.from_numpy(x))._data
    y = x.copy()
    y[:, -1] += 1
    assert not np.allclose(enc(sd.from_numpy(y))._data[:, 0], out[:, 0])


def test_train_mode_dropout_and_gradcheck():
    m = nn.TransformerEncoderLayer(E, H, FF, dropout=0.5)
    x = sd.from_numpy(_x(4, 2, E))
    assert not np.allclose(m.train()(x)._data, m.eval()(x)._data)
    np.testing.assert_array_equal(m.eval()(x)._data, m(x)._data)
    check_layer_grad(nn.TransformerEncoderLayer(4, 2, 6, 0.0, norm_first=True), (3, 2, 4))
    check_layer_grad(nn.TransformerDecoderLayer(4, 2, 6, 0.0, "gelu"), [(3, 2, 4), (2, 2, 4)])


def test_errors():
    with pytest.raises(RuntimeError, match="activation should be relu/gelu, not tanh"):
        nn.TransformerEncoderLayer(E, H, activation="tanh")
    t = nn.Transformer(E, H, 1, 1, FF)
    with pytest.raises(RuntimeError, match="batch number of src and tgt must be equal"):
        t(sd.randn(5, 2, E), sd.randn(4, 3, E))
    with pytest.raises(RuntimeError, match="feature number of src and tgt must be equal to d_model"):
        t(sd.randn(5, 2, E), sd.randn(4, 2, E + 1))
