"""shendu.models.gpt_pretrained: GPT.from_pretrained / save_pretrained against transformers' GPT2LMHeadModel
on random tiny configs: logits within float32 tolerance in both directions, both layouts (transformers'
``transformer.``-prefixed one and the published weights' unprefixed one with mask buffers), tied and
untied heads, gelu_new and gelu, pytorch_model.bin, and clear errors."""
import json
import shutil

import numpy as np
import pytest

import shendu as sd
from shendu.models import GPT, GPTConfig

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
safetensors_numpy = pytest.importorskip("safetensors.numpy")

CONFIGS = [dict(vocab_size=97, n_positions=32, n_embd=24, n_layer=2, n_head=3, activation_function="gelu_new",
                tie_word_embeddings=True, layer_norm_epsilon=1e-5),
           dict(vocab_size=61, n_positions=16, n_embd=32, n_layer=3, n_head=4, activation_function="gelu",
                tie_word_embeddings=False, layer_norm_epsilon=1e-3),
           dict(vocab_size=50, n_positions=20, n_embd=16, n_layer=1, n_head=2,
                activation_function="gelu_pytorch_tanh", tie_word_embeddings=True, layer_norm_epsilon=1e-6)]


def hf_model(kwargs, seed=0):
    torch.manual_seed(seed)
    model = transformers.GPT2LMHeadModel(transformers.GPT2Config(bos_token_id=0, eos_token_id=0, **kwargs)).eval()
    with torch.no_grad():                 # random LayerNorm affines too, so a missed mapping shows
        for name, p in model.named_parameters():
            if ".ln_" in name or "ln_f" in name:
                p.add_(0.3 * torch.randn_like(p))
    return model


def ids(vocab, shape=(2, 11), seed=0):
    return np.random.default_rng(seed).integers(0, vocab, shape)


def hf_logits(model, x):
    with torch.no_grad():
        return model(torch.tensor(x)).logits.numpy()


def our_logits(model, x):
    with sd.no_grad():
        return model(sd.tensor(x))[0].numpy()


@pytest.mark.parametrize("kwargs", CONFIGS, ids=["tied-gelu_new", "untied-gelu", "tied-pytorch_tanh"])
def test_from_hf_both_layouts(kwargs, tmp_path):
    hf = hf_model(kwargs)
    hf.save_pretrained(str(tmp_path / "prefixed"))
    x = ids(kwargs["vocab_size"])
    ref = hf_logits(hf, x)
    model = GPT.from_pretrained(tmp_path / "prefixed")
    assert not model.training and model.config.block_size == kwargs["n_positions"]
    assert model.config.tie_weights == kwargs["tie_word_embeddings"]
    assert model.config.mlp == ("gelu" if kwargs["activation_function"] == "gelu" else "gelu_tanh")
    assert model.transformer.ln_f.eps == kwargs["layer_norm_epsilon"]
    np.testing.assert_allclose(our_logits(model, x), ref, rtol=1e-4, atol=1e-5)
    # the published GPT-2 layout: no prefix, causal-mask buffers stored with the weights
    state = safetensors_numpy.load_file(str(tmp_path / "prefixed" / "model.safetensors"))
    bare = {(k[len("transformer."):] if k.startswith("transformer.") else k): v for k, v in state.items()}
    T = kwargs["n_positions"]
    for i in range(kwargs["n_layer"]):
        bare[f"h.{i}.attn.bias"] = np.tril(np.ones((1, 1, T, T), np.float32))
        bare[f"h.{i}.attn.masked_bias"] = np.array(-1e4, np.float32)
    (tmp_path / "bare").mkdir()
    safetensors_numpy.save_file(bare, str(tmp_path / "bare" / "model.safetensors"), metadata={"format": "pt"})
    shutil.copy(tmp_path / "prefixed" / "config.json", tmp_path / "bare" / "config.json")
    np.testing.assert_allclose(our_logits(GPT.from_pretrained(tmp_path / "bare"), x), ref, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("tie,mlp", [(True, "gelu_tanh"), (False, "gelu")])
def test_save_pretrained_loads_in_hf(tie, mlp, tmp_path):
    sd.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=71, block_size=24, n_layer=2, n_head=2, n_embd=16, tie_weights=tie, mlp=mlp))
    with sd.no_grad():
        for name, p in model.named_parameters():
            if ".ln_" in name or "ln_f" in name:
                p.add_(sd.randn(*p.shape) * 0.3)
    model.eval().save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["model_type"] == "gpt2" and config["n_positions"] == 24 and config["tie_word_embeddings"] is tie
    keys = set(safetensors_numpy.load_file(str(tmp_path / "model.safetensors")))
    assert ("lm_head.weight" in keys) is (not tie) and "transformer.h.0.attn.c_attn.weight" in keys
    hf = transformers.GPT2LMHeadModel.from_pretrained(str(tmp_path)).eval()
    x = ids(71, (3, 24), seed=1)
    np.testing.assert_allclose(hf_logits(hf, x), our_logits(model, x), rtol=1e-4, atol=1e-5)
    back = GPT.from_pretrained(tmp_path)                   # and shendu reads its own directory back
    np.testing.assert_array_equal(our_logits(back, x), our_logits(model, x))


def test_pytorch_model_bin(tmp_path):
    hf = hf_model(CONFIGS[1], seed=3)
    hf.save_pretrained(str(tmp_path), safe_serialization=False)
    if not (tmp_path / "pytorch_model.bin").exists():  # pragma: no cover - transformers without .bin saving
        torch.save(hf.state_dict(), tmp_path / "pytorch_model.bin")
        (tmp_path / "model.safetensors").unlink(missing_ok=True)
    x = ids(CONFIGS[1]["vocab_size"], seed=2)
    np.testing.assert_allclose(our_logits(GPT.from_pretrained(tmp_path), x), hf_logits(hf, x), rtol=1e-4, atol=1e-5)


def test_config_override_and_generate(tmp_path):
    hf_model(CONFIGS[0]).save_pretrained(str(tmp_path))
    model = GPT.from_pretrained(tmp_path, dropout=0.0)
    assert model.config.dropout == 0.0
    out = model.generate(sd.tensor(ids(97, (1, 4))), max_new_tokens=5, temperature=0)
    assert tuple(out.shape) == (1, 9)


def test_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a local directory"):
        GPT.from_pretrained(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="no config.json"):
        GPT.from_pretrained(tmp_path)
    hf_model(CONFIGS[1]).save_pretrained(str(tmp_path / "ok"))
    cfg = json.loads((tmp_path / "ok" / "config.json").read_text())
    bad = tmp_path / "bad"
    shutil.copytree(tmp_path / "ok", bad)
    (bad / "config.json").write_text(json.dumps({**cfg, "model_type": "bert"}))
    with pytest.raises(ValueError, match="model_type 'bert'"):
        GPT.from_pretrained(bad)
    (bad / "config.json").write_text(json.dumps({**cfg, "activation_function": "relu"}))
    with pytest.raises(ValueError, match="activation_function 'relu'"):
        GPT.from_pretrained(bad)
    (bad / "config.json").write_text(json.dumps({**cfg, "n_embd": 40, "n_head": 4}))
    with pytest.raises(ValueError, match=r"transformer\.wte\.weight has shape \(61, 32\), expected \(61, 40\)"):
        GPT.from_pretrained(bad)
    (bad / "config.json").write_text(json.dumps(cfg))
    state = safetensors_numpy.load_file(str(bad / "model.safetensors"))
    del state["transformer.h.1.mlp.c_fc.bias"]
    safetensors_numpy.save_file(state, str(bad / "model.safetensors"))
    with pytest.raises(KeyError, match=r"missing weight\(s\): transformer\.h\.1\.mlp\.c_fc\.bias"):
        GPT.from_pretrained(bad)
    del state["lm_head.weight"]
    safetensors_numpy.save_file(state, str(bad / "model.safetensors"))
    with pytest.raises(KeyError, match="lacks lm_head.weight"):
        GPT.from_pretrained(bad)
    (bad / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="no weights"):
        GPT.from_pretrained(bad)
    rope = GPT(GPTConfig(vocab_size=11, block_size=8, n_layer=1, n_head=2, n_embd=8, pos="rope", norm="rmsnorm"))
    with pytest.raises(ValueError, match="cannot hold pos='rope', norm='rmsnorm'"):
        rope.save_pretrained(tmp_path / "rope")
