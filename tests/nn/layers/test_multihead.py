"""nn.MultiheadAttention (shendu/nn/layers/multihead.py) against torch.nn.MultiheadAttention with the same
weights (torch's state_dict loaded): outputs, weights, every input and parameter gradient under a random
upstream gradient, across the options; parameter names and init; errors."""
import numpy as np
import pytest
import torch

import shendu as sd
from shendu import nn

E, H, L, S, N = 8, 2, 4, 5, 3


def _pair(seed=0, **kw):
    torch.manual_seed(seed)
    tm = torch.nn.MultiheadAttention(E, H, **kw)
    if tm.in_proj_bias is not None:  # torch zero-inits biases: give them values so their use is tested
        with torch.no_grad():
            tm.in_proj_bias.normal_()
            tm.out_proj.bias.normal_()
    sm = nn.MultiheadAttention(E, H, **kw)
    sm.load_state_dict({k: sd.from_numpy(v.detach().numpy().copy()) for k, v in tm.state_dict().items()})
    return sm, tm


def _data(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _run(kw, q_shape, k_shape=None, v_shape=None, self_attn=False, masks=None, train=False, **call):
    sm, tm = _pair(**kw)
    sm.train(train)
    tm.train(train)
    q = _data(q_shape, 1)
    arrays = [q] if self_attn else [q, _data(k_shape, 2), _data(v_shape or k_shape, 3)]
    s_in = [sd.from_numpy(a.copy()).requires_grad_() for a in arrays]
    t_in = [torch.from_numpy(a.copy()).requires_grad_() for a in arrays]
    s_args = s_in * 3 if self_attn else s_in
    t_args = t_in * 3 if self_attn else t_in
    s_masks = {k: sd.from_numpy(v.copy()) for k, v in (masks or {}).items()}
    t_masks = {k: torch.from_numpy(v.copy()) for k, v in (masks or {}).items()}
    so, sw = sm(*s_args, **s_masks, **call)
    to, tw = tm(*t_args, **t_masks, **call)
    assert so.shape == tuple(to.shape) and so.dtype == np.float32
    np.testing.assert_allclose(so._data, to.detach().numpy(), rtol=1e-5, atol=1e-5, equal_nan=True)
    if tw is None:
        assert sw is None
    else:
        assert sw.shape == tuple(tw.shape)
        np.testing.assert_allclose(sw._data, tw.detach().numpy(), rtol=1e-5, atol=1e-6, equal_nan=True)
    outs_s, outs_t = [so], [to]
    if tw is not None:
        outs_s.append(sw)
        outs_t.append(tw)
    ups = [_data(o.shape, 9 + i) for i, o in enumerate(outs_s)]
    if np.isnan(to.detach().numpy()).any():
        return sm, tm
    sd.autograd.backward(outs_s, [sd.from_numpy(u) for u in ups])
    torch.autograd.backward(outs_t, [torch.from_numpy(u.copy()) for u in ups])
    for i, (s, t) in enumerate(zip(s_in, t_in)):
        np.testing.assert_allclose(s.grad._data, t.grad.numpy(), rtol=1e-4, atol=1e-5, err_msg=f"input {i}")
    t_params = dict(tm.named_parameters())
    for name, p in sm.named_parameters():
        np.testing.assert_allclose(p.grad._data, t_params[name].grad.numpy(), rtol=1e-4, atol=1e-5,
                                   err_msg=f"gradient of {name}")
    return sm, tm


rng = np.random.default_rng(0)
KPM = np.zeros((N, S), dtype=bool)
KPM[0, 3:] = True
KPM[2, 1] = True
AM_BOOL = rng.random((L, S)) > 0.7
AM_BOOL[:, 0] = False  # every query keeps a key (torch's weights path gives NaN otherwise)
AM_FLOAT = rng.standard_normal((L, L)).astype(np.float32)
CAUSAL = np.triu(np.full((L, L), -np.inf, dtype=np.float32), 1)
CAUSAL_BOOL = np.triu(np.ones((L, L), dtype=bool), 1)

CASES = {
    "self": dict(kw={}, q_shape=(L, N, E), self_attn=True),
    "cross": dict(kw={}, q_shape=(L, N, E), k_shape=(S, N, E)),
    "kpm_bool": dict(kw={}, q_shape=(L, N, E), k_shape=(S, N, E), masks={"key_padding_mask": KPM}),
    "kpm_float": dict(kw={}, q_shape=(L, N, E), k_shape=(S, N, E),
                      masks={"key_padding_mask": np.where(KPM, -1e9, 0.5).astype(np.float32)}),
    "attn_mask_bool": dict(kw={}, q_shape=(L, N, E), k_shape=(S, N, E), masks={"attn_mask": AM_BOOL}),
    "attn_mask_float": dict(kw={}, q_shape=(L, N, E), self_attn=True, masks={"attn_mask": AM_FLOAT}),
    "attn_mask_3d": dict(kw={}, q_shape=(L, N, E), k_shape=(S, N, E),
                         masks={"attn_mask": rng.standard_normal((N * H, L, S)).astype(np.float32)}),
    "both_masks": dict(kw={}, q_shape=(L, N, E), k_shape=(S, N, E),
                       masks={"attn_mask": AM_BOOL, "key_padding_mask": KPM}),
    "no_weights": dict(kw={}, q_shape=(L, N, E), k_shape=(S, N, E), masks={"key_padding_mask": KPM},
                       need_weights=False),
    "no_weights_mask_3d": dict(kw={}, q_shape=(L, N, E), k_shape=(S, N, E), need_weights=False,
                               masks={"attn_mask": rng.standard_normal((N * H, L, S)).astype(np.float32)}),
    "per_head_weights": dict(kw={}, q_shape=(L, N, E), k_shape=(S, N, E), average_attn_weights=False),
    "kdim_vdim": dict(kw=dict(kdim=5, vdim=7), q_shape=(L, N, E), k_shape=(S, N, 5), v_shape=(S, N, 7)),
    "kdim_vdim_no_weights": dict(kw=dict(kdim=5, vdim=7), q_shape=(L, N, E), k_shape=(S, N, 5),
                                 v_shape=(S, N, 7), need_weights=False),
    "no_bias": dict(kw=dict(bias=False), q_shape=(L, N, E), k_shape=(S, N, E)),
    "batch_first": dict(kw=dict(batch_first=True), q_shape=(N, L, E), k_shape=(N, S, E),
                        masks={"key_padding_mask": KPM}),
    "batch_first_self": dict(kw=dict(batch_first=True), q_shape=(N, L, E), self_attn=True),
    "unbatched": dict(kw={}, q_shape=(L, E), k_shape=(S, E), masks={"key_padding_mask": KPM[0]}),
    "unbatched_no_weights": dict(kw={}, q_shape=(L, E), k_shape=(S, E), need_weights=False),
    "causal_weights": dict(kw={}, q_shape=(L, N, E), self_attn=True, masks={"attn_mask": CAUSAL}, is_causal=True),
    "causal_sdpa": dict(kw={}, q_shape=(L, N, E), self_attn=True, masks={"attn_mask": CAUSAL_BOOL},
                        is_causal=True, need_weights=False),
    "causal_sdpa_kpm": dict(kw={}, q_shape=(L, N, E), self_attn=True, is_causal=True, need_weights=False,
                            masks={"attn_mask": CAUSAL_BOOL, "key_padding_mask": KPM[:, :L].copy()}),
    "bias_kv": dict(kw=dict(add_bias_kv=True), q_shape=(L, N, E), k_shape=(S, N, E),
                    masks={"key_padding_mask": KPM, "attn_mask": AM_BOOL}),
    "zero_attn": dict(kw=dict(add_zero_attn=True), q_shape=(L, N, E), k_shape=(S, N, E),
                      masks={"key_padding_mask": KPM}),
    "bias_kv_zero_attn_no_weights": dict(kw=dict(add_bias_kv=True, add_zero_attn=True), q_shape=(L, N, E),
                                         k_shape=(S, N, E), need_weights=False, masks={"attn_mask": AM_BOOL}),
    "dropout_eval": dict(kw=dict(dropout=0.5), q_shape=(L, N, E), k_shape=(S, N, E)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_parity_with_torch(name):
    _run(**CASES[name])


@pytest.mark.filterwarnings("ignore:invalid value encountered")
def test_fully_masked_rows_match_torch():
    kpm = KPM.copy()
    kpm[1] = True  # every key of batch item 1 ignored: torch's weights path gives NaN, SDPA gives 0
    _run({}, (L, N, E), (S, N, E), masks={"key_padding_mask": kpm})
    _run({}, (L, N, E), (S, N, E), masks={"key_padding_mask": kpm}, need_weights=False)


def test_parameter_names_shapes_and_init():
    m = nn.MultiheadAttention(E, H)
    t = torch.nn.MultiheadAttention(E, H)
    assert [(k, tuple(v.shape)) for k, v in m.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in t.state_dict().items()]
    assert type(m.out_proj).__name__ == "NonDynamicallyQuantizableLinear" and isinstance(m.out_proj, nn.Linear)
    assert np.all(m.in_proj_bias._data == 0) and np.all(m.out_proj.bias._data == 0)
    bound = np.sqrt(6.0 / (E + 3 * E))  # xavier_uniform_ on (3E, E)
    w = m.in_proj_weight._data
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.8 * bound
    for kw in (dict(kdim=5, vdim=7), dict(bias=False), dict(add_bias_kv=True)):
        m, t = nn.MultiheadAttention(E, H, **kw), torch.nn.MultiheadAttention(E, H, **kw)
        assert [(k, tuple(v.shape)) for k, v in m.state_dict().items()] == \
            [(k, tuple(v.shape)) for k, v in t.state_dict().items()]
        assert [k for k, _ in m.named_parameters()] == [k for k, _ in t.named_parameters()]


def test_dropout_in_training_changes_weights_and_eval_does_not():
    m = nn.MultiheadAttention(E, H, dropout=0.5)
    x = sd.from_numpy(_data((L, N, E), 0))
    m.eval()
    a, wa = m(x, x, x)
    b, wb = m(x, x, x)
    np.testing.assert_array_equal(a._data, b._data)
    m.train()
    sd.manual_seed(0)
    c, wc = m(x, x, x, average_attn_weights=False)
    assert np.any(wc._data == 0) and not np.allclose(c._data, a._data)
    sd.manual_seed(0)
    d, _ = m(x, x, x, need_weights=False)
    assert not np.allclose(d._data, a._data)


def test_one_training_step_lowers_the_loss():
    m = nn.MultiheadAttention(E, H, batch_first=True)
    x = sd.from_numpy(_data((N, L, E), 0))
    target = sd.from_numpy(_data((N, L, E), 1))
    opt = sd.optim.SGD(m.parameters(), lr=0.1)
    losses = []
    for _ in range(2):
        out, _ = m(x, x, x, need_weights=False)
        loss = ((out - target) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.item()))
    assert losses[1] < losses[0]


def test_errors():
    with pytest.raises(AssertionError, match="divisible"):
        nn.MultiheadAttention(7, 2)
    with pytest.raises(ValueError, match="greater than 0"):
        nn.MultiheadAttention(0, 2)
    m = nn.MultiheadAttention(E, H)
    x = sd.from_numpy(_data((L, N, E), 0))
    with pytest.raises(RuntimeError, match="Need attn_mask"):
        m(x, x, x, is_causal=True)
    with pytest.raises(RuntimeError, match="2D attn_mask"):
        m(x, x, x, attn_mask=sd.from_numpy(np.zeros((L, L + 1), np.float32)))
    with pytest.raises(RuntimeError, match="3D attn_mask"):
        m(x, x, x, attn_mask=sd.from_numpy(np.zeros((H, L, L), np.float32)))
    with pytest.raises(AssertionError, match="key_padding_mask shape"):
        m(x, x, x, key_padding_mask=sd.from_numpy(np.zeros((N, L + 1), bool)))
    with pytest.raises(AssertionError, match="expected key and value to be 3-D"):
        m(x, x[0], x[0])
    with pytest.raises(AssertionError, match="bool and floating"):
        m(x, x, x, key_padding_mask=sd.from_numpy(np.zeros((N, L), np.int64)))
