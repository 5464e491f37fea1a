"""benchmarks W4/W5: the PyTorch reference is the model it claims to be, and its KV cache changes nothing."""
import pytest

torch = pytest.importorskip("torch")

import importlib  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = str(Path(__file__).resolve().parents[2])


def _workloads():
    """benchmarks.workloads.w4_gpt and w5_generate from the repository root: tests/ is on sys.path (conftest),
    where ``benchmarks`` would name tests/benchmarks, so the root goes first for the import and is taken back."""
    saved = {k: sys.modules.pop(k) for k in list(sys.modules) if k == "benchmarks" or k.startswith("benchmarks.")}
    sys.path.insert(0, ROOT)
    try:
        return (importlib.import_module("benchmarks.workloads.w4_gpt"),
                importlib.import_module("benchmarks.workloads.w5_generate"))
    finally:
        sys.path.remove(ROOT)
        for k in [k for k in sys.modules if k == "benchmarks" or k.startswith("benchmarks.")]:
            del sys.modules[k]
        sys.modules.update(saved)


w4_gpt, w5_generate = _workloads()


def test_w4_flops_is_six_n_per_token_plus_attention():
    model = w4_gpt.torch_gpt()
    n_matmul = sum(p.numel() for name, p in model.named_parameters()
                   if p.dim() == 2 and "wpe" not in name)  # embeddings tied to the head count once
    tokens = w4_gpt.BATCH * w4_gpt.BLOCK
    attention = 3 * tokens * w4_gpt.LAYERS * 4 * w4_gpt.BLOCK * w4_gpt.EMBD
    assert w4_gpt.flops() == 6 * n_matmul * tokens + attention


def test_w5_torch_kv_cache_generates_what_full_recomputation_does():
    torch.manual_seed(0)
    model = w4_gpt.torch_gpt(w5_generate.BLOCK).eval()
    idx = torch.tensor(w5_generate._prompt())
    with torch.no_grad():
        cached = w5_generate.torch_generate(model, idx, 12)
        full = idx
        for _ in range(12):
            logits, _, _ = model(full)
            full = torch.cat([full, logits[:, -1].argmax(-1, keepdim=True)], 1)
    assert cached.shape == (1, w5_generate.PROMPT + 12)
    assert torch.equal(cached, full)


def test_w4_torch_step_lowers_the_loss():
    torch.manual_seed(0)
    model = w4_gpt.torch_gpt()
    x, y = (torch.tensor(a) for a in w4_gpt._data())
    before = model(x, y)[1].item()
    step = w4_gpt._step(torch, model, x, y, lambda out: out[1])
    for _ in range(3):
        step()
    assert model(x, y)[1].item() < before


def _shendu_twin(torch_model, block_size):
    """shendu's GPT for the same architecture, with the PyTorch model's weights (the same parameter names)."""
    sd = pytest.importorskip("shendu")
    try:
        model = w4_gpt.shendu_config(block_size)
    except RuntimeError as e:  # shendu.models.gpt not there yet
        pytest.skip(str(e))
    state = {k: sd.tensor(v.detach().numpy().copy()) for k, v in torch_model.state_dict().items()}
    model.load_state_dict(state)
    return sd, model


def test_both_sides_compute_the_same_model():
    torch.manual_seed(0)
    ref = w4_gpt.torch_gpt()
    sd, model = _shendu_twin(ref, w4_gpt.BLOCK)
    x, y = w4_gpt._data()
    want = ref(torch.tensor(x), torch.tensor(y))[1].item()
    got = model(sd.tensor(x), sd.tensor(y))[1].item()
    assert got == pytest.approx(want, rel=1e-4)


def test_both_sides_generate_the_same_greedy_tokens():
    torch.manual_seed(1)
    ref = w4_gpt.torch_gpt(w5_generate.BLOCK).eval()
    sd, model = _shendu_twin(ref, w5_generate.BLOCK)
    model.eval()
    prompt = w5_generate._prompt()
    with torch.no_grad():
        want = w5_generate.torch_generate(ref, torch.tensor(prompt), 24).numpy()
    with sd.no_grad():
        got = model.generate(sd.tensor(prompt), 24, temperature=0.0, use_cache=True)
    assert (got.numpy() == want).all()
