"""The instruction-tuning recipe (shendu.train.sft_recipe, ``shendu train sft``): a tiny ``train gpt`` base,
grown vocabulary with the chat markers, response loss falling, a run folder ``load_gpt`` reads, usage errors."""
import numpy as np
import pytest

from shendu.text.instructions import load_instructions, special_tokens
from shendu.train.gpt import load_gpt, train_gpt
from shendu.train.sft_recipe import SFTConfig, resize_token_embeddings, run_sft, sft

TEXT = "".join(f"def f{i % 7}(x):\n    return x * {i % 5} + {i % 3}\n\n" for i in range(300))
TINY = dict(n_layer=1, n_head=2, n_embd=16, block_size=64, batch_size=4, eval_batches=2, warmup_steps=2,
            sample_length=0, verbose=0, plot=False, epochs=1, steps_per_epoch=5, vocab_size=300)


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    root = tmp_path_factory.mktemp("sft")
    data = root / "code.txt"
    data.write_text(TEXT)
    train_gpt(data, root / "base", **TINY)
    return root / "base"


def test_resize_keeps_rows_and_ties(base):
    model, _ = load_gpt(base)
    grown = resize_token_embeddings(model, model.config.vocab_size + 3)
    old = model.transformer.wte.weight.detach().numpy()
    new = grown.transformer.wte.weight.detach().numpy()
    assert new.shape == (old.shape[0] + 3, old.shape[1]) and new.dtype == old.dtype
    np.testing.assert_array_equal(new[:len(old)], old)
    np.testing.assert_allclose(new[len(old):], np.broadcast_to(old.mean(0), (3, old.shape[1])), rtol=1e-6)
    assert grown.lm_head.weight is grown.transformer.wte.weight            # still tied
    x = np.array([[1, 2, 3]])
    import shendu as sd
    with sd.no_grad():
        a, _ = model(sd.tensor(x))
        b, _ = grown(sd.tensor(x))
    np.testing.assert_allclose(b.numpy()[..., :len(old)], a.numpy(), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="new_vocab_size"):
        resize_token_embeddings(model, 5)


def test_sft_run_folder_loads_with_markers_and_loss_falls(base, tmp_path):
    _, base_tok = load_gpt(base)
    out = tmp_path / "chat"
    result = sft(base, out, steps=30, lr=3e-3, batch_size=8, limit=40, seed=0, verbose=0)
    assert result["val_loss_after"] < result["val_loss_before"] - 0.3
    history = result["history"]["loss"]
    assert np.mean(history[-5:]) < np.mean(history[:5])
    model, tok = load_gpt(out)
    n = base_tok.vocab_size
    assert [tok.token_to_id(s) for s in special_tokens()] == [n, n + 1, n + 2]
    assert all(tok.get_vocab()[t] == i for t, i in base_tok.get_vocab().items())   # old ids unchanged
    assert model.config.vocab_size == tok.vocab_size == n + 3
    assert (out / "sft.json").exists() and (out / "last.safetensors").exists()
    # the saved model is the fine-tuned one: same validation response loss
    from shendu.text.instructions import split_instructions
    from shendu.train.sft import response_loss
    _, val = split_instructions(load_instructions(limit=40, seed=0), 0.1, seed=0)
    assert abs(response_loss(model, tok, val) - result["val_loss_after"]) < 1e-4


def test_run_sft_usage_errors(base, tmp_path):
    with pytest.raises(ValueError, match="--base is required"):
        run_sft(SFTConfig(), out=tmp_path / "a")
    with pytest.raises(ValueError, match="not a 'shendu train gpt' run folder"):
        run_sft(SFTConfig(base=str(tmp_path)), out=tmp_path / "b")
    with pytest.raises(ValueError, match="its own folder"):
        run_sft(SFTConfig(base=str(base), steps=1), out=base)


def test_cli_missing_base_is_one_line_exit_2(tmp_path, capsys):
    from shendu.cli import main
    assert main(["train", "sft", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--base is required" in err[0]
