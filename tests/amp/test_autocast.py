"""shendu.autocast against torch.autocast on the CPU: each op category's output dtype for the same ops,
values close to PyTorch's bfloat16 results, float32 gradients for float32 parameters, nesting, enabled=False,
the state after an exception, the decorator form, the parameter cache, and CUDA's absence."""
import numpy as np
import pytest
import torch

import shendu as sd
import shendu.nn.functional as F

RNG = np.random.default_rng(0)


def pair(*shape, dtype=np.float32):
    a = RNG.standard_normal(shape).astype(dtype)
    return sd.tensor(a), torch.tensor(a)


A, TA = pair(4, 6)
B, TB = pair(6, 5)
C3, TC3 = pair(2, 4, 6)
D3, TD3 = pair(2, 6, 3)
IMG, TIMG = pair(2, 3, 8, 8)
W, TW = pair(5, 3, 3, 3)
SEQ, TSEQ = pair(2, 3, 10)
W1, TW1 = pair(4, 3, 3)
Q, TQ = pair(2, 2, 5, 4)
BIAS, TBIAS = pair(4, 5)
TARGET = np.array([1, 0, 3, 2])

# (name, shendu call, torch call)
CASES = [
    ("matmul", lambda: A @ B, lambda: TA @ TB),
    ("mm", lambda: sd.mm(A, B), lambda: torch.mm(TA, TB)),
    ("bmm", lambda: sd.bmm(C3, D3), lambda: torch.bmm(TC3, TD3)),
    ("addmm", lambda: sd.addmm(BIAS, A, B), lambda: torch.addmm(TBIAS, TA, TB)),
    ("baddbmm", lambda: sd.baddbmm(sd.zeros(2, 4, 3), C3, D3), lambda: torch.baddbmm(torch.zeros(2, 4, 3), TC3, TD3)),
    ("linear", lambda: F.linear(A, B.T), lambda: torch.nn.functional.linear(TA, TB.T)),
    ("conv2d", lambda: F.conv2d(IMG, W, padding=1), lambda: torch.nn.functional.conv2d(TIMG, TW, padding=1)),
    ("conv1d", lambda: F.conv1d(SEQ, W1), lambda: torch.nn.functional.conv1d(TSEQ, TW1)),
    ("conv_transpose2d", lambda: F.conv_transpose2d(IMG, W.transpose(0, 1)),
     lambda: torch.nn.functional.conv_transpose2d(TIMG, TW.transpose(0, 1))),
    ("sdpa", lambda: F.scaled_dot_product_attention(Q, Q, Q), lambda: torch.nn.functional.scaled_dot_product_attention(
        TQ, TQ, TQ)),
    ("prelu", lambda: F.prelu(IMG, sd.tensor([0.25, 0.1, 0.3])),
     lambda: torch.nn.functional.prelu(TIMG, torch.tensor([0.25, 0.1, 0.3]))),
    # left in the input's dtype on the CPU
    ("mv", lambda: sd.mv(A, B[:, 0]), lambda: torch.mv(TA, TB[:, 0])),
    ("dot", lambda: sd.dot(B[:, 0], B[:, 1]), lambda: torch.dot(TB[:, 0], TB[:, 1])),
    ("softmax", lambda: F.softmax(A, -1), lambda: torch.softmax(TA, -1)),
    ("layer_norm", lambda: F.layer_norm(A, (6,)), lambda: torch.nn.functional.layer_norm(TA, (6,))),
    ("exp", lambda: A.exp(), lambda: TA.exp()),
    ("relu", lambda: F.relu(A), lambda: torch.relu(TA)),
]


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
@pytest.mark.parametrize("name,ours,theirs", CASES, ids=[c[0] for c in CASES])
def test_output_dtypes_and_values_match_torch(name, ours, theirs, dtype):
    with sd.autocast("cpu", dtype=getattr(sd, dtype)):
        got = ours()
    with torch.autocast("cpu", dtype=getattr(torch, dtype)):
        want = theirs()
    assert str(got.dtype).split(".")[-1] == str(want.dtype).split(".")[-1], (got.dtype, want.dtype)
    # both round to the low precision; the sums inside round at different points (convolutions most)
    np.testing.assert_allclose(got.float().numpy(), want.float().numpy(), rtol=3e-2, atol=6e-2)


@pytest.mark.parametrize("loss,args", [
    ("cross_entropy", lambda x: (x, TARGET)), ("mse_loss", lambda x: (x, x * 0.5)),
    ("l1_loss", lambda x: (x, x * 0.5)), ("binary_cross_entropy_with_logits", lambda x: (x, (x > 0) * 1.0)),
    ("nll_loss", lambda x: (x, TARGET)), ("smooth_l1_loss", lambda x: (x, x * 0.5))])
def test_losses_run_in_float32_like_torch(loss, args):
    logits = A[:, :5] @ B[:5]            # (4, 5)
    tl = TA[:, :5] @ TB[:5]
    with sd.autocast("cpu"):
        low = logits.to(sd.bfloat16)
        a = [sd.tensor(t) if isinstance(t, np.ndarray) else t for t in args(low)]
        got = getattr(F, loss)(*a)
    with torch.autocast("cpu"):
        tlow = tl.bfloat16()
        b = [torch.tensor(t) if isinstance(t, np.ndarray) else t for t in args(tlow)]
        want = getattr(torch.nn.functional, loss)(*b)
    assert got.dtype == sd.float32 and want.dtype == torch.float32
    np.testing.assert_allclose(float(got), float(want), rtol=1e-5)


def test_cat_and_stack_promote_like_torch():
    with sd.autocast("cpu"):
        got = sd.cat([A, A.to(sd.bfloat16)]), sd.stack([A.to(sd.bfloat16), A.to(sd.bfloat16)])
    with torch.autocast("cpu"):
        want = torch.cat([TA, TA.bfloat16()]), torch.stack([TA.bfloat16(), TA.bfloat16()])
    assert [str(g.dtype).split(".")[-1] for g in got] == [str(w.dtype).split(".")[-1] for w in want]


def test_float64_is_never_cast():
    x = sd.randn(3, 3, dtype=sd.float64)
    with sd.autocast("cpu"):
        assert (x @ x).dtype == sd.float64


def test_gradients_flow_back_in_float32_and_match_torch():
    sd.manual_seed(0)
    model = sd.nn.Sequential(sd.nn.Linear(6, 8), sd.nn.ReLU(), sd.nn.Linear(8, 4))
    ref = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.ReLU(), torch.nn.Linear(8, 4))
    with torch.no_grad():
        for p, q in zip(model.parameters(), ref.parameters()):
            q.copy_(torch.tensor(p.detach().numpy()))
    with sd.autocast("cpu"):
        out = model(A)
        loss = F.cross_entropy(out, sd.tensor(TARGET))
    loss.backward()
    with torch.autocast("cpu"):
        tloss = torch.nn.functional.cross_entropy(ref(TA), torch.tensor(TARGET))
    tloss.backward()
    assert out.dtype == sd.bfloat16 and loss.dtype == sd.float32
    for p, q in zip(model.parameters(), ref.parameters()):
        assert p.grad.dtype == sd.float32
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=5e-2, atol=5e-3)


def test_nesting_enabled_false_exceptions_and_the_decorator():
    assert not sd.is_autocast_enabled("cpu")
    with sd.autocast("cpu"):
        assert sd.is_autocast_enabled("cpu") and sd.get_autocast_dtype("cpu") == sd.bfloat16
        with sd.autocast("cpu", enabled=False):
            assert (A @ B).dtype == sd.float32
        with sd.autocast("cpu", dtype=sd.float16):
            assert (A @ B).dtype == sd.float16
        assert (A @ B).dtype == sd.bfloat16
    with pytest.raises(KeyError), sd.autocast("cpu"):
        raise KeyError("boom")
    assert not sd.is_autocast_enabled("cpu") and (A @ B).dtype == sd.float32

    @sd.autocast("cpu")
    def f(x, y):
        return x @ y
    assert f(A, B).dtype == sd.bfloat16 and (A @ B).dtype == sd.float32


def test_a_parameter_is_cast_once_per_block():
    layer = sd.nn.Linear(6, 3)
    with sd.autocast("cpu"):
        a, b = layer(A), layer(A)
        assert a.grad_fn.next_functions[1][0] is b.grad_fn.next_functions[1][0]    # the same cast weight
        with sd.no_grad():
            layer.weight.mul_(2)                                                   # a new version: cast again
        c = layer(A)
    np.testing.assert_allclose(c.float().detach().numpy(), F.linear(A, layer.weight, layer.bias).detach().numpy(),
                               rtol=3e-2, atol=3e-2)


def test_cuda_without_a_gpu_and_bad_arguments():
    with pytest.warns(UserWarning, match="CUDA is not available"):
        with sd.autocast("cuda"):
            assert (A @ B).dtype == sd.float32
    with pytest.raises(RuntimeError, match="unsupported device_type 'tpu'"):
        sd.autocast("tpu")
    with pytest.warns(UserWarning, match="not supported. Disabling"):
        with sd.autocast("cpu", dtype=sd.float64):
            assert (A @ B).dtype == sd.float32
