"""Memory and precision recipes on the CPU: the "Automatic Mixed Precision" recipe in its CPU form
(torch.autocast("cpu", dtype=torch.bfloat16) around the forward and loss, backward and step outside,
float32 master weights), which ops autocast runs in bfloat16 and which it keeps in float32, activation
checkpointing of a deep MLP with torch.utils.checkpoint (per block, and checkpoint_sequential) giving
the same gradients as the plain model, and counting the FLOPs of a training step with
torch.utils.flop_counter.FlopCounterMode. Weights are copied in from a fixed NumPy draw, so every figure
except the bfloat16 training curve equals PyTorch's.
"""
import numpy as np

import shendu as torch
import shendu.nn as nn
import shendu.nn.functional as F
from shendu.utils.checkpoint import checkpoint, checkpoint_sequential
from shendu.utils.flop_counter import FlopCounterMode


def fixed_init(model, seed=0):
    rng = np.random.RandomState(seed)
    with torch.no_grad():
        for p in model.parameters():
            bound = 1.0 / np.sqrt(p.shape[-1]) if p.dim() > 1 else 0.1
            p.copy_(torch.from_numpy(rng.uniform(-bound, bound, tuple(p.shape)).astype(np.float32)))
    return model


class Block(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.fc1 = nn.Linear(width, 2 * width)
        self.fc2 = nn.Linear(2 * width, width)

    def forward(self, x):
        return x + self.fc2(F.gelu(self.fc1(self.norm(x))))


class DeepMLP(nn.Module):
    def __init__(self, in_features=16, width=32, depth=8, classes=4, use_checkpoint=False):
        super().__init__()
        self.inp = nn.Linear(in_features, width)
        self.blocks = nn.ModuleList([Block(width) for _ in range(depth)])
        self.head = nn.Linear(width, classes)
        self.use_checkpoint = use_checkpoint

    def forward(self, x):
        x = torch.relu(self.inp(x))
        for block in self.blocks:
            x = checkpoint(block, x, use_reentrant=False) if self.use_checkpoint else block(x)
        return self.head(x)


def data(n=256, in_features=16, classes=4):
    rng = np.random.RandomState(1)
    centers = rng.randn(classes, in_features) * 1.5
    labels = rng.randint(0, classes, n)
    x = centers[labels] + rng.randn(n, in_features)
    return torch.tensor(x, dtype=torch.float32), torch.tensor(labels, dtype=torch.int64)


def dtype_name(t):
    return {torch.float32: "float32", torch.bfloat16: "bfloat16", torch.float64: "float64"}[t.dtype]


def autocast_dtypes(x):
    lin = fixed_init(nn.Linear(16, 8))
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        h = lin(x)  # a product: bfloat16
        mm = x @ x.T  # bfloat16
        act = torch.relu(h)  # follows its input
        added = h + 1.0
        as_float = h.float()  # explicit casts are honoured
        summed = h.sum()
        target = torch.zeros(x.shape[0], dtype=torch.int64)
        ce = F.cross_entropy(as_float, target)
    outside = lin(x)  # back to float32 outside the region
    nested = []
    with torch.autocast("cpu", dtype=torch.bfloat16):
        with torch.autocast("cpu", enabled=False):  # a float32 island inside
            nested.append(dtype_name(lin(x)))
        nested.append(dtype_name(lin(x)))
    return {"linear": dtype_name(h), "matmul": dtype_name(mm), "relu": dtype_name(act), "add": dtype_name(added),
            "float": dtype_name(as_float), "sum": dtype_name(summed), "cross_entropy": dtype_name(ce),
            "outside": dtype_name(outside), "nested": nested, "weight_dtype": dtype_name(lin.weight),
            "bf16_close": torch.allclose(h.float(), outside, rtol=2e-2, atol=2e-2)}


def amp_training(x, y, epochs=40):
    """The AMP recipe's loop on the CPU; bfloat16 needs no GradScaler."""
    results = {}
    for name, use_amp in (("float32", False), ("bfloat16", True)):
        net = fixed_init(DeepMLP(depth=4))
        opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
        losses = []
        for _epoch in range(epochs):
            with torch.autocast(device_type="cpu", dtype=torch.bfloat16, enabled=use_amp):
                output = net(x)
                loss = F.cross_entropy(output, y)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            losses.append(loss.item())
        with torch.no_grad():
            accuracy = (net(x).argmax(1) == y).float().mean().item()
        results[name] = {"losses": losses[::10] + [losses[-1]], "accuracy": accuracy,
                         "loss_dtype": dtype_name(loss), "grad_free": all(p.grad is None for p in net.parameters())}
    return results


def checkpointing(x, y):
    plain = fixed_init(DeepMLP())
    ckpt = fixed_init(DeepMLP(use_checkpoint=True))
    seq = fixed_init(DeepMLP())
    F.cross_entropy(plain(x), y).backward()
    F.cross_entropy(ckpt(x), y).backward()
    h = checkpoint_sequential(nn.Sequential(*seq.blocks), 4, torch.relu(seq.inp(x)), use_reentrant=False)
    loss = F.cross_entropy(seq.head(h), y)
    loss.backward()

    def max_grad_diff(a, b):
        return max((pa.grad - pb.grad).abs().max().item() for pa, pb in zip(a.parameters(), b.parameters()))

    x_req = torch.relu(plain.inp(x[:8])).detach().requires_grad_(True)  # (8, width)
    block = plain.blocks[0]
    out = checkpoint(block, x_req, use_reentrant=False)
    (grad_x,) = torch.autograd.grad(out, x_req, torch.ones_like(out))
    (grad_ref,) = torch.autograd.grad(block(x_req), x_req, torch.ones_like(out))
    return {"loss": loss.item(), "per_block_diff": max_grad_diff(plain, ckpt) < 1e-6,
            "sequential_diff": max_grad_diff(plain, seq) < 1e-6, "input_grad_equal": torch.allclose(grad_x, grad_ref),
            "grad_norm": torch.nn.utils.clip_grad_norm_(plain.parameters(), float("inf")).item()}


def flops(x, y):
    net = fixed_init(DeepMLP(depth=2))
    with FlopCounterMode(display=False) as forward_counter:
        out = net(x)
    with FlopCounterMode(display=False) as step_counter:
        F.cross_entropy(net(x), y).backward()
    width, n = 32, x.shape[0]
    by_hand = 2 * n * (16 * width + 2 * (width * 2 * width + 2 * width * width) + width * 4)
    return {"forward": forward_counter.get_total_flops(), "by_hand": by_hand,
            "training_step": step_counter.get_total_flops(), "out_shape": tuple(out.shape)}


def main():
    torch.manual_seed(0)
    x, y = data()
    amp = amp_training(x, y)
    return {"autocast": autocast_dtypes(x[:4]), "amp_float32": amp["float32"], "amp_bfloat16": amp["bfloat16"],
            "checkpoint": checkpointing(x, y), "flops": flops(x, y)}


if __name__ == "__main__":
    print(main())
