"""Fine-tuning helpers (shendu.train.finetune): freezing, per-layer learning rates, the warmup schedules
against transformers', task encoding (first-sub-token tags, char -> token spans), metrics, a full
checkpoint -> fine-tuned directory run for each task (with and without LoRA)."""
import csv
import json
import math

import numpy as np
import pytest

import shendu as sd
from shendu.models.bert import BertConfig, BertForMaskedLM, BertForSequenceClassification, BertForTokenClassification
from shendu.text import BertTokenizer
from shendu.train.finetune import (
    TaskBatches,
    align_tags,
    bert_directory,
    char_span_to_tokens,
    encode_records,
    evaluate_task,
    finetune_checkpoint,
    finetune_task,
    freeze_layers,
    layerwise_lr_groups,
    lr_schedule,
    read_records,
)

WORDS = "the cat sat on a mat while dogs ran in parks and birds flew over rivers".split()
TINY = dict(hidden_size=16, num_hidden_layers=3, num_attention_heads=2, intermediate_size=24,
            max_position_embeddings=64, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)


@pytest.fixture(scope="module")
def tokenizer():
    return BertTokenizer.train([" ".join(WORDS)] * 4 + ["running jumped quickly"], vocab_size=90)


@pytest.fixture
def checkpoint(tmp_path, tokenizer):
    sd.manual_seed(0)
    model = BertForMaskedLM(BertConfig(vocab_size=len(tokenizer), **TINY))
    model.save_pretrained(tmp_path / "ckpt")
    tokenizer.save_pretrained(tmp_path / "ckpt")
    return tmp_path / "ckpt"


def _classifier(tokenizer, num_labels=2):
    sd.manual_seed(0)
    return BertForSequenceClassification(BertConfig(vocab_size=len(tokenizer), num_labels=num_labels, **TINY))


def test_freeze_layers_and_layerwise_learning_rates(tokenizer):
    model = _classifier(tokenizer)
    names = freeze_layers(model, embeddings=True, num_layers=1)
    assert names and all(n.startswith(("bert.embeddings.", "bert.encoder.layer.0.")) for n in names)
    assert {n for n, p in model.named_parameters() if not p.requires_grad} == set(names)
    groups = layerwise_lr_groups(model, lr=1.0, decay=0.5, weight_decay=0.1)
    lrs = {(g["layer"], g["weight_decay"]): g["lr"] for g in groups}
    # L = 3 layers: layer l (1-based) gets decay^(L - l), the head lr; frozen layers are left out
    assert lrs == {("layer.1", 0.0): 0.5, ("layer.1", 0.1): 0.5, ("layer.2", 0.0): 1.0, ("layer.2", 0.1): 1.0,
                   ("head", 0.0): 1.0, ("head", 0.1): 1.0}
    grouped = [id(p) for g in groups for p in g["params"]]
    assert sorted(grouped) == sorted(id(p) for p in model.parameters() if p.requires_grad)
    for g in groups:
        assert all((p.ndim >= 2) == (g["weight_decay"] > 0) for p in g["params"])
    fresh = _classifier(tokenizer)
    emb = [g for g in layerwise_lr_groups(fresh, lr=2.0, decay=0.5) if g["layer"] == "embeddings"]
    assert emb and all(g["lr"] == 2.0 * 0.5 ** 3 for g in emb)
    with pytest.raises(ValueError, match="num_layers must be in 0..3"):
        freeze_layers(fresh, num_layers=4)
    from shendu.models.gpt import GPT, GPTConfig
    gpt = GPT(GPTConfig(vocab_size=20, n_layer=2, n_head=2, n_embd=8, block_size=8))
    freeze_layers(gpt, embeddings=False, num_layers=1)
    assert all(not p.requires_grad for p in gpt.transformer.h[0].parameters())
    assert all(p.requires_grad for p in gpt.transformer.h[1].parameters())
    assert {g["layer"] for g in layerwise_lr_groups(gpt, 1.0, 0.9)} == {"embeddings", "layer.1", "head"}


def test_schedules_match_transformers():
    transformers = pytest.importorskip("transformers")
    import torch
    makers = {"linear": transformers.get_linear_schedule_with_warmup,
              "cosine": transformers.get_cosine_schedule_with_warmup,
              "constant": lambda o, w, t: transformers.get_constant_schedule_with_warmup(o, w)}
    for kind, make in makers.items():
        opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
        theirs, ours = make(opt, 7, 40).lr_lambdas[0], lr_schedule(kind, 7, 40)
        for step in range(45):
            assert math.isclose(ours(step), theirs(step), rel_tol=1e-12, abs_tol=1e-12), (kind, step)


def test_tag_alignment_labels_first_subtoken(tokenizer):
    words = ["the", "running", "cat"]
    pieces = tokenizer.tokenize("running")
    assert len(pieces) > 1  # the word is split, so the rule is exercised
    ids, labels = align_tags(tokenizer, words, [3, 1, 2], max_length=32)
    assert ids[0] == tokenizer.cls_token_id and ids[-1] == tokenizer.sep_token_id
    assert labels == [-100, 3, 1] + [-100] * (len(pieces) - 1) + [2, -100]
    assert tokenizer.convert_ids_to_tokens(ids[2:2 + len(pieces)]) == pieces
    ids, labels = align_tags(tokenizer, words, [3, 1, 2], max_length=4)  # truncated, [SEP] kept
    assert len(ids) == 4 and ids[-1] == tokenizer.sep_token_id and labels[-1] == -100


def test_char_span_to_token_span_and_qa_encoding(tokenizer):
    context = "the cat sat on a mat while dogs ran"
    s = context.index("dogs ran")
    first, last = char_span_to_tokens(tokenizer, context, s, s + len("dogs ran"))
    toks = tokenizer.tokenize(context)
    assert " ".join(toks[first:last + 1]).replace(" ##", "") == "dogs ran"
    records = [{"question": "who ran ?", "context": context, "answer_start": s, "answer": "dogs ran"},
               {"question": "who sat", "context": context, "answer_start": 4, "answer_end": 7}]
    arrays, _ = encode_records("qa", tokenizer, records, max_length=64)
    for row, rec in zip(range(2), records):
        ids = arrays["input_ids"][row]
        span = ids[arrays["start_positions"][row]:arrays["end_positions"][row] + 1]
        answer = rec.get("answer") or rec["context"][rec["answer_start"]:rec["answer_end"]]
        assert tokenizer.decode(span) == answer
        assert arrays["token_type_ids"][row, arrays["start_positions"][row]] == 1  # inside the context segment
    cut, _ = encode_records("qa", tokenizer, records[:1], max_length=8)   # the answer is truncated away
    assert cut["start_positions"][0] == 0 and cut["end_positions"][0] == 0
    with pytest.raises(ValueError, match="not the answer"):
        encode_records("qa", tokenizer, [{**records[0], "answer": "cats ran"}])


def test_read_records_errors(tmp_path):
    bad = tmp_path / "x.txt"
    bad.write_text("hello")
    with pytest.raises(ValueError, match="expected a .csv or .jsonl"):
        read_records(bad)
    f = tmp_path / "d.jsonl"
    f.write_text('{"text": "a", "label": 1}\n{"text": "b"}\n')
    with pytest.raises(ValueError, match="record 2 lacks the column.*label"):
        read_records(f, ("text", "label"))
    f.write_text('{"text": "a"}\nnot json\n')
    with pytest.raises(ValueError, match="line 2 is not JSON"):
        read_records(f)
    with pytest.raises(ValueError, match="no data file"):
        read_records(tmp_path / "missing.csv")


def test_classification_learns_and_metrics(tokenizer):
    rng = np.random.default_rng(0)
    records = [{"text": " ".join(rng.choice(WORDS[:7] if y else WORDS[7:], 5)), "label": ["neg", "pos"][y]}
               for y in rng.integers(0, 2, 64)]
    arrays, names = encode_records("classify", tokenizer, records, max_length=16)
    assert names == ["neg", "pos"] and arrays["labels"].tolist() == [names.index(r["label"]) for r in records]
    model = _classifier(tokenizer)
    train = TaskBatches(arrays, 16, shuffle=True, rows=np.arange(48))
    val = TaskBatches(arrays, 16, rows=np.arange(48, 64))
    before = evaluate_task(model, val, "classify", 2)
    result = finetune_task(model, "classify", train, val, epochs=8, lr=1e-2, warmup_ratio=0.1, num_labels=2)
    assert result["history"]["loss"][-1] < result["history"]["loss"][0]
    assert result["metrics"]["accuracy"] >= 0.9 > before["accuracy"] - 0.2
    model.eval()
    with sd.no_grad():
        pred = np.concatenate([model(**{k: v for k, v in b.items() if k != "labels"}).logits.numpy().argmax(1)
                               for b in val])
    assert result["metrics"]["accuracy"] == pytest.approx(np.mean(pred == arrays["labels"][48:]))


def test_token_metrics_ignore_unlabelled_positions(tokenizer):
    model = BertForTokenClassification(BertConfig(vocab_size=len(tokenizer), num_labels=3, **TINY))
    arrays, _ = encode_records("tag", tokenizer, [{"tokens": "the running cat", "tags": "A B A"}], 16)
    model.eval()
    with sd.no_grad():
        pred = model(sd.tensor(arrays["input_ids"])).logits.numpy().argmax(-1)[0]
    keep = arrays["labels"][0] != -100
    expected = np.mean(pred[keep] == arrays["labels"][0][keep])
    assert evaluate_task(model, TaskBatches(arrays, 4), "tag", 3)["accuracy"] == pytest.approx(expected)


def write_tasks(tmp_path):
    rng = np.random.default_rng(1)
    with open(tmp_path / "cls.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        for y in rng.integers(0, 2, 40):
            w.writerow([" ".join(rng.choice(WORDS[:7] if y else WORDS[7:], 4)), int(y)])
    with open(tmp_path / "tag.jsonl", "w") as f:
        for _ in range(24):
            words = list(rng.choice(WORDS, 5))
            f.write(json.dumps({"tokens": words, "tags": ["N" if w in WORDS[:7] else "O" for w in words]}) + "\n")
    with open(tmp_path / "qa.jsonl", "w") as f:
        for _ in range(24):
            words = list(rng.choice(WORDS, 6))
            ctx = " ".join(words)
            ans = words[2]
            start = len(" ".join(words[:2])) + 1
            f.write(json.dumps({"question": "which third word", "context": ctx, "answer_start": start,
                                "answer": ans}) + "\n")


@pytest.mark.parametrize("task,lora", [("classify", 0), ("classify", 4), ("tag", 0), ("qa", 2)])
def test_finetune_checkpoint_writes_a_loadable_directory(tmp_path, checkpoint, task, lora):
    write_tasks(tmp_path)
    data = tmp_path / {"classify": "cls.csv", "tag": "tag.jsonl", "qa": "qa.jsonl"}[task]
    out = tmp_path / "run"
    result = finetune_checkpoint(checkpoint, data, task, out, epochs=2, lr=3e-3, batch_size=8, lora=lora,
                                 num_frozen_layers=1 if task == "tag" else 0, max_length=24)
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) >= ({"exact_match", "f1"} if task == "qa" else {"accuracy", "macro_f1"})
    assert (out / "adapter.safetensors").exists() == bool(lora)
    if lora:
        assert metrics["trainable_parameters"] < metrics["parameters"] / 3
    from shendu import models
    from shendu.train.finetune import HEADS
    loaded = getattr(models, HEADS[task]).from_pretrained(out / "model")
    if task == "classify":
        assert loaded.config.to_dict()["id2label"] == {"0": "0", "1": "1"}
    arrays = encode_records(task, result["tokenizer"], read_records(data)[:4], 24, result["labels"])[0]
    batch = {k: sd.tensor(v) for k, v in arrays.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
    model = result["model"]
    model.eval()
    with sd.no_grad():
        a, b = model(**batch), loaded(**batch)
    key = "start_logits" if task == "qa" else "logits"
    np.testing.assert_allclose(getattr(a, key).numpy(), getattr(b, key).numpy(), rtol=1e-5, atol=1e-5)


def test_bert_directory_errors(tmp_path, checkpoint):
    assert bert_directory(checkpoint) == checkpoint
    run = tmp_path / "train_run"
    (run / "model").mkdir(parents=True)
    for f in checkpoint.iterdir():
        (run / "model" / f.name).write_bytes(f.read_bytes())
    assert bert_directory(run) == run / "model"
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="not a Hugging Face model directory"):
        bert_directory(tmp_path / "empty")
    (checkpoint / "vocab.txt").unlink()
    with pytest.raises(ValueError, match="no vocab.txt"):
        bert_directory(checkpoint)


def test_instruct_task_on_a_gpt_run(tmp_path):
    from shendu.train.finetune import finetune_instructions
    from shendu.train.gpt import load_gpt, train_gpt
    text = "".join(f"def f{i % 7}(x):\n    return x * {i % 5}\n\n" for i in range(200))
    (tmp_path / "code.txt").write_text(text)
    train_gpt(tmp_path / "code.txt", tmp_path / "gpt", vocab_size=300, n_layer=1, n_head=2, n_embd=16, block_size=32,
              batch_size=4, epochs=1, steps_per_epoch=3, eval_batches=1, sample_length=0, verbose=0, plot=False)
    with open(tmp_path / "inst.jsonl", "w") as f:
        for i in range(12):
            f.write(json.dumps({"prompt": f"what is f{i % 7}?", "response": f"x times {i % 5}"}) + "\n")
    base_weights = {k: v._data.copy() for k, v in load_gpt(tmp_path / "gpt")[0].state_dict().items()}
    res = finetune_instructions(tmp_path / "gpt", tmp_path / "inst.jsonl", tmp_path / "ft", steps=6, lr=1e-2,
                                batch_size=4, lora=2)
    m = res["metrics"]
    assert m["val_response_loss"] < m["val_response_loss_before"]
    assert m["trainable_parameters"] == sum(2 * (16 + 3 * 16) for _ in range(1))  # one block's c_attn adapters
    model, tok = load_gpt(tmp_path / "ft")                       # merged, plain GPT, chat markers in the BPE
    assert "<|assistant|>" in tok.get_vocab() if hasattr(tok, "get_vocab") else True
    state = model.state_dict()
    changed = [k for k, v in base_weights.items() if k in state and v.shape == state[k].shape
               and not np.array_equal(v, state[k].numpy())]
    assert changed == ["transformer.h.0.attn.c_attn.weight"]    # only the adapted layer (merged) moved
    with pytest.raises(ValueError, match="not a 'shendu train gpt' run folder"):
        finetune_instructions(tmp_path, tmp_path / "inst.jsonl", tmp_path / "x")
