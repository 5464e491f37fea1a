"""``DistributedDataParallel``: one model replica per process, gradients averaged over MPI in buckets.

At wrap time rank 0's parameters and buffers are broadcast, so every replica starts equal. Parameters
are grouped into buckets of about ``bucket_cap_mb`` (the first of 1 MiB; in reverse registration order,
roughly the order backward produces their gradients, as PyTorch does). A post-accumulate-grad hook on each parameter
marks it ready; when a bucket's last gradient is ready its gradients are packed into one flat buffer
and a nonblocking ``Iallreduce`` starts while backward goes on. When the last parameter's hook runs,
every bucket is waited for and the averaged gradients are written back into ``.grad``.

shendu's engine calls post-accumulate hooks while it hands out the leaves' gradients, after the
backward formulas ran, so buckets start as their gradients are delivered rather than interleaved with
the backward computation; the reductions still run nonblocking and are waited for once.
"""
from __future__ import annotations

import contextlib

import numpy as np

from shendu.grad_mode import is_grad_enabled
from shendu.nn.module import Module
from shendu.tensor import Tensor

__all__ = ["DistributedDataParallel"]


class _Bucket:
    __slots__ = ("params", "offsets", "flat", "pending", "work")

    def __init__(self, params: list, dtype):
        self.params = params
        sizes = [p.numel() for p in params]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.flat = np.zeros(int(self.offsets[-1]), dtype)
        self.pending, self.work = len(params), None


def _tensors_reached(outputs) -> set:
    """ids of the leaf tensors the autograd graph of ``outputs`` reaches (for ``find_unused_parameters``)."""
    seen, stack, leaves = set(), [], set()

    def visit(o):
        if isinstance(o, Tensor):
            if o._ctx is None:
                leaves.add(id(o))
            else:
                stack.append(o._ctx)
        elif isinstance(o, (list, tuple)):
            for x in o:
                visit(x)
        elif isinstance(o, dict):
            for x in o.values():
                visit(x)
        elif hasattr(o, "__dict__") and not isinstance(o, type):
            for x in vars(o).values():
                if isinstance(x, (Tensor, list, tuple, dict)):
                    visit(x)
    visit(outputs)
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        for a in getattr(node, "inputs", ()) or ():
            if isinstance(a, Tensor):
                if a._ctx is None:
                    leaves.add(id(a))
                elif id(a._ctx) not in seen:
                    stack.append(a._ctx)
    return leaves


class DistributedDataParallel(Module):
    """Data parallelism across processes (PyTorch's ``DistributedDataParallel``) over MPI.

    Call ``shendu.distributed.init_process_group()`` first; give each rank its own share of the data
    (``shendu.utils.data.distributed.DistributedSampler``). After ``loss.backward()`` every rank holds
    the gradient averaged over all ranks, so identical optimizers keep the replicas identical.

    Args:
        module: the model to replicate (reachable as ``.module``; ``state_dict`` keys get ``module.``).
        device_ids, output_device, dim: accepted for PyTorch programs (one CPU device per process).
        broadcast_buffers: broadcast rank 0's buffers (e.g. BatchNorm running stats) before each forward
            (default True); parameters and buffers are always broadcast once at wrap time.
        process_group: the group to average over (default WORLD).
        bucket_cap_mb: the size of a gradient bucket in MiB (default 25).
        find_unused_parameters: walk the forward's graph to find parameters that get no gradient and
            count them ready (their gradient counts as zero); without it such a parameter makes the next
            forward raise, as in PyTorch.
        gradient_as_bucket_view, static_graph, check_reduction: accepted; no effect.
    """

    def __init__(self, module: Module, device_ids=None, output_device=None, dim: int = 0,
                 broadcast_buffers: bool = True, process_group=None, bucket_cap_mb: float | None = 25,
                 find_unused_parameters: bool = False, check_reduction: bool = False,
                 gradient_as_bucket_view: bool = False, static_graph: bool = False, **kwargs):
        super().__init__()
        from shendu import distributed as dist
        from shendu.distributed.process_group import resolve
        if not dist.is_initialized():
            raise RuntimeError("DistributedDataParallel: the default process group has not been initialized; call "
                               "shendu.distributed.init_process_group() first (under 'mpiexec -n N' or "
                               "'shendu run --nproc N')")
        self.module = module
        self.device_ids = [] if device_ids is None else list(device_ids)
        self.output_device, self.dim = output_device, dim
        self.broadcast_buffers, self.find_unused_parameters = broadcast_buffers, find_unused_parameters
        self.bucket_cap_mb = 25 if bucket_cap_mb is None else bucket_cap_mb
        object.__setattr__(self, "process_group", process_group)
        object.__setattr__(self, "_pg", resolve(process_group))
        object.__setattr__(self, "_dist", dist)
        self.require_backward_grad_sync = True
        self._src = self._pg.ranks[0]
        self._sync_module_states()
        params, seen = [], set()
        for p in module.parameters():
            if p.requires_grad and id(p) not in seen:
                seen.add(id(p))
                params.append(p)
        object.__setattr__(self, "_params", params)
        object.__setattr__(self, "_buckets", self._make_buckets(params, float(self.bucket_cap_mb) * 2 ** 20))
        object.__setattr__(self, "_bucket_of", {id(p): b for b in self._buckets for p in b.params})
        self._ready, self._launched = 0, 0
        self._hooks = [p.register_post_accumulate_grad_hook(self._grad_ready) for p in params]

    # -- wrap time ------------------------------------------------------------------------------
    def _sync_module_states(self) -> None:
        for t in list(self.module.parameters()) + list(self.module.buffers()):
            self._dist.broadcast(t, src=self._src, group=self.process_group)

    @staticmethod
    def _make_buckets(params: list, cap_bytes: float) -> list:
        buckets, current, size = [], [], 0
        first_cap = min(cap_bytes, 2 ** 20)  # PyTorch's first bucket is 1 MiB: the last layers' reduction starts early
        for p in reversed(params):
            nbytes = p.numel() * p._data.dtype.itemsize
            limit = first_cap if not buckets else cap_bytes
            if current and (size + nbytes > limit or p._data.dtype != current[0]._data.dtype):
                buckets.append(_Bucket(current, current[0]._data.dtype))
                current, size = [], 0
            current.append(p)
            size += nbytes
        if current:
            buckets.append(_Bucket(current, current[0]._data.dtype))
        return buckets

    # -- forward --------------------------------------------------------------------------------
    def forward(self, *inputs, **kwargs):
        if self._ready:
            raise RuntimeError(
                "DistributedDataParallel: Expected to have finished reduction in the prior iteration before "
                f"starting a new one: {len(self._params) - self._ready} parameter(s) received no gradient in the "
                "last backward. Pass find_unused_parameters=True to DistributedDataParallel, or make sure every "
                "parameter takes part in the loss.")
        if self.broadcast_buffers and self._pg.size() > 1:
            for b in self.module.buffers():
                self._dist.broadcast(b, src=self._src, group=self.process_group)
        out = self.module(*inputs, **kwargs)
        if self.find_unused_parameters and self.require_backward_grad_sync and is_grad_enabled():
            reached = _tensors_reached(out)
            for p in self._params:
                if id(p) not in reached:
                    self._grad_ready(p)
        return out

    @contextlib.contextmanager
    def no_sync(self):
        """Inside, backward accumulates gradients locally; the first backward after it averages the total."""
        old = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = old

    # -- backward -------------------------------------------------------------------------------
    def _grad_ready(self, p: Tensor) -> None:
        if not self.require_backward_grad_sync:
            return
        bucket = self._bucket_of[id(p)]
        bucket.pending -= 1
        self._ready += 1
        if bucket.pending == 0:
            self._launch(bucket)
        if self._ready == len(self._params):
            self._finish()

    def _launch(self, bucket: _Bucket) -> None:
        flat, off = bucket.flat, bucket.offsets
        for i, p in enumerate(bucket.params):
            g = p.grad
            if g is None:
                flat[off[i]:off[i + 1]] = 0
            else:
                flat[off[i]:off[i + 1]] = g._data.reshape(-1)
        bucket.work = self._dist.all_reduce(Tensor._wrap(flat), group=self.process_group, async_op=True)

    def _finish(self) -> None:
        n = self._pg.size()
        for bucket in self._buckets:
            bucket.work.wait()
            flat, off = bucket.flat, bucket.offsets
            flat /= n
            for i, p in enumerate(bucket.params):
                part = flat[off[i]:off[i + 1]].reshape(p._data.shape)
                if p.grad is None:
                    if not part.any():
                        continue  # unused everywhere: PyTorch leaves its .grad None too
                    from shendu.autograd.engine import _engine_grad
                    p.grad = _engine_grad(part.copy())
                else:
                    p.grad._data[...] = part
            bucket.work, bucket.pending = None, len(bucket.params)
        self._ready = 0

    # -- PyTorch's surface ----------------------------------------------------------------------
    def extra_repr(self) -> str:
        return f"world_size={self._pg.size()}, buckets={len(self._buckets)}"
