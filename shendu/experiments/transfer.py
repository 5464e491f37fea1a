"""Transfer learning with a small BERT: pretrain on unlabelled text, fine-tune on few labels, against the
same network trained from scratch on the same labels; and LoRA against full fine-tuning.

1. Pretraining: ``shendu.train.bert.train_bert`` on the built-in stdlib corpus (masked LM, a WordPiece
   vocabulary learned from it), nothing downloaded.
2. The labelled task, made from the stdlib without downloads: which package a line of source code comes
   from (``asyncio``, ``email``, ``tkinter`` or ``xml``: chance is 25%). Lines are deduplicated, a fixed
   balanced test set is held out, and the training sets of each size are nested draws from the rest.
   The pretraining corpus is the whole stdlib, so it may contain these lines without their labels: the
   usual setting of in-domain unsupervised pretraining.
3. For each label count, ``BertForSequenceClassification`` from the pretrained weights and from a random
   initialisation (same architecture, same tokenizer, same optimizer and number of steps) is fine-tuned
   and scored on the test set: the learning curves.
4. At the largest label count, LoRA (rank ``lora_r`` on query/value, the head trained in full) against
   full fine-tuning: test accuracy, trainable parameters and seconds.
"""
from __future__ import annotations

import math
import os
import sysconfig
import time
from pathlib import Path

import numpy as np

from shendu.experiments._progress import stages
from shendu.experiments.plotting import pyplot, save

PACKAGES = ("asyncio", "email", "tkinter", "xml")

FULL = {"max_bytes": 1_000_000, "vocab_size": 2000, "hidden_size": 128, "num_hidden_layers": 2,
        "num_attention_heads": 4, "intermediate_size": 256, "max_length": 32, "batch_size": 32,
        "epochs": 10, "steps_per_epoch": 100, "lr": 2e-3, "warmup_steps": 50,
        "label_counts": (32, 128, 512, 2048), "test_per_class": 200, "finetune_steps": 150, "finetune_lr": 1e-3,
        "lora_r": 8, "lora_lr": 1e-2}
QUICK = {"max_bytes": 100_000, "vocab_size": 400, "hidden_size": 32, "num_hidden_layers": 1,
         "num_attention_heads": 2, "intermediate_size": 64, "max_length": 32, "batch_size": 16,
         "epochs": 1, "steps_per_epoch": 30, "lr": 3e-3, "warmup_steps": 5,
         "label_counts": (16, 64), "test_per_class": 30, "finetune_steps": 30, "finetune_lr": 1e-2,
         "lora_r": 4, "lora_lr": 2e-2}


def package_lines(packages=PACKAGES, min_chars: int = 16, max_chars: int = 200) -> dict[str, list[str]]:
    """Each package's distinct stripped source lines of ``min_chars``..``max_chars`` characters (sorted)."""
    from shendu.data.datasets.text import stdlib_files
    root = sysconfig.get_paths()["stdlib"]
    out = {p: set() for p in packages}
    for rel in stdlib_files(root):
        top = rel.split(os.sep)[0]
        if top in out:
            with open(os.path.join(root, rel), encoding="utf-8") as f:
                out[top].update(s for s in (line.strip() for line in f) if min_chars <= len(s) <= max_chars)
    shared = set.intersection(*out.values())  # a line in two packages has no single label
    return {p: sorted(lines - shared) for p, lines in out.items()}


def make_task(seed: int, test_per_class: int, max_train: int) -> tuple[list[dict], list[dict]]:
    """``(train pool, test set)`` of ``{"text", "label"}``: a balanced test set, and a shuffled training pool
    (its first n records are the n-label training set, so the sets are nested)."""
    rng = np.random.default_rng(seed)
    lines = package_lines()
    per_class = min(len(v) for v in lines.values())
    need = test_per_class + -(-max_train // len(lines))
    if per_class < need:
        raise ValueError(f"transfer: the stdlib has only {per_class} lines for a package, {need} are needed")
    train, test = [], []
    for p, ls in lines.items():
        pick = rng.permutation(len(ls))[:need]
        test += [{"text": ls[i], "label": p} for i in pick[:test_per_class]]
        train += [{"text": ls[i], "label": p} for i in pick[test_per_class:]]
    return [train[i] for i in rng.permutation(len(train))], test


def _finetune(model_dir, tokenizer, train_records, test_arrays, labels, *, steps, lr, batch_size, max_length,
              seed, scratch=False, lora_r=0):
    """Fine-tune one ``BertForSequenceClassification`` for ``steps`` steps; ``(test accuracy, trainable
    parameters, seconds)``."""
    import warnings

    from shendu.models.bert import BertForSequenceClassification
    from shendu.models.pretrained import load_config
    from shendu.nn.lora import apply_lora
    from shendu.random import manual_seed
    from shendu.train.finetune import TaskBatches, encode_records, evaluate_task, finetune_task

    manual_seed(seed)
    if scratch:
        model = BertForSequenceClassification(load_config(model_dir).replace(num_labels=len(labels)))
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the new head's "newly initialised" warning
            model = BertForSequenceClassification.from_pretrained(model_dir, num_labels=len(labels))
    if lora_r:
        apply_lora(model, r=lora_r, alpha=2 * lora_r, target_modules=("query", "value"),
                   modules_to_save=("classifier", "pooler"))
    model.train()
    arrays, _ = encode_records("classify", tokenizer, train_records, max_length, labels)
    batch = min(batch_size, len(train_records))
    train = TaskBatches(arrays, batch, shuffle=True, seed=seed)
    epochs = max(1, math.ceil(steps / len(train)))
    start = time.perf_counter()
    result = finetune_task(model, "classify", train, None, epochs=epochs, lr=lr, warmup_ratio=0.1,
                           weight_decay=0.01, num_labels=len(labels), seed=seed)
    seconds = time.perf_counter() - start
    acc = evaluate_task(model, TaskBatches(test_arrays, 64), "classify", len(labels))["accuracy"]
    return acc, result["trainable_parameters"], seconds, result["parameters"]


def run(out: Path, seed: int = 0, quick: bool = False, progress=False) -> dict:
    from shendu.train.bert import train_bert
    from shendu.train.finetune import encode_records

    out = Path(out)
    s = dict(QUICK if quick else FULL)
    counts = tuple(s["label_counts"])
    with stages(progress, "transfer", 5) as stage:
        stage(f"pretraining a {s['num_hidden_layers']}-layer BERT ({s['hidden_size']} wide) on the stdlib corpus "
              f"for {s['epochs'] * s['steps_per_epoch']} steps")
        pre = train_bert(None, out / "pretrain", max_bytes=s["max_bytes"], vocab_size=s["vocab_size"],
                         hidden_size=s["hidden_size"], num_hidden_layers=s["num_hidden_layers"],
                         num_attention_heads=s["num_attention_heads"], intermediate_size=s["intermediate_size"],
                         max_length=s["max_length"], batch_size=s["batch_size"], epochs=s["epochs"],
                         steps_per_epoch=s["steps_per_epoch"], eval_batches=5, lr=s["lr"],
                         warmup_steps=s["warmup_steps"], seed=seed, verbose=0, plot=False)
        tok, model_dir = pre["tokenizer"], pre["model_dir"]

        stage(f"the labelled task: which of {len(PACKAGES)} stdlib packages a line comes from")
        pool, test = make_task(seed, s["test_per_class"], max(counts))
        test_arrays, labels = encode_records("classify", tok, test, s["max_length"], sorted(PACKAGES))
        common = dict(steps=s["finetune_steps"], batch_size=32, max_length=s["max_length"], seed=seed)

        stage(f"fine-tuning pretrained vs from scratch at {', '.join(map(str, counts))} labels")
        curves = {"pretrained": [], "scratch": []}
        for n in counts:
            for kind in curves:
                acc, *_ = _finetune(model_dir, tok, pool[:n], test_arrays, labels, lr=s["finetune_lr"],
                                    scratch=kind == "scratch", **common)
                curves[kind].append(acc)

        stage(f"LoRA (r={s['lora_r']}) vs full fine-tuning at {counts[-1]} labels")
        full_acc, full_trainable, full_seconds, total = _finetune(model_dir, tok, pool[:counts[-1]], test_arrays,
                                                                  labels, lr=s["finetune_lr"], **common)
        lora_acc, lora_trainable, lora_seconds, _ = _finetune(model_dir, tok, pool[:counts[-1]], test_arrays, labels,
                                                              lr=s["lora_lr"], lora_r=s["lora_r"], **common)
        comparison = {"full": {"accuracy": full_acc, "trainable_parameters": full_trainable, "seconds": full_seconds},
                      "lora": {"accuracy": lora_acc, "trainable_parameters": lora_trainable, "seconds": lora_seconds}}

        stage("figures and report")
        _figures(out, counts, curves, comparison, pre, s)
        results = {"label_counts": list(counts), "pretrained_accuracy": curves["pretrained"],
                   "scratch_accuracy": curves["scratch"], "chance": 1 / len(PACKAGES), "lora": comparison["lora"],
                   "full": comparison["full"], "parameters": total, "pretrain_val_loss": pre["val_loss"],
                   "pretrain_seconds": pre["seconds"], "vocab_size": pre["vocab_size"], "test_size": len(test),
                   "pool_size": len(pool)}
        _report(out, s, results, seed, quick)
    return results


def _figures(out: Path, counts, curves, comparison, pre, s) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    ax.plot(counts, curves["pretrained"], "o-", label="pretrained BERT, fine-tuned")
    ax.plot(counts, curves["scratch"], "s--", label="same network from scratch")
    ax.axhline(1 / len(PACKAGES), color="grey", ls=":", lw=1, label="chance")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("labelled training lines")
    ax.set_ylabel("test accuracy")
    ax.set_title(f"Which stdlib package a line is from ({s['finetune_steps']} fine-tuning steps each)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    save(fig, out / "transfer_learning_curves.png")

    fig, axes = plt.subplots(1, 3, figsize=(11, 3.6))
    h = pre["history"]
    axes[0].plot(range(1, len(h["loss"]) + 1), h["loss"], "o-", ms=3, label="training")
    if "val_loss" in h:
        axes[0].plot(range(1, len(h["val_loss"]) + 1), h["val_loss"], "s--", ms=3, label="validation")
    axes[0].set_xlabel(f"epoch ({s['steps_per_epoch']} steps)")
    axes[0].set_ylabel("masked-LM loss (nats)")
    axes[0].set_title("pretraining")
    axes[0].legend(fontsize=8)
    names = ["full", "lora"]
    axes[1].bar(names, [comparison[n]["accuracy"] for n in names], color=["C0", "C2"])
    axes[1].set_ylabel("test accuracy")
    axes[1].set_title(f"{counts[-1]} labels")
    axes[2].bar(names, [comparison[n]["trainable_parameters"] for n in names], color=["C0", "C2"])
    axes[2].set_yscale("log")
    axes[2].set_ylabel("trainable parameters")
    axes[2].set_title("parameters trained")
    fig.tight_layout()
    save(fig, out / "transfer_lora.png")


def _gain_sentence(r: dict) -> str:
    gains = [a - b for a, b in zip(r["pretrained_accuracy"], r["scratch_accuracy"])]
    wins = sum(g > 0 for g in gains)
    best = int(np.argmax(gains))
    share = r["lora"]["trainable_parameters"] / r["full"]["trainable_parameters"]
    return (f"Pretraining is ahead at {wins} of {len(gains)} label counts (mean gain {np.mean(gains):+.3f}, the "
            f"largest {gains[best]:+.3f} at {r['label_counts'][best]} labels). LoRA trains "
            f"{share:.1%} of the parameters and reaches "
            f"{r['lora']['accuracy']:.3f} against full fine-tuning's {r['full']['accuracy']:.3f}.")


def _report(out: Path, s: dict, r: dict, seed: int, quick: bool) -> None:
    lines = [
        "# Transfer learning: pretrained BERT vs training from scratch, LoRA vs full fine-tuning", "",
        f"A {s['num_hidden_layers']}-layer BERT ({s['hidden_size']} wide, {r['parameters']:,} parameters with the "
        f"classification head, {r['vocab_size']} WordPiece tokens) pretrained by masked-language modelling on "
        f"{s['max_bytes']:,} bytes of the Python stdlib for {s['epochs'] * s['steps_per_epoch']} steps "
        f"({r['pretrain_seconds']:.0f} s, validation loss {r['pretrain_val_loss']:.3f} nats per masked token)"
        f"{' (--quick)' if quick else ''}.", "",
        f"Task: which of {', '.join(PACKAGES)} a line of stdlib source comes from (chance {r['chance']:.0%}); "
        f"{r['test_size']} test lines (balanced), training sets nested draws from {r['pool_size']} others. Each "
        f"model is fine-tuned for {s['finetune_steps']} AdamW steps (lr {s['finetune_lr']:g}, warmup then linear "
        "decay, batch 32).", "",
        "## Learning curves", "",
        "| labelled lines | pretrained | from scratch |", "|---|---|---|",
        *(f"| {n} | {a:.3f} | {b:.3f} |" for n, a, b in zip(r["label_counts"], r["pretrained_accuracy"],
                                                          r["scratch_accuracy"])), "",
        _gain_sentence(r), "",
        "![learning curves](transfer_learning_curves.png)", "",
        f"## LoRA vs full fine-tuning ({r['label_counts'][-1]} labels)", "",
        "| | test accuracy | trainable parameters | seconds |", "|---|---|---|---|",
        f"| full fine-tuning | {r['full']['accuracy']:.3f} | {r['full']['trainable_parameters']:,} | "
        f"{r['full']['seconds']:.1f} |",
        f"| LoRA r={s['lora_r']} (query, value; head in full; lr {s['lora_lr']:g}) | {r['lora']['accuracy']:.3f} | "
        f"{r['lora']['trainable_parameters']:,} | {r['lora']['seconds']:.1f} |", "",
        "![LoRA vs full](transfer_lora.png)", "",
        "## Settings", "", "| setting | value |", "|---|---|",
        *(f"| {k} | {v} |" for k, v in s.items()), f"| seed | {seed} |", "",
        "The pretrained model is in `pretrain/model/` (a Hugging Face directory: `shendu finetune --checkpoint "
        "pretrain/model ...` fine-tunes it on a CSV file).", "",
    ]
    (out / "report.md").write_text("\n".join(lines), encoding="utf-8")
