"""Run under mpiexec -n N: DDP + ZeroRedundancyOptimizer(Adam) == single-process Adam; state sharded; resume."""
import os
import sys
import tempfile

import numpy as np

import shendu as torch
import shendu.distributed as dist
from shendu import nn
from shendu.distributed.optim import ZeroRedundancyOptimizer
from shendu.nn.parallel import DistributedDataParallel as DDP

dist.init_process_group("mpi")
r, n = dist.get_rank(), dist.get_world_size()
rng = np.random.default_rng(1)
X = torch.tensor(rng.standard_normal((n * 4, 8)).astype(np.float32))
Y = torch.tensor(rng.standard_normal((n * 4, 3)).astype(np.float32))
mine = slice(r * 4, (r + 1) * 4)


def make_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 32), nn.GELU(), nn.Linear(32, 16), nn.Tanh(), nn.Linear(16, 3))


def train(model, opt, steps, x, y, sched=None):
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.mse_loss(model(x), y).backward()
        opt.step()
        if sched is not None:
            sched.step()


ref = make_model()
ref_opt = torch.optim.Adam(ref.parameters(), lr=0.01, weight_decay=0.01)
ref_sched = torch.optim.lr_scheduler.StepLR(ref_opt, step_size=2, gamma=0.5)
train(ref, ref_opt, 4, X, Y, ref_sched)

model = DDP(make_model())
zero = ZeroRedundancyOptimizer(model.parameters(), torch.optim.Adam, lr=0.01, weight_decay=0.01)
sched = torch.optim.lr_scheduler.StepLR(zero, step_size=2, gamma=0.5)
train(model, zero, 4, X[mine], Y[mine], sched)
worst = max(float(np.abs(p.detach().numpy() - q.detach().numpy()).max())
            for p, q in zip(model.module.parameters(), ref.parameters()))
assert worst < 2e-5, worst
sizes = [None] * n
dist.all_gather_object(sizes, zero.local_state_bytes())
plain = sum(v._data.nbytes for s in ref_opt.state.values() for v in s.values() if isinstance(v, torch.Tensor))
assert sum(sizes) == plain and max(sizes) < plain * (0.75 if n > 1 else 1.01), (sizes, plain)
owned = [None] * n
dist.all_gather_object(owned, sorted(zero._local_indices()))
assert sorted(i for o in owned for i in o) == list(range(6))  # every parameter has exactly one owner

# checkpoint written by rank 0 (consolidated), loaded on every rank into a plain Adam and a fresh ZeRO
folder = [tempfile.mkdtemp() if r == 0 else None]
dist.broadcast_object_list(folder)
path = os.path.join(folder[0], "ckpt.safetensors")
dist.save_checkpoint(path, model=model, optimizer=zero, epoch=4)
ref_state = ref_opt.state_dict()
plain_model, full = make_model(), None
plain_opt = torch.optim.Adam(plain_model.parameters(), lr=0.01, weight_decay=0.01)
ckpt = dist.load_checkpoint(path, model=plain_model, optimizer=plain_opt)
assert ckpt["epoch"] == 4 and plain_opt.param_groups[0]["lr"] == ref_opt.param_groups[0]["lr"]
for i, s in ref_state["state"].items():
    for k, v in s.items():
        np.testing.assert_allclose(np.asarray(plain_opt.state_dict()["state"][i][k]), np.asarray(v), rtol=1e-5,
                                   atol=1e-6)
model2 = DDP(make_model())
zero2 = ZeroRedundancyOptimizer(model2.parameters(), torch.optim.Adam, lr=0.01, weight_decay=0.01)
dist.load_checkpoint(path, model=model2, optimizer=zero2)
train(model2, zero2, 2, X[mine], Y[mine])
train(ref, ref_opt, 2, X, Y)
resumed = max(float(np.abs(p.detach().numpy() - q.detach().numpy()).max())
              for p, q in zip(model2.module.parameters(), ref.parameters()))
assert resumed < 2e-5, resumed
if r == 0:
    print(f"ZeRO-1 max error vs Adam: {worst:.3g}; optimizer state bytes per rank {sizes} vs plain {plain}")
print(f"rank {r}/{n} zero OK")
sys.stdout.flush()
