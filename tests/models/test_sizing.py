"""shendu.models.sizing: parameter counts equal built models', FLOPs equal FlopCounterMode's count of a real
training step, GPT-2's published size, memory arithmetic, and `shendu size` on the command line."""
import numpy as np
import pytest

import shendu as sd
from shendu.cli import main
from shendu.models import GPT, GPTConfig
from shendu.models.sizing import PRESETS, count_parameters, load_config, model_size
from shendu.utils.flop_counter import FlopCounterMode

CONFIGS = [dict(), dict(bias=False, tie_weights=False, mlp="gelu_tanh"),
           dict(pos="rope", norm="rmsnorm", mlp="swiglu", n_kv_head=1),
           dict(pos="sinusoidal", n_head=4, n_kv_head=2)]


def small(**opts):
    c = dict(vocab_size=37, block_size=16, n_layer=2, n_head=2, n_embd=24)
    c.update(opts)
    return GPTConfig(**c)


@pytest.mark.parametrize("opts", CONFIGS)
def test_parameters_equal_the_built_model(opts):
    config = small(**opts)
    model = GPT(config)
    assert count_parameters(config) == sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())


def test_gpt2_sizes_are_the_published_ones():
    assert model_size(PRESETS["gpt2"]).parameters == 124_439_808          # Hugging Face's gpt2 (tied head)
    assert round(model_size(PRESETS["gpt2-xl"]).parameters / 1e9, 2) == 1.56


@pytest.mark.parametrize("opts", CONFIGS)
def test_step_flops_equal_the_counted_ones(opts):
    config = small(**opts)
    sd.manual_seed(0)
    model = GPT(config)
    ids = np.random.default_rng(0).integers(0, 37, (3, 13))
    with FlopCounterMode(display=False) as counter:
        _, loss = model(sd.tensor(ids[:, :-1]), sd.tensor(ids[:, 1:]))
        loss.backward()
    report = model_size(config, batch=3, context=12)
    assert counter.get_total_flops() == report.flops_per_step
    with FlopCounterMode(display=False) as counter, sd.no_grad():
        model(sd.tensor(ids[:, :-1]))
    assert counter.get_total_flops() == model_size(config, batch=3, context=12, training=False).flops_per_step


def test_six_n_t_rule_and_memory_arithmetic():
    r = model_size(PRESETS["gpt2"], batch=4, context=256)
    assert r.six_n_t == 6 * r.matmul_parameters * 4 * 256
    assert 1.0 < r.flops_per_step / r.six_n_t < 1.1        # attention at context 256 adds a few percent
    assert r.parameter_bytes == r.gradient_bytes == 4 * r.parameters
    assert r.optimizer_bytes == 2 * r.parameter_bytes
    half = model_size(PRESETS["gpt2"], batch=4, context=256, dtype="bfloat16")
    assert half.parameter_bytes * 2 == r.parameter_bytes and half.activation_bytes * 2 == r.activation_bytes
    ckpt = model_size(PRESETS["gpt2"], batch=4, context=256, checkpointing=True)
    assert ckpt.activation_bytes < r.activation_bytes / 2    # GPT-2's 50257-way logits stay
    inf = model_size(PRESETS["gpt2"], batch=2, context=1024, training=False)
    assert inf.gradient_bytes == inf.optimizer_bytes == inf.activation_bytes == 0
    assert inf.kv_cache_bytes == 2 * 12 * 2 * 1024 * 768 * 4


def test_configs_from_run_folders_and_errors(tmp_path):
    (tmp_path / "model.json").write_text('{"vocab_size": 50, "block_size": 8, "n_layer": 1, "n_head": 1, '
                                         '"n_embd": 8, "unrelated": 1}')
    assert load_config(tmp_path).vocab_size == 50
    with pytest.raises(ValueError, match="unknown model 'gpt5'"):
        load_config("gpt5")
    with pytest.raises(ValueError, match="context <= block_size=1024"):
        model_size(PRESETS["gpt2"], context=2048)
    with pytest.raises(ValueError, match="dtype must be one of"):
        model_size(PRESETS["gpt2"], dtype="int8")


def test_shendu_size_command(capsys):
    assert main(["size", "--model", "gpt2-xl", "--batch", "8", "--context", "1024"]) == 0
    out = capsys.readouterr().out
    assert "1,557,611,200" in out and "optimizer state" in out and "activations" in out
    assert main(["size", "--model", "llama-7b", "--inference", "--dtype", "bfloat16"]) == 0
    assert "KV cache" in capsys.readouterr().out
    assert main(["size", "--model", "gpt9"]) == 2
    assert capsys.readouterr().err.startswith("shendu size: error: unknown model 'gpt9'")
