"""Run under mpiexec -n N: DDP training == single-process full-batch training (SGD-momentum and Adam)."""
import sys

import numpy as np

import shendu as torch
import shendu.distributed as dist
from shendu import nn
from shendu.nn.parallel import DistributedDataParallel as DDP

dist.init_process_group("gloo")
r, n = dist.get_rank(), dist.get_world_size()
STEPS, PER_RANK = 5, 4
data_rng = np.random.default_rng(0)
X = torch.tensor(data_rng.standard_normal((n * PER_RANK, 6)).astype(np.float32))
Y = torch.tensor(data_rng.standard_normal((n * PER_RANK, 2)).astype(np.float32))
mine = slice(r * PER_RANK, (r + 1) * PER_RANK)


def make_model(seed):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 2))


worst = 0.0
for name, make_opt in [("sgd-momentum", lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9)),
                       ("adam", lambda p: torch.optim.Adam(p, lr=0.01))]:
    ref = make_model(0)
    ref_opt = make_opt(ref.parameters())
    for _ in range(STEPS):
        ref_opt.zero_grad()
        nn.functional.mse_loss(ref(X), Y).backward()
        ref_opt.step()
    # a different init on the other ranks: DDP broadcasts rank 0's
    model = DDP(make_model(0 if r == 0 else 100 + r), bucket_cap_mb=0.0002)
    assert len(model._buckets) > 1
    assert list(model.state_dict()) == ["module." + k for k in model.module.state_dict()]
    opt = make_opt(model.parameters())
    for _ in range(STEPS):
        opt.zero_grad()
        nn.functional.mse_loss(model(X[mine]), Y[mine]).backward()
        opt.step()
    for (k, p), q in zip(model.module.named_parameters(), ref.parameters()):
        err = float(np.abs(p.detach().numpy() - q.detach().numpy()).max())
        worst = max(worst, err)
        assert err < 2e-5, (name, k, err)
        got = [torch.zeros_like(p) for _ in range(n)]
        dist.all_gather(got, p.detach())
        for g in got:  # every rank holds the same parameters, bit for bit
            np.testing.assert_array_equal(g.numpy(), p.detach().numpy())

# no_sync: accumulate one micro-batch locally, sync on the second: grads == full-batch grad of the sum
ref = make_model(1)
half = PER_RANK // 2
lo, hi = slice(r * PER_RANK, r * PER_RANK + half), slice(r * PER_RANK + half, (r + 1) * PER_RANK)
model = DDP(make_model(1))
with model.no_sync():
    nn.functional.mse_loss(model(X[lo]), Y[lo]).backward()
local = [p.grad.numpy().copy() for p in model.parameters()]
seen = [None] * n
dist.all_gather_object(seen, local[0])
assert n == 1 or not np.allclose(seen[0], seen[-1])  # not averaged inside no_sync
nn.functional.mse_loss(model(X[hi]), Y[hi]).backward()
lo_all = np.concatenate([np.arange(k * PER_RANK, k * PER_RANK + half) for k in range(n)])
hi_all = np.concatenate([np.arange(k * PER_RANK + half, (k + 1) * PER_RANK) for k in range(n)])
(nn.functional.mse_loss(ref(X[lo_all]), Y[lo_all]) + nn.functional.mse_loss(ref(X[hi_all]), Y[hi_all])).backward()
for p, q in zip(model.parameters(), ref.parameters()):
    np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-4, atol=1e-6)


# unused parameters: an error on the next forward without find_unused_parameters, handled with it
class Branchy(nn.Module):
    def __init__(self):
        super().__init__()
        self.used, self.unused = nn.Linear(3, 2), nn.Linear(3, 2)

    def forward(self, x):
        return self.used(x)


torch.manual_seed(0)
xb = torch.randn(4, 3)
m = DDP(Branchy())
m(xb).sum().backward()
try:
    m(xb)
    raise AssertionError("expected an error for the unused parameters")
except RuntimeError as e:
    assert "find_unused_parameters=True" in str(e)
m = DDP(Branchy(), find_unused_parameters=True)
for _ in range(2):
    m.zero_grad()
    m(xb * (r + 1)).sum().backward()
assert m.module.unused.weight.grad is None
np.testing.assert_allclose(m.module.used.weight.grad.numpy(),
                           (xb.sum(0, keepdim=True) * (n + 1) / 2).expand(2, 3).numpy(), rtol=1e-5)

# SyncBatchNorm under DDP == BatchNorm on the whole batch: outputs, input and parameter gradients, running stats
def make_cnn():
    torch.manual_seed(3)
    return nn.Sequential(nn.Conv2d(2, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 3, 3))


xs = torch.tensor(np.random.default_rng(5).standard_normal((2 * n, 2, 7, 7)).astype(np.float32))
up = torch.tensor(np.random.default_rng(6).standard_normal((2 * n, 3, 3, 3)).astype(np.float32))
ref = make_cnn()
xr = xs.clone().requires_grad_(True)
ref_out = ref(xr)
(ref_out * up).mean().backward()
sync = DDP(nn.SyncBatchNorm.convert_sync_batchnorm(make_cnn()))
assert isinstance(sync.module[1], nn.SyncBatchNorm)
part = slice(2 * r, 2 * r + 2)
xl = xs[part].clone().requires_grad_(True)
out = sync(xl)
(out * up[part]).sum().mul(n / up.numel()).backward()
np.testing.assert_allclose(out.detach().numpy(), ref_out[part].detach().numpy(), rtol=1e-4, atol=1e-5)
np.testing.assert_allclose(xl.grad.numpy() / n, xr.grad[part].numpy(), rtol=1e-4, atol=1e-6)
for p, q in zip(sync.parameters(), ref.parameters()):
    np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-4, atol=1e-6)
for name in ("running_mean", "running_var", "num_batches_tracked"):
    np.testing.assert_allclose(getattr(sync.module[1], name).numpy(), getattr(ref[1], name).numpy(), rtol=1e-5,
                               atol=1e-6)

if r == 0:
    print(f"DDP max parameter error vs single process: {worst:.3g}")
print(f"rank {r}/{n} ddp OK")
sys.stdout.flush()
