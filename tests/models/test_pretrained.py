"""Hugging Face checkpoint directories: shendu -> transformers, pytorch_model.bin through the safe loader,
prefix handling between the encoder and its heads, and the errors."""
from __future__ import annotations

import json
import os
import pickle
import zipfile

import numpy as np
import pytest

import shendu
from shendu.models import bert as sb
from shendu.models import pretrained

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
from safetensors.numpy import load_file, save_file  # noqa: E402

SIZES = dict(vocab_size=50, hidden_size=16, num_hidden_layers=2, num_attention_heads=4, intermediate_size=24,
             max_position_embeddings=20)


def ids_mask(seed=0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, 50, (2, 9))
    mask = np.ones_like(ids)
    mask[1, 6:] = 0
    return ids, mask


def hf_out(model, ids, mask):
    with torch.no_grad():
        return model(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask))


def sd_out(model, ids, mask):
    return model(shendu.tensor(ids), attention_mask=shendu.tensor(mask))


def err(a, b) -> float:
    return float(np.abs(a.detach().numpy() - b.detach().numpy()).max())


def hf_dir(path, cls="BertModel", seed=0, **kw):
    torch.manual_seed(seed)
    model = getattr(transformers, cls)(transformers.BertConfig(**SIZES, **kw)).eval()
    model.save_pretrained(path)
    return model


@pytest.mark.parametrize("name,kw", [("BertForPreTraining", {}), ("BertForSequenceClassification", {"num_labels": 3}),
                                     ("BertForMaskedLM", {"tie_word_embeddings": False})])
def test_shendu_save_pretrained_loads_in_transformers(tmp_path, name, kw):
    shendu.manual_seed(0)
    cfg = sb.BertConfig(**SIZES).replace(**kw)
    model = getattr(sb, name)(cfg).eval()
    for p in model.parameters():  # non-trivial values everywhere (biases and LayerNorms too)
        p._data[...] += np.random.default_rng(p.numel()).standard_normal(p.shape).astype(np.float32) * 0.05
    model.save_pretrained(tmp_path)
    assert sorted(os.listdir(tmp_path)) == ["config.json", "model.safetensors"]
    stored = load_file(tmp_path / "model.safetensors")
    untied = kw.get("tie_word_embeddings") is False
    assert ("cls.predictions.decoder.weight" in stored) == untied
    assert ("cls.predictions.decoder.bias" in stored) == untied
    hf = getattr(transformers, name).from_pretrained(tmp_path).eval()
    ids, mask = ids_mask()
    ho, so = hf_out(hf, ids, mask), sd_out(model, ids, mask)
    for key in so.keys():
        assert err(so[key], ho[key]) < 2e-5, key
    back = getattr(sb, name).from_pretrained(tmp_path)  # and shendu reads its own directory back
    assert err(sd_out(back, ids, mask)[0], so[0]) == 0.0
    assert back.config.num_labels == cfg.num_labels


def test_pytorch_model_bin_through_the_safe_loader(tmp_path):
    hf = hf_dir(tmp_path, "BertForMaskedLM")
    os.remove(tmp_path / "model.safetensors")
    torch.save(hf.state_dict(), tmp_path / "pytorch_model.bin")  # the layout safe_serialization=False wrote
    sd = sb.BertForMaskedLM.from_pretrained(tmp_path)
    ids, mask = ids_mask()
    assert err(sd_out(sd, ids, mask).logits, hf_out(hf, ids, mask).logits) < 2e-5


def test_bfloat16_and_float16_checkpoints(tmp_path):
    hf = hf_dir(tmp_path / "f32", "BertModel")
    for dtype, name in ((torch.bfloat16, "bf16"), (torch.float16, "f16")):
        hf.to(dtype).save_pretrained(tmp_path / name)
        hf.float()
        want = transformers.BertModel.from_pretrained(tmp_path / name, dtype=torch.float32).eval()
        sd = sb.BertModel.from_pretrained(tmp_path / name)
        assert sd.embeddings.word_embeddings.weight.dtype == shendu.float32
        ids, mask = ids_mask()
        assert err(sd_out(sd, ids, mask).last_hidden_state, hf_out(want, ids, mask).last_hidden_state) < 2e-5
    from safetensors.torch import save_file as save_torch
    save_torch({"a": torch.randn(2, 3).bfloat16(), "i": torch.arange(4)}, tmp_path / "x.safetensors")
    got = pretrained.load_safetensors(tmp_path / "x.safetensors")
    assert got["a"].dtype.name == "bfloat16" and got["a"].shape == (2, 3)
    np.testing.assert_array_equal(got["i"], np.arange(4))


def test_load_torch_bin_dtypes_views_and_parameters(tmp_path):
    import collections
    base = torch.randn(4, 6)
    state = collections.OrderedDict(
        f=torch.randn(3, 4), t=base.t(), s=base[1:3, ::2], i=torch.arange(5), h=torch.randn(3).half(),
        b=torch.randn(2, 2).bfloat16(), m=torch.tensor([True, False]), p=torch.nn.Parameter(torch.ones(2)),
        z=torch.tensor(2.5), d=torch.randn(2).double())
    torch.save(state, tmp_path / "x.bin")
    got = pretrained.load_torch_bin(tmp_path / "x.bin")
    assert list(got) == list(state)
    for k, v in state.items():
        want = v.detach().float().numpy() if v.dtype == torch.bfloat16 else v.detach().numpy()
        assert got[k].shape == tuple(v.shape), k
        np.testing.assert_array_equal(np.asarray(got[k], dtype=want.dtype), want, err_msg=k)
    assert got["h"].dtype == np.float16 and got["b"].dtype.name == "bfloat16" and got["i"].dtype == np.int64


class _Boom:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_safe_loader_refuses_code(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    torch.save({"w": torch.ones(2), "evil": _Boom()}, tmp_path / "pytorch_model.bin")
    with pytest.raises(pickle.UnpicklingError, match=r"refusing to load the global (posix|os)\.system"):
        pretrained.load_torch_bin(tmp_path / "pytorch_model.bin")
    assert not (tmp_path / "pwned").exists()
    plain = tmp_path / "plain.bin"
    plain.write_bytes(pickle.dumps({"w": 1}))
    with pytest.raises(ValueError, match="not a PyTorch zip checkpoint"):
        pretrained.load_torch_bin(plain)


def test_encoder_from_a_head_directory_and_head_from_an_encoder_directory(tmp_path):
    hf_head = hf_dir(tmp_path / "pre", "BertForPreTraining")
    with pytest.warns(UserWarning, match="not used: cls.predictions.bias"):
        enc = sb.BertModel.from_pretrained(tmp_path / "pre")
    ids, mask = ids_mask()
    want = hf_out(hf_head.bert, ids, mask)
    got = sd_out(enc, ids, mask)
    assert err(got.last_hidden_state, want.last_hidden_state) < 2e-5
    assert err(got.pooler_output, want.pooler_output) < 2e-5

    hf_enc = hf_dir(tmp_path / "enc", "BertModel", seed=1)
    with pytest.warns(UserWarning, match="newly initialised: classifier.weight, classifier.bias"):
        head = sb.BertForSequenceClassification.from_pretrained(tmp_path / "enc", num_labels=4)
    assert head.classifier.weight.shape == (4, 16)
    assert err(sd_out(head.bert, ids, mask).last_hidden_state, hf_out(hf_enc, ids, mask).last_hidden_state) < 2e-5

    hf_mlm = hf_dir(tmp_path / "mlm", "BertForMaskedLM", seed=2)  # no pooler in a masked-LM checkpoint
    with pytest.warns(UserWarning, match="newly initialised: pooler.dense.weight"):
        enc2 = sb.BertModel.from_pretrained(tmp_path / "mlm")
    assert err(sd_out(enc2, ids, mask).last_hidden_state, hf_out(hf_mlm.bert, ids, mask).last_hidden_state) < 2e-5


def test_sharded_safetensors_and_old_checkpoint_names(tmp_path):
    hf = hf_dir(tmp_path, "BertModel")
    state = load_file(tmp_path / "model.safetensors")
    os.remove(tmp_path / "model.safetensors")
    renamed = {k.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta"): v
               for k, v in state.items()}
    renamed["embeddings.position_ids"] = np.arange(20)[None]  # the buffer older transformers stored
    keys = sorted(renamed)
    shards = {"model-00001-of-00002.safetensors": keys[::2], "model-00002-of-00002.safetensors": keys[1::2]}
    for shard, names in shards.items():
        save_file({k: renamed[k] for k in names}, tmp_path / shard, metadata={"format": "pt"})
    index = {"weight_map": {k: shard for shard, names in shards.items() for k in names}}
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps(index))
    sd = sb.BertModel.from_pretrained(tmp_path)
    ids, mask = ids_mask()
    assert err(sd_out(sd, ids, mask).last_hidden_state, hf_out(hf, ids, mask).last_hidden_state) < 2e-5


def test_no_network_and_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a local directory.*downloads nothing"):
        sb.BertModel.from_pretrained("bert-base-uncased")
    (tmp_path / "f.txt").write_text("x")
    with pytest.raises(NotADirectoryError, match="is a file"):
        sb.BertModel.from_pretrained(tmp_path / "f.txt")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match=r"no config.json in .*empty"):
        sb.BertModel.from_pretrained(empty)
    (empty / "config.json").write_text(json.dumps({"model_type": "bert", **SIZES}))
    with pytest.raises(FileNotFoundError, match=r"no weights in .*empty.*model.safetensors.*pytorch_model.bin"):
        sb.BertModel.from_pretrained(empty)


def test_unsupported_model_type_names_it(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "t5", "d_model": 8}))
    with pytest.raises(ValueError, match=r"model_type 't5'.*supported model types: .*bert"):
        sb.BertModel.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        pretrained.load_config(tmp_path)


def test_shape_missing_and_unexpected_key_errors(tmp_path):
    hf_dir(tmp_path, "BertModel")
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "vocab_size": 60}))
    with pytest.raises(ValueError, match=r"model.safetensors: embeddings.word_embeddings.weight has shape "
                                         r"\(50, 16\), expected \(60, 16\) \(config.json: .*vocab_size=60"):
        sb.BertModel.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps(config))
    state = load_file(tmp_path / "model.safetensors")
    dropped = {k: v for k, v in state.items() if k != "encoder.layer.1.output.dense.bias"}
    save_file(dropped, tmp_path / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(KeyError, match=r"model.safetensors lacks the weight\(s\) encoder.layer.1.output.dense.bias"):
        sb.BertModel.from_pretrained(tmp_path)
    save_file({**state, "encoder.layer.2.output.dense.bias": state["encoder.layer.1.output.dense.bias"]},
              tmp_path / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(KeyError, match="does not have: encoder.layer.2.output.dense.bias"):
        sb.BertModel.from_pretrained(tmp_path)


def test_save_pretrained_into_a_file_is_an_error(tmp_path):
    (tmp_path / "x").write_text("")
    model = sb.BertModel(sb.BertConfig(**SIZES))
    with pytest.raises(NotADirectoryError, match="is a file"):
        model.save_pretrained(tmp_path / "x")


def test_torch_bin_zip_records_are_checked(tmp_path):
    torch.save({"w": torch.ones(3)}, tmp_path / "a.bin")
    with zipfile.ZipFile(tmp_path / "a.bin") as z, zipfile.ZipFile(tmp_path / "b.bin", "w") as out:
        for n in z.namelist():
            if "/data/" not in n:
                out.writestr(n, z.read(n))
    with pytest.raises(pickle.UnpicklingError, match="storage record data/0 is missing"):
        pretrained.load_torch_bin(tmp_path / "b.bin")
