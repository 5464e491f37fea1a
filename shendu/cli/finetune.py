"""``shendu finetune``: fine-tune a BERT checkpoint directory on a CSV / JSON-lines file.

    shendu finetune --checkpoint runs/bert --data reviews.csv --task classify --epochs 3 --out runs/ft
    shendu finetune --checkpoint bert-dir --data ner.jsonl --task tag --lora 8 --freeze-layers 2

The checkpoint is a Hugging Face directory (config.json, model.safetensors or pytorch_model.bin,
vocab.txt) or a ``shendu train bert`` run folder (its ``model/``). The run folder (``--out``) gets
``model/`` (save_pretrained + tokenizer: ``BertFor*.from_pretrained`` and transformers read it),
``adapter.safetensors`` (with ``--lora``), ``history.csv``, ``metrics.json`` and ``finetune.json``.
The columns each task needs are in ``shendu.train.finetune``'s docstring. Instruction tuning a GPT is
``shendu train sft`` on the built-in instructions, or ``--task instruct`` here on your own
``prompt``/``response`` records with a ``shendu train gpt`` folder as the checkpoint.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from shendu.cli._common import UsageError, int_at_least, progress_callbacks


def _number(low: float, high: float | None = None, low_open: bool = False):
    def convert(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if value < low or (low_open and value == low) or (high is not None and value > high):
            interval = f"{'(' if low_open else '['}{low:g}, {'inf' if high is None else f'{high:g}'}]"
            raise argparse.ArgumentTypeError(f"expected a number in {interval}, got {value:g}")
        return value
    convert.__name__ = "float"
    return convert


def add_parser(sub) -> argparse.ArgumentParser:
    from shendu.train.finetune import SCHEDULES, TASKS
    p = sub.add_parser("finetune", help="fine-tune a BERT checkpoint on a CSV/JSONL task (classify, tag, qa)",
                       description=__doc__)
    p.add_argument("--checkpoint", required=True, metavar="DIR",
                   help="a Hugging Face BERT directory or a 'shendu train bert' run folder")
    p.add_argument("--data", required=True, metavar="FILE",
                   help="the labelled records: .csv (header row) or .jsonl (classify: text[, text_pair], label; "
                        "tag: tokens, tags; qa: question, context, answer_start, answer)")
    p.add_argument("--task", required=True, choices=(*TASKS, "instruct"),
                   help="the head to train (instruct: a 'shendu train gpt' folder's GPT on prompt/response records)")
    p.add_argument("--val-data", metavar="FILE", default=None,
                   help="records to score after each epoch (default: --val-fraction of --data)")
    p.add_argument("--val-fraction", type=_number(0.0, 0.9, low_open=True), default=0.1,
                   help="share of --data held out when there is no --val-data")
    p.add_argument("--out", default="runs/finetune", metavar="DIR", help="the run folder")
    p.add_argument("--overwrite", action="store_true", help="replace a fine-tuning run already in --out")
    p.add_argument("--max-length", type=int_at_least(8), default=128, help="tokens per sequence (truncation)")
    p.add_argument("--epochs", type=int_at_least(1), default=3, help="passes over the training records")
    p.add_argument("--steps", type=int_at_least(1), default=300, help="optimizer steps of --task instruct")
    p.add_argument("--batch-size", type=int_at_least(1), default=16, help="records per step")
    p.add_argument("--lr", type=_number(0.0, low_open=True), default=5e-5, help="AdamW's peak learning rate")
    p.add_argument("--layer-decay", type=_number(0.0, 1.0, low_open=True), default=1.0,
                   help="discriminative learning rates: layer l of L gets lr * decay^(L - l) (1: the same lr)")
    p.add_argument("--weight-decay", type=_number(0.0), default=0.01, help="AdamW's weight decay on 2-D weights")
    p.add_argument("--schedule", choices=SCHEDULES, default="linear", help="decay after the warmup")
    p.add_argument("--warmup-ratio", type=_number(0.0, 1.0), default=0.1, help="share of the steps spent warming up")
    p.add_argument("--freeze-embeddings", action="store_true", help="keep the embeddings fixed")
    p.add_argument("--freeze-layers", type=int_at_least(0), default=0, metavar="K",
                   help="keep the first K encoder layers fixed")
    p.add_argument("--lora", type=int_at_least(0), default=0, metavar="R",
                   help="train rank-R LoRA adapters (and the new head) instead of every weight (0: full fine-tuning)")
    p.add_argument("--lora-alpha", type=_number(0.0, low_open=True), default=None,
                   help="LoRA's alpha (the update is scaled by alpha / R; default 2R)")
    p.add_argument("--lora-dropout", type=_number(0.0, 0.99), default=0.0, help="dropout on the adapters' input")
    p.add_argument("--lora-targets", nargs="+", default=["query", "value"], metavar="NAME",
                   help="the Linear layers that get adapters (names or name suffixes; instruct: default c_attn)")
    p.add_argument("--seed", type=int, default=0, help="seeds the split, the head's initialisation and the batches")
    p.set_defaults(func=run, parser=p)
    return p


def run(args) -> int:
    from shendu.train.finetune import finetune_checkpoint, finetune_instructions
    prog = args.parser.prog
    out = Path(args.out)
    if (out / "finetune.json").exists() and not args.overwrite:
        raise UsageError(f"{out}/ already holds a fine-tuning run ({out / 'finetune.json'}); pass --overwrite to "
                         "replace it, or choose another --out", prog)
    if args.lora == 0 and (args.lora_alpha is not None or args.lora_dropout):
        raise UsageError("--lora-alpha and --lora-dropout need --lora R (a rank of 1 or more)", prog)
    log, callbacks = progress_callbacks()
    try:
        if args.task == "instruct":
            targets = ("c_attn",) if args.lora_targets == ["query", "value"] else args.lora_targets
            result = finetune_instructions(args.checkpoint, args.data, out, steps=args.steps, lr=args.lr,
                                           batch_size=args.batch_size, val_fraction=args.val_fraction, lora=args.lora,
                                           lora_alpha=args.lora_alpha, lora_targets=targets, seed=args.seed)
            out.mkdir(parents=True, exist_ok=True)
            (out / "finetune.json").write_text(json.dumps({k: v for k, v in vars(args).items()
                                                           if isinstance(v, (str, int, float, list, type(None)))},
                                                          indent=2) + "\n")
        else:
            result = finetune_checkpoint(
                args.checkpoint, args.data, args.task, out, val_data=args.val_data, val_fraction=args.val_fraction,
                max_length=args.max_length, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                layer_decay=args.layer_decay, weight_decay=args.weight_decay, schedule=args.schedule,
                warmup_ratio=args.warmup_ratio, freeze_embeddings=args.freeze_embeddings,
                num_frozen_layers=args.freeze_layers, lora=args.lora, lora_alpha=args.lora_alpha,
                lora_dropout=args.lora_dropout, lora_targets=args.lora_targets, seed=args.seed, callbacks=callbacks)
    except (ValueError, KeyError, FileNotFoundError) as e:
        raise UsageError(str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e), prog) from None
    print(result["summary"] + f" ({result['seconds']:.1f} s)")
    print(f"run folder {out}/: {', '.join(Path(f).name for f in result['files'] if Path(f).exists())}")
    return 0
