"""Run under mpiexec -n N: every collective against a NumPy reference computed from all ranks' inputs."""
import numpy as np

import shendu as torch
import shendu.distributed as dist
from shendu.utils.data.distributed import DistributedSampler

dist.init_process_group("mpi")
r, n = dist.get_rank(), dist.get_world_size()
assert dist.is_initialized() and dist.get_backend() == "mpi"


def value(rank, shape=(3, 4), dtype=np.float32):
    return (np.random.default_rng(rank).standard_normal(shape) * 3).astype(dtype)


everyone = np.stack([value(k) for k in range(n)])
refs = {dist.ReduceOp.SUM: everyone.sum(0), dist.ReduceOp.AVG: everyone.mean(0),
        dist.ReduceOp.PRODUCT: everyone.prod(0), dist.ReduceOp.MIN: everyone.min(0),
        dist.ReduceOp.MAX: everyone.max(0)}
for op, ref in refs.items():
    x = torch.tensor(value(r))
    dist.all_reduce(x, op=op)
    np.testing.assert_allclose(x.numpy(), ref, rtol=1e-5, atol=1e-6, err_msg=str(op))
    assert x.dtype == torch.float32
# async, integer, float64 and a non-contiguous view (written back into its base)
x = torch.tensor(value(r))
work = dist.all_reduce(x, async_op=True)
work.wait()
assert work.is_completed()
np.testing.assert_allclose(x.numpy(), refs[dist.ReduceOp.SUM], rtol=1e-5, atol=1e-6)
xi = torch.tensor(np.arange(5) * (r + 1))
dist.all_reduce(xi)
assert xi.dtype == torch.int64 and xi.tolist() == (np.arange(5) * sum(range(1, n + 1))).tolist()
base = torch.tensor(value(r).astype(np.float64))
dist.all_reduce(base.t()[1], op=dist.ReduceOp.MAX)
expect = value(r).astype(np.float64)
expect[:, 1] = everyone.astype(np.float64).max(0)[:, 1]
np.testing.assert_allclose(base.numpy(), expect)
# broadcast from the last rank
b = torch.tensor(value(r))
dist.broadcast(b, src=n - 1)
np.testing.assert_array_equal(b.numpy(), value(n - 1))
# all_gather / all_gather_into_tensor
outs = [torch.zeros(3, 4) for _ in range(n)]
dist.all_gather(outs, torch.tensor(value(r)))
for k in range(n):
    np.testing.assert_array_equal(outs[k].numpy(), value(k))
big = torch.zeros(n * 3, 4)
dist.all_gather_into_tensor(big, torch.tensor(value(r)))
np.testing.assert_array_equal(big.numpy(), everyone.reshape(n * 3, 4))
# reduce_scatter: rank r gets sum over ranks of their input_list[r]
inputs = [torch.tensor(value(10 * r + k)) for k in range(n)]
out = torch.zeros(3, 4)
dist.reduce_scatter(out, inputs)
np.testing.assert_allclose(out.numpy(), sum(value(10 * k + r) for k in range(n)), rtol=1e-5, atol=1e-5)
out2 = torch.zeros(3, 4)
dist.reduce_scatter_tensor(out2, torch.tensor(np.concatenate([value(10 * r + k) for k in range(n)])),
                           op=dist.ReduceOp.AVG)
np.testing.assert_allclose(out2.numpy(), sum(value(10 * k + r) for k in range(n)) / n, rtol=1e-5, atol=1e-5)
# reduce, gather, scatter to/from rank 0
y = torch.tensor(value(r))
dist.reduce(y, dst=0)
np.testing.assert_allclose(y.numpy(), refs[dist.ReduceOp.SUM] if r == 0 else value(r), rtol=1e-5, atol=1e-6)
gl = [torch.zeros(3, 4) for _ in range(n)] if r == 0 else None
dist.gather(torch.tensor(value(r)), gl, dst=0)
if r == 0:
    np.testing.assert_array_equal(np.stack([g.numpy() for g in gl]), everyone)
s = torch.zeros(3, 4)
dist.scatter(s, [torch.tensor(value(100 + k)) for k in range(n)] if r == 0 else None, src=0)
np.testing.assert_array_equal(s.numpy(), value(100 + r))
# send/recv around a ring, isend/irecv
nxt, prv = (r + 1) % n, (r - 1) % n
if n > 1:
    buf = torch.zeros(3, 4)
    if r % 2 == 0:
        dist.send(torch.tensor(value(r)), dst=nxt)
        src = dist.recv(buf, src=prv)
    else:
        src = dist.recv(buf, src=prv)
        dist.send(torch.tensor(value(r)), dst=nxt)
    assert src == prv
    np.testing.assert_array_equal(buf.numpy(), value(prv))
    buf2 = torch.zeros(3, 4)
    reqs = [dist.isend(torch.tensor(value(r)), dst=nxt), dist.irecv(buf2, src=prv)]
    for q in reqs:
        q.wait()
    np.testing.assert_array_equal(buf2.numpy(), value(prv))
    buf3 = torch.zeros(3, 4)
    for q in dist.batch_isend_irecv([dist.P2POp(dist.isend, torch.tensor(value(r)), nxt),
                                     dist.P2POp(dist.irecv, buf3, prv)]):
        q.wait()
    np.testing.assert_array_equal(buf3.numpy(), value(prv))
    if r == 0:
        dist.send_object_list([{"from": 0}, 7], dst=1)
    elif r == 1:
        got = [None, None]
        assert dist.recv_object_list(got, src=0) == 0 and got == [{"from": 0}, 7]
# all_to_all: rank r's k-th input goes to rank k's r-th output
ins = [torch.tensor(value(10 * r + k)) for k in range(n)]
outs2 = [torch.zeros(3, 4) for _ in range(n)]
dist.all_to_all(outs2, ins)
for k in range(n):
    np.testing.assert_array_equal(outs2[k].numpy(), value(10 * k + r))
single = torch.zeros(n * 3, 4)
dist.all_to_all_single(single, torch.tensor(np.concatenate([value(10 * r + k) for k in range(n)])))
np.testing.assert_array_equal(single.numpy(), np.concatenate([value(10 * k + r) for k in range(n)]))
dist.monitored_barrier()
# objects
objs = [None] * n
dist.all_gather_object(objs, {"rank": r, "word": "x" * r})
assert objs == [{"rank": k, "word": "x" * k} for k in range(n)]
lst = [r, "hello"] if r == 0 else [None, None]
dist.broadcast_object_list(lst, src=0)
assert lst == [0, "hello"]
# groups: ranks 0 and last
g = dist.new_group([0, n - 1])
z = torch.tensor([float(r)])
dist.all_reduce(z, group=g)
if r in (0, n - 1):
    assert z.item() == (n - 1 if n > 1 else 0) and dist.get_world_size(g) == (2 if n > 1 else 1)
else:
    assert z.item() == r and dist.get_rank(g) == -1
dist.barrier()
# mistakes raise naming the op and what was expected (on every rank, before any communication)
for call, words in [(lambda: dist.all_gather([torch.zeros(3, 4)] * (n + 1), torch.zeros(3, 4)), "all_gather"),
                    (lambda: dist.all_gather([torch.zeros(2)] * n, torch.zeros(3, 4)), "every rank"),
                    (lambda: dist.reduce_scatter_tensor(torch.zeros(2), torch.zeros(2 * n + 1)), "reduce_scatter"),
                    (lambda: dist.broadcast(torch.zeros(2), src=n), "not part of the group"),
                    (lambda: dist.all_reduce([1.0]), "expected a Tensor")]:
    try:
        call()
        raise AssertionError(f"no error for {words}")
    except (ValueError, TypeError) as e:
        assert words in str(e), (words, str(e))
# DistributedSampler takes world size and rank from the process group; ranks partition the padded order
sampler = DistributedSampler(range(11), seed=3)
sampler.set_epoch(2)
mine = list(sampler)
shares = [None] * n
dist.all_gather_object(shares, mine)
assert (sampler.num_replicas, sampler.rank) == (n, r)
total = [i for k in range(n) for i in shares[k]]
assert sorted(set(total)) == list(range(11)) and len(total) == sampler.total_size
assert all(len(s) == sampler.num_samples for s in shares)
dist.destroy_process_group()
assert not dist.is_initialized()
print(f"rank {r}/{n} collectives OK")
