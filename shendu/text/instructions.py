"""Instruction tuning data: a built-in instruction set, a chat template and loss-masked SFT batches.

The built-in set is made without downloads: for each public function of a fixed list of standard-library
modules, the prompt asks what it does and the response is the first sentence of its docstring::

    {"prompt": "What does json.dumps do?", "response": "Serialize ``obj`` to a JSON formatted ``str``."}

The chat template wraps a turn in special tokens (train a ``ByteLevelBPETokenizer`` with
``special_tokens=special_tokens()`` so each marker is one token)::

    <|user|>What does json.dumps do?<|assistant|>Serialize ``obj`` to a JSON formatted ``str``.<|end|>

``build_sft_batch`` turns examples into ``(idx, targets)`` for ``GPT(idx, targets)``: next-token targets
that are ``-1`` (GPT's ``ignore_index``) on every prompt position and on the right padding, so the
loss is on the response tokens and the end marker only.
"""
from __future__ import annotations

import importlib
import inspect
import random
import re
from collections.abc import Sequence

import numpy as np

USER, ASSISTANT, END = "<|user|>", "<|assistant|>", "<|end|>"

# Fixed and ordered: the instruction set depends only on the Python version's docstrings.
MODULES = ("json", "os", "os.path", "shutil", "string", "textwrap", "random", "statistics", "math",
           "itertools", "functools", "collections", "re", "base64", "binascii", "heapq", "bisect",
           "copy", "glob", "fnmatch", "difflib", "html", "urllib.parse", "inspect", "tempfile",
           "zlib", "gzip", "csv", "datetime", "time", "operator", "pathlib", "pickle", "pprint",
           "struct", "uuid", "hashlib", "secrets", "warnings", "contextlib")

_SIGNATURE = re.compile(r"^[\w.]+\(.*\)(\s*->\s*.*)?$")   # builtins' docstrings may open with "name(args) -> x"
_SENTENCE = re.compile(r"^(.+?[.!?])(?=\s|$)")


def special_tokens() -> list[str]:
    """The chat template's markers, in a fixed order (for ``ByteLevelBPETokenizer.train``)."""
    return [USER, ASSISTANT, END]


def format_chat(prompt: str, response: str | None = None) -> str:
    """One turn in the chat template. Without ``response``: the text a model continues to answer
    (ends with the assistant marker); with it: the whole turn, closed by the end marker."""
    if not isinstance(prompt, str):
        raise TypeError(f"format_chat: prompt must be a str, got {type(prompt).__name__}")
    text = f"{USER}{prompt}{ASSISTANT}"
    if response is None:
        return text
    if not isinstance(response, str):
        raise TypeError(f"format_chat: response must be a str or None, got {type(response).__name__}")
    return f"{text}{response}{END}"


def format_conversation(turns: Sequence[tuple[str, str | None]]) -> str:
    """Several turns ``[(prompt, response), ..., (prompt, None)]`` one after another (for chat history)."""
    return "".join(format_chat(p, r) for p, r in turns)


def first_sentence(doc: str | None) -> str | None:
    """The first sentence of a docstring's first paragraph (signature lines skipped), or None."""
    if not doc:
        return None
    lines = inspect.cleandoc(doc).splitlines()
    while lines and (not lines[0].strip() or _SIGNATURE.match(lines[0].strip())):
        lines.pop(0)
    para = []
    for line in lines:
        if not line.strip():
            break
        para.append(line.strip())
    text = " ".join(para)
    if not text or text[0] in ":>*-=" or len(text) < 8:
        return None
    m = _SENTENCE.match(text)
    sentence = m.group(1) if m else text
    return sentence if len(sentence) <= 300 else None


def _public_functions(module_name: str):
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return
    names = getattr(module, "__all__", None) or dir(module)
    for name in sorted(set(names)):
        if name.startswith("_"):
            continue
        obj = getattr(module, name, None)
        if inspect.isfunction(obj) or inspect.isbuiltin(obj):
            yield name, obj


def _all_instructions() -> list[dict]:
    out, seen = [], set()
    for module_name in MODULES:
        for name, fn in _public_functions(module_name):
            qualname = f"{module_name}.{name}"
            if qualname in seen:
                continue
            response = first_sentence(inspect.getdoc(fn))
            if response is None:
                continue
            seen.add(qualname)
            out.append({"prompt": f"What does {qualname} do?", "response": response})
    return out


def load_instructions(limit: int | None = None, seed: int | None = 0) -> list[dict]:
    """The built-in instruction set: ``[{"prompt", "response"}, ...]``.

    Args:
        limit: keep the first ``limit`` examples (after the shuffle); None keeps all.
        seed: shuffle with ``random.Random(seed)`` (deterministic); None keeps module order.
    """
    if limit is not None and (not isinstance(limit, int) or limit < 0):
        raise ValueError(f"load_instructions: limit must be a non-negative int or None, got {limit!r}")
    examples = _all_instructions()
    if seed is not None:
        random.Random(seed).shuffle(examples)
    return examples if limit is None else examples[:limit]


def split_instructions(examples: Sequence[dict], val_fraction: float = 0.1,
                       seed: int = 0) -> tuple[list[dict], list[dict]]:
    """``(train, val)``: a seeded shuffle, then the last ``val_fraction`` (at least one example when
    ``val_fraction > 0`` and there are two or more examples) validates."""
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"split_instructions: val_fraction must be in [0, 1), got {val_fraction}")
    examples = list(examples)
    random.Random(seed).shuffle(examples)
    n_val = int(round(len(examples) * val_fraction))
    if val_fraction > 0 and n_val == 0 and len(examples) >= 2:
        n_val = 1
    cut = len(examples) - n_val
    return examples[:cut], examples[cut:]


def _ids(tokenizer, text: str) -> list[int]:
    return [int(i) for i in np.asarray(tokenizer.encode(text)).reshape(-1)]


def encode_example(example: dict, tokenizer) -> tuple[list[int], int]:
    """``(ids, n_prompt)``: the whole turn's token ids and how many of them are the prompt part
    (user marker, prompt, assistant marker). The two parts are encoded separately, so the boundary
    is exact for any tokenizer."""
    prompt_ids = _ids(tokenizer, format_chat(example["prompt"]))
    response_ids = _ids(tokenizer, example["response"] + END)
    return prompt_ids + response_ids, len(prompt_ids)


def build_sft_batch(examples: Sequence[dict], tokenizer, block_size: int, pad_id: int | None = None):
    """``(idx, targets)``, both ``(B, T)`` int64 Tensors, right-padded, ``T <= block_size``.

    ``idx[b, t]`` is token ``t`` of example ``b``'s chat turn, ``targets[b, t]`` token ``t + 1`` where
    that token belongs to the response (or the end marker) and ``-1`` on prompt and padding positions.
    A turn longer than ``block_size + 1`` tokens is cropped at the end; a prompt that leaves no
    response token inside the context raises ValueError. ``pad_id``: the input id on padding (default:
    the end marker's id when the tokenizer has it, else 0; never a target).
    """
    from shendu import tensor
    if not isinstance(block_size, int) or block_size < 1:
        raise ValueError(f"build_sft_batch: block_size must be a positive int, got {block_size!r}")
    if len(examples) == 0:
        raise ValueError("build_sft_batch: no examples")
    if pad_id is None:
        tid = getattr(tokenizer, "token_to_id", None)
        pad_id = (tid(END) if tid is not None else None)
        pad_id = 0 if pad_id is None else pad_id
    rows = []
    for i, ex in enumerate(examples):
        ids, n_prompt = encode_example(ex, tokenizer)
        if n_prompt >= block_size + 1:
            raise ValueError(f"build_sft_batch: example {i}'s prompt is {n_prompt} tokens, which leaves no "
                             f"response token in a context of block_size={block_size}; shorten the prompt")
        ids = ids[:block_size + 1]
        rows.append((ids, n_prompt))
    T = max(len(ids) - 1 for ids, _ in rows)
    idx = np.full((len(rows), T), pad_id, dtype=np.int64)
    targets = np.full((len(rows), T), -1, dtype=np.int64)
    for b, (ids, n_prompt) in enumerate(rows):
        n = len(ids) - 1
        idx[b, :n] = ids[:-1]
        targets[b, n_prompt - 1:n] = ids[n_prompt:]    # position t predicts ids[t+1]: a response token
    return tensor(idx), tensor(targets)


__all__ = ["ASSISTANT", "END", "MODULES", "USER", "build_sft_batch", "encode_example", "first_sentence",
           "format_chat", "format_conversation", "load_instructions", "special_tokens", "split_instructions"]
