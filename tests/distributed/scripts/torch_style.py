"""A PyTorch-style DDP program (DataLoader + DistributedSampler + set_epoch + rank-0 checkpoint), unchanged
but for the import; run with `shendu run --nproc N`. Checks the ranks' shares, identical replicas, the
file written once, and that its reload reproduces the model."""
import os
import sys

import numpy as np

import shendu as torch

dist = torch.distributed
from shendu.utils.data import DataLoader, TensorDataset  # noqa: E402
from shendu.utils.data.distributed import DistributedSampler  # noqa: E402

out_dir = sys.argv[1]
dist.init_process_group(backend="gloo", init_method="env://")
rank, world = dist.get_rank(), dist.get_world_size()
assert int(os.environ["RANK"]) == rank and int(os.environ["WORLD_SIZE"]) == world
torch.manual_seed(0)
X = torch.randn(30, 4)
Y = X @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]]) + 0.1
dataset = TensorDataset(X, Y)
sampler = DistributedSampler(dataset, shuffle=True, seed=1)
loader = DataLoader(dataset, batch_size=5, sampler=sampler)
model = torch.nn.parallel.DistributedDataParallel(torch.nn.Linear(4, 1))
opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
first = last = None
for epoch in range(4):
    sampler.set_epoch(epoch)
    seen = []
    for xb, yb in loader:
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(xb), yb)
        loss.backward()
        opt.step()
        first = loss.item() if first is None else first
        last = loss.item()
    shares = [None] * world
    dist.all_gather_object(shares, sorted(set(list(sampler))))
    assert sorted(set().union(*map(set, shares))) == list(range(30))
weights = [None] * world
dist.all_gather_object(weights, model.module.weight.detach().numpy())
assert all(np.array_equal(w, weights[0]) for w in weights)
assert last < first
path = os.path.join(out_dir, "ckpt.safetensors")
dist.save_checkpoint(path, model=model, optimizer=opt, epoch=4)
fresh = torch.nn.Linear(4, 1)
ckpt = dist.load_checkpoint(path, model=fresh)
assert ckpt["epoch"] == 4 and np.array_equal(fresh.weight.detach().numpy(), weights[0])
dist.destroy_process_group()
print(f"rank {rank}/{world} torch-style OK")
