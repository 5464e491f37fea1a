"""shendu.models.gpt_decode: the array-level decoding step gives the module path's logits (every option,
left padding), generate through it gives the module path's tokens, and hooks send decoding back through
the modules."""
import numpy as np
import pytest

import shendu as sd
from shendu.models import GPT, GPTConfig
from shendu.models.gpt_decode import decode_step, fast_decoding

OPTIONS = [dict(), dict(bias=False, tie_weights=False, mlp="gelu_tanh"),
           dict(pos="rope", n_kv_head=2, norm="rmsnorm", mlp="swiglu"),
           dict(pos="sinusoidal", n_kv_head=1), dict(pos="rope", n_head=4, n_kv_head=2)]


def model_of(seed=0, **opts):
    sd.manual_seed(seed)
    c = dict(vocab_size=17, block_size=16, n_layer=2, n_head=2, n_embd=16)
    c.update(opts)
    model = GPT(GPTConfig(**c))
    for p in model.parameters():            # larger than GPT-2's init, so the layers' outputs differ a lot
        p.data.normal_(0, 0.3)
    return model.eval()


def hooked(model):
    """The same model decoding through its modules (a forward hook turns the array path off)."""
    model.transformer.h[0].register_forward_hook(lambda m, a, o: None)
    assert not fast_decoding(model)
    return model


@pytest.mark.parametrize("opts", OPTIONS)
def test_decode_step_equals_the_module_forward(opts):
    model = model_of(**opts)
    assert fast_decoding(model)
    idx = sd.tensor(np.random.default_rng(1).integers(0, 17, (3, 9)))
    cache_a, cache_b = model.new_cache(), model.new_cache()
    with sd.no_grad():
        model(idx[:, :5], cache=cache_a)
        model(idx[:, :5], cache=cache_b)
        for t in range(5, 9):
            ref = model(idx[:, t:t + 1], cache=cache_a, start_pos=t)[0][:, -1].numpy()   # (B, V)
            got = decode_step(model, idx.numpy()[:, t], cache_b, t)
            assert got.dtype == np.float32 and got.shape == (3, 17)
            np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
            assert cache_a.length == cache_b.length == t + 1
            for ka, kb in zip(cache_a.keys, cache_b.keys):
                np.testing.assert_allclose(kb[:, :, :t + 1], ka[:, :, :t + 1], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("opts", OPTIONS[:3])
def test_decode_step_with_left_padding(opts):
    model = model_of(**opts)
    ids = np.random.default_rng(2).integers(0, 17, (2, 8))
    mask = np.ones((2, 8), dtype=bool)
    mask[0, :3] = False                                      # row 0: 3 tokens of left padding
    cache_a, cache_b = model.new_cache(), model.new_cache()
    with sd.no_grad():
        model(sd.tensor(ids[:, :6]), cache=cache_a, attention_mask=sd.tensor(mask[:, :6]))
        model(sd.tensor(ids[:, :6]), cache=cache_b, attention_mask=sd.tensor(mask[:, :6]))
        for t in (6, 7):
            ref = model(sd.tensor(ids[:, t:t + 1]), cache=cache_a, start_pos=t,
                        attention_mask=sd.tensor(mask[:, :t + 1]))[0][:, -1].numpy()
            got = decode_step(model, ids[:, t], cache_b, t, mask[:, :t + 1])
            np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("opts", OPTIONS)
def test_generate_through_the_array_step_equals_the_modules(opts):
    prompt = sd.tensor(np.random.default_rng(3).integers(0, 17, (2, 4)))
    fast, slow = model_of(**opts), hooked(model_of(**opts))
    np.testing.assert_array_equal(fast.generate(prompt, 20, temperature=0.0).numpy(),   # 24 > 16: the window slides
                                  slow.generate(prompt, 20, temperature=0.0).numpy())
    kw = dict(temperature=0.9, top_k=8, repetition_penalty=1.2)
    np.testing.assert_array_equal(fast.generate(prompt, 10, generator=sd.Generator().manual_seed(5), **kw).numpy(),
                                  slow.generate(prompt, 10, generator=sd.Generator().manual_seed(5), **kw).numpy())
    mask = sd.tensor(np.array([[0, 1, 1, 1], [1, 1, 1, 1]], dtype=bool))
    np.testing.assert_array_equal(fast.generate(prompt, 8, temperature=0.0, attention_mask=mask).numpy(),
                                  slow.generate(prompt, 8, temperature=0.0, attention_mask=mask).numpy())


def test_a_hook_sees_every_decoding_step():
    model = model_of()
    calls = []
    model.lm_head.register_forward_hook(lambda m, a, o: calls.append(tuple(o.shape)))
    model.generate(sd.tensor([[1, 2, 3]]), 5, temperature=0.0)
    assert len(calls) == 5      # the prompt's forward, then one per further token, all through lm_head
