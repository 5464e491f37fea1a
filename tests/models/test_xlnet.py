"""XLNet against Hugging Face transformers: random tiny checkpoints made and saved by transformers, loaded into
shendu (and shendu's saved by shendu, loaded by transformers); both attention streams, perm_mask and
target_mapping, mems, the config variants, gradients; and the factorisation order sampled by the
permutation-LM helper is respected."""
from __future__ import annotations

import numpy as np
import pytest

import shendu
from shendu.models import xlnet as sx

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

V, C, LAYERS, HEADS, FFN = 50, 32, 2, 4, 48
N, T, P = 4, 10, 4
TOL = 2e-5


def hf_config(**kw):
    base = dict(vocab_size=V, d_model=C, n_layer=LAYERS, n_head=HEADS, d_inner=FFN, dropout=0.0)
    base.update(kw)
    return transformers.XLNetConfig(**base)


def inputs(seed=0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, V, (N, T))
    mask = np.ones((N, T), dtype=np.int64)
    mask[1, 7:] = 0  # padded sequences
    mask[3, 4:] = 0
    types = np.zeros((N, T), dtype=np.int64)
    types[:, 5:] = 1
    return ids, mask, types


def perm_inputs(ids, mask, seed=0):
    batch = sx.sample_permutation_lm(ids, P, attention_mask=mask, generator=shendu.Generator().manual_seed(seed))
    return batch, {"perm_mask": batch.perm_mask, "target_mapping": batch.target_mapping}


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    root = tmp_path_factory.mktemp("xlnet")
    made = {}
    for i, name in enumerate(["XLNetLMHeadModel", "XLNetModel"]):
        torch.manual_seed(i)
        model = getattr(transformers, name)(hf_config()).eval()
        model.save_pretrained(root / name)
        made[name] = (root / name, model)
    return made


def run_both(hf, sd, ids, extra=None, **kw):
    """Both models on the same inputs; ``extra`` holds shendu Tensors / arrays (given to torch as tensors)."""
    extra = extra or {}
    th = {k: torch.tensor(np.asarray(v.numpy() if isinstance(v, shendu.Tensor) else v)) for k, v in extra.items()}
    with torch.no_grad():
        ho = hf(input_ids=torch.tensor(ids), **th, **kw)
    so = sd(shendu.tensor(ids), **{k: (v if isinstance(v, shendu.Tensor) else shendu.tensor(v))
                                   for k, v in extra.items()}, **kw)
    return ho, so


def err(a, b) -> float:
    a = a.detach().numpy() if hasattr(a, "detach") else np.asarray(a)
    b = b.detach().numpy() if hasattr(b, "detach") else np.asarray(b)
    assert a.shape == b.shape
    return float(np.abs(a - b).max())


def assert_outputs_match(ho, so, tol=TOL):
    assert so.keys() == list(ho.keys())
    for key in so.keys():
        if key in ("mems", "hidden_states"):
            assert len(so[key]) == len(ho[key]), key
            for a, b in zip(so[key], ho[key]):
                assert err(a, b) < tol, key
        elif key == "attentions":
            for a, b in zip(so[key], ho[key]):
                for x, y in (zip(a, b) if isinstance(a, tuple) else [(a, b)]):
                    assert err(x, y) < 1e-6, key
        else:
            assert so[key].dtype == shendu.float32
            assert err(so[key], ho[key]) < tol * (10 if key == "loss" else 1), key


@pytest.mark.parametrize("mode", ["plain", "perm_mask", "two_stream", "input_mask"])
def test_lm_head_matches_transformers(checkpoints, mode):
    path, hf = checkpoints["XLNetLMHeadModel"]
    sd = sx.XLNetLMHeadModel.from_pretrained(path)
    assert not sd.training
    ids, mask, types = inputs()
    batch, perm = perm_inputs(ids, mask)
    extra = {"attention_mask": mask, "token_type_ids": types}
    if mode == "perm_mask":
        extra["perm_mask"] = perm["perm_mask"]
    elif mode == "two_stream":
        extra.update(perm, labels=batch.labels)
    elif mode == "input_mask":
        extra = {"input_mask": 1 - mask, **perm}
    ho, so = run_both(hf, sd, ids, extra, output_hidden_states=True, output_attentions=True)
    assert_outputs_match(ho, so)
    want = (N, P, V) if "target_mapping" in extra else (N, T, V)
    assert so.logits.shape == want
    if mode == "two_stream":  # (h, g) per layer and for the embeddings
        assert len(so.hidden_states) == 2 * (LAYERS + 1) and so.hidden_states[1].shape == (N, P, C)
        plain = sd(shendu.tensor(ids), return_dict=False, **extra)  # (loss, logits, mems)
        assert len(plain) == 3 and err(plain[0], ho.loss) < 1e-5 and err(plain[1], ho.logits) < TOL


def test_base_model_from_its_own_and_the_heads_directory(checkpoints):
    ids, mask, types = inputs(1)
    _, perm = perm_inputs(ids, mask, 1)
    extra = {"attention_mask": mask, "token_type_ids": types, **perm}
    for name in ("XLNetModel", "XLNetLMHeadModel"):
        path, hf = checkpoints[name]
        if name == "XLNetModel":
            sd = sx.XLNetModel.from_pretrained(path)
        else:
            with pytest.warns(UserWarning, match="not used: lm_loss.bias"):
                sd = sx.XLNetModel.from_pretrained(path)
        base = hf if name == "XLNetModel" else hf.transformer
        ho, so = run_both(base, sd, ids, extra)
        assert_outputs_match(ho, so)
        assert so.last_hidden_state.shape == (N, P, C)


def test_mems_carry_the_previous_segment(tmp_path):
    """Segment 2 attends to segment 1's cached states (mem_len 6, reuse_len 8): outputs and next mems equal
    transformers', and differ from running segment 2 without the memory."""
    torch.manual_seed(3)
    hf = transformers.XLNetLMHeadModel(hf_config(mem_len=6, reuse_len=8)).eval()
    hf.save_pretrained(tmp_path)
    sd = sx.XLNetLMHeadModel.from_pretrained(tmp_path)
    ids, mask, types = inputs(2)
    ho1, so1 = run_both(hf, sd, ids, {"token_type_ids": types}, use_mems=True)
    assert_outputs_match(ho1, so1)
    assert so1.mems[0].shape == (6, N, C)
    ids2, mask2, types2 = inputs(3)
    _, perm = perm_inputs(ids2, mask2, 3)
    extra = {"attention_mask": mask2, "token_type_ids": types2, **perm}
    with torch.no_grad():
        ho2 = hf(input_ids=torch.tensor(ids2), mems=ho1.mems, use_mems=True,
                 **{k: torch.tensor(np.asarray(v.numpy() if isinstance(v, shendu.Tensor) else v))
                    for k, v in extra.items()})
    so2 = sd(shendu.tensor(ids2), mems=so1.mems, use_mems=True,
             **{k: v if isinstance(v, shendu.Tensor) else shendu.tensor(v) for k, v in extra.items()})
    assert_outputs_match(ho2, so2)
    alone = sd(shendu.tensor(ids2), **{k: v if isinstance(v, shendu.Tensor) else shendu.tensor(v)
                                       for k, v in extra.items()})
    assert err(alone.logits, so2.logits) > 1e-4
    assert not so2.mems[1].requires_grad


@pytest.mark.parametrize("kw", [dict(attn_type="uni"), dict(attn_type="uni", same_length=True, mem_len=4),
                                dict(bi_data=True), dict(clamp_len=3), dict(ff_activation="relu"),
                                dict(ff_activation="gelu_new", tie_word_embeddings=False)],
                         ids=["uni", "uni-same-length", "bi-data", "clamp", "relu", "untied"])
def test_config_variants_match_transformers(tmp_path, kw):
    torch.manual_seed(4)
    hf = transformers.XLNetLMHeadModel(hf_config(**kw)).eval()
    hf.save_pretrained(tmp_path)
    sd = sx.XLNetLMHeadModel.from_pretrained(tmp_path)
    ids, mask, types = inputs(4)
    # transformers' causal mask cannot take a data mask with a batch (its in-place add does not broadcast)
    extra = {"token_type_ids": types} if kw.get("attn_type") == "uni" else {"attention_mask": mask,
                                                                            "token_type_ids": types}
    ho, so = run_both(hf, sd, ids, extra, use_mems=True)
    assert_outputs_match(ho, so)
    with torch.no_grad():
        ho2 = hf(input_ids=torch.tensor(ids[:, :5]), mems=ho.mems, use_mems=True)
    so2 = sd(shendu.tensor(ids[:, :5]), mems=so.mems, use_mems=True)
    assert_outputs_match(ho2, so2)


def test_save_pretrained_loads_in_transformers(tmp_path):
    shendu.manual_seed(5)
    config = sx.XLNetConfig(vocab_size=V, d_model=C, n_layer=LAYERS, n_head=HEADS, d_inner=FFN, dropout=0.0)
    ids, mask, types = inputs(5)
    batch, perm = perm_inputs(ids, mask, 5)
    extra = {"attention_mask": mask, "token_type_ids": types, **perm}
    saved = {}
    for name in ("XLNetLMHeadModel", "XLNetModel"):
        sd = saved[name] = getattr(sx, name)(config).eval()
        sd.save_pretrained(tmp_path / name)
        hf = getattr(transformers, name).from_pretrained(tmp_path / name).eval()
        ho, so = run_both(hf, sd, ids, extra, output_hidden_states=True)
        assert_outputs_match(ho, so)
    # and back: shendu reads what it wrote, the tied head included
    again = sx.XLNetLMHeadModel.from_pretrained(tmp_path / "XLNetLMHeadModel")
    assert again.lm_loss.weight is again.transformer.word_embedding.weight
    lm = saved["XLNetLMHeadModel"]
    assert err(again(shendu.tensor(ids), **extra).logits, lm(shendu.tensor(ids), **extra).logits) < 1e-6


def test_state_dict_keys_are_transformers(checkpoints):
    config = sx.XLNetConfig(vocab_size=V, d_model=C, n_layer=LAYERS, n_head=HEADS, d_inner=FFN)
    for name in ("XLNetLMHeadModel", "XLNetModel"):
        hf_keys = set(checkpoints[name][1].state_dict())
        assert set(getattr(sx, name)(config).state_dict()) == hf_keys, name


def test_gradients_of_the_lm_loss_match_transformers(checkpoints):
    path, hf = checkpoints["XLNetLMHeadModel"]
    sd = sx.XLNetLMHeadModel.from_pretrained(path)
    ids, mask, types = inputs(6)
    batch, perm = perm_inputs(ids, mask, 6)
    extra = {"attention_mask": mask, "token_type_ids": types, **perm, "labels": batch.labels}
    hf.zero_grad()
    ho = hf(input_ids=torch.tensor(ids), **{k: torch.tensor(np.asarray(v.numpy() if isinstance(v, shendu.Tensor)
                                                                        else v)) for k, v in extra.items()})
    ho.loss.backward()
    so = sd(shendu.tensor(ids), **{k: v if isinstance(v, shendu.Tensor) else shendu.tensor(v)
                                   for k, v in extra.items()})
    so.loss.backward()
    assert abs(so.loss.item() - ho.loss.item()) < 1e-5
    hf_params, sd_params = dict(hf.named_parameters()), dict(sd.named_parameters())
    names = ["transformer.word_embedding.weight", "transformer.mask_emb", "lm_loss.bias"]
    names += [f"transformer.layer.0.rel_attn.{p}" for p in ("q", "k", "v", "o", "r", "r_w_bias", "r_r_bias",
                                                             "r_s_bias", "seg_embed")]
    names += ["transformer.layer.1.ff.layer_1.weight", "transformer.layer.1.rel_attn.layer_norm.weight"]
    for name in names:
        want = hf_params[name].grad.numpy()
        got = sd_params[name].grad.numpy()
        assert np.abs(want).max() > 0, name
        assert np.abs(got - want).max() < 1e-4 * np.abs(want).max() + 1e-7, name
    hf.zero_grad()


def test_factorisation_order_is_respected(checkpoints):
    """Changing a token later in the sampled order never changes either stream at an earlier-ordered position,
    and a target's query stream never sees its own token; earlier changes do reach later positions."""
    path, _ = checkpoints["XLNetModel"]
    sd = sx.XLNetModel.from_pretrained(path)
    ids, mask, types = inputs(7)
    mask[:] = 1
    batch, perm = perm_inputs(ids, mask, 7)
    order = batch.order.numpy()
    rank = np.argsort(order, axis=1)
    slots = order[:, T - P:]  # target_mapping row p predicts position slots[n, p]

    def streams(x):
        with shendu.no_grad():
            out = sd(shendu.tensor(x), token_type_ids=shendu.tensor(types), output_hidden_states=True, **perm)
        return out.hidden_states[-2].numpy(), out.last_hidden_state.numpy()  # content (N, T, C), query (N, P, C)

    h0, g0 = streams(ids)
    for p in range(P):
        changed = ids.copy()
        pos = slots[:, p]                           # the p-th target of every sequence
        changed[np.arange(N), pos] = (ids[np.arange(N), pos] + 1) % V
        h1, g1 = streams(changed)
        for n in range(N):
            earlier = rank[n] < rank[n, pos[n]]
            assert np.abs(h1[n, earlier] - h0[n, earlier]).max() < 1e-6
            assert np.abs(g1[n, :p + 1] - g0[n, :p + 1]).max() < 1e-6   # itself included
            assert np.abs(h1[n, pos[n]] - h0[n, pos[n]]).max() > 1e-4  # its content stream sees it
            if p + 1 < P:
                assert np.abs(g1[n, p + 1:] - g0[n, p + 1:]).max() > 1e-4  # later targets see it
    # the attention probabilities put exactly zero weight where perm_mask forbids
    with shendu.no_grad():
        out = sd(shendu.tensor(ids), output_attentions=True, **perm)
    prob_h, prob_g = out.attentions[0]
    pm = perm["perm_mask"].numpy().astype(bool)
    assert float(prob_g.numpy().transpose(0, 2, 3, 1)[pm].max()) == 0.0
    own = np.eye(T, dtype=bool)[None]
    assert float(prob_h.numpy().transpose(0, 2, 3, 1)[pm & ~own].max()) == 0.0


def test_sample_permutation_lm_structure():
    ids, mask, _ = inputs(8)
    g = shendu.Generator().manual_seed(0)
    b = sx.sample_permutation_lm(ids, P, attention_mask=mask, generator=g)
    order, pm, tm, labels = (t.numpy() for t in (b.order, b.perm_mask, b.target_mapping, b.labels))
    assert pm.shape == (N, T, T) and tm.shape == (N, P, T) and labels.shape == (N, P)
    assert labels.dtype == np.int64 and pm.dtype == np.float32
    for n in range(N):
        assert sorted(order[n]) == list(range(T))
        real = mask[n].sum()
        assert set(order[n, :T - real]) == set(np.nonzero(mask[n] == 0)[0])  # padding first
        rows = tm[n].sum(axis=1)
        k = min(P, real - 1)
        assert list(rows) == [0.0] * (P - k) + [1.0] * k            # short sequences: zero rows first
        targets = order[n, T - k:]
        assert list(tm[n, P - k:].argmax(axis=1)) == list(targets)
        assert list(labels[n, P - k:]) == list(ids[n, targets]) and (labels[n, :P - k] == -100).all()
        rank = np.argsort(order[n])
        for i in range(T):
            for j in range(T):
                want = j in targets and (i not in targets or rank[i] <= rank[j])
                assert pm[n, i, j] == want, (n, i, j)
    again = sx.sample_permutation_lm(ids, P, attention_mask=mask, generator=shendu.Generator().manual_seed(0))
    assert (again.order.numpy() == order).all()
    special = np.zeros((N, T), np.int64)
    special[:, 0] = special[np.arange(N), mask.sum(axis=1) - 1] = 1  # <cls> ... <sep>: context, never targets
    b = sx.sample_permutation_lm(ids, T - 2, attention_mask=mask, special_tokens_mask=special, generator=g)
    tm = b.target_mapping.numpy()
    for n in range(N):
        real = mask[n].sum()
        assert tm[n].sum() == real - 2 and tm[n][:, special[n] == 1].sum() == 0
        assert b.perm_mask.numpy()[n][:, special[n] == 1].sum() == 0  # everyone sees them
    with pytest.raises(ValueError, match="num_predict must be an int in"):
        sx.sample_permutation_lm(ids, T)


def test_permutation_lm_loss_trains():
    shendu.manual_seed(0)
    config = sx.XLNetConfig(vocab_size=V, d_model=C, n_layer=1, n_head=HEADS, d_inner=FFN, dropout=0.0)
    model = sx.XLNetLMHeadModel(config)
    opt = shendu.optim.Adam(model.parameters(), lr=3e-3)
    ids = shendu.tensor(np.tile(np.arange(T) % 7, (N, 1)))  # a pattern the model can learn
    losses = []
    for step in range(15):
        loss = sx.permutation_lm_loss(model, ids, P, generator=shendu.Generator().manual_seed(step % 3))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.6 * losses[0]


def test_errors():
    with pytest.raises(ValueError, match="d_model 30 is not a multiple of n_head 4"):
        sx.XLNetConfig(d_model=30, n_head=4)
    with pytest.raises(ValueError, match="attn_type must be"):
        sx.XLNetConfig(attn_type="sideways")
    with pytest.raises(ValueError, match="untie_r=False"):
        sx.XLNetConfig(untie_r=False)
    model = sx.XLNetModel(sx.XLNetConfig(vocab_size=V, d_model=C, n_layer=1, n_head=HEADS, d_inner=FFN,
                                         bi_data=True))
    ids = shendu.tensor(np.zeros((3, 5), dtype=np.int64))
    with pytest.raises(ValueError, match="bi_data needs an even batch"):
        model(ids)
    ids = shendu.tensor(np.zeros((2, 5), dtype=np.int64))
    with pytest.raises(ValueError, match="only one of input_mask"):
        model(ids, attention_mask=shendu.ones(2, 5), input_mask=shendu.zeros(2, 5))
    with pytest.raises(ValueError, match=r"perm_mask must have shape \(2, 5, 5\)"):
        model(ids, perm_mask=shendu.zeros(2, 5, 4))
    with pytest.raises(ValueError, match="target_mapping must be"):
        model(ids, target_mapping=shendu.zeros(2, 1, 4))
    with pytest.raises(ValueError, match="mems must hold one array per layer"):
        model(ids, mems=[shendu.zeros(3, 2, C)] * 2)


def test_config_round_trip():
    data = hf_config(mem_len=7, summary_type="first").to_dict()
    config = sx.XLNetConfig.from_dict(data)
    assert (config.mem_len, config.d_head, config.hidden_size) == (7, C // HEADS, C)
    out = config.to_dict()
    assert out["summary_type"] == "first" and out["model_type"] == "xlnet" and out["d_head"] == C // HEADS
    assert transformers.XLNetConfig(**{k: v for k, v in out.items() if k != "model_type"}).mem_len == 7


def test_float64_gradcheck_through_both_streams_and_the_memory():
    """Central differences in float64 wrt the input embeddings and each layer's memory, through the query
    stream (perm_mask, target_mapping, segments, padding), and second derivatives of a small one."""
    shendu.manual_seed(9)
    config = sx.XLNetConfig(vocab_size=11, d_model=8, n_layer=2, n_head=2, d_inner=12, dropout=0.0, mem_len=0)
    model = sx.XLNetModel(config).double().eval()
    n, t, m = 2, 4, 2
    ids, mask, types = (a[:n, :t] for a in inputs(9))
    mask[1, 3] = 0
    batch = sx.sample_permutation_lm(ids, 2, attention_mask=mask, generator=shendu.Generator().manual_seed(9))
    rng = np.random.default_rng(9)
    emb = shendu.tensor(rng.normal(size=(n, t, 8)), requires_grad=True)
    mems = [shendu.tensor(rng.normal(size=(m, n, 8)), requires_grad=True) for _ in range(2)]
    up = shendu.tensor(rng.normal(size=(n, 2, 8)))  # a random upstream gradient

    def fn(e, m0, m1):
        out = model(inputs_embeds=e, mems=[m0, m1], attention_mask=shendu.tensor(mask),
                    token_type_ids=shendu.tensor(types), perm_mask=batch.perm_mask,
                    target_mapping=batch.target_mapping.double(), use_mems=False)
        return (out.last_hidden_state * up).sum()

    assert shendu.autograd.gradcheck(fn, [emb, *mems])
    small = sx.XLNetModel(sx.XLNetConfig(vocab_size=11, d_model=4, n_layer=1, n_head=2, d_inner=4, dropout=0.0,
                                         ff_activation="tanh")).double().eval()
    e = shendu.tensor(rng.normal(size=(1, 3, 4)), requires_grad=True)
    w = shendu.tensor(rng.normal(size=(1, 3, 4)))
    assert shendu.autograd.gradgradcheck(lambda x: (small(inputs_embeds=x).last_hidden_state * w).sum(), [e])


def test_pytorch_model_bin_loads(tmp_path):
    """A directory with pytorch_model.bin (torch.save's zip) instead of safetensors, through the safe loader."""
    torch.manual_seed(10)
    hf = transformers.XLNetLMHeadModel(hf_config()).eval()
    hf.config.save_pretrained(tmp_path)
    torch.save(hf.state_dict(), tmp_path / "pytorch_model.bin")  # with lm_loss.weight, as old saves have
    sd = sx.XLNetLMHeadModel.from_pretrained(tmp_path)
    ids, mask, types = inputs(10)
    ho, so = run_both(hf, sd, ids, {"attention_mask": mask, "token_type_ids": types})
    assert_outputs_match(ho, so)
