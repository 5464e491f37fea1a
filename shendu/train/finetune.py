"""Fine-tuning a pretrained encoder on a downstream task (``shendu finetune``): layer freezing,
discriminative (per-layer) learning rates, warmup + linear/cosine decay, LoRA, and the three BERT tasks.

    model = BertForSequenceClassification.from_pretrained("runs/bert/model", num_labels=3)
    freeze_layers(model, embeddings=True, num_layers=2)          # the bottom of the encoder stays fixed
    groups = layerwise_lr_groups(model, lr=5e-4, decay=0.8)     # lr * decay^(L - l) for layer l
    result = finetune_task(model, "classify", train, val, epochs=3, lr=5e-4, groups=groups)

Tasks and their records (CSV columns or JSON-lines keys):

- ``classify`` (``BertForSequenceClassification``): ``text`` (+ optional ``text_pair``), ``label``
  (any strings or integers; the sorted distinct values become ids 0..K-1). Metrics: accuracy, macro F1.
- ``tag`` (``BertForTokenClassification``): ``tokens`` and ``tags`` (JSON lists, or space-separated
  strings in a CSV) of equal length. Each word's tag goes on its first WordPiece, the other pieces and
  the special tokens get -100 (no loss, no score). Metrics: token accuracy, macro F1 over the tags.
- ``qa`` (``BertForQuestionAnswering``): ``question``, ``context``, ``answer_start`` (a character offset
  into the context) and ``answer`` (its text) or ``answer_end``. The character span becomes the token
  span of ``[CLS] question [SEP] context [SEP]``; an answer cut off by truncation points at ``[CLS]``
  (position 0), as in Hugging Face's run_qa. Metrics: exact span match, token-overlap F1.

- ``instruct`` (a ``shendu train gpt`` run folder's GPT, ``finetune_instructions``): ``prompt`` and
  ``response``; the chat template and the response-only loss of ``shendu.train.sft``. Metric: the
  validation response loss.
"""
from __future__ import annotations

import csv
import json
import math
import os
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np

from shendu.grad_mode import no_grad
from shendu.tensor import Tensor
from shendu.train.callbacks import Callback
from shendu.train.trainer import Trainer

__all__ = ["TASKS", "TaskBatches", "TaskMetrics", "TaskTrainer", "align_tags", "bert_directory",
           "char_span_to_tokens", "encode_records", "encoder_layout", "evaluate_task", "finetune_checkpoint",
           "finetune_instructions", "finetune_task", "freeze_layers", "layerwise_lr_groups", "lr_schedule",
           "read_records", "task_columns"]

TASKS = ("classify", "tag", "qa")
SCHEDULES = ("linear", "cosine", "constant")


# -- the model's layers: freezing and per-layer learning rates ------------------------------------------
def encoder_layout(model) -> tuple[list, list]:
    """``(embedding modules, the stack of layers bottom to top)`` of a BERT (a bare ``BertModel`` or a
    head with ``.bert``) or a ``GPT``."""
    base = getattr(model, "bert", model)
    if hasattr(base, "embeddings") and hasattr(base, "encoder"):
        return [base.embeddings], list(base.encoder.layer)
    tr = getattr(model, "transformer", None)
    if tr is not None and "h" in tr._modules:
        return [tr._modules[k] for k in ("wte", "wpe") if k in tr._modules], list(tr.h)
    raise ValueError(f"encoder_layout: {type(model).__name__} is neither a BERT model nor a GPT")


def freeze_layers(model, embeddings: bool = True, num_layers: int = 0) -> list[str]:
    """Set ``requires_grad=False`` on the embeddings (``embeddings=True``) and the first ``num_layers``
    layers of the encoder (a GPT's token table is also its tied output head). Returns the frozen
    parameters' names."""
    emb, layers = encoder_layout(model)
    if not 0 <= num_layers <= len(layers):
        raise ValueError(f"freeze_layers: num_layers must be in 0..{len(layers)} (the layers), got {num_layers}")
    frozen_ids = {id(p) for m in (emb if embeddings else []) + layers[:num_layers] for p in m.parameters()}
    names = []
    for name, p in model.named_parameters():
        if id(p) in frozen_ids:
            p.requires_grad_(False)
            names.append(name)
    return names


def layerwise_lr_groups(model, lr: float, decay: float = 1.0, weight_decay: float = 0.0) -> list[dict]:
    """Optimizer parameter groups with discriminative learning rates: with ``L`` layers numbered 1..L
    bottom to top, layer ``l`` gets ``lr * decay ** (L - l)``, the embeddings (layer 0) ``lr * decay ** L``
    and everything above the encoder (pooler, heads) ``lr``. Weight decay only on parameters of 2 or more
    dims. Frozen parameters are left out. Each group names its ``layer`` ("embeddings", "layer.3", "head")."""
    if not 0 < decay <= 1:
        raise ValueError(f"layerwise_lr_groups: decay must be in (0, 1], got {decay}")
    emb, layers = encoder_layout(model)
    L = len(layers)
    depth = {id(p): 0 for m in emb for p in m.parameters()}
    for i, layer in enumerate(layers):
        depth.update({id(p): i + 1 for p in layer.parameters()})
    groups: dict[tuple, dict] = {}
    seen = set()
    for p in model.parameters():
        if id(p) in seen or not p.requires_grad:
            continue
        seen.add(id(p))
        d = depth.get(id(p), L + 1)
        decays = p.ndim >= 2
        key = (d, decays)
        if key not in groups:
            name = "embeddings" if d == 0 else "head" if d == L + 1 else f"layer.{d - 1}"
            groups[key] = {"params": [], "lr": lr * decay ** max(0, L - d), "layer": name,
                           "weight_decay": weight_decay if decays else 0.0}
        groups[key]["params"].append(p)
    return [groups[k] for k in sorted(groups)]


def lr_schedule(kind: str, warmup_steps: int, total_steps: int) -> Callable[[int], float]:
    """``step -> lr multiplier`` for ``LambdaLR``, Hugging Face's ``get_{linear,cosine,constant}_schedule_
    with_warmup``: ``step / warmup`` during the warmup, then linear decay to 0 at ``total_steps``, half a
    cosine to 0, or 1."""
    if kind not in SCHEDULES:
        raise ValueError(f"lr_schedule: kind must be one of {SCHEDULES}, got {kind!r}")

    def factor(step: int) -> float:
        if step < warmup_steps:
            return step / max(1, warmup_steps)
        if kind == "constant":
            return 1.0
        if kind == "linear":
            return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return max(0.0, 0.5 * (1.0 + math.cos(math.pi * progress)))
    return factor


# -- data ---------------------------------------------------------------------------------------------
def task_columns(task: str) -> tuple[str, ...]:
    """The columns (CSV) or keys (JSON lines) every record of ``task`` must have: ``classify``: text,
    label; ``tag``: tokens, tags; ``qa``: question, context, answer_start (the optional ones are in the
    module docstring)."""
    return {"classify": ("text", "label"), "tag": ("tokens", "tags"),
            "qa": ("question", "context", "answer_start")}[task]


def read_records(path: str | os.PathLike, columns: Sequence[str] = ()) -> list[dict]:
    """The rows of a ``.csv`` (a header row) or ``.jsonl`` file (one JSON object per line) as dicts.
    Raises ValueError naming the file (and line) for an unreadable file, another extension, an empty file
    or missing ``columns``."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"no data file at {path!r}")
    ext = os.path.splitext(path)[1].lower()
    try:
        with open(path, encoding="utf-8", newline="") as f:
            if ext == ".csv":
                records = list(csv.DictReader(f))
            elif ext in (".jsonl", ".json"):
                records = []
                for i, line in enumerate(f, 1):
                    if line.strip():
                        try:
                            row = json.loads(line)
                        except ValueError as e:
                            raise ValueError(f"{path}: line {i} is not JSON ({e})") from None
                        if not isinstance(row, dict):
                            raise ValueError(f"{path}: line {i} is not a JSON object")
                        records.append(row)
            else:
                raise ValueError(f"{path}: expected a .csv or .jsonl file, got {ext or 'no extension'!r}")
    except UnicodeDecodeError as e:
        raise ValueError(f"{path} is not UTF-8 text ({e})") from None
    if not records:
        raise ValueError(f"{path} holds no records")
    for i, row in enumerate(records, 1):
        missing = [c for c in columns if c not in row or row[c] is None]
        if missing:
            raise ValueError(f"{path}: record {i} lacks the column(s) {', '.join(missing)} (it has: "
                             f"{', '.join(map(str, row)) or 'none'}); the task needs {', '.join(columns)}")
    return records


def _label_names(values: Iterable, given: Sequence[str] | None) -> list[str]:
    if given is not None:
        return list(given)
    values = {str(v) for v in values}
    ints = all(v.lstrip("-").isdigit() for v in values)
    return sorted(values, key=int) if ints else sorted(values)


def _label_ids(values, names: list[str], what: str) -> list[int]:
    index = {n: i for i, n in enumerate(names)}
    unknown = sorted({str(v) for v in values} - set(index))
    if unknown:
        raise ValueError(f"{what}: label(s) {unknown[:5]} were not in the training labels {names[:10]}")
    return [index[str(v)] for v in values]


def _words(value) -> list[str]:
    return value.split() if isinstance(value, str) else [str(w) for w in value]


def align_tags(tokenizer, words: Sequence[str], tags: Sequence[int], max_length: int) -> tuple[list[int], list[int]]:
    """``(input_ids, labels)`` for a tagged sentence: ``[CLS] pieces [SEP]`` with each word's tag on its
    first WordPiece and -100 on the other pieces and the special tokens, truncated to ``max_length``."""
    ids, labels = [tokenizer.cls_token_id], [-100]
    for word, tag in zip(words, tags):
        pieces = tokenizer.convert_tokens_to_ids(tokenizer.tokenize(word)) or [tokenizer.unk_token_id]
        ids += pieces
        labels += [int(tag)] + [-100] * (len(pieces) - 1)
    ids, labels = ids[:max_length - 1], labels[:max_length - 1]
    return ids + [tokenizer.sep_token_id], labels + [-100]


def char_span_to_tokens(tokenizer, context: str, start: int, end: int) -> tuple[int, int]:
    """The WordPiece span ``(first, last)`` (inclusive, indices into ``tokenizer.tokenize(context)``) of
    the characters ``context[start:end]``: the tokens of the text before the span, and up to its end."""
    if not 0 <= start < end <= len(context):
        raise ValueError(f"char_span_to_tokens: span [{start}, {end}) is not inside a context of {len(context)} "
                         "characters")
    first = len(tokenizer.tokenize(context[:start]))
    last = len(tokenizer.tokenize(context[:end])) - 1
    return first, max(first, last)


def encode_records(task: str, tokenizer, records: Sequence[dict], max_length: int = 128,
                   label_names: Sequence[str] | None = None, where: str = "data") -> tuple[dict, list[str]]:
    """``(arrays, label_names)``: the records encoded for ``task`` as int64 arrays padded to the longest
    (``input_ids``, ``token_type_ids``, ``attention_mask`` (N, T) and ``labels`` (N,) / (N, T), or
    ``start_positions``/``end_positions`` (N,)). ``label_names`` (None: learned from these records) fixes
    the ids."""
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    out: dict[str, list] = {}
    if task == "classify":
        label_names = _label_names((r["label"] for r in records), label_names)
        pairs = [r.get("text_pair") for r in records]
        texts = [str(r["text"]) for r in records]
        if any(p is not None and p != "" for p in pairs):
            enc = tokenizer(texts, [str(p or "") for p in pairs], truncation=True, max_length=max_length, padding=True)
        else:
            enc = tokenizer(texts, truncation=True, max_length=max_length, padding=True)
        out = {k: enc[k] for k in ("input_ids", "token_type_ids", "attention_mask")}
        out["labels"] = _label_ids([r["label"] for r in records], label_names, where)
    elif task == "tag":
        words = [_words(r["tokens"]) for r in records]
        tags = [_words(r["tags"]) for r in records]
        for i, (w, t) in enumerate(zip(words, tags), 1):
            if len(w) != len(t):
                raise ValueError(f"{where}: record {i} has {len(w)} tokens but {len(t)} tags")
        label_names = _label_names((t for ts in tags for t in ts), label_names)
        rows = [align_tags(tokenizer, w, _label_ids(t, label_names, where), max_length) for w, t in zip(words, tags)]
        T = max(len(ids) for ids, _ in rows)
        out["input_ids"] = [ids + [tokenizer.pad_token_id] * (T - len(ids)) for ids, _ in rows]
        out["labels"] = [lab + [-100] * (T - len(lab)) for _, lab in rows]
        out["attention_mask"] = [[1] * len(ids) + [0] * (T - len(ids)) for ids, _ in rows]
        out["token_type_ids"] = [[0] * T for _ in rows]
    else:
        label_names = ["start", "end"]
        rows, starts, ends = [], [], []
        for i, r in enumerate(records, 1):
            q, ctx = str(r["question"]), str(r["context"])
            s = int(r["answer_start"])
            if r.get("answer_end") not in (None, ""):
                e = int(r["answer_end"])
            elif r.get("answer") not in (None, ""):
                e = s + len(str(r["answer"]))
                if ctx[s:e] != str(r["answer"]):
                    raise ValueError(f"{where}: record {i}: context[{s}:{e}] is {ctx[s:e]!r}, not the answer "
                                     f"{str(r['answer'])!r}")
            else:
                raise ValueError(f"{where}: record {i} needs an 'answer' or an 'answer_end' column")
            first, last = char_span_to_tokens(tokenizer, ctx, s, e)
            q_ids = tokenizer.convert_tokens_to_ids(tokenizer.tokenize(q))[:max(1, max_length // 2)]
            c_ids = tokenizer.convert_tokens_to_ids(tokenizer.tokenize(ctx))[:max(0, max_length - len(q_ids) - 3)]
            offset = len(q_ids) + 2
            if last >= len(c_ids):
                first = last = -offset  # cut off: the answer points at [CLS]
            ids = tokenizer.build_inputs_with_special_tokens(q_ids, c_ids)
            rows.append((ids, tokenizer.create_token_type_ids_from_sequences(q_ids, c_ids)))
            starts.append(first + offset)
            ends.append(last + offset)
        T = max(len(ids) for ids, _ in rows)
        out["input_ids"] = [ids + [tokenizer.pad_token_id] * (T - len(ids)) for ids, _ in rows]
        out["token_type_ids"] = [tt + [0] * (T - len(tt)) for _, tt in rows]
        out["attention_mask"] = [[1] * len(ids) + [0] * (T - len(ids)) for ids, _ in rows]
        out["start_positions"], out["end_positions"] = starts, ends
    return {k: np.asarray(v, dtype=np.int64) for k, v in out.items()}, list(label_names)


class TaskBatches:
    """Batches of encoded records: dicts of int64 tensors, each batch cut after its last non-padding column. With
    ``shuffle``, pass ``e`` (``set_epoch(e)``) visits the rows in an order seeded by ``(seed, e)``, so a
    pass depends only on its number."""

    def __init__(self, arrays: dict, batch_size: int, shuffle: bool = False, seed: int = 0, rows=None):
        self.arrays = arrays if rows is None else {k: v[rows] for k, v in arrays.items()}
        self.n = len(self.arrays["input_ids"])
        self.batch_size, self.shuffle, self.seed, self.epoch = batch_size, shuffle, seed, 0

    def set_epoch(self, epoch: int) -> None:
        """Make the next pass visit the rows in the order of pass ``epoch`` (with ``shuffle``)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return -(-self.n // self.batch_size)

    def __iter__(self):
        order = (np.random.default_rng([self.seed, self.epoch]).permutation(self.n) if self.shuffle
                 else np.arange(self.n))
        for i in range(0, self.n, self.batch_size):
            rows = order[i:i + self.batch_size]
            used = np.nonzero(self.arrays["attention_mask"][rows].any(axis=0))[0]   # padding on either side
            T = int(used[-1]) + 1 if len(used) else 1
            yield {k: Tensor._wrap(np.ascontiguousarray(v[rows, :T] if v.ndim == 2 else v[rows]))
                   for k, v in self.arrays.items()}


class TaskTrainer(Trainer):
    """A ``Trainer`` for Hugging Face-style models: ``model(**batch).loss``."""

    def __init__(self, model, optimizer, callbacks: Iterable = (), **kwargs):
        super().__init__(model, "cross_entropy", optimizer, metrics=[], callbacks=callbacks, **kwargs)

    def train_step(self, batch) -> dict:
        value, skipped = self.backward_and_step(self.model(**batch).loss)
        if skipped:
            return {"loss": value, "skipped": 1}
        self.train_metrics.update(value, None, None, len(batch["input_ids"]))
        return {"loss": value}

    def test_step(self, batch) -> dict:
        value = float(self.model(**batch).loss.item())
        self.eval_metrics.update(value, None, None, len(batch["input_ids"]))
        return {"loss": value}


def _macro_f1(y_true: np.ndarray, y_pred: np.ndarray, k: int) -> float:
    f1 = []
    for c in range(k):
        tp = np.sum((y_pred == c) & (y_true == c))
        fp, fn = np.sum((y_pred == c) & (y_true != c)), np.sum((y_pred != c) & (y_true == c))
        if tp + fp + fn:
            f1.append(2 * tp / (2 * tp + fp + fn))
    return float(np.mean(f1)) if f1 else 0.0


def evaluate_task(model, batches: Iterable[dict], task: str, num_labels: int | None = None) -> dict:
    """Scores on ``batches`` (eval mode, no gradients; the mode is restored): ``accuracy`` and
    ``macro_f1`` (classify: per sequence; tag: per first sub-token), or ``exact_match`` and ``f1`` (qa:
    the best span with end >= start against the labelled one, token-overlap F1)."""
    was = model.training
    model.eval()
    trues, preds, spans = [], [], []
    try:
        with no_grad():
            for batch in batches:
                out = model(**{k: v for k, v in batch.items() if k not in ("labels", "start_positions",
                                                                            "end_positions")})
                if task == "qa":
                    s, e = out.start_logits._data, out.end_logits._data                    # (N, T)
                    T = s.shape[1]
                    score = s[:, :, None] + e[:, None, :]                                  # (N, T, T)
                    score = np.where(np.triu(np.ones((T, T), dtype=bool))[None], score, -np.inf)
                    best = score.reshape(len(s), -1).argmax(axis=1)
                    spans += list(zip(best // T, best % T, batch["start_positions"]._data,
                                      batch["end_positions"]._data))
                else:
                    labels = batch["labels"]._data
                    pred = out.logits._data.argmax(axis=-1)
                    keep = labels != -100
                    trues.append(labels[keep])
                    preds.append(pred[keep])
    finally:
        model.train(was)
    if task == "qa":
        em, f1 = [], []
        for ps, pe, ts, te in spans:
            em.append(float(ps == ts and pe == te))
            overlap = max(0, min(pe, te) - max(ps, ts) + 1)
            f1.append(0.0 if overlap == 0 else 2 * overlap / ((pe - ps + 1) + (te - ts + 1)))
        return {"exact_match": float(np.mean(em)), "f1": float(np.mean(f1))}
    y, p = np.concatenate(trues), np.concatenate(preds)
    k = num_labels or int(max(y.max(initial=0), p.max(initial=0))) + 1
    return {"accuracy": float(np.mean(y == p)) if len(y) else 0.0, "macro_f1": _macro_f1(y, p, k)}


class TaskMetrics(Callback):
    """After each epoch, ``evaluate_task`` on the validation batches: adds ``val_accuracy``/``val_macro_f1``
    (or ``val_exact_match``/``val_f1``) to the epoch's logs."""

    order = 5  # before ModelCheckpoint, so a checkpoint may monitor them

    def __init__(self, batches, task: str, num_labels: int | None = None):
        super().__init__()
        self.batches, self.task, self.num_labels = batches, task, num_labels

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        if logs is not None and self.batches is not None:
            logs.update({f"val_{k}": v for k, v in evaluate_task(self.model, self.batches, self.task,
                                                                 self.num_labels).items()})


def finetune_task(model, task: str, train: TaskBatches, val: TaskBatches | None = None, *, epochs: int = 3,
                  lr: float = 5e-5, groups: list[dict] | None = None, weight_decay: float = 0.01,
                  schedule: str = "linear", warmup_ratio: float = 0.1, clip_grad_norm: float | None = 1.0,
                  num_labels: int | None = None, seed: int = 0, callbacks: Iterable[Callback] = (),
                  out: str | os.PathLike | None = None, verbose: int = 0) -> dict:
    """Fine-tune ``model`` in place with AdamW on ``train`` and score it on ``val`` after every epoch.

    Args:
        groups: optimizer parameter groups (``layerwise_lr_groups``); None: every trainable parameter at
            ``lr``, weight decay on 2-D weights only.
        schedule, warmup_ratio: ``lr_schedule``'s kind, warmup over that share of all steps.
        out: a folder for ``history.csv`` (rewritten after each epoch); None: nothing written.
    Returns: ``{"history", "metrics" (the last validation scores), "trainable_parameters", "parameters",
    "steps", "seconds"}``.
    """
    from shendu import optim
    from shendu.optim.lr_scheduler import LambdaLR
    from shendu.train.callbacks import SetEpoch
    from shendu.train.recipes import _HistoryFiles, write_history_csv

    if task not in TASKS:
        raise ValueError(f"finetune_task: task must be one of {TASKS}, got {task!r}")
    start = time.perf_counter()
    if groups is None:
        groups = layerwise_lr_groups(model, lr, 1.0, weight_decay)
    if not groups:
        raise ValueError("finetune_task: the model has no trainable parameters (everything is frozen)")
    opt = optim.AdamW(groups, lr=lr)
    total = epochs * len(train)
    scheduler = LambdaLR(opt, lr_schedule(schedule, int(round(warmup_ratio * total)), total))
    cbs: list = [SetEpoch(train), TaskMetrics(val, task, num_labels), *callbacks]
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        cbs.append(_HistoryFiles(out / "history.csv"))
    trainer = TaskTrainer(model, opt, callbacks=cbs, scheduler=scheduler, scheduler_interval="step",
                          clip_grad_norm=clip_grad_norm)
    history = trainer.fit(train, epochs=epochs, validation_data=val, seed=seed, verbose=verbose).history
    if out is not None:
        write_history_csv(history, out / "history.csv")
    metrics = {k[4:]: v[-1] for k, v in history.items() if k.startswith("val_") and v}
    unique = {id(p): p for p in model.parameters()}.values()
    return {"history": history, "metrics": metrics, "steps": trainer.global_step,
            "trainable_parameters": sum(p.numel() for p in unique if p.requires_grad),
            "parameters": sum(p.numel() for p in unique), "seconds": time.perf_counter() - start}


# -- a checkpoint directory in, a fine-tuned directory out (``shendu finetune``) ------------------------
HEADS = {"classify": "BertForSequenceClassification", "tag": "BertForTokenClassification",
         "qa": "BertForQuestionAnswering"}
HEAD_MODULES = {"classify": ("classifier", "pooler"), "tag": ("classifier",), "qa": ("qa_outputs",)}


def bert_directory(path: str | os.PathLike) -> Path:
    """The Hugging Face BERT directory at ``path``, or in ``path/model`` (a ``shendu train bert`` run
    folder). ValueError naming what is missing."""
    path = Path(path)
    for d in (path, path / "model"):
        try:
            config = json.loads((d / "config.json").read_text())
        except (OSError, ValueError):
            continue
        if isinstance(config, dict) and "model_type" in config:
            if not (d / "vocab.txt").exists():
                raise ValueError(f"checkpoint: {os.fspath(d)!r} has no vocab.txt (the tokenizer's vocabulary)")
            return d
    if not path.is_dir():
        raise ValueError(f"checkpoint: no directory at {os.fspath(path)!r}")
    raise ValueError(f"checkpoint: {os.fspath(path)!r} is not a Hugging Face model directory (no config.json with a "
                     "model_type, there or in model/)")


def _split(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    n_val = max(1, int(round(n * fraction))) if n > 1 else 0
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def finetune_checkpoint(checkpoint: str | os.PathLike, data: str | os.PathLike, task: str,
                        out: str | os.PathLike = "runs/finetune", *, val_data: str | os.PathLike | None = None,
                        val_fraction: float = 0.1, max_length: int = 128, epochs: int = 3, batch_size: int = 16,
                        lr: float = 5e-5, layer_decay: float = 1.0, weight_decay: float = 0.01,
                        schedule: str = "linear", warmup_ratio: float = 0.1, freeze_embeddings: bool = False,
                        num_frozen_layers: int = 0, lora: int = 0, lora_alpha: float | None = None,
                        lora_dropout: float = 0.0, lora_targets: Sequence[str] = ("query", "value"), seed: int = 0,
                        callbacks: Iterable[Callback] = (), verbose: int = 0) -> dict:
    """Fine-tune the BERT checkpoint directory ``checkpoint`` on the records of ``data`` for ``task`` and
    write ``out``: ``model/`` (``save_pretrained`` + the tokenizer, label names in config.json; LoRA
    adapters merged in), ``adapter.safetensors`` (with ``lora``: the adapter weights only),
    ``history.csv``, ``metrics.json`` and ``finetune.json`` (the settings and labels).

    ``val_data`` (None: a seeded ``val_fraction`` of ``data``) is scored after every epoch. ``lora=r``
    trains rank-r adapters on ``lora_targets`` (alpha ``lora_alpha``, default 2r) and the new head only.
    """
    import warnings

    from shendu import models
    from shendu.nn import lora as lora_mod
    from shendu.random import manual_seed
    from shendu.text import BertTokenizer

    if task not in TASKS:
        raise ValueError(f"task: expected one of {', '.join(TASKS)}, got {task!r}")
    start = time.perf_counter()
    directory = bert_directory(checkpoint)
    tokenizer = BertTokenizer.from_pretrained(directory)
    records = read_records(data, task_columns(task))
    if val_data is not None:
        train_records, val_records = records, read_records(val_data, task_columns(task))
    else:
        tr, va = _split(len(records), val_fraction, seed)
        train_records, val_records = [records[i] for i in tr], [records[i] for i in va]
    arrays, names = encode_records(task, tokenizer, train_records, max_length, where=os.fspath(data))
    val_arrays = (encode_records(task, tokenizer, val_records, max_length, names, where=os.fspath(val_data or data))[0]
                  if val_records else None)
    manual_seed(seed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = getattr(models, HEADS[task]).from_pretrained(directory, num_labels=len(names))
    notes = [str(w.message) for w in caught]
    frozen = freeze_layers(model, freeze_embeddings, num_frozen_layers) if freeze_embeddings or num_frozen_layers \
        else []
    if lora:
        lora_mod.apply_lora(model, r=lora, alpha=lora_alpha or 2 * lora, dropout=lora_dropout,
                            target_modules=tuple(lora_targets), modules_to_save=HEAD_MODULES[task])
    model.train()
    train = TaskBatches(arrays, batch_size, shuffle=True, seed=seed)
    val = TaskBatches(val_arrays, batch_size) if val_arrays is not None else None
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    result = finetune_task(model, task, train, val, epochs=epochs, lr=lr,
                           groups=layerwise_lr_groups(model, lr, layer_decay, weight_decay), schedule=schedule,
                           warmup_ratio=warmup_ratio, num_labels=len(names), seed=seed, callbacks=callbacks, out=out,
                           verbose=verbose)
    files = [out / "history.csv"]
    if lora:
        lora_mod.save_lora(model, out / "adapter.safetensors")
        files.append(out / "adapter.safetensors")
        lora_mod.merge_and_unload(model)
    if task != "qa":
        model.config.extra["id2label"] = {str(i): n for i, n in enumerate(names)}
        model.config.extra["label2id"] = {n: i for i, n in enumerate(names)}
    model.eval()
    model.save_pretrained(out / "model")
    tokenizer.save_pretrained(out / "model")
    settings = {"checkpoint": os.fspath(directory), "data": os.fspath(data), "task": task, "labels": names,
                "val_data": None if val_data is None else os.fspath(val_data), "val_fraction": val_fraction,
                "max_length": max_length, "epochs": epochs, "batch_size": batch_size, "lr": lr,
                "layer_decay": layer_decay, "weight_decay": weight_decay, "schedule": schedule,
                "warmup_ratio": warmup_ratio, "frozen": len(frozen), "lora": lora, "lora_alpha": lora_alpha,
                "lora_targets": list(lora_targets), "seed": seed}
    (out / "finetune.json").write_text(json.dumps(settings, indent=2) + "\n")
    metrics = {**result["metrics"], "train_examples": len(train_records), "val_examples": len(val_records),
               "trainable_parameters": result["trainable_parameters"], "parameters": result["parameters"],
               "seconds": result["seconds"]}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    files += [out / "metrics.json", out / "finetune.json", out / "model"]
    shown = ", ".join(f"{k} {v:.4f}" for k, v in result["metrics"].items() if not k.endswith("loss")) or "no scores"
    summary = (f"finetune {task}: validation {shown} after {epochs} epochs on {len(train_records)} records "
               f"({len(val_records)} held out; {result['trainable_parameters']:,} of {result['parameters']:,} "
               f"parameters trained{f', LoRA r={lora}' if lora else ''}); the model: {os.fspath(out / 'model')}")
    return {**result, "labels": names, "notes": notes, "summary": summary, "out": os.fspath(out), "model": model,
            "tokenizer": tokenizer, "files": [os.fspath(f) for f in files], "seconds": time.perf_counter() - start}


def finetune_instructions(checkpoint: str | os.PathLike, data: str | os.PathLike, out: str | os.PathLike = "runs/ft",
                          *, steps: int = 300, lr: float = 3e-4, batch_size: int = 8, val_fraction: float = 0.1,
                          lora: int = 0, lora_alpha: float | None = None, lora_targets: Sequence[str] = ("c_attn",),
                          seed: int = 0, verbose: int = 0) -> dict:
    """Instruction-tune the GPT of a ``shendu train gpt`` folder on the ``prompt``/``response`` records of
    ``data`` (the ``instruct`` task; ``shendu.train.sft``'s loss on the response tokens, its chat markers
    added to the BPE and the token table grown as ``shendu train sft`` does). With ``lora`` only rank-r
    adapters on ``lora_targets`` train; they are merged before saving. ``out`` gets the layout
    ``shendu generate``/``shendu chat`` read (model.json, tokenizer.json, last/best.safetensors) and
    ``metrics.json``."""
    from dataclasses import asdict

    from shendu.io import save_checkpoint
    from shendu.nn import lora as lora_mod
    from shendu.random import manual_seed
    from shendu.text import ByteLevelBPETokenizer
    from shendu.text.instructions import special_tokens
    from shendu.train.gpt import load_gpt
    from shendu.train.sft import finetune, response_loss
    from shendu.train.sft_recipe import resize_token_embeddings

    start = time.perf_counter()
    base, out = Path(checkpoint), Path(out)
    if not (base / "model.json").exists() or not (base / "tokenizer.json").exists():
        raise ValueError(f"checkpoint: {os.fspath(base)!r} is not a 'shendu train gpt' run folder with a BPE "
                         "tokenizer (model.json, tokenizer.json)")
    which = "best" if (base / "best.safetensors").exists() else "last"
    if not (base / f"{which}.safetensors").exists():
        raise ValueError(f"checkpoint: {os.fspath(base)!r} holds no checkpoint (best.safetensors or last.safetensors)")
    records = read_records(data, ("prompt", "response"))
    examples = [{"prompt": str(r["prompt"]), "response": str(r["response"])} for r in records]
    tr, va = _split(len(examples), val_fraction, seed)
    train, val = [examples[i] for i in tr], [examples[i] for i in va] or [examples[tr[-1]]]
    model, tok = load_gpt(base, which)
    if not isinstance(tok, ByteLevelBPETokenizer):
        raise ValueError(f"checkpoint: {os.fspath(base)!r} uses a {type(tok).__name__}; instruction tuning needs BPE")
    tok.add_special_tokens(special_tokens())
    manual_seed(seed)
    model = resize_token_embeddings(model, tok.vocab_size)
    if lora:
        lora_mod.apply_lora(model, r=lora, alpha=lora_alpha or 2 * lora, target_modules=tuple(lora_targets))
    before = response_loss(model, tok, val)
    history = finetune(model, tok, train, steps=steps, lr=lr, batch_size=batch_size, seed=seed, val_examples=val,
                       eval_every=max(1, steps // 4))
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    if lora:
        lora_mod.merge_and_unload(model)
    out.mkdir(parents=True, exist_ok=True)
    model.eval()
    (out / "model.json").write_text(json.dumps(asdict(model.config), indent=2) + "\n")
    tok.save(out / "tokenizer.json")
    for name in ("last.safetensors", "best.safetensors"):
        save_checkpoint(out / name, model=model, epoch=1, rng=False)
    after = history["val_loss"][-1]
    metrics = {"val_response_loss_before": before, "val_response_loss": after, "train_examples": len(train),
               "val_examples": len(val), "trainable_parameters": trainable, "steps": steps,
               "seconds": time.perf_counter() - start}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    summary = (f"finetune instruct: validation response loss {before:.3f} -> {after:.3f} after {steps} steps on "
               f"{len(train)} records ({trainable:,} parameters trained{f', LoRA r={lora}' if lora else ''}); chat "
               f"with: shendu chat --checkpoint {os.fspath(out)}")
    files = [out / n for n in ("model.json", "tokenizer.json", "last.safetensors", "best.safetensors", "metrics.json")]
    return {"history": history, "metrics": metrics, "summary": summary, "model": model, "tokenizer": tok,
            "out": os.fspath(out), "files": [os.fspath(f) for f in files], "seconds": metrics["seconds"]}
