"""shendu.utils.flop_counter.FlopCounterMode: PyTorch's counts for linear layers, convolutions and batched
matmuls (forward and backward), attention by PyTorch's formula, nothing counted outside the context."""
import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode as TorchCounter

import shendu as sd
from shendu.autograd.function import Function
from shendu.utils.flop_counter import FlopCounterMode


def count(fn):
    with FlopCounterMode(display=False) as c:
        fn()
    return c.get_total_flops()


def torch_count(fn):
    with TorchCounter(display=False) as c:
        fn()
    return c.get_total_flops()


def test_mlp_conv_and_matmul_equal_torch():
    x = np.random.default_rng(0).standard_normal((5, 6)).astype(np.float32)
    m = sd.nn.Sequential(sd.nn.Linear(6, 16), sd.nn.ReLU(), sd.nn.Linear(16, 3))
    t = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
    assert count(lambda: m(sd.tensor(x)).sum().backward()) == torch_count(lambda: t(torch.tensor(x)).sum().backward())
    assert count(lambda: m(sd.tensor(x))) == torch_count(lambda: t(torch.tensor(x)))   # forward only
    img = np.random.default_rng(1).standard_normal((2, 4, 9, 9)).astype(np.float32)
    for kw in (dict(padding=1), dict(stride=2)):
        c, ct = sd.nn.Conv2d(4, 8, 3, **kw), torch.nn.Conv2d(4, 8, 3, **kw)
        assert count(lambda: c(sd.tensor(img)).sum().backward()) == \
            torch_count(lambda: ct(torch.tensor(img)).sum().backward())
    # groups: the forward as torch counts it (its backward count for grouped convolutions adds an input
    # gradient the input does not need, depending on the stride; here each needed gradient is one forward)
    c, ct = sd.nn.Conv2d(4, 8, 3, groups=2), torch.nn.Conv2d(4, 8, 3, groups=2)
    assert count(lambda: c(sd.tensor(img))) == torch_count(lambda: ct(torch.tensor(img))) == 2 * 2 * 8 * 49 * 18
    assert count(lambda: c(sd.tensor(img)).sum().backward()) == 2 * 2 * 2 * 8 * 49 * 18
    a = np.random.default_rng(2).standard_normal((4, 1, 3, 5)).astype(np.float32)
    b = np.random.default_rng(3).standard_normal((6, 5, 2)).astype(np.float32)
    sa, sb = sd.tensor(a, requires_grad=True), sd.tensor(b)
    ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b)
    assert count(lambda: (sa @ sb).sum().backward()) == torch_count(lambda: (ta @ tb).sum().backward())


def test_attention_follows_torch_formula():
    q, k, v = (sd.randn(2, 3, L, 4, requires_grad=True) for L in (5, 7, 7))
    forward = 4 * 2 * 3 * 5 * 7 * 4
    assert count(lambda: sd.nn.functional.scaled_dot_product_attention(q, k, v)) == forward
    assert count(lambda: sd.nn.functional.scaled_dot_product_attention(q, k, v).sum().backward()) == 3 * forward


def test_the_context_restores_everything_and_custom_mapping():
    apply = Function.__dict__["apply"]
    from shendu.ops.linalg import Linear
    rule = Linear.__dict__["grad_arrays"]
    try:
        with FlopCounterMode(display=False):
            raise KeyError("boom")
    except KeyError:
        pass
    assert Function.__dict__["apply"] is apply and Linear.__dict__["grad_arrays"] is rule
    from shendu.ops.elementwise import Sigmoid
    with FlopCounterMode(display=False, custom_mapping={Sigmoid: lambda ctx, args, out: out.numel()}) as c:
        sd.randn(10).sigmoid()
    assert c.get_flop_counts() == {"Global": {"Sigmoid": 10}}


def test_table_display(capsys):
    with FlopCounterMode():
        sd.nn.Linear(4, 4)(sd.randn(2, 4))
    out = capsys.readouterr().out
    assert "linear" in out and "total" in out
