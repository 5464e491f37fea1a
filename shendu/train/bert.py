"""Pretraining a BERT (``shendu train bert``): masked-language modelling (and, with ``nsp``,
next-sentence prediction) on any text file or the built-in Python-stdlib corpus.

The text is cut into documents at blank lines and into "sentences" at line breaks; the last
``val_fraction`` of the documents validate. A WordPiece vocabulary (``BertTokenizer.train``) is
learned from the training lines, and every line is tokenized once; the ids, line lengths and document
sizes are written to ``data.npz`` in the run folder (what a resumed run reads back). Masked-LM
examples are full blocks of ``max_length`` tokens (``[CLS]`` + consecutive lines' pieces + ``[SEP]``,
RoBERTa's FULL-SENTENCES); with ``nsp`` an example is ``[CLS] A [SEP] B [SEP]`` from
``make_nsp_pairs`` (B the true next line or, half the time, a line of another document). The masking
(15%, the 80/10/10 rule, optionally whole words) is drawn afresh every batch by
``DataCollatorForLanguageModeling`` from a generator seeded by ``(seed, epoch)``, so a resumed run sees
the same batches as an uninterrupted one. AdamW, linear warmup then linear decay (to 2% of ``lr``, where
it stays when a resumed run goes past the first run's horizon), gradient clipping,
checkpoints after every epoch and exact resume (``Trainer``'s), as ``shendu train gpt``. Files in ``out``::

    model/          the best weights as a Hugging Face directory (config.json, model.safetensors,
                    vocab.txt, tokenizer_config.json): BertForMaskedLM.from_pretrained, shendu finetune
    data.npz        the tokenized text          schedule.json   the warmup and decay horizon
    last.safetensors / best.safetensors   full checkpoints    history.csv, history.png    samples.txt
"""
from __future__ import annotations

import json
import math
import os
import shutil
import sys
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from shendu.random import Generator, manual_seed
from shendu.train.callbacks import Callback, ModelCheckpoint, ProgressBar, SetEpoch
from shendu.train.recipes import _HistoryFiles, plot_history, write_history_csv

DATA_FORMAT = "shendu.bert-data"


# -- data -----------------------------------------------------------------------------------------
def split_documents(text: str) -> list[list[str]]:
    """Documents (blocks between blank lines) of sentences (their non-empty, stripped lines)."""
    docs, current = [], []
    for line in text.split("\n"):
        line = line.strip()
        if line:
            current.append(line)
        elif current:
            docs.append(current)
            current = []
    if current:
        docs.append(current)
    return docs


def _pack(tokenizer, docs: list[list[str]]) -> dict:
    """Ids of every line, concatenated; ``lines``: each line's length; ``docs``: each document's line count."""
    ids, lines = [], []
    for doc in docs:
        for line in doc:
            piece = tokenizer.convert_tokens_to_ids(tokenizer.tokenize(line))
            ids += piece
            lines.append(len(piece))
    return {"ids": np.asarray(ids, dtype=np.int32), "lines": np.asarray(lines, dtype=np.int64),
            "docs": np.asarray([len(d) for d in docs], dtype=np.int64)}


def prepare_bert_data(data, out: Path, *, vocab_size: int, do_lower_case: bool, max_bytes: int | None,
                      val_fraction: float, seed: int, resuming: bool):
    """``(tokenizer, {"train": packed, "val": packed}, info)``: tokenize the text and write ``data.npz`` and
    ``model/vocab.txt`` (or, when resuming, read them back)."""
    from shendu.text import BertTokenizer
    from shendu.train.gpt import read_text
    if resuming and (out / "data.npz").exists() and (out / "model" / "vocab.txt").exists():
        tok = BertTokenizer.from_pretrained(out / "model")
        with np.load(out / "data.npz") as z:
            splits = {s: {k: z[f"{s}_{k}"] for k in ("ids", "lines", "docs")} for s in ("train", "val")}
        info = json.loads((out / "data.json").read_text())
        return tok, splits, info
    text = read_text(data, max_bytes, seed)
    docs = split_documents(text)
    if len(docs) < 4:
        raise ValueError(f"data: the text has {len(docs)} blank-line separated documents; BERT pretraining needs "
                         "at least 4 (train and validation, random next sentences)")
    n_val = max(2, int(round(len(docs) * val_fraction))) if val_fraction > 0 else 0
    train_docs, val_docs = docs[:len(docs) - n_val], docs[len(docs) - n_val:]
    tok = BertTokenizer.train([line for d in train_docs for line in d], vocab_size=vocab_size,
                              do_lower_case=do_lower_case)
    splits = {"train": _pack(tok, train_docs), "val": _pack(tok, val_docs)}
    np.savez(out / "data.npz", **{f"{s}_{k}": v for s, d in splits.items() for k, v in d.items()})
    tok.save_pretrained(out / "model")
    info = {"format": DATA_FORMAT, "vocab_size": len(tok), "bytes": len(text.encode("utf-8")),
            "documents": len(docs), "train_documents": len(train_docs), "val_documents": len(val_docs),
            "train_tokens": int(len(splits["train"]["ids"])), "val_tokens": int(len(splits["val"]["ids"]))}
    (out / "data.json").write_text(json.dumps(info, indent=2) + "\n")
    return tok, splits, info


def _sentences(packed: dict) -> list[list[np.ndarray]]:
    """The packed ids as documents of per-line id arrays."""
    lines = np.split(packed["ids"].astype(np.int64), np.cumsum(packed["lines"])[:-1])
    ends = np.cumsum(packed["docs"])
    return [lines[a:b] for a, b in zip(np.concatenate([[0], ends[:-1]]), ends)]


class MaskedLMBatches:
    """Masked-LM (and NSP) batches from packed text: dicts of ``input_ids``, ``attention_mask``,
    ``token_type_ids``, ``labels`` (-100 where not masked) and, with ``nsp``, ``next_sentence_label``.

    Pass ``e`` (``set_epoch(e)``) draws its rows, sentence pairs and masks from generators seeded by
    ``(seed, e)``; ``fixed=True`` draws the same batches every pass (validation).
    Shape: every tensor (batch_size, T) with T <= max_length (``next_sentence_label``: (batch_size,)).
    """

    def __init__(self, packed: dict, tokenizer, batch_size: int, max_length: int, steps: int, seed: int = 0, *,
                 nsp: bool = False, mlm_probability: float = 0.15, whole_word_mask: bool = False,
                 fixed: bool = False):
        from shendu.text.masking import DataCollatorForLanguageModeling
        self.tokenizer, self.batch_size, self.T, self.steps = tokenizer, batch_size, max_length, steps
        self.seed, self.nsp, self.fixed, self.epoch = seed, nsp, fixed, 0
        self.collate = DataCollatorForLanguageModeling(tokenizer, mlm_probability=mlm_probability,
                                                       whole_word_mask=whole_word_mask)
        cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
        if nsp:
            self.docs = [d for d in _sentences(packed) if len(d)]
            if len(self.docs) < 2:
                raise ValueError(f"MaskedLMBatches: next-sentence pairs need 2 or more documents, got {len(self.docs)}")
        else:
            n = (len(packed["ids"]) // (max_length - 2))
            if n == 0:
                raise ValueError(f"MaskedLMBatches: {len(packed['ids'])} tokens are too few for one block of "
                                 f"max_length={max_length}; use more text or a smaller --max-length")
            body = packed["ids"][:n * (max_length - 2)].astype(np.int64).reshape(n, max_length - 2)
            self.blocks = np.concatenate([np.full((n, 1), cls), body, np.full((n, 1), sep)], axis=1)  # (n, T)

    def set_epoch(self, epoch: int) -> None:
        """Make the next pass draw the rows, pairs and masks of pass ``epoch`` (a pass depends only on
        ``seed`` and ``epoch``; with ``fixed=True`` every pass is the same)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.steps

    def _pair_rows(self, g: Generator, rng) -> list[dict]:
        from shendu.text.masking import make_nsp_pairs
        tok, room = self.tokenizer, self.T - 3
        pairs = make_nsp_pairs(self.docs, generator=g)
        rows = []
        for k in rng.integers(0, len(pairs), size=self.batch_size):
            a, b, label = pairs[int(k)]
            a, b = list(a), list(b)
            while len(a) + len(b) > room:  # longest_first truncation
                (a if len(a) >= len(b) else b).pop()
            rows.append({"input_ids": tok.build_inputs_with_special_tokens(a, b),
                         "token_type_ids": tok.create_token_type_ids_from_sequences(a, b),
                         "next_sentence_label": int(label)})
        return rows

    def __iter__(self):
        epoch = 0 if self.fixed else self.epoch + 1
        rng = np.random.default_rng([self.seed, epoch])
        g = Generator().manual_seed(self.seed * 1_000_003 + epoch)
        self.collate.generator = g
        for _ in range(self.steps):
            if self.nsp:
                rows = self._pair_rows(g, rng)
            else:
                rows = [{"input_ids": r} for r in self.blocks[rng.integers(0, len(self.blocks), size=self.batch_size)]]
            yield dict(self.collate(rows))


# -- training -------------------------------------------------------------------------------------
def fill_mask(model, tokenizer, text: str, k: int = 5) -> list[list[str]]:
    """The ``k`` likeliest tokens at each ``[MASK]`` of ``text`` (eval mode, no gradients)."""
    from shendu.grad_mode import no_grad
    enc = tokenizer(text, return_tensors="pt")
    ids = enc["input_ids"]._data[0]
    where = np.nonzero(ids == tokenizer.mask_token_id)[0]
    was = model.training
    model.eval()
    try:
        with no_grad():
            res = model(enc["input_ids"], attention_mask=enc["attention_mask"])
            logits = res.prediction_logits if hasattr(res, "prediction_logits") else res.logits  # (1, T, V)
            logits = logits._data[0]                                                      # (T, V)
    finally:
        model.train(was)
    logits = logits.copy()
    logits[:, tokenizer.all_special_ids] = -np.inf                                        # never a special token
    return [tokenizer.convert_ids_to_tokens(np.argsort(-logits[i])[:k].tolist()) for i in where]


class FillMaskSamples(Callback):
    """After each epoch, the top-5 fills of ``[MASK]`` in ``prompts`` appended to ``path``."""

    def __init__(self, tokenizer, path, prompts: list[str]):
        super().__init__()
        self.tokenizer, self.path, self.prompts, self.samples = tokenizer, os.fspath(path), prompts, []

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        lines = [f"{p}  ->  {' / '.join(' '.join(c) for c in fill_mask(self.model, self.tokenizer, p))}"
                 for p in self.prompts]
        self.samples.append(lines)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(f"=== epoch {epoch + 1} ===\n" + "\n".join(lines) + "\n\n")


def _prompts(tokenizer, packed: dict, n: int = 3) -> list[str]:
    """Validation lines with one word (a token not a ``##`` piece, not punctuation) masked."""
    out = []
    for line in _sentences(packed)[:50]:
        for ids in line:
            toks = tokenizer.convert_ids_to_tokens(ids.tolist())
            words = [i for i, t in enumerate(toks) if t.isalpha() and len(t) > 2 and
                     (i + 1 == len(toks) or not toks[i + 1].startswith("##"))]
            if 4 <= len(toks) <= 20 and words:
                toks[words[len(words) // 2]] = tokenizer.mask_token
                out.append(tokenizer.convert_tokens_to_string(toks) if hasattr(tokenizer, "convert_tokens_to_string")
                           else " ".join(toks).replace(" ##", ""))
                break
        if len(out) >= n:
            break
    return out


MODEL_KEYS = ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "max_length",
              "dropout", "nsp", "vocab_size", "do_lower_case")


@dataclass
class BertTrainConfig:
    """The settings of ``shendu train bert`` (``train_bert``'s arguments; 0 or "" mean "none")."""

    data: str = field(default="", metadata={
        "help": "a UTF-8 text file to learn (empty: the built-in corpus of the Python stdlib's sources)"})
    max_bytes: int = field(default=1_000_000, metadata={
        "help": "use at most this many bytes of the text (0: a whole file)", "min": 0})
    val_fraction: float = field(default=0.05, metadata={
        "help": "the share of the documents (blank-line separated) held out for validation", "min": 0.0,
        "below": 1.0})
    vocab_size: int = field(default=2000, metadata={"help": "the WordPiece vocabulary size", "min": 50})
    do_lower_case: bool = field(default=True, metadata={"help": "lower-case the text (an uncased vocabulary)"})
    hidden_size: int = field(default=128, metadata={"help": "hidden width (a multiple of --num-attention-heads)",
                                                    "min": 1})
    num_hidden_layers: int = field(default=2, metadata={"help": "encoder layers", "min": 1})
    num_attention_heads: int = field(default=4, metadata={"help": "attention heads", "min": 1})
    intermediate_size: int = field(default=512, metadata={"help": "feed-forward width", "min": 1})
    max_length: int = field(default=64, metadata={"help": "tokens per example ([CLS] and [SEP] included)",
                                                  "min": 8})
    dropout: float = field(default=0.1, metadata={"help": "hidden and attention dropout", "min": 0.0, "below": 1.0})
    nsp: bool = field(default=False, metadata={"help": "also train next-sentence prediction (BertForPreTraining)"})
    whole_word_mask: bool = field(default=False, metadata={"help": "mask whole words (all their ## pieces)"})
    mlm_probability: float = field(default=0.15, metadata={"help": "the share of tokens masked", "above": 0.0,
                                                           "below": 1.0})
    batch_size: int = field(default=32, metadata={"help": "examples per step", "min": 1})
    epochs: int = field(default=6, metadata={
        "help": "evaluation rounds in all (with --resume: train until this many are done)", "min": 1,
        "resumable": True})
    steps_per_epoch: int = field(default=100, metadata={"help": "optimizer steps between evaluations", "min": 1})
    eval_batches: int = field(default=10, metadata={"help": "validation batches per evaluation", "min": 0})
    lr: float = field(default=1e-3, metadata={"help": "AdamW's peak learning rate", "above": 0.0})
    warmup_steps: int = field(default=60, metadata={"help": "linear warmup steps", "min": 0})
    decay_steps: int = field(default=0, metadata={
        "help": "the step the linear decay ends at (0: epochs x steps-per-epoch of the first run; kept on resume)",
        "min": 0})
    weight_decay: float = field(default=0.01, metadata={"help": "AdamW's weight decay on 2-D weights", "min": 0.0})
    clip_grad_norm: float = field(default=1.0, metadata={
        "help": "clip the gradients' total norm to this (0: no clipping)", "min": 0.0})
    seed: int = field(default=0, metadata={"help": "seeds the initialization, the batches and the masks"})


def train_bert(data: str | os.PathLike | None = None, out: str | os.PathLike = "runs/bert", *,
               max_bytes: int | None = 1_000_000, val_fraction: float = 0.05, vocab_size: int = 2000,
               do_lower_case: bool = True, hidden_size: int = 128, num_hidden_layers: int = 2,
               num_attention_heads: int = 4, intermediate_size: int = 512, max_length: int = 64,
               dropout: float = 0.1, nsp: bool = False, whole_word_mask: bool = False, mlm_probability: float = 0.15,
               batch_size: int = 32, epochs: int = 6, steps_per_epoch: int = 100, eval_batches: int = 10,
               lr: float = 1e-3, warmup_steps: int = 60, decay_steps: int | None = None, weight_decay: float = 0.01,
               clip_grad_norm: float | None = 1.0, seed: int = 0, resume: bool = False, verbose: int = 1,
               callbacks: Iterable[Callback] = (), plot: bool = True) -> dict:
    """Pretrain a ``BertForMaskedLM`` (``BertForPreTraining`` with ``nsp``) on ``data`` (a UTF-8 text file,
    or None for the stdlib corpus); the arguments are ``BertTrainConfig``'s (``decay_steps``: pass the final
    total to make ``N/2 + resume N/2`` equal ``N``). Returns ``{"history", "loss",
    "val_loss", "val_ppl", "best_val_loss", "best_epoch", "epochs", "steps", "vocab_size", "parameters",
    "samples", "seconds", "out", "model_dir", "files", "summary", "model", "tokenizer"}``."""
    from shendu import models
    from shendu.io import load_checkpoint
    from shendu.models.bert import BertConfig
    from shendu.optim.lr_scheduler import LambdaLR
    from shendu.train.finetune import TaskTrainer, layerwise_lr_groups, lr_schedule
    from shendu.train.gpt import Perplexity

    start = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    last = out / "last.safetensors"
    resuming = bool(resume) and last.exists()
    settings = {"hidden_size": hidden_size, "num_hidden_layers": num_hidden_layers,
                "num_attention_heads": num_attention_heads, "intermediate_size": intermediate_size,
                "max_length": max_length, "dropout": dropout, "nsp": nsp, "vocab_size": vocab_size,
                "do_lower_case": do_lower_case}
    if resuming:
        saved = json.loads((out / "settings.json").read_text()) if (out / "settings.json").exists() else settings
        differ = {k: (saved.get(k), settings[k]) for k in MODEL_KEYS if saved.get(k) != settings[k]}
        if differ:
            raise ValueError(f"train_bert: resuming {out} with other model settings (saved, given): {differ}")
    else:
        for stale in ("history.csv", "history.png", "samples.txt", "best.safetensors", "data.npz", "data.json",
                      "schedule.json", "settings.json"):
            (out / stale).unlink(missing_ok=True)
        shutil.rmtree(out / "model", ignore_errors=True)
        (out / "settings.json").write_text(json.dumps(settings, indent=2) + "\n")
    if hidden_size % num_attention_heads:
        raise ValueError(f"hidden_size: {hidden_size} is not a multiple of --num-attention-heads {num_attention_heads}")
    tok, splits, info = prepare_bert_data(data, out, vocab_size=vocab_size, do_lower_case=do_lower_case,
                                          max_bytes=max_bytes, val_fraction=val_fraction, seed=seed,
                                          resuming=resuming)
    kw = {"nsp": nsp, "mlm_probability": mlm_probability, "whole_word_mask": whole_word_mask}
    train_batches = MaskedLMBatches(splits["train"], tok, batch_size, max_length, steps_per_epoch, seed, **kw)
    val_batches = None
    if eval_batches > 0 and len(splits["val"]["ids"]) >= max_length:
        val_batches = MaskedLMBatches(splits["val"], tok, batch_size, max_length, eval_batches, seed + 1, fixed=True,
                                      **kw)
    manual_seed(seed)
    config = BertConfig(vocab_size=len(tok), hidden_size=hidden_size, num_hidden_layers=num_hidden_layers,
                        num_attention_heads=num_attention_heads, intermediate_size=intermediate_size,
                        max_position_embeddings=max(max_length, 64), hidden_dropout_prob=dropout,
                        attention_probs_dropout_prob=dropout)
    model = (models.BertForPreTraining if nsp else models.BertForMaskedLM)(config)
    monitor = "val_loss" if val_batches is not None else "loss"
    checkpoint = ModelCheckpoint(dirpath=out, monitor=monitor, save_best_only=True, save_last=True)
    sampler = FillMaskSamples(tok, out / "samples.txt", _prompts(tok, splits["val"] if val_batches else
                                                                 splits["train"]))
    cbs = [SetEpoch(train_batches), sampler, checkpoint, _HistoryFiles(out / "history.csv"), *callbacks]
    if not nsp:
        cbs.insert(1, Perplexity())
    if verbose:
        cbs.append(ProgressBar(1) if sys.stderr.isatty() else ProgressBar(2, force=True))
    from shendu import optim
    opt = optim.AdamW(layerwise_lr_groups(model, lr, 1.0, weight_decay), lr=lr)
    schedule_file = out / "schedule.json"
    total = decay_steps or epochs * steps_per_epoch
    if resuming and schedule_file.exists() and not decay_steps:
        total = json.loads(schedule_file.read_text())["decay_steps"]
    schedule_file.write_text(json.dumps({"warmup_steps": warmup_steps, "decay_steps": total}) + "\n")
    scheduler = LambdaLR(opt, lambda s: max(lr_schedule("linear", warmup_steps, total)(s), 0.02))
    trainer = TaskTrainer(model, opt, callbacks=cbs, scheduler=scheduler, scheduler_interval="step",
                          clip_grad_norm=clip_grad_norm or None)
    history = trainer.fit(train_batches, epochs=epochs, validation_data=val_batches, seed=seed, verbose=verbose,
                          resume_from=str(last) if resuming else None).history
    write_history_csv(history, out / "history.csv")
    best_epoch = None
    if history.get(monitor):
        best_epoch = int(min(range(len(history[monitor])), key=history[monitor].__getitem__)) + 1
    if (out / "best.safetensors").exists():
        load_checkpoint(out / "best.safetensors", model=model, restore_rng=False)
    model.eval()
    model.save_pretrained(out / "model")
    tok.save_pretrained(out / "model")
    files = [out / "model", last, out / "best.safetensors", out / "history.csv", out / "samples.txt",
             out / "data.npz", out / "data.json", out / "schedule.json"]
    if plot and history:
        try:
            plot_history(history, out / "history.png", best_epoch=best_epoch,
                         title=f"BERT {num_hidden_layers}x{hidden_size} ({num_attention_heads} heads), T={max_length}, "
                               f"masked LM{' + NSP' if nsp else ''}, batch {batch_size}",
                         panels=(("loss", "loss (nats per masked token" + (" + NSP)" if nsp else ")")),
                                 ("ppl", "masked-token perplexity")))
            files.append(out / "history.png")
        except ImportError:  # matplotlib is optional
            pass
    final = {k: v[-1] for k, v in history.items()} if history else {}
    params = sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
    key = "val_loss" if "val_loss" in final else "loss"
    value = final.get(key, float("nan"))
    summary = (f"bert: {value:.3f} {'validation' if key == 'val_loss' else 'training'} loss"
               + ("" if nsp else f" (masked-token perplexity {math.exp(min(value, 700)):.1f}, uniform {len(tok)})")
               + f" after {len(history.get('loss', []))} epochs, {trainer.global_step} steps ({params:,} parameters, "
               f"{len(tok)} WordPiece tokens); the model: {out / 'model'}")
    if sampler.samples:
        summary += f"; fill-mask (samples.txt): {sampler.samples[-1][0][:100]!r}"
    return {"history": history, "loss": final.get("loss"), "val_loss": final.get("val_loss"),
            "val_ppl": final.get("val_ppl"), "best_val_loss": None if math.isinf(checkpoint.best) else checkpoint.best,
            "best_epoch": best_epoch, "epochs": len(history.get("loss", [])), "steps": trainer.global_step,
            "vocab_size": len(tok), "parameters": params, "samples": sampler.samples, "info": info,
            "seconds": time.perf_counter() - start, "out": os.fspath(out), "model_dir": os.fspath(out / "model"),
            "files": [os.fspath(f) for f in files], "summary": summary, "model": model, "tokenizer": tok}


def run_bert(config: BertTrainConfig, *, out: str | os.PathLike, resume: bool = False,
             callbacks: Iterable[Callback] = (), verbose: int = 0) -> dict:
    """``train_bert`` with a ``BertTrainConfig`` (the ``bert`` entry of ``RECIPES``)."""
    c = asdict(config)
    c.update({k: c[k] or None for k in ("data", "max_bytes", "clip_grad_norm", "decay_steps")})
    if c["data"] is not None and not os.path.isfile(c["data"]):
        raise ValueError(f"data: no text file at {c['data']!r}")
    if c["hidden_size"] % c["num_attention_heads"]:
        raise ValueError(f"hidden_size: {c['hidden_size']} is not a multiple of --num-attention-heads "
                         f"{c['num_attention_heads']}")
    return train_bert(c.pop("data"), out, resume=resume, callbacks=callbacks, verbose=verbose, **c)


__all__ = ["BertTrainConfig", "FillMaskSamples", "MaskedLMBatches", "fill_mask", "prepare_bert_data", "run_bert",
           "split_documents", "train_bert"]
