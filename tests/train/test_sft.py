"""Supervised fine-tuning: the loss is on response tokens only, and fine-tuning lowers it."""
import numpy as np
import pytest
import torch as pt

import shendu
from shendu.models import GPT, GPTConfig
from shendu.text import ByteLevelBPETokenizer
from shendu.text.instructions import build_sft_batch, encode_example, format_chat, load_instructions, special_tokens
from shendu.train.sft import finetune, response_loss


@pytest.fixture(scope="module")
def setup():
    examples = load_instructions(limit=6, seed=0)
    texts = [format_chat(e["prompt"], e["response"]) for e in load_instructions(limit=100)]
    tok = ByteLevelBPETokenizer().train(texts, vocab_size=320, special_tokens=special_tokens())
    block = max(len(encode_example(e, tok)[0]) for e in examples)
    return examples, tok, block


def tiny_gpt(vocab, block):
    shendu.manual_seed(0)
    return GPT(GPTConfig(vocab_size=vocab, block_size=block, n_layer=1, n_head=2, n_embd=32))


def test_loss_ignores_prompt_tokens(setup):
    examples, tok, block = setup
    model = tiny_gpt(tok.vocab_size, block)
    model.eval()
    idx, targets = build_sft_batch(examples, tok, block)
    logits, loss = model(idx, targets)
    lg, tg = pt.tensor(logits.detach().numpy().reshape(-1, logits.shape[-1])), pt.tensor(targets.numpy().reshape(-1))
    ref = pt.nn.functional.cross_entropy(lg, tg, ignore_index=-1)
    np.testing.assert_allclose(loss.item(), ref.item(), rtol=1e-5)
    # the same loss as the cross-entropy over the response positions alone ...
    keep = tg >= 0
    np.testing.assert_allclose(loss.item(), pt.nn.functional.cross_entropy(lg[keep], tg[keep]).item(), rtol=1e-5)
    # ... and whatever the prompt positions' targets are, once masked, nothing changes; unmasked they would
    full = np.full(targets.shape, -1, dtype=np.int64)
    for b, e in enumerate(examples):
        ids = encode_example(e, tok)[0][:block + 1]
        full[b, :len(ids) - 1] = ids[1:]
    assert (full[targets.numpy() >= 0] == targets.numpy()[targets.numpy() >= 0]).all()
    changed = targets.numpy().copy()
    prompt_pos = (full >= 0) & (targets.numpy() < 0)
    assert prompt_pos.sum() > 0
    changed[prompt_pos] = (full[prompt_pos] + 7) % tok.vocab_size
    _, loss_changed = model(idx, shendu.tensor(changed))
    assert abs(loss_changed.item() - loss.item()) > 1e-3
    _, loss_full = model(idx, shendu.tensor(full))
    assert abs(loss_full.item() - loss.item()) > 1e-3
    masked_again = np.where(prompt_pos, -1, changed)
    _, loss_masked = model(idx, shendu.tensor(masked_again))
    assert loss_masked.item() == loss.item()
    # the gradient reaches no prompt position's logits
    lg.requires_grad_(True)
    pt.nn.functional.cross_entropy(lg, tg, ignore_index=-1).backward()
    assert (lg.grad[~keep] == 0).all()
    x = shendu.tensor(logits.detach().numpy(), requires_grad=True)
    shendu.nn.functional.cross_entropy(x.reshape(-1, x.shape[-1]), targets.reshape(-1), ignore_index=-1).backward()
    np.testing.assert_allclose(x.grad.numpy().reshape(lg.shape), lg.grad.numpy(), rtol=1e-4, atol=1e-7)


def test_finetune_lowers_the_response_loss(setup):
    examples, tok, block = setup
    model = tiny_gpt(tok.vocab_size, block)
    before = response_loss(model, tok, examples)
    seen = []
    history = finetune(model, tok, examples, steps=60, lr=3e-3, batch_size=4, warmup_steps=5,
                       val_examples=examples, eval_every=30, callback=lambda s, logs: seen.append(s))
    after = response_loss(model, tok, examples)
    assert history["step"] == list(range(1, 61)) and seen == history["step"]
    assert history["val_step"] == [30, 60] and history["val_loss"][-1] == pytest.approx(after)
    assert history["lr"][0] == pytest.approx(3e-3 / 5) and history["lr"][-1] == pytest.approx(3e-3)
    assert after < 0.5 * before, (before, after)
    assert np.mean(history["loss"][-10:]) < np.mean(history["loss"][:10])
    assert model.training                                  # mode restored


def test_finetune_errors(setup):
    examples, tok, block = setup
    model = tiny_gpt(tok.vocab_size, block)
    with pytest.raises(ValueError, match="no examples"):
        finetune(model, tok, [], steps=1)
    with pytest.raises(ValueError, match="steps"):
        finetune(model, tok, examples, steps=0)
