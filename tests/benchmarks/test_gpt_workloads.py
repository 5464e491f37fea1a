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
                   if p.dim() == 2 and not name.startswith("wpe"))  # embeddings tied to the head count once
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
