"""Pipeline parallelism, GPipe-style: a model split by layers across ranks, fed with micro-batches.

Rank ``i`` holds stage ``i`` (a contiguous run of layers). ``ScheduleGPipe.step`` splits the batch into
``n_microbatches``; every micro-batch is forwarded through the stages, its activations sent to the
next rank (``send``/``recv`` of NumPy buffers, a small header with shape and dtype first); after all
forwards, the last stage takes each micro-batch's loss and backward runs stage by stage in the other
direction, each rank receiving the gradient of its output and sending the gradient of its input.
Gradients are scaled by ``1 / n_microbatches``, so with a mean loss over equal micro-batches they equal
the single-process gradients of the whole batch, and the mean of the micro-batch losses is its loss.

``Schedule1F1B`` gives the same gradients holding fewer micro-batches' activations at a time.
The names follow ``torch.distributed.pipelining`` (``PipelineStage``, ``ScheduleGPipe``); the splitting
helpers are ``split_sequential`` (an ``nn.Sequential``) and ``split_gpt`` (a ``shendu.models.GPT``: the
embeddings go with the first blocks, the final norm and the head with the last; a tied head's gradient
is summed between the first and last stage).
"""
from __future__ import annotations

import numpy as np

from shendu.nn.containers import ModuleList, Sequential
from shendu.nn.module import Module
from shendu.tensor import Tensor

__all__ = ["PipelineStage", "Schedule1F1B", "ScheduleGPipe", "split_gpt", "split_sequential"]

_DTYPES = ["float32", "float64", "float16", "int64", "int32", "bool"]
_HEADER = 10


def _balanced(n: int, parts: int, what: str) -> list[int]:
    if not 1 <= parts <= n:
        raise ValueError(f"pipeline: cannot split {n} {what} into {parts} stages (need 1 <= stages <= {n})")
    return [len(c) for c in np.array_split(np.arange(n), parts)]


def split_sequential(model: Sequential, num_stages: int, balance: list[int] | None = None) -> list[Sequential]:
    """``num_stages`` consecutive ``Sequential`` pieces of ``model`` (``balance``: layers per stage)."""
    layers = list(model)
    balance = _balanced(len(layers), num_stages, "layers") if balance is None else list(balance)
    if sum(balance) != len(layers) or len(balance) != num_stages or min(balance) < 1:
        raise ValueError(f"split_sequential: balance {balance} must give each of {num_stages} stages at least one "
                         f"layer and add up to the model's {len(layers)} layers")
    cuts = np.cumsum([0] + balance)
    return [Sequential(*layers[a:b]) for a, b in zip(cuts[:-1], cuts[1:])]


class _GPTStage(Module):
    """Blocks ``first..last`` of a GPT, with the embeddings (stage 0) and/or the norm and head (last)."""

    def __init__(self, gpt, blocks: list, first: bool, last: bool):
        super().__init__()
        self.config, self.first, self.last = gpt.config, first, last
        t = gpt.transformer
        if first:
            self.wte = t.wte
            if self.config.pos in ("learned", "sinusoidal"):
                self.wpe = t.wpe
            self.drop = t.drop
        self.h = ModuleList(blocks)
        object.__setattr__(self, "rotary", gpt.rotary)
        if last:
            self.ln_f, self.lm_head = t.ln_f, gpt.lm_head

    def forward(self, x: Tensor) -> Tensor:
        xp = x._xp()
        T = x.shape[1]
        if self.first:                                                      # x: (B, T) token ids
            pos = xp.arange(T)                                              # (T,)
            idx = x
            x = self.wte(idx)                                               # (B, T, C)
            if self.config.pos == "learned":
                x = x + self.wpe(Tensor._wrap(pos.astype(xp.int64)))        # (B, T, C)
            elif self.config.pos == "sinusoidal":
                x = self.wpe(x, offset=0, positions=None)
            x = self.drop(x)
        rope = None
        if self.config.pos == "rope":
            rope = self.rotary.cos_sin(xp.arange(T), x.dtype)               # (T, D) each
        for i, block in enumerate(self.h):
            x = block(x, rope, None, i, 0, None)                            # (B, T, C)
        if self.last:
            x = self.lm_head(self.ln_f(x))                                  # (B, T, V)
        return x


def split_gpt(gpt, num_stages: int, balance: list[int] | None = None) -> list[Module]:
    """A ``GPT`` cut into ``num_stages`` stages of consecutive blocks (``balance``: blocks per stage).

    Stage 0 takes token ids (B, T); the last returns logits (B, T, V). The stages share ``gpt``'s
    parameters (no copy). With tied embeddings the first and last stage both hold ``wte.weight``; the
    schedule sums its two gradients.
    """
    blocks = list(gpt.transformer.h)
    balance = _balanced(len(blocks), num_stages, "blocks") if balance is None else list(balance)
    if sum(balance) != len(blocks) or len(balance) != num_stages or min(balance) < 1:
        raise ValueError(f"split_gpt: balance {balance} must give each of {num_stages} stages at least one block "
                         f"and add up to the model's {len(blocks)} blocks")
    cuts = np.cumsum([0] + balance)
    stages = [_GPTStage(gpt, blocks[a:b], i == 0, i == num_stages - 1)
              for i, (a, b) in enumerate(zip(cuts[:-1], cuts[1:]))]
    if num_stages > 1 and gpt.lm_head.weight is gpt.transformer.wte.weight:
        object.__setattr__(stages[0], "_tied", [(gpt.transformer.wte.weight, num_stages - 1)])
        object.__setattr__(stages[-1], "_tied", [(gpt.lm_head.weight, 0)])
    return stages


class PipelineStage:
    """Stage ``stage_index`` of ``num_stages``, run by the rank with that index in ``group``.

    Args:
        submodule: this stage's layers.
        stage_index: its position in the pipeline (this rank's rank in ``group``).
        num_stages: the number of stages (the group's size).
        device: accepted (CPU).
        group: the process group (default WORLD).
    """

    def __init__(self, submodule: Module, stage_index: int, num_stages: int, device=None, group=None):
        from shendu import distributed as dist
        from shendu.distributed.process_group import resolve
        self.submod, self.stage_index, self.num_stages, self.group = submodule, stage_index, num_stages, group
        self._pg = resolve(group)
        if self._pg.size() != num_stages or self._pg.rank() != stage_index:
            raise ValueError(f"PipelineStage: stage {stage_index} of {num_stages} must run on the rank with that index "
                             f"in a group of {num_stages}; this is rank {self._pg.rank()} of {self._pg.size()}")
        self._dist = dist
        self.is_first, self.is_last = stage_index == 0, stage_index == num_stages - 1

    def _peer(self, offset: int) -> int:
        return self._pg.ranks[self.stage_index + offset]

    def send(self, t: Tensor, offset: int, tag: int) -> list:
        """Start sending ``t`` (a header with its shape and dtype, then its data); returns the Works to wait on."""
        arr = np.ascontiguousarray(t._data)
        header = np.zeros(_HEADER, np.int64)
        header[0], header[1:1 + arr.ndim], header[-1] = arr.ndim, arr.shape, _DTYPES.index(arr.dtype.name)
        peer = self._peer(offset)
        return [self._dist.isend(Tensor._wrap(header), peer, self.group, tag=2 * tag),
                self._dist.isend(Tensor._wrap(arr), peer, self.group, tag=2 * tag + 1)]

    def recv(self, offset: int, tag: int) -> Tensor:
        """Receive a tensor sent by ``send`` from the stage ``offset`` away (its header first)."""
        header = Tensor._wrap(np.zeros(_HEADER, np.int64))
        self._dist.recv(header, self._peer(offset), self.group, tag=2 * tag)
        h = header._data
        out = Tensor._wrap(np.empty(tuple(h[1:1 + h[0]]), _DTYPES[h[-1]]))
        self._dist.recv(out, self._peer(offset), self.group, tag=2 * tag + 1)
        return out


class _Schedule:
    """Runs a stage's list of actions, ``("F", i)`` forward and ``("B", i)`` backward of micro-batch ``i``.

    Sends are nonblocking (waited for at the end of the step), so two neighbours sending to each other
    at once (an activation one way, a gradient the other) never deadlock.
    """

    name = "schedule"

    def __init__(self, stage: PipelineStage, n_microbatches: int, loss_fn=None, scale_grads: bool = True):
        if n_microbatches < 1:
            raise ValueError(f"{type(self).__name__}: n_microbatches must be >= 1, got {n_microbatches}")
        self.stage, self.n_microbatches, self.loss_fn, self.scale_grads = stage, n_microbatches, loss_fn, scale_grads

    def _order(self, train: bool) -> list:
        raise NotImplementedError

    def _split(self, x, what: str) -> list:
        if x is None:
            return [None] * self.n_microbatches
        if x.shape[0] < self.n_microbatches:
            raise ValueError(f"{type(self).__name__}: {what} has {x.shape[0]} rows, fewer than n_microbatches="
                             f"{self.n_microbatches}")
        return list(x.tensor_split(self.n_microbatches, dim=0))

    def step(self, *args, target: Tensor | None = None, losses: list | None = None):
        """One pipelined forward (and backward, with a ``loss_fn``) of a batch.

        The first stage passes the inputs, the last the ``target``; the others pass nothing. On the
        last stage it returns the merged output (and appends each micro-batch's loss to ``losses``);
        elsewhere None.
        """
        from shendu.grad_mode import no_grad
        from shendu.ops.shape import cat
        st, n = self.stage, self.n_microbatches
        train = self.loss_fn is not None
        inputs = self._split(args[0], "the input") if st.is_first else [None] * n
        targets = self._split(target, "target") if st.is_last and train else [None] * n
        kept, outputs, mb_losses, pending = {}, [None] * n, [None] * n, []
        scale = 1.0 / n if self.scale_grads else 1.0
        for kind, i in self._order(train):
            if kind == "F":
                if st.is_first:
                    x = inputs[i]
                else:
                    x = st.recv(-1, i)
                    if train and x.dtype.kind == "f":
                        x.requires_grad_(True)
                if train:
                    out = st.submod(x)
                else:
                    with no_grad():
                        out = st.submod(x)
                if st.is_last:
                    outputs[i] = out.detach()
                    if train:
                        mb_losses[i] = self.loss_fn(out, targets[i])
                else:
                    pending += st.send(out.detach(), +1, i)
                if train:
                    kept[i] = (x, out)
            else:
                x, out = kept.pop(i)  # the micro-batch's activations are freed after its backward
                if st.is_last:
                    (mb_losses[i] * scale).backward()
                else:
                    out.backward(st.recv(+1, n + i))
                if not st.is_first:
                    g = x.grad if x.grad is not None else Tensor._wrap(np.zeros(x.shape, x._data.dtype))
                    pending += st.send(g, -1, n + i)
        for work in pending:
            work.wait()
        if train:
            self._sum_tied()
        if losses is not None and st.is_last:
            losses.extend(loss.detach() for loss in mb_losses if loss is not None)
        return cat(outputs, dim=0) if st.is_last else None

    def _sum_tied(self) -> None:
        st = self.stage
        for p, peer in getattr(st.submod, "_tied", ()):
            mine = p.grad._data.copy() if p.grad is not None else np.zeros(p.shape, p._data.dtype)
            other = Tensor._wrap(np.empty_like(mine))
            work = st._dist.isend(Tensor._wrap(mine), st._pg.ranks[peer], st.group, tag=10 ** 6)
            st._dist.recv(other, st._pg.ranks[peer], st.group, tag=10 ** 6)
            work.wait()
            total = mine + other._data
            if p.grad is None:
                from shendu.autograd.engine import _engine_grad
                p.grad = _engine_grad(total)
            else:
                p.grad._data[...] = total


class ScheduleGPipe(_Schedule):
    """GPipe: all micro-batches forward, then all backward (PyTorch's ``ScheduleGPipe``).

    Every stage holds all ``n_microbatches`` micro-batches' activations at the turn.

    Args:
        stage: this rank's ``PipelineStage``.
        n_microbatches: how many pieces ``step`` splits the batch (dim 0) into.
        loss_fn: ``loss_fn(output, target)`` on the last stage; None runs forward only.
        scale_grads: divide gradients by ``n_microbatches`` (default True).
    """

    def _order(self, train: bool) -> list:
        n = self.n_microbatches
        return [("F", i) for i in range(n)] + ([("B", i) for i in range(n)] if train else [])


class Schedule1F1B(_Schedule):
    """One-forward-one-backward (PyTorch's ``Schedule1F1B``, PipeDream-flush): the same gradients as GPipe.

    Stage ``s`` of ``S`` runs ``S - s - 1`` warm-up forwards, then alternates a forward and a backward,
    so it holds at most ``S - s`` micro-batches' activations instead of all of them. Arguments as
    :class:`ScheduleGPipe`.
    """

    def _order(self, train: bool) -> list:
        n = self.n_microbatches
        if not train:
            return [("F", i) for i in range(n)]
        warm = min(self.stage.num_stages - self.stage.stage_index - 1, n)
        order = [("F", i) for i in range(warm)]
        for i in range(warm, n):
            order += [("F", i), ("B", i - warm)]
        return order + [("B", i) for i in range(n - warm, n)]
