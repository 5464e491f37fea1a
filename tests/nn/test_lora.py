"""LoRA adapters (shendu.nn.lora): the formula against a hand-written W + B A * alpha/r reference and PyTorch,
merge/unmerge, frozen base weights, adapter-only saving and loading."""
import numpy as np
import pytest
import torch

import shendu as sd
from shendu import nn
from shendu.models.bert import BertConfig, BertForSequenceClassification
from shendu.nn.lora import (
    LoRALinear,
    apply_lora,
    load_lora,
    lora_layers,
    lora_state_dict,
    merge_and_unload,
    merge_lora,
    save_lora,
    unmerge_lora,
)

TINY = dict(vocab_size=40, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=24,
            max_position_embeddings=16, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, num_labels=3)


def _bert(seed=0):
    sd.manual_seed(seed)
    return BertForSequenceClassification(BertConfig(**TINY))


def _randomize_B(model, seed=1):
    rng = np.random.default_rng(seed)
    for _, m in lora_layers(model):
        m.lora_B._data[...] = rng.normal(0, 0.5, m.lora_B.shape).astype(np.float32)


def test_formula_matches_hand_reference_and_torch():
    sd.manual_seed(0)
    base = nn.Linear(6, 5)
    layer = LoRALinear(base, r=3, alpha=6)
    rng = np.random.default_rng(0)
    layer.lora_B._data[...] = rng.normal(size=(5, 3)).astype(np.float32)
    x = rng.normal(size=(4, 2, 6)).astype(np.float32)
    W, b, A, B = (t._data.copy() for t in (base.weight, base.bias, layer.lora_A, layer.lora_B))
    ref = x @ (W + (B @ A) * 2.0).T + b
    xs = sd.tensor(x, requires_grad=True)
    y = layer(xs)
    np.testing.assert_allclose(y.detach().numpy(), ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(layer.weight.detach().numpy(), W + B @ A * 2.0, rtol=1e-6, atol=1e-6)
    g = rng.normal(size=y.shape).astype(np.float32)
    y.backward(sd.tensor(g))
    tx, tA, tB = (torch.tensor(a, requires_grad=True) for a in (x, A, B))
    ty = torch.nn.functional.linear(tx, torch.tensor(W), torch.tensor(b)) + (tx @ tA.T @ tB.T) * 2.0
    ty.backward(torch.tensor(g))
    for ours, theirs in ((xs.grad, tx.grad), (layer.lora_A.grad, tA.grad), (layer.lora_B.grad, tB.grad)):
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-4, atol=1e-5)
    assert base.weight.grad is None and base.bias.grad is None  # frozen


def test_initialisation_and_errors():
    sd.manual_seed(0)
    base = nn.Linear(64, 8)
    layer = LoRALinear(base, r=4, alpha=8)
    assert layer.scaling == 2.0
    assert np.all(layer.lora_B._data == 0)
    bound = 1 / np.sqrt(64)  # kaiming_uniform_(a=sqrt(5)) on (r, in): U(+-1/sqrt(in))
    A = layer.lora_A._data
    assert A.shape == (4, 64) and np.abs(A).max() <= bound and np.abs(A).max() > 0.8 * bound
    x = sd.randn(3, 64)
    np.testing.assert_array_equal(layer(x).detach().numpy(), base(x).detach().numpy())  # B = 0: no change
    assert not base.weight.requires_grad and layer.lora_A.requires_grad
    with pytest.raises(ValueError, match="r must be a positive int"):
        LoRALinear(nn.Linear(3, 3), r=0)
    with pytest.raises(TypeError, match="must be a shendu.nn.Linear"):
        LoRALinear(nn.Conv1d(3, 3, 1))
    with pytest.raises(ValueError, match="no Linear layer matches.*query"):
        apply_lora(nn.Sequential(nn.Linear(2, 2)), target_modules=("query",))


def test_apply_lora_targets_and_trainable_set():
    model = _bert()
    apply_lora(model, r=2, alpha=4, target_modules=("query", "value"), modules_to_save=("classifier",))
    names = [n for n, _ in lora_layers(model)]
    assert names == [f"bert.encoder.layer.{i}.attention.self.{k}" for i in range(2) for k in ("query", "value")]
    trainable = sorted(n for n, p in model.named_parameters() if p.requires_grad)
    expected = [f"{n}.lora_{x}" for n in names for x in "AB"] + ["classifier.bias", "classifier.weight"]
    assert trainable == sorted(expected)
    model2 = _bert()
    apply_lora(model2, r=2, target_modules=r".*layer\.1\..*(key|dense)")  # a regex: full-name match
    names2 = [n for n, _ in lora_layers(model2)]
    assert names2 == ["bert.encoder.layer.1.attention.self.key", "bert.encoder.layer.1.attention.output.dense",
                      "bert.encoder.layer.1.intermediate.dense", "bert.encoder.layer.1.output.dense"]


def test_merged_equals_unmerged_and_unmerge_restores_exactly():
    model = _bert()
    before = {k: v._data.copy() for k, v in model.state_dict().items()}
    apply_lora(model, r=4, alpha=8, target_modules=("query", "key", "value", "dense"))
    _randomize_B(model)
    model.eval()
    x = sd.randint(0, 40, (3, 9))
    mask = sd.tensor(np.array([[1] * 9, [1] * 5 + [0] * 4, [1] * 7 + [0] * 2]))
    with_grad = model(x, attention_mask=mask).logits.detach().numpy()          # the module path
    with sd.no_grad():
        fast = model(x, attention_mask=mask).logits.numpy()                    # BERT's array inference path
    plain = _bert()
    plain.eval()
    with sd.no_grad():
        base_out = plain(x, attention_mask=mask).logits.numpy()
    assert np.abs(with_grad - base_out).max() > 1e-3                          # the adapters do something
    np.testing.assert_allclose(fast, with_grad, rtol=1e-4, atol=1e-5)
    merge_lora(model)
    with sd.no_grad():
        merged = model(x, attention_mask=mask).logits.numpy()
    np.testing.assert_allclose(merged, with_grad, rtol=1e-4, atol=1e-5)
    unmerge_lora(model)
    for name, m in lora_layers(model):
        np.testing.assert_array_equal(m.base_layer.weight._data, before[name + ".weight"])
    merge_and_unload(model)
    assert not lora_layers(model) and set(model.state_dict()) == set(before)
    with sd.no_grad():
        np.testing.assert_allclose(model(x, attention_mask=mask).logits.numpy(), with_grad, rtol=1e-4, atol=1e-5)


def test_training_changes_only_adapters_and_head():
    model = _bert()
    apply_lora(model, r=4, alpha=8, modules_to_save=("classifier",))
    frozen = {n: p._data.copy() for n, p in model.named_parameters() if not p.requires_grad}
    trainable = {n: p._data.copy() for n, p in model.named_parameters() if p.requires_grad}
    opt = sd.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    x, y = sd.randint(0, 40, (8, 6)), sd.tensor(np.arange(8) % 3)
    model.train()
    losses = []
    for _ in range(8):
        loss = model(x, labels=y).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    params = dict(model.named_parameters())
    for n, arr in frozen.items():
        np.testing.assert_array_equal(params[n]._data, arr)
        assert params[n].grad is None
    assert all(not np.array_equal(params[n]._data, arr) for n, arr in trainable.items())


def test_adapter_only_state_dict_save_and_load(tmp_path):
    model = _bert()
    apply_lora(model, r=2, alpha=4, modules_to_save=("classifier",))
    _randomize_B(model, seed=3)
    sd_keys = set(lora_state_dict(model))
    assert sd_keys == {k for k in model.state_dict() if k.endswith(("lora_A", "lora_B")) or k.startswith("classifier.")}
    path = tmp_path / "adapter.safetensors"
    save_lora(model, path)
    from safetensors.numpy import load_file
    assert set(load_file(path)) == sd_keys
    fresh = _bert()                          # the same base weights (same seed), other adapter draws
    apply_lora(fresh, r=2, alpha=4, modules_to_save=("classifier",))
    load_lora(fresh, path)
    x = sd.randint(0, 40, (2, 5))
    model.eval()
    fresh.eval()
    with sd.no_grad():
        np.testing.assert_array_equal(fresh(x).logits.numpy(), model(x).logits.numpy())
    other_rank = _bert()
    apply_lora(other_rank, r=3, alpha=4, modules_to_save=("classifier",))
    with pytest.raises(ValueError, match="lora_A has shape .*a different r"):
        load_lora(other_rank, path)
    no_head = _bert()
    apply_lora(no_head, r=2, alpha=4)
    with pytest.raises(KeyError, match="unexpected.*classifier"):
        load_lora(no_head, path)
