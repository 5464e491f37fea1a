"""Run under mpiexec -n N: GPipe over N stages gives the single-process loss, gradients and updates."""
import sys

import numpy as np

import shendu as torch
import shendu.distributed as dist
from shendu import nn
from shendu.distributed.pipeline import PipelineStage, Schedule1F1B, ScheduleGPipe, split_gpt, split_sequential
from shendu.models import GPT, GPTConfig

dist.init_process_group("mpi")
r, n = dist.get_rank(), dist.get_world_size()
F = nn.functional
worst = 0.0


def lm_loss(logits, targets):
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


def check(make, split, x, y, loss_fn, steps=3, chunks=2, schedule_class=ScheduleGPipe):
    global worst
    ref = make()
    ref_opt = torch.optim.SGD(ref.parameters(), lr=0.5, momentum=0.9)
    ref_losses = []
    for _ in range(steps):
        ref_opt.zero_grad()
        out = ref(x)
        loss = loss_fn(out[0] if isinstance(out, tuple) else out, y)  # GPT returns (logits, loss)
        loss.backward()
        ref_losses.append(loss.item())
        ref_opt.step()
    model = make()
    stage = PipelineStage(split(model, n)[r], r, n)
    opt = torch.optim.SGD(list(dict.fromkeys(stage.submod.parameters())), lr=0.5, momentum=0.9)
    schedule = schedule_class(stage, chunks, loss_fn=loss_fn)
    got = []
    for _ in range(steps):
        opt.zero_grad()
        losses = []
        out = schedule.step(x if r == 0 else None, target=y if r == n - 1 else None, losses=losses)
        opt.step()
        if r == n - 1:
            assert len(losses) == chunks and out.shape[0] == x.shape[0]
            got.append(float(np.mean([loss.item() for loss in losses])))
    every = [None] * n
    dist.all_gather_object(every, [p.detach().numpy() for p in model.parameters()])
    ours = {id(p): p for p in stage.submod.parameters()}
    for p, q in zip(model.parameters(), ref.parameters()):  # this stage's parameters moved like the reference
        if id(p) in ours:
            err = float(np.abs(p.detach().numpy() - q.detach().numpy()).max())
            worst = max(worst, err)
            assert err < 3e-5, err
    if r == n - 1:
        err = float(np.abs(np.array(got) - np.array(ref_losses)).max())
        worst = max(worst, err)
        assert err < 3e-5, (got, ref_losses)
    # forward only (no loss_fn): the last stage returns the whole batch's output, as the model gives it
    out = schedule_class(stage, chunks).step(x if r == 0 else None)
    if r == n - 1:
        want = ref(x)
        want = want[0] if isinstance(want, tuple) else want
        np.testing.assert_allclose(out.numpy(), want.detach().numpy(), rtol=1e-4, atol=1e-5)
    else:
        assert out is None


rng = np.random.default_rng(0)
cfg = dict(vocab_size=17, block_size=8, n_layer=3, n_head=2, n_embd=16)
idx = torch.tensor(rng.integers(0, 17, (4, 8)))
tgt = torch.tensor(rng.integers(0, 17, (4, 8)))
for extra, schedule_class in [({}, ScheduleGPipe), ({}, Schedule1F1B),
                              ({"pos": "rope", "tie_weights": False}, ScheduleGPipe)]:
    def make_gpt(extra=extra):
        torch.manual_seed(0)
        return GPT(GPTConfig(**cfg, **extra))
    check(make_gpt, split_gpt, idx, tgt, lm_loss, chunks=4 if schedule_class is Schedule1F1B else 2,
          schedule_class=schedule_class)


def make_mlp():
    torch.manual_seed(1)
    return nn.Sequential(nn.Linear(5, 12), nn.Tanh(), nn.Linear(12, 12), nn.ReLU(), nn.Linear(12, 3))


x = torch.tensor(rng.standard_normal((6, 5)).astype(np.float32))
y = torch.tensor(rng.standard_normal((6, 3)).astype(np.float32))
check(make_mlp, split_sequential, x, y, F.mse_loss, chunks=3, schedule_class=Schedule1F1B)
if r == n - 1:
    print(f"pipeline max error (losses and parameters) vs single process: {worst:.3g}")
print(f"rank {r}/{n} pipeline OK")
sys.stdout.flush()
