"""`shendu generate` and `shendu chat` on a tiny GPT trained in a temporary folder: output equals the
library's `generate_text`, seeded runs repeat, streaming prints the same text, the chat loop's history
fits the context (`fit_history`), /reset and /exit and end of input, and one-line usage errors."""
import io

import numpy as np
import pytest

from shendu.cli.chat import ChatTemplate, chat_template, fit_history
from shendu.cli.generate import TextStream
from shendu.random import Generator
from shendu.text import ByteLevelBPETokenizer
from shendu.train.gpt import generate_text, load_gpt, train_gpt

TEXT = "".join(f"def f{i % 7}(x):\n    return x * {i % 5} + {i % 3}\n\n" for i in range(200))
TINY = dict(n_layer=1, n_head=2, n_embd=16, block_size=16, batch_size=4, eval_batches=2, warmup_steps=1,
            sample_length=4, verbose=0, plot=False, lr=3e-3, min_lr=3e-4, epochs=1, steps_per_epoch=3)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("gen")
    data = root / "code.txt"
    data.write_text(TEXT)
    train_gpt(data, root / "bpe", tokenizer="bpe", vocab_size=300, **TINY)
    train_gpt(data, root / "char", tokenizer="char", **TINY)
    train_gpt(data, root / "long", tokenizer="bpe", vocab_size=300, **{**TINY, "block_size": 64})
    return root


def _generate(shendu_cli, run, *flags):
    return shendu_cli("generate", "--checkpoint", run, *flags)


@pytest.mark.parametrize("kind", ["bpe", "char"])
def test_generate_equals_generate_text_and_repeats_for_a_seed(runs, shendu_cli, kind):
    model, tok = load_gpt(runs / kind)
    ref = generate_text(model, tok, "def ", 20, temperature=0.8, top_k=50, block_size=16,
                        generator=Generator().manual_seed(3))
    flags = ["--prompt", "def ", "--max-new-tokens", "20", "--seed", "3"]
    status, out, err = _generate(shendu_cli, runs / kind, *flags, "--no-stream")
    assert status == 0 and err == "" and out == ref + "\n"
    status, streamed, _ = _generate(shendu_cli, runs / kind, *flags, "--stream")
    assert status == 0 and streamed == out  # token by token, the same text
    assert _generate(shendu_cli, runs / kind, *flags, "--no-stream")[1] == out
    other = _generate(shendu_cli, runs / kind, "--prompt", "def ", "--max-new-tokens", "20", "--seed", "4",
                      "--no-stream")[1]
    assert other != out  # the seed matters (20 sampled tokens at temperature 0.8)


def test_generate_sampling_options_reach_the_model(runs, shendu_cli):
    model, tok = load_gpt(runs / "bpe")
    ids = tok.encode("def f")
    from shendu.tensor import Tensor
    want = model.generate(Tensor._wrap(np.asarray(ids, dtype=np.int64)[None]), 12, temperature=1.3, top_k=7,
                          top_p=0.9, repetition_penalty=1.5, generator=Generator().manual_seed(1))
    status, out, _ = _generate(shendu_cli, runs / "bpe", "--prompt", "def f", "--max-new-tokens", "12",
                               "--temperature", "1.3", "--top-k", "7", "--top-p", "0.9",
                               "--repetition-penalty", "1.5", "--seed", "1", "--no-stream")
    assert status == 0 and out == tok.decode(want[0].numpy()) + "\n"
    greedy = generate_text(model, tok, "def f", 12, temperature=0.0, top_k=None)
    assert _generate(shendu_cli, runs / "bpe", "--prompt", "def f", "--max-new-tokens", "12",
                     "--temperature", "0", "--top-k", "0", "--no-stream")[1] == greedy + "\n"


def test_generate_crops_a_long_prompt_and_says_so(runs, shendu_cli):
    model, tok = load_gpt(runs / "bpe")
    prompt = TEXT[:400]
    assert len(tok.encode(prompt)) > 16
    status, out, err = _generate(shendu_cli, runs / "bpe", "--prompt", prompt, "--max-new-tokens", "5",
                                 "--temperature", "0", "--no-stream")
    assert status == 0 and "cropped to the last 16" in err and len(err.splitlines()) == 1
    assert out == generate_text(model, tok, prompt, 5, temperature=0.0, block_size=16) + "\n"
    assert not out.startswith(prompt[:20])  # the printed prompt is the cropped one


def test_generate_usage_errors_are_one_line(runs, tmp_path, shendu_cli, usage_error):
    (tmp_path / "empty").mkdir()
    cases = [(["--checkpoint", tmp_path / "missing"], "no such folder"),
             (["--checkpoint", tmp_path / "empty"], "not a 'shendu train gpt' run folder"),
             (["--checkpoint", runs / "char", "--prompt", "déf ☃"], "cannot be encoded"),
             (["--checkpoint", runs / "char", "--prompt", ""], "--prompt is empty"),
             (["--checkpoint", runs / "bpe", "--temperature", "-1"], "--temperature"),
             (["--checkpoint", runs / "bpe", "--top-p", "0"], "--top-p"),
             (["--checkpoint", runs / "bpe", "--max-new-tokens", "x"], "--max-new-tokens"),
             (["--prompt", "def "], "--checkpoint")]
    for flags, message in cases:
        status, _, err = shendu_cli("generate", *flags)
        line = usage_error(err)
        assert status == 2 and message in line and line.startswith("shendu generate: error: "), (flags, line)
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "model.json").write_text("{not json")
    (tmp_path / "broken" / "best.safetensors").write_bytes(b"")
    status, _, err = shendu_cli("generate", "--checkpoint", tmp_path / "broken")
    assert status == 2 and "cannot load it" in usage_error(err)


def test_text_stream_holds_back_partial_characters_and_stop_strings():
    tok = ByteLevelBPETokenizer()  # bytes only: "é" is two tokens, "☃" three
    ids = tok.encode("aé☃ bUser: x")
    stream = TextStream(tok, stops=("User:",))
    pieces, stopped = [], False
    for i in ids:
        new, stopped = stream.push(i)
        assert "\ufffd" not in new
        pieces.append(new)
        if stopped:
            break
    assert stopped and "".join(pieces) == "aé☃ b" and stream.text == "aé☃ b"
    assert pieces[-2] == ""  # "Use" was held back: it might start the stop string
    s2 = TextStream(tok, stops=("User:",))
    for i in tok.encode("a Us"):
        s2.push(i)
    assert s2.finish() == "Us" and s2.text == "a Us"  # at the end nothing is held back


def test_fit_history_drops_the_oldest_turns_first():
    turns = [[1] * 5, [2] * 4, [3] * 3, [4] * 2]
    assert fit_history(turns, 100) == turns
    assert fit_history(turns, 9) == [[2] * 4, [3] * 3, [4] * 2]
    assert fit_history(turns, 8) == [[3] * 3, [4] * 2]  # [2]*4 would overflow: it and all older go
    assert fit_history(turns, 2) == [[4] * 2]
    assert fit_history([[1, 2, 3, 4, 5]], 3) == [[3, 4, 5]]  # the open turn alone: its last tokens
    assert fit_history([], 4) == []
    with pytest.raises(ValueError, match="budget must be >= 1"):
        fit_history(turns, 0)


def test_chat_template_uses_special_tokens_when_the_tokenizer_has_them():
    plain = chat_template(ByteLevelBPETokenizer())
    assert plain == ChatTemplate() and plain.turn("hi") == "User: hi\nAssistant:"
    assert plain.turn("hi", "hello") == "User: hi\nAssistant: hello\n"
    tok = ByteLevelBPETokenizer().train("hello there " * 20, 270, special_tokens=["<|user|>", "<|assistant|>",
                                                                               "<|end|>"])
    t = chat_template(tok)
    assert t.end_id == tok.token_to_id("<|end|>") and t.turn("hi", "yo") == "<|user|>hi<|assistant|>yo<|end|>"
    assert "<|user|>" in t.stops


def _chat(monkeypatch, shendu_cli, run, lines, *flags):
    monkeypatch.setattr("sys.stdin", io.StringIO(lines))
    return shendu_cli("chat", "--checkpoint", run, "--max-new-tokens", "8", "--seed", "0", *flags)


def test_chat_replies_resets_and_ends(runs, monkeypatch, shendu_cli):
    status, out, err = _chat(monkeypatch, shendu_cli, runs / "bpe",
                             "hello\n\nwhat is f0?\n/reset\nhello\n/exit\nnever\n")
    assert status == 0 and err == ""
    assert out.count("Assistant: ") == 3  # the empty line is skipped, "never" comes after /exit
    assert out.count("(history cleared)\n") == 1 and "User:" not in out  # a reply stops before a user turn
    first = out.split("Assistant: ")[1]
    status2, out2, _ = _chat(monkeypatch, shendu_cli, runs / "bpe", "hello\n")  # EOF ends it
    assert status2 == 0 and out2 == "Assistant: " + first.split("Assistant: ")[0]  # seeded: the reply repeats
    assert _chat(monkeypatch, shendu_cli, runs / "bpe", "")[:2] == (0, "")  # no input at all


def _greedy(model, tok, ids, n):
    """The decoded greedy continuation of the ids (the library's generate, not the CLI)."""
    from shendu.tensor import Tensor
    out = model.generate(Tensor._wrap(np.asarray(ids, dtype=np.int64)[None]), n, temperature=0.0)
    return tok.decode(out[0, len(ids):].numpy())


def test_chat_reply_is_the_model_continuing_the_cropped_template(runs, monkeypatch, shendu_cli):
    model, tok = load_gpt(runs / "bpe")
    ids = tok.encode("User: hello\nAssistant:")
    assert len(ids) > 8  # block 16 - 8 new tokens: the open turn is cropped to its last 8 tokens
    _, out, _ = _chat(monkeypatch, shendu_cli, runs / "bpe", "hello\n", "--temperature", "0")
    assert out == "Assistant: " + _greedy(model, tok, ids[-8:], 8).split("User:")[0] + "\n"


def test_chat_history_is_in_the_next_prompt(runs, monkeypatch, shendu_cli):
    """The second reply continues turn 1 + its reply + turn 2, the oldest tokens dropped to fit."""
    model, tok = load_gpt(runs / "long")
    _, out, _ = _chat(monkeypatch, shendu_cli, runs / "long", "a\nb\n", "--temperature", "0",
                      "--max-new-tokens", "3")
    first = out.split("Assistant: ")[1].removesuffix("\n")
    t = ChatTemplate()
    turns = fit_history([list(tok.encode(t.turn("a", first.strip()))), list(tok.encode(t.turn("b")))], 64 - 3)
    assert len(turns) == 2, "the context should hold both turns"
    assert out.split("Assistant: ")[2] == _greedy(model, tok, np.concatenate(turns), 3).split("User:")[0] + "\n"


def test_chat_refuses_a_template_the_tokenizer_cannot_encode(runs, monkeypatch, shendu_cli, usage_error):
    status, out, err = _chat(monkeypatch, shendu_cli, runs / "char", "hi\n")  # the tiny text has no "U"
    line = usage_error(err)
    assert status == 2 and out == "" and "the chat template's 'User:' cannot be encoded" in line, line


def test_chat_drops_old_turns_that_do_not_fit(runs, monkeypatch, shendu_cli):
    """Block 16 with 8 new tokens leaves 8 for the prompt: turn 1 goes, turn 2 is cropped to its end."""
    model, tok = load_gpt(runs / "bpe")
    _, out, _ = _chat(monkeypatch, shendu_cli, runs / "bpe", "a\nb\n", "--temperature", "0")
    ids = tok.encode(ChatTemplate().turn("b"))
    assert out.split("Assistant: ")[2] == _greedy(model, tok, ids[-8:], 8).split("User:")[0] + "\n"
