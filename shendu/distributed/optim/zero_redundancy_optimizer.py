"""ZeRO stage 1: each rank keeps and updates the optimizer state of its own shard of the parameters.

``ZeroRedundancyOptimizer(params, optimizer_class, **defaults)`` (PyTorch's name and signature)
partitions the parameters over the ranks as PyTorch does (per group, largest first, each to the rank
holding the fewest elements so far), builds ``optimizer_class`` over this rank's shard only, and after
that local step broadcasts every shard's updated parameters from its owner (one flat buffer per rank),
so all ranks end the step with the same parameters. Gradients must already be averaged (wrap the
model in DistributedDataParallel). Optimizer state per rank shrinks by about the world size.
"""
from __future__ import annotations

import numpy as np

from shendu.autograd.inplace import bump_version
from shendu.optim.optimizer import Optimizer
from shendu.tensor import Tensor

__all__ = ["ZeroRedundancyOptimizer"]


class ZeroRedundancyOptimizer(Optimizer):
    """Shard ``optimizer_class``'s state across the ranks of ``process_group`` (default WORLD).

    Args:
        params: parameters or parameter groups, as for any optimizer.
        optimizer_class: the local optimizer's class (e.g. ``shendu.optim.Adam``).
        process_group: the group to shard over (default WORLD).
        parameters_as_bucket_view, overlap_with_ddp: accepted; no effect.
        **defaults: the local optimizer's options (``lr=...``).

    Attributes:
        optim: this rank's optimizer over its shard (None on a rank that owns no parameter).
        param_groups: every parameter's groups (schedulers change ``lr`` here; ``step`` passes it on).
    """

    def __init__(self, params, optimizer_class: type, process_group=None, parameters_as_bucket_view: bool = False,
                 overlap_with_ddp: bool = False, **defaults):
        from shendu.distributed.process_group import resolve
        self.optimizer_class, self.process_group = optimizer_class, process_group
        self._pg = resolve(process_group)
        super().__init__(params, defaults)
        self._rank, self._world = self._pg.rank(), self._pg.size()
        self._owner: dict[int, int] = {}
        load = [0] * self._world
        for group in self.param_groups:  # PyTorch's greedy partition: largest first, to the lightest rank
            for p in sorted(group["params"], key=lambda t: -t.numel()):
                k = int(np.argmin(load))
                self._owner[id(p)] = k
                load[k] += p.numel()
        self._shards = [[p for g in self.param_groups for p in g["params"] if self._owner[id(p)] == k]
                        for k in range(self._world)]
        self._flats = [np.zeros(sum(p.numel() for p in shard), shard[0]._data.dtype) if shard else None
                       for shard in self._shards]
        self._local_groups = [i for i, g in enumerate(self.param_groups)
                              if any(self._owner[id(p)] == self._rank for p in g["params"])]
        local = [{**{k: v for k, v in self.param_groups[i].items() if k != "params"},
                  "params": [p for p in self.param_groups[i]["params"] if self._owner[id(p)] == self._rank]}
                 for i in self._local_groups]
        self.optim = optimizer_class(local, **defaults) if local else None
        # every option of the local optimizer, also on the ranks owning nothing (a probe optimizer's defaults)
        full = (self.optim or optimizer_class([Tensor._wrap(np.zeros(1, np.float32))], **defaults)).defaults
        self.defaults = dict(full)
        for g in self.param_groups:
            for k, v in full.items():
                g.setdefault(k, v)
        self._consolidated = None

    def _check_group(self, group: dict) -> None:
        pass  # the local optimizer checks its options

    def add_param_group(self, param_group: dict) -> None:
        if getattr(self, "_owner", None) is not None:
            raise NotImplementedError("ZeroRedundancyOptimizer.add_param_group after construction is not supported; "
                                      "pass every group to the constructor")
        super().add_param_group(param_group)

    def _sync_options(self) -> None:
        if self.optim is None:
            return
        for local, i in zip(self.optim.param_groups, self._local_groups):
            local.update({k: v for k, v in self.param_groups[i].items() if k not in ("params", "param_names")})

    def step(self, closure=None):
        """The local optimizer's step on this rank's shard, then every shard broadcast from its owner."""
        self._sync_options()
        if self.optim is not None:
            loss = self.optim.step(closure)
        else:
            loss = closure() if closure is not None else None
        self._sync_parameters()
        return loss

    def _sync_parameters(self) -> None:
        from shendu.distributed.collectives import broadcast
        for k, (shard, flat) in enumerate(zip(self._shards, self._flats)):
            if not shard:
                continue
            offsets = np.cumsum([0] + [p.numel() for p in shard])
            if k == self._rank:
                for p, a, b in zip(shard, offsets[:-1], offsets[1:]):
                    flat[a:b] = p._data.reshape(-1)
            broadcast(Tensor._wrap(flat), src=self._pg.ranks[k], group=self.process_group)
            if k != self._rank:
                for p, a, b in zip(shard, offsets[:-1], offsets[1:]):
                    p._data[...] = flat[a:b].reshape(p._data.shape)
                    bump_version(p)

    def zero_grad(self, set_to_none: bool = True) -> None:
        super().zero_grad(set_to_none)

    # -- state: sharded on the ranks, consolidated onto one for a checkpoint ------------------------
    def _global_index(self) -> dict[int, int]:
        index: dict[int, int] = {}
        for g in self.param_groups:
            for p in g["params"]:
                index.setdefault(id(p), len(index))
        return index

    def _local_indices(self) -> list[int]:
        """The global index of each local parameter, in the local optimizer's numbering."""
        index = self._global_index()
        return [index[id(p)] for g in (self.optim.param_groups if self.optim else []) for p in g["params"]]

    def local_state_bytes(self) -> int:
        """Bytes of optimizer state (tensors) this rank holds."""
        if self.optim is None:
            return 0
        return sum(v._data.nbytes for s in self.optim.state.values() for v in s.values() if isinstance(v, Tensor))

    def consolidate_state_dict(self, to: int = 0) -> None:
        """Collect every shard's state onto rank ``to`` (all ranks call it); then ``state_dict()`` there."""
        from shendu.distributed.collectives import gather_object
        mine = (self._local_indices(), self.optim.state_dict()["state"] if self.optim else {})
        parts = [None] * self._world if self._pg.ranks[self._rank] == to else None
        gather_object(mine, parts, dst=to, group=self.process_group)
        if parts is None:
            self._consolidated = None
            return
        state = {}
        for indices, local_state in parts:
            for i, s in local_state.items():
                state[indices[int(i)]] = s
        self._consolidated = state

    def state_dict(self) -> dict:
        """The whole optimizer's state (PyTorch's layout) on the rank that ``consolidate_state_dict`` targeted."""
        if self._consolidated is None:
            raise RuntimeError("Optimizer state has not been consolidated on this rank. Please call "
                               "`consolidate_state_dict(to)` on all ranks beforehand and call `state_dict()` "
                               "on rank `to`.")
        full = super().state_dict()
        full["state"] = dict(sorted(self._consolidated.items()))
        return full

    def load_state_dict(self, state_dict: dict) -> None:
        """Load a whole state dict (from any world size): each rank keeps its own shard's state."""
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError(f"ZeroRedundancyOptimizer.load_state_dict: the state dict has {len(groups)} parameter "
                             f"groups, the optimizer has {len(self.param_groups)}")
        for g, sg in zip(self.param_groups, groups):
            g.update({k: v for k, v in sg.items() if k != "params"})
        if self.optim is None:
            return
        state = {int(i): s for i, s in state_dict["state"].items()}
        local_state = {j: state[i] for j, i in enumerate(self._local_indices()) if i in state}
        local_groups = [{**{k: v for k, v in groups[i].items() if k != "params"},
                         "params": [p for p in range(len(lg["params"]))]}
                        for i, lg in zip(self._local_groups, self.optim.param_groups)]
        start = 0
        for lg in local_groups:  # number the local parameters across groups, as state_dict does
            lg["params"] = [start + j for j in lg["params"]]
            start += len(lg["params"])
        self.optim.load_state_dict({"state": local_state, "param_groups": local_groups})
