"""BERT against Hugging Face transformers: random tiny checkpoints made and saved by transformers, loaded into
shendu; hidden states, pooler, every head's logits and losses, attentions, padding, and gradients."""
from __future__ import annotations

import numpy as np
import pytest

import shendu
from shendu.models import bert as sb
from shendu.models import bert_arrays
from shendu.models.outputs import SequenceClassifierOutput

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

V, C, LAYERS, HEADS, FFN, MAXPOS = 60, 32, 2, 4, 48, 40
N, T = 3, 12
TOL = 2e-5

HEAD_NAMES = ["BertModel", "BertForMaskedLM", "BertForNextSentencePrediction", "BertForPreTraining",
              "BertForSequenceClassification", "BertForTokenClassification", "BertForQuestionAnswering"]


def hf_config(**kw):
    base = dict(vocab_size=V, hidden_size=C, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
                intermediate_size=FFN, max_position_embeddings=MAXPOS, type_vocab_size=2)
    base.update(kw)
    return transformers.BertConfig(**base)


def inputs(seed=0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, V, (N, T))
    mask = np.ones((N, T), dtype=np.int64)
    mask[1, 8:] = 0  # a padded sequence
    mask[2, 5:] = 0
    ids[mask == 0] = 0
    types = np.zeros((N, T), dtype=np.int64)
    types[:, 6:] = 1
    return ids, mask, types


def labels_for(name, seed=1, num_labels=2):
    rng = np.random.default_rng(seed)
    mlm = np.full((N, T), -100)
    mlm[:, ::3] = rng.integers(0, V, (N, (T + 2) // 3))
    if name == "BertForMaskedLM":
        return {"labels": mlm}
    if name == "BertForNextSentencePrediction":
        return {"labels": rng.integers(0, 2, N)}
    if name == "BertForPreTraining":
        return {"labels": mlm, "next_sentence_label": rng.integers(0, 2, N)}
    if name == "BertForSequenceClassification":
        return {"labels": rng.integers(0, num_labels, N)}
    if name == "BertForTokenClassification":
        lab = rng.integers(0, num_labels, (N, T))
        lab[0, :2] = -100
        return {"labels": lab}
    if name == "BertForQuestionAnswering":
        return {"start_positions": np.array([1, 4, 50]), "end_positions": np.array([3, 7, 2])}  # 50: out of range
    return {}


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """One directory per class, made by transformers from a random init (seeded)."""
    root = tmp_path_factory.mktemp("bert")
    made = {}
    for i, name in enumerate(HEAD_NAMES):
        torch.manual_seed(i)
        model = getattr(transformers, name)(hf_config()).eval()
        model.save_pretrained(root / name)
        made[name] = (root / name, model)
    return made


def run_both(hf, sd, ids, mask, types, labels=None, **kw):
    labels = labels or {}
    with torch.no_grad():
        ho = hf(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask), token_type_ids=torch.tensor(types),
                **{k: torch.tensor(v) for k, v in labels.items()}, **kw)
    so = sd(shendu.tensor(ids), attention_mask=shendu.tensor(mask), token_type_ids=shendu.tensor(types),
            **{k: shendu.tensor(v) for k, v in labels.items()}, **kw)
    return ho, so


def max_err(a, b) -> float:
    return float(np.abs(a.detach().numpy() - b.detach().numpy()).max())


@pytest.mark.parametrize("name", HEAD_NAMES)
def test_head_outputs_and_losses_match_transformers(checkpoints, name):
    path, hf = checkpoints[name]
    sd = getattr(sb, name).from_pretrained(path)
    assert not sd.training
    ids, mask, types = inputs()
    ho, so = run_both(hf, sd, ids, mask, types, labels_for(name))
    expected = [k for k in ho.keys() if k not in ("hidden_states", "attentions")]
    assert so.keys() == expected
    for key in expected:
        assert so[key].shape == tuple(ho[key].shape), key
        assert so[key].dtype == shendu.float32
        assert max_err(so[key], ho[key]) < TOL * (10 if key == "loss" else 1), (name, key)


@pytest.mark.parametrize("name", ["BertModel", "BertForPreTraining", "BertForQuestionAnswering"])
def test_no_grad_array_path_matches_transformers(checkpoints, name):
    """Under no_grad the encoder runs on raw arrays (sub-batches on the thread pool): same results."""
    path, hf = checkpoints[name]
    sd = getattr(sb, name).from_pretrained(path)
    ids, mask, types = inputs()
    ho, graph = run_both(hf, sd, ids, mask, types)
    with shendu.no_grad():
        _, fast = run_both(hf, sd, ids, mask, types)
    for key in fast.keys():
        assert not fast[key].requires_grad
        assert max_err(fast[key], ho[key]) < TOL, key
        assert max_err(fast[key], graph[key]) < TOL, key


def test_all_padding_sequence_matches_transformers(checkpoints):
    """A sequence whose mask is all 0 gets zero attention context (transformers' sdpa), never NaN, in both paths."""
    path, hf = checkpoints["BertModel"]
    sd = sb.BertModel.from_pretrained(path)
    ids, mask, types = inputs()
    mask[0] = 0
    ho, graph = run_both(hf, sd, ids, mask, types)
    with shendu.no_grad():
        _, fast = run_both(hf, sd, ids, mask, types)
    for out in (graph, fast):
        assert np.isfinite(out.last_hidden_state.detach().numpy()).all()
        assert max_err(out.last_hidden_state, ho.last_hidden_state) < TOL


@pytest.mark.parametrize("act", ["gelu", "gelu_new", "relu", "silu"])
def test_activations_match_transformers_both_paths(tmp_path, act, monkeypatch):
    torch.manual_seed(7)
    hf = transformers.BertModel(hf_config(hidden_act=act)).eval()
    hf.save_pretrained(tmp_path)
    sd = sb.BertModel.from_pretrained(tmp_path)
    ids, mask, types = inputs(2)
    monkeypatch.setattr(bert_arrays, "_SUB_BATCH_TOKENS", T)  # one sequence per sub-batch: the cutting is exercised
    monkeypatch.setattr(bert_arrays, "_GELU_CHUNK", 100)  # GELU pieces with a ragged last one
    ho, graph = run_both(hf, sd, ids, mask, types)
    with shendu.no_grad():
        _, fast = run_both(hf, sd, ids, mask, types)
    for key in ("last_hidden_state", "pooler_output"):
        assert max_err(graph[key], ho[key]) < TOL, key
        assert max_err(fast[key], ho[key]) < TOL, key


def test_array_gelu_against_exact_erf():
    x = np.linspace(-9, 9, 100001).astype(np.float32)
    y = x.copy()
    bert_arrays._gelu_(y)
    want = torch.nn.functional.gelu(torch.tensor(x, dtype=torch.float64)).numpy()
    assert np.abs(y - want).max() < 1e-6


def test_state_dict_keys_are_transformers(checkpoints):
    for name in HEAD_NAMES:
        hf_keys = {k for k in checkpoints[name][1].state_dict() if not k.endswith("_ids")}
        sd_keys = set(getattr(sb, name)(sb.BertConfig(vocab_size=V, hidden_size=C, num_hidden_layers=LAYERS,
                                                         num_attention_heads=HEADS, intermediate_size=FFN,
                                                         max_position_embeddings=MAXPOS)).state_dict())
        assert sd_keys == hf_keys, (name, sd_keys ^ hf_keys)


def test_hidden_states_and_attentions_match(tmp_path):
    torch.manual_seed(0)
    hf = transformers.BertModel(hf_config(attn_implementation="eager")).eval()
    hf.save_pretrained(tmp_path)
    sd = sb.BertModel.from_pretrained(tmp_path)
    ids, mask, types = inputs()
    ho, so = run_both(hf, sd, ids, mask, types, output_hidden_states=True, output_attentions=True)
    assert len(so.hidden_states) == LAYERS + 1 and len(so.attentions) == LAYERS
    for a, b in zip(so.hidden_states, ho.hidden_states):
        assert max_err(a, b) < TOL
    for a, b in zip(so.attentions, ho.attentions):
        assert a.shape == (N, HEADS, T, T)
        assert max_err(a, b) < 1e-6
    assert float(so.attentions[0][1, :, :, 8:].abs().max()) == 0.0  # padded keys get exactly 0 weight
    # the explicit path and the fused one agree
    plain = sd(shendu.tensor(ids), attention_mask=shendu.tensor(mask), token_type_ids=shendu.tensor(types))
    assert max_err(plain.last_hidden_state, so.last_hidden_state) < 1e-6


def test_padding_mask_hides_padded_tokens(checkpoints):
    """A padded sequence's real positions equal the same sequence run alone without padding."""
    path, hf = checkpoints["BertModel"]
    sd = sb.BertModel.from_pretrained(path)
    ids, mask, types = inputs()
    full = sd(shendu.tensor(ids), attention_mask=shendu.tensor(mask), token_type_ids=shendu.tensor(types))
    alone = sd(shendu.tensor(ids[1:2, :8]), token_type_ids=shendu.tensor(types[1:2, :8]))
    assert max_err(full.last_hidden_state[1:2, :8], alone.last_hidden_state) < 1e-5
    changed = ids.copy()
    changed[1, 8:] = 7  # different tokens under the padding change nothing at real positions
    other = sd(shendu.tensor(changed), attention_mask=shendu.tensor(mask), token_type_ids=shendu.tensor(types))
    assert max_err(other.last_hidden_state[1, :8], full.last_hidden_state[1, :8]) < 1e-6
    unmasked = sd(shendu.tensor(changed), token_type_ids=shendu.tensor(types))
    assert max_err(unmasked.last_hidden_state[1, :8], full.last_hidden_state[1, :8]) > 1e-3


@pytest.mark.parametrize("problem,num_labels", [("regression", 1), ("single_label_classification", 3),
                                                ("multi_label_classification", 3)])
def test_sequence_classification_problem_types(tmp_path, problem, num_labels):
    torch.manual_seed(3)
    hf = transformers.BertForSequenceClassification(hf_config(num_labels=num_labels)).eval()
    hf.save_pretrained(tmp_path)
    sd = sb.BertForSequenceClassification.from_pretrained(tmp_path)
    assert sd.num_labels == num_labels
    rng = np.random.default_rng(0)
    if problem == "regression":
        labels = rng.standard_normal(N).astype(np.float32)
    elif problem == "single_label_classification":
        labels = rng.integers(0, num_labels, N)
    else:
        labels = (rng.random((N, num_labels)) > 0.5).astype(np.float32)
    ids, mask, types = inputs()
    ho, so = run_both(hf, sd, ids, mask, types, {"labels": labels})  # problem type inferred, as transformers
    assert max_err(so.logits, ho.logits) < TOL
    assert abs(so.loss.item() - ho.loss.item()) < 1e-5


def test_gradients_match_transformers_in_train_mode(tmp_path):
    torch.manual_seed(5)
    cfg = hf_config(num_labels=3, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    hf = transformers.BertForSequenceClassification(cfg)
    hf.save_pretrained(tmp_path)
    hf.train()
    sd = sb.BertForSequenceClassification.from_pretrained(tmp_path)
    sd.train()
    ids, mask, types = inputs()
    labels = {"labels": np.array([0, 2, 1])}
    ho = hf(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask), token_type_ids=torch.tensor(types),
            labels=torch.tensor(labels["labels"]))
    ho.loss.backward()
    so = sd(shendu.tensor(ids), attention_mask=shendu.tensor(mask), token_type_ids=shendu.tensor(types),
            labels=shendu.tensor(labels["labels"]))
    so.loss.backward()
    assert abs(so.loss.item() - ho.loss.item()) < 1e-5
    hp, sp = dict(hf.named_parameters()), dict(sd.named_parameters())
    for key in ["bert.embeddings.word_embeddings.weight", "bert.embeddings.LayerNorm.weight",
                "bert.encoder.layer.0.attention.self.query.weight", "bert.encoder.layer.0.attention.self.key.bias",
                "bert.encoder.layer.1.intermediate.dense.weight", "bert.encoder.layer.1.output.LayerNorm.bias",
                "bert.pooler.dense.weight", "classifier.weight"]:
        g_hf = hp[key].grad.numpy()
        g_sd = sp[key].grad.numpy()
        scale = max(1e-3, float(np.abs(g_hf).max()))
        assert np.abs(g_sd - g_hf).max() < 1e-4 * scale + 1e-7, key
    assert np.abs(sp["bert.embeddings.word_embeddings.weight"].grad.numpy()[0]).max() == 0  # padding row


def test_mlm_decoder_is_tied_and_untied_option():
    cfg = sb.BertConfig(vocab_size=V, hidden_size=C, num_hidden_layers=1, num_attention_heads=HEADS,
                        intermediate_size=FFN, max_position_embeddings=MAXPOS)
    m = sb.BertForMaskedLM(cfg)
    assert m.cls.predictions.decoder.weight is m.bert.embeddings.word_embeddings.weight
    assert m.cls.predictions.decoder.bias is m.cls.predictions.bias
    untied = sb.BertForMaskedLM(cfg.replace(tie_word_embeddings=False))
    assert untied.cls.predictions.decoder.weight is not untied.bert.embeddings.word_embeddings.weight
    assert untied.cls.predictions.decoder.bias is not untied.cls.predictions.bias
    assert untied._tied_keys == ()


def test_model_output_views():
    logits = shendu.ones(2, 3)
    out = SequenceClassifierOutput(logits=logits)
    assert out.keys() == ["logits"] and out[0] is logits and out["logits"] is logits
    assert out.to_tuple() == (logits,) and len(out) == 1 and "loss" not in out
    with pytest.raises(KeyError, match="loss"):
        out["loss"]
    loss = shendu.tensor(1.0)
    full = SequenceClassifierOutput(loss, logits)
    assert full[0] is loss and full[1] is logits and full[:2] == (loss, logits)
    assert list(full) == ["loss", "logits"]


def test_return_dict_false_gives_tuple(checkpoints):
    path, hf = checkpoints["BertForTokenClassification"]
    sd = sb.BertForTokenClassification.from_pretrained(path)
    ids, mask, types = inputs()
    out = sd(shendu.tensor(ids), return_dict=False)
    assert isinstance(out, tuple) and len(out) == 1 and out[0].shape == (N, T, 2)


def test_mean_pooling_against_numpy():
    rng = np.random.default_rng(0)
    h = rng.standard_normal((N, T, 5)).astype(np.float32)
    _, mask, _ = inputs()
    got = sb.mean_pooling(shendu.tensor(h), shendu.tensor(mask)).numpy()
    want = (h * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(sb.mean_pooling(shendu.tensor(h)).numpy(), h.mean(1), rtol=1e-6)
    with pytest.raises(ValueError, match="mean_pooling"):
        sb.mean_pooling(shendu.tensor(h), shendu.tensor(mask[:, :3]))


def test_config_and_input_errors():
    with pytest.raises(ValueError, match="hidden_size 30 is not a multiple of num_attention_heads 4"):
        sb.BertConfig(hidden_size=30, num_attention_heads=4)
    with pytest.raises(ValueError, match="hidden_act"):
        sb.BertConfig(hidden_act="mish")
    with pytest.raises(ValueError, match="position_embedding_type"):
        sb.BertConfig(position_embedding_type="relative_key")
    with pytest.raises(TypeError, match="unknown field"):
        sb.BertConfig().replace(hidden_sise=3)
    m = sb.BertModel(sb.BertConfig(vocab_size=V, hidden_size=C, num_hidden_layers=1, num_attention_heads=HEADS,
                                   intermediate_size=FFN, max_position_embeddings=8))
    with pytest.raises(ValueError, match="exceeds max_position_embeddings 8"):
        m(shendu.zeros(1, 9, dtype=shendu.int64))
    with pytest.raises(ValueError, match=r"attention_mask must have the input's shape \(1, 4\)"):
        m(shendu.zeros(1, 4, dtype=shendu.int64), attention_mask=shendu.ones(1, 5, dtype=shendu.int64))
    with pytest.raises(ValueError, match="input_ids must be"):
        m(shendu.zeros(1, 4))
