"""``shendu chat``: talk to a ``shendu train gpt`` checkpoint in the terminal.

    shendu chat --checkpoint runs/gpt

Each line read from stdin is a user turn; ``/reset`` forgets the conversation, ``/exit`` or end of
input ends it. The conversation is written with a chat template (``ChatTemplate``): the tokenizer's
``<|user|>``, ``<|assistant|>`` and ``<|end|>`` special tokens when it has them (an instruction-tuned
run), else plain ``User: ...`` / ``Assistant: ...`` lines. The oldest turns are dropped so the prompt
fits the context window (``fit_history``), and a reply is streamed until the model starts the next
user turn, writes the end token, or reaches ``--max-new-tokens``. A base model's replies are
whatever it generates after ``Assistant:``.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

import numpy as np

from shendu.cli._common import UsageError, interactive
from shendu.cli.generate import TextStream, add_sampling_options, encode_prompt, open_run, sampling

PROG = "shendu chat"
SPECIAL = ("<|user|>", "<|assistant|>", "<|end|>")


@dataclass(frozen=True)
class ChatTemplate:
    """How turns become text: ``user + message + assistant + reply + end`` per exchange.

    ``stops`` are the strings that end a reply when generated (the start of a user turn, the end
    marker); ``end_id`` is the end marker's token id when it is a special token.
    """

    user: str = "User: "
    assistant: str = "\nAssistant:"
    end: str = "\n"
    stops: tuple[str, ...] = ("User:",)
    end_id: int | None = None

    def turn(self, message: str, reply: str | None = None) -> str:
        """One exchange as text; ``reply=None`` leaves it open for the model to answer."""
        head = f"{self.user}{message}{self.assistant}"
        if reply is None:
            return head
        space = " " if self.end_id is None else ""  # "Assistant: reply" in plain text
        return f"{head}{space}{reply}{self.end}"


def chat_template(tokenizer) -> ChatTemplate:
    """The special-token template when the tokenizer has ``<|user|>``, ``<|assistant|>``, ``<|end|>``."""
    specials = list(getattr(tokenizer, "special_tokens", ()) or ())
    if all(s in specials for s in SPECIAL):
        user, assistant, end = SPECIAL
        return ChatTemplate(user=user, assistant=assistant, end=end, stops=(user, end),
                            end_id=tokenizer.token_to_id(end))
    return ChatTemplate()


def fit_history(turns: list[list[int]], budget: int) -> list[list[int]]:
    """The latest turns whose token counts add up to at most ``budget``, oldest dropped first.

    ``turns[-1]`` (the open user turn) is always kept; if it alone is longer than ``budget`` it is
    cropped to its last ``budget`` tokens. ``budget`` must be >= 1.
    """
    if budget < 1:
        raise ValueError(f"fit_history: budget must be >= 1, got {budget}")
    if not turns:
        return []
    kept = [turns[-1][-budget:]]
    used = len(kept[0])
    for turn in reversed(turns[:-1]):
        if used + len(turn) > budget:
            break
        kept.append(turn)
        used += len(turn)
    return kept[::-1]


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("chat", help="talk to a trained GPT in the terminal",
                       description="An interactive chat with a 'shendu train gpt' checkpoint: one user turn per\n"
                                   "line of input; /reset forgets the conversation, /exit (or end of input)\n"
                                   "ends it. The oldest turns are dropped to fit the model's context.")
    add_sampling_options(p, max_new_tokens=100)
    p.set_defaults(func=run, parser=p)
    return p


def reply(model, tokenizer, template: ChatTemplate, context: np.ndarray, kw: dict, max_new_tokens: int,
          out=None) -> str:
    """Generate (and print as it comes) the reply to ``context`` ids; returns its text."""
    import shendu as sd
    from shendu.tensor import Tensor
    out = sys.stdout if out is None else out
    text = TextStream(tokenizer, stops=template.stops)
    idx = Tensor._wrap(context[None, :].copy())
    with sd.no_grad():
        steps = model.generate(idx, max_new_tokens, stream=True, eos_token=template.end_id, **kw)
        for step in steps:
            token = int(step.numpy()[0, 0])
            if token == template.end_id:
                break
            new, stopped = text.push(token)
            print(new, end="", flush=True, file=out)
            if stopped:
                break
        steps.close()  # restores the model's mode at once
    print(text.finish(), flush=True, file=out)
    return text.text.strip()


def run(args) -> int:
    model, tok = open_run(args.checkpoint, args.which, PROG)
    template = chat_template(tok)
    for part in (template.user, template.assistant):
        encode_prompt(tok, part, f"the chat template's {part.strip()!r}", PROG)
    block = model.config.block_size
    budget = max(1, block - min(args.max_new_tokens, block // 2))  # room left for the reply
    kw = sampling(args, model.config.vocab_size)
    tty = interactive() and sys.stdin.isatty()
    if tty:
        print(f"{PROG}: {args.checkpoint} (context {block} tokens); /reset forgets, /exit ends", flush=True)
    history: list[list[int]] = []  # the encoded past exchanges, oldest first
    while True:
        if tty:
            print("> ", end="", flush=True)
        line = sys.stdin.readline()
        if not line:
            break
        message = line.rstrip("\r\n")
        command = message.strip()
        if command == "/exit":
            break
        if command == "/reset":
            history.clear()
            print("(history cleared)", flush=True)
            continue
        if not command:
            continue
        try:
            open_turn = encode_prompt(tok, template.turn(message), "the message", PROG)
        except UsageError as e:  # one bad line does not end the conversation
            print(f"{PROG}: {e}", file=sys.stderr, flush=True)
            continue
        turns = fit_history([*history, list(open_turn)], budget)
        context = np.asarray([t for turn in turns for t in turn], dtype=np.int64)
        print("Assistant:" if template.end_id is None else "assistant:", end=" ", flush=True)
        answer = reply(model, tok, template, context, kw, args.max_new_tokens)
        history.append(list(encode_prompt(tok, template.turn(message, answer), "the reply", PROG)))
    return 0


__all__ = ["ChatTemplate", "add_parser", "chat_template", "fit_history", "reply", "run"]
