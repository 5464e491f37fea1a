"""``shendu size``: parameters, FLOPs and memory of a GPT configuration, without building it.

    shendu size --model gpt2-xl --batch 8 --context 1024
    shendu size --model llama-7b --dtype bfloat16 --inference
    shendu size --model runs/gpt                     # a 'shendu train gpt' run folder (its model.json)

The numbers are ``shendu.models.sizing.model_size``'s (see there for what each counts).
"""
from __future__ import annotations

import argparse

from shendu.cli._common import UsageError, int_at_least

PROG = "shendu size"


def add_parser(sub) -> argparse.ArgumentParser:
    from shendu.models.sizing import BYTES, OPTIMIZER_STATES, PRESETS
    p = sub.add_parser("size", help="parameters, FLOPs and memory of a GPT configuration (nothing is allocated)",
                       description="Size a GPT before building it: parameters, FLOPs per token and per step,\n"
                                   "and the memory of a training step (parameters, gradients, optimizer state,\n"
                                   "activations) or of inference (parameters and the KV cache).")
    p.add_argument("--model", default="gpt2", metavar="NAME|FILE",
                   help=f"a preset ({', '.join(PRESETS)}) or a JSON file of GPTConfig fields / a run folder")
    p.add_argument("--batch", type=int_at_least(1), default=1, help="sequences per step")
    p.add_argument("--context", type=int_at_least(1), default=None,
                   help="tokens per sequence (default: the model's block size)")
    p.add_argument("--dtype", choices=sorted(BYTES), default="float32", help="the dtype of weights and activations")
    p.add_argument("--optimizer", choices=sorted(OPTIMIZER_STATES), default="adamw",
                   help="whose state to count (adamw: 2 values per parameter, sgd with momentum: 1)")
    p.add_argument("--checkpointing", action="store_true",
                   help="activation checkpointing per block (only block inputs kept)")
    p.add_argument("--inference", action="store_true", help="size a forward with a KV cache instead of training")
    p.set_defaults(func=run, parser=p)
    return p


def run(args) -> int:
    from shendu.models.sizing import load_config, model_size
    try:
        config = load_config(args.model)
        report = model_size(config, batch=args.batch, context=args.context, dtype=args.dtype,
                            optimizer=args.optimizer, training=not args.inference, checkpointing=args.checkpointing)
    except ValueError as e:
        raise UsageError(str(e).removeprefix("model_size: "), PROG) from None
    print(report.table())
    return 0
