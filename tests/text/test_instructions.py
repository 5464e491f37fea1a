"""The built-in instruction set, the chat template and the loss-masked SFT batches."""
import numpy as np
import pytest

from shendu.text import ByteLevelBPETokenizer
from shendu.text.instructions import (
    ASSISTANT,
    END,
    USER,
    build_sft_batch,
    encode_example,
    first_sentence,
    format_chat,
    format_conversation,
    load_instructions,
    special_tokens,
    split_instructions,
)

EXAMPLES = [{"prompt": "What does json.dumps do?", "response": "Serialize ``obj`` to a JSON formatted ``str``."},
            {"prompt": "Hi", "response": "Hello there, friend."},
            {"prompt": "What does math.sqrt do?", "response": "Return the square root of x."}]


@pytest.fixture(scope="module")
def tok():
    texts = [format_chat(e["prompt"], e["response"]) for e in load_instructions(limit=200)]
    return ByteLevelBPETokenizer().train(texts, vocab_size=400, special_tokens=special_tokens())


def test_instruction_set_is_deterministic_and_non_empty():
    a, b = load_instructions(), load_instructions()
    assert a == b and len(a) > 300
    assert all(e["prompt"].strip() and e["response"].strip() for e in a)
    assert len({e["prompt"] for e in a}) == len(a)
    assert {"prompt": "What does json.dumps do?",
            "response": "Serialize ``obj`` to a JSON formatted ``str``."} in a
    c = load_instructions(seed=1)
    assert c != a and sorted(map(str, c)) == sorted(map(str, a))
    assert load_instructions(limit=5) == a[:5]
    assert load_instructions(seed=None) == load_instructions(seed=None)
    with pytest.raises(ValueError, match="limit"):
        load_instructions(limit=-1)


def test_first_sentence():
    assert first_sentence("Do a thing. Then more.\n\nDetails.") == "Do a thing."
    assert first_sentence("f(x) -> int\n\nReturn x\nplus one.  More") == "Return x plus one."
    assert first_sentence("") is None and first_sentence(None) is None


def test_split_instructions():
    data = load_instructions(limit=50)
    train, val = split_instructions(data, val_fraction=0.2, seed=3)
    assert (len(train), len(val)) == (40, 10)
    assert sorted(map(str, train + val)) == sorted(map(str, data))
    assert split_instructions(data, 0.2, seed=3) == (train, val)
    assert len(split_instructions(data[:3], 0.1)[1]) == 1
    with pytest.raises(ValueError, match="val_fraction"):
        split_instructions(data, 1.0)


def test_chat_template():
    assert special_tokens() == [USER, ASSISTANT, END]
    assert format_chat("q") == "<|user|>q<|assistant|>"
    assert format_chat("q", "a") == "<|user|>q<|assistant|>a<|end|>"
    assert format_conversation([("q", "a"), ("r", None)]) == "<|user|>q<|assistant|>a<|end|><|user|>r<|assistant|>"
    with pytest.raises(TypeError, match="format_chat"):
        format_chat(3)


def test_markers_are_single_tokens(tok):
    for s in special_tokens():
        assert tok.encode(s) == [tok.token_to_id(s)]
    ids, n_prompt = encode_example(EXAMPLES[0], tok)
    assert ids == tok.encode(format_chat(EXAMPLES[0]["prompt"], EXAMPLES[0]["response"]))
    assert ids[n_prompt - 1] == tok.token_to_id(ASSISTANT) and ids[-1] == tok.token_to_id(END)


def test_mask_is_exactly_the_response(tok):
    idx, targets = build_sft_batch(EXAMPLES, tok, block_size=64)
    idx, targets = idx.numpy(), targets.numpy()
    assert idx.dtype == np.int64 and targets.dtype == np.int64 and idx.shape == targets.shape
    lengths = [len(tok.encode(format_chat(e["prompt"], e["response"]))) - 1 for e in EXAMPLES]
    assert idx.shape == (3, max(lengths))
    for b, ex in enumerate(EXAMPLES):
        full = tok.encode(format_chat(ex["prompt"], ex["response"]))
        n = lengths[b]
        np.testing.assert_array_equal(idx[b, :n], full[:-1])          # inputs: the whole turn
        assert (idx[b, n:] == tok.token_to_id(END)).all()              # right padding
        kept = targets[b][targets[b] >= 0]
        assert tok.decode(kept.tolist()) == ex["response"] + END       # the unmasked targets are the response
        n_prompt = len(tok.encode(format_chat(ex["prompt"])))
        assert (targets[b, :n_prompt - 1] == -1).all() and (targets[b, n:] == -1).all()
        np.testing.assert_array_equal(targets[b, n_prompt - 1:n], full[n_prompt:])   # next-token, aligned


def test_cropping_and_errors(tok):
    n_prompt = len(tok.encode(format_chat(EXAMPLES[0]["prompt"])))
    bs = n_prompt + 2
    idx, targets = build_sft_batch(EXAMPLES[:1], tok, block_size=bs)
    assert idx.shape == (1, bs)
    full = tok.encode(format_chat(EXAMPLES[0]["prompt"], EXAMPLES[0]["response"]))
    assert len(full) > bs + 1
    np.testing.assert_array_equal(idx.numpy()[0], full[:bs])
    np.testing.assert_array_equal(targets.numpy()[0, n_prompt - 1:], full[n_prompt:bs + 1])
    assert (targets.numpy()[0, :n_prompt - 1] == -1).all()
    assert build_sft_batch(EXAMPLES[:1], tok, block_size=n_prompt)[1].numpy()[0, -1] == full[n_prompt]
    with pytest.raises(ValueError, match="prompt is .* tokens"):
        build_sft_batch(EXAMPLES[:1], tok, block_size=n_prompt - 1)
    with pytest.raises(ValueError, match="no examples"):
        build_sft_batch([], tok, block_size=8)
    with pytest.raises(ValueError, match="block_size"):
        build_sft_batch(EXAMPLES, tok, block_size=0)
