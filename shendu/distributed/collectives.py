"""Collectives and point-to-point messages with PyTorch's names, over MPI's buffer API.

Every tensor collective works IN PLACE on the tensor's NumPy array through mpi4py's upper-case
(buffer) methods (``Allreduce``, ``Bcast``, ``Allgather``...): no pickling on the hot path. A
non-contiguous tensor (a view) is sent from a contiguous copy and the result written back. dtypes MPI
has no type for (float16, bfloat16) travel as float32 and are cast back. ``async_op=True`` returns a
``Work`` (MPI's nonblocking ``I...`` call); ``wait()`` completes it. The ``*_object`` functions pickle
(PyTorch's names and semantics). ``src``/``dst`` are global ranks, as in PyTorch.
"""
from __future__ import annotations

import enum

import numpy as np

from shendu.autograd.inplace import bump_version
from shendu.distributed.process_group import _mpi, resolve
from shendu.tensor import Tensor

__all__ = ["P2POp", "ReduceOp", "Work", "all_gather", "all_gather_into_tensor", "all_gather_object", "all_reduce",
           "all_to_all", "all_to_all_single", "barrier", "batch_isend_irecv", "broadcast", "broadcast_object_list",
           "gather", "gather_object", "irecv", "isend", "monitored_barrier", "recv", "recv_object_list", "reduce",
           "reduce_scatter", "reduce_scatter_tensor", "scatter", "scatter_object_list", "send", "send_object_list",
           "stats"]


class ReduceOp(enum.Enum):
    """How ``all_reduce``/``reduce``/``reduce_scatter`` combine the ranks' values (PyTorch's ``ReduceOp``)."""

    SUM = 0
    AVG = 1
    PRODUCT = 2
    MIN = 3
    MAX = 4
    BAND = 5
    BOR = 6
    BXOR = 7


ReduceOp.RedOpType = ReduceOp  # PyTorch also spells it ReduceOp.RedOpType.SUM


def _mpi_op(op):
    MPI = _mpi()
    if isinstance(op, str):
        op = ReduceOp[op.upper()]
    table = {ReduceOp.SUM: MPI.SUM, ReduceOp.AVG: MPI.SUM, ReduceOp.PRODUCT: MPI.PROD, ReduceOp.MIN: MPI.MIN,
             ReduceOp.MAX: MPI.MAX, ReduceOp.BAND: MPI.BAND, ReduceOp.BOR: MPI.BOR, ReduceOp.BXOR: MPI.BXOR}
    if op not in table:
        raise ValueError(f"unknown reduce op {op!r}; use shendu.distributed.ReduceOp.SUM/AVG/PRODUCT/MIN/MAX")
    return table[op], op


class stats:
    """Bytes this rank handed to MPI collectives and sends since the last ``reset()`` (for benchmarks)."""

    bytes_sent = 0
    calls = 0

    @classmethod
    def reset(cls) -> None:
        """Start counting from zero."""
        cls.bytes_sent, cls.calls = 0, 0

    @classmethod
    def add(cls, nbytes: int) -> None:
        """Count one call handing ``nbytes`` to MPI."""
        cls.bytes_sent += int(nbytes)
        cls.calls += 1


_WIRE = {np.dtype(np.float16)}


def _buffer(t: Tensor, what: str):
    """(array MPI can read/write, whether it is a stand-in that must be written back into ``t``)."""
    if not isinstance(t, Tensor):
        raise TypeError(f"{what}: expected a Tensor, got {type(t).__name__}")
    arr = t._data
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"{what}: MPI collectives run on CPU tensors (NumPy arrays); move the tensor with "
                        f".cpu() first (got a {type(arr).__module__} array on {t.device})")
    if arr.dtype in _WIRE or arr.dtype.kind == "V" or arr.dtype.name == "bfloat16":
        return arr.astype(np.float32), True
    if arr.dtype == np.bool_:
        return arr.astype(np.uint8), True
    if not arr.flags.c_contiguous or not arr.flags.writeable:
        return np.ascontiguousarray(arr).copy(), True
    return arr, False


def _write_back(t: Tensor, buf, standin: bool) -> None:
    if standin:
        t._data[...] = buf.astype(t._data.dtype) if t._data.dtype != np.bool_ else buf != 0
    _bump(t)


def _bump(t: Tensor) -> None:
    bump_version(t)  # an in-place write: a graph that read the old values refuses to backward


def _avg(buf, op, size: int, what: str) -> None:
    if op is ReduceOp.AVG:
        if buf.dtype.kind not in "fc":
            raise TypeError(f"{what}: ReduceOp.AVG needs a floating tensor, got {buf.dtype}")
        buf /= size


class Work:
    """A pending collective (``async_op=True``): ``wait()`` blocks until it is done and finishes it."""

    def __init__(self, request=None, finish=None):
        self._request, self._finish, self._done = request, finish, request is None

    def wait(self, timeout=None) -> bool:
        """Block until the operation completes and its result is in place; returns True."""
        if not self._done:
            if self._request is not None:
                self._request.Wait()
            self._done = True
            if self._finish is not None:
                self._finish()
        return True

    def is_completed(self) -> bool:
        """Whether it has completed (finishing it if MPI says it is done), without blocking."""
        if not self._done and self._request is not None and self._request.Test():
            self.wait()
        return self._done

    def is_success(self) -> bool:
        """Whether it completed (MPI errors abort the job instead)."""
        return self.is_completed()

    def result(self) -> list:
        """PyTorch returns output tensors here for some collectives; the results are in place, so []."""
        return []


def _done(async_op: bool, finish=None):
    if finish is not None:
        finish()
    return Work() if async_op else None


def all_reduce(tensor: Tensor, op=ReduceOp.SUM, group=None, async_op: bool = False):
    """Reduce ``tensor`` across all ranks with ``op``; every rank gets the result, written into ``tensor``."""
    pg = resolve(group)
    if pg is None:
        return None
    MPI = _mpi()
    buf, standin = _buffer(tensor, "all_reduce")
    mop, op = _mpi_op(op)
    stats.add(buf.nbytes)

    def finish():
        _avg(buf, op, pg.size(), "all_reduce")
        _write_back(tensor, buf, standin)
    if async_op:
        return Work(pg.comm.Iallreduce(MPI.IN_PLACE, buf, op=mop), finish)
    pg.comm.Allreduce(MPI.IN_PLACE, buf, op=mop)
    return _done(False, finish)


def broadcast(tensor: Tensor, src: int = 0, group=None, async_op: bool = False, group_src: int | None = None):
    """Send ``tensor`` from rank ``src`` to every rank (written into ``tensor`` on the others)."""
    pg = resolve(group)
    if pg is None:
        return None
    root = group_src if group_src is not None else pg.group_rank(src, "broadcast: src")
    buf, standin = _buffer(tensor, "broadcast")
    if pg.rank() == root:
        stats.add(buf.nbytes)
    finish = lambda: _write_back(tensor, buf, standin)  # noqa: E731
    if async_op:
        return Work(pg.comm.Ibcast(buf, root=root), finish)
    pg.comm.Bcast(buf, root=root)
    return _done(False, finish)


def _check_same(tensors, like: Tensor, what: str) -> None:
    for i, t in enumerate(tensors):
        if tuple(t.shape) != tuple(like.shape) or t.dtype != like.dtype:
            raise ValueError(f"{what}: tensor {i} has shape {tuple(t.shape)} and dtype {t.dtype}, expected "
                             f"{tuple(like.shape)} and {like.dtype} (every rank's tensor must match)")


def all_gather(tensor_list: list, tensor: Tensor, group=None, async_op: bool = False):
    """Gather every rank's ``tensor`` into ``tensor_list`` (one tensor per rank, in rank order)."""
    pg = resolve(group)
    if pg is None:
        return None
    if len(tensor_list) != pg.size():
        raise ValueError(f"all_gather: tensor_list has {len(tensor_list)} tensors, expected the group size {pg.size()}")
    _check_same(tensor_list, tensor, "all_gather")
    send, _ = _buffer(tensor, "all_gather")
    recv = np.empty((pg.size(), *send.shape), send.dtype)
    stats.add(send.nbytes)

    def finish():
        for t, part in zip(tensor_list, recv):
            t._data[...] = part.astype(t._data.dtype, copy=False) if t._data.dtype != np.bool_ else part != 0
            _bump(t)
    if async_op:
        return Work(pg.comm.Iallgather(send, recv), finish)
    pg.comm.Allgather(send, recv)
    return _done(False, finish)


def all_gather_into_tensor(output_tensor: Tensor, input_tensor: Tensor, group=None, async_op: bool = False):
    """Every rank's ``input_tensor`` concatenated along dim 0 (or stacked) into ``output_tensor``."""
    pg = resolve(group)
    if pg is None:
        return None
    n = pg.size()
    ok = (output_tensor.numel() == n * input_tensor.numel() and output_tensor.dtype == input_tensor.dtype)
    if not ok:
        raise ValueError(f"all_gather_into_tensor: output has shape {tuple(output_tensor.shape)} "
                         f"({output_tensor.dtype}); expected {n} x input shape {tuple(input_tensor.shape)} "
                         f"({input_tensor.dtype})")
    send, _ = _buffer(input_tensor, "all_gather_into_tensor")
    recv, standin = _buffer(output_tensor, "all_gather_into_tensor")
    stats.add(send.nbytes)
    finish = lambda: _write_back(output_tensor, recv, standin)  # noqa: E731
    if async_op:
        return Work(pg.comm.Iallgather(send, recv), finish)
    pg.comm.Allgather(send, recv)
    return _done(False, finish)


def reduce_scatter_tensor(output: Tensor, input: Tensor, op=ReduceOp.SUM, group=None, async_op: bool = False):
    """Reduce ``input`` (``size`` x ``output``'s elements, split along dim 0) across ranks; rank r gets part r."""
    pg = resolve(group)
    if pg is None:
        return None
    n = pg.size()
    if input.numel() != n * output.numel() or input.dtype != output.dtype:
        raise ValueError(f"reduce_scatter_tensor: input has shape {tuple(input.shape)} ({input.dtype}); expected "
                         f"{n} x output shape {tuple(output.shape)} ({output.dtype})")
    send, _ = _buffer(input, "reduce_scatter_tensor")
    recv, standin = _buffer(output, "reduce_scatter_tensor")
    mop, op = _mpi_op(op)
    stats.add(send.nbytes)

    def finish():
        _avg(recv, op, n, "reduce_scatter_tensor")
        _write_back(output, recv, standin)
    if async_op:
        return Work(pg.comm.Ireduce_scatter_block(send, recv, op=mop), finish)
    pg.comm.Reduce_scatter_block(send, recv, op=mop)
    return _done(False, finish)


def reduce_scatter(output: Tensor, input_list: list, op=ReduceOp.SUM, group=None, async_op: bool = False):
    """Reduce the ranks' ``input_list`` element-wise; rank r receives the reduction of everyone's ``input_list[r]``."""
    pg = resolve(group)
    if pg is None:
        return None
    if len(input_list) != pg.size():
        raise ValueError(f"reduce_scatter: input_list has {len(input_list)} tensors, expected the group size "
                         f"{pg.size()}")
    _check_same(input_list, output, "reduce_scatter")
    stacked = Tensor._wrap(np.stack([np.asarray(t._data) for t in input_list]))
    return reduce_scatter_tensor(output, stacked, op, group, async_op)


def reduce(tensor: Tensor, dst: int = 0, op=ReduceOp.SUM, group=None, async_op: bool = False,
           group_dst: int | None = None):
    """Reduce ``tensor`` across ranks into rank ``dst``'s ``tensor`` (the others' are left as they were)."""
    pg = resolve(group)
    if pg is None:
        return None
    MPI = _mpi()
    root = group_dst if group_dst is not None else pg.group_rank(dst, "reduce: dst")
    buf, standin = _buffer(tensor, "reduce")
    mop, op = _mpi_op(op)
    stats.add(buf.nbytes)
    me = pg.rank() == root
    if me:
        pg.comm.Reduce(MPI.IN_PLACE, buf, op=mop, root=root)
        _avg(buf, op, pg.size(), "reduce")
        _write_back(tensor, buf, standin)
    else:
        pg.comm.Reduce(buf, None, op=mop, root=root)
    return _done(async_op)


def gather(tensor: Tensor, gather_list: list | None = None, dst: int = 0, group=None, async_op: bool = False,
           group_dst: int | None = None):
    """Collect every rank's ``tensor`` into ``gather_list`` on rank ``dst`` (None elsewhere)."""
    pg = resolve(group)
    if pg is None:
        return None
    root = group_dst if group_dst is not None else pg.group_rank(dst, "gather: dst")
    send, _ = _buffer(tensor, "gather")
    stats.add(send.nbytes)
    if pg.rank() == root:
        if gather_list is None or len(gather_list) != pg.size():
            raise ValueError(f"gather: the destination rank needs a gather_list of {pg.size()} tensors")
        _check_same(gather_list, tensor, "gather")
        recv = np.empty((pg.size(), *send.shape), send.dtype)
        pg.comm.Gather(send, recv, root=root)
        for t, part in zip(gather_list, recv):
            t._data[...] = part
            _bump(t)
    else:
        pg.comm.Gather(send, None, root=root)
    return _done(async_op)


def scatter(tensor: Tensor, scatter_list: list | None = None, src: int = 0, group=None, async_op: bool = False,
            group_src: int | None = None):
    """Rank ``src`` sends ``scatter_list[r]`` to rank r, written into its ``tensor``."""
    pg = resolve(group)
    if pg is None:
        return None
    root = group_src if group_src is not None else pg.group_rank(src, "scatter: src")
    recv, standin = _buffer(tensor, "scatter")
    if pg.rank() == root:
        if scatter_list is None or len(scatter_list) != pg.size():
            raise ValueError(f"scatter: the source rank needs a scatter_list of {pg.size()} tensors")
        _check_same(scatter_list, tensor, "scatter")
        send = np.ascontiguousarray(np.stack([np.asarray(t._data) for t in scatter_list]).astype(recv.dtype))
        stats.add(send.nbytes)
        pg.comm.Scatter(send, recv, root=root)
    else:
        pg.comm.Scatter(None, recv, root=root)
    _write_back(tensor, recv, standin)
    return _done(async_op)


def all_to_all_single(output: Tensor, input: Tensor, output_split_sizes=None, input_split_sizes=None, group=None,
                      async_op: bool = False):
    """Split ``input`` along dim 0 into ``size`` equal parts; part r goes to rank r; received parts fill ``output``."""
    pg = resolve(group)
    if pg is None:
        return None
    if output_split_sizes is not None or input_split_sizes is not None:
        raise NotImplementedError("all_to_all_single: uneven split sizes are not supported; use equal splits")
    send, _ = _buffer(input, "all_to_all_single")
    recv, standin = _buffer(output, "all_to_all_single")
    stats.add(send.nbytes)
    pg.comm.Alltoall(send, recv)
    _write_back(output, recv, standin)
    return _done(async_op)


def barrier(group=None, async_op: bool = False, device_ids=None):
    """Block until every rank of ``group`` reaches the barrier."""
    pg = resolve(group)
    if pg is None:
        return None
    if async_op:
        return Work(pg.comm.Ibarrier())
    pg.comm.Barrier()
    return None


def _tag(tag: int) -> int:
    return int(tag)


def send(tensor: Tensor, dst: int | None = None, group=None, tag: int = 0, group_dst: int | None = None) -> None:
    """Send ``tensor`` to rank ``dst`` (blocks until the buffer may be reused)."""
    pg = resolve(group)
    peer = group_dst if group_dst is not None else pg.group_rank(dst, "send: dst")
    buf, _ = _buffer(tensor, "send")
    stats.add(buf.nbytes)
    pg.comm.Send(buf, dest=peer, tag=_tag(tag))


def recv(tensor: Tensor, src: int | None = None, group=None, tag: int = 0, group_src: int | None = None) -> int:
    """Receive into ``tensor`` from rank ``src`` (any rank when None); returns the sender's rank."""
    MPI = _mpi()
    pg = resolve(group)
    peer = group_src if group_src is not None else (MPI.ANY_SOURCE if src is None else pg.group_rank(src, "recv: src"))
    buf, standin = _buffer(tensor, "recv")
    status = MPI.Status()
    pg.comm.Recv(buf, source=peer, tag=_tag(tag), status=status)
    _write_back(tensor, buf, standin)
    return pg.ranks[status.Get_source()]


def isend(tensor: Tensor, dst: int | None = None, group=None, tag: int = 0, group_dst: int | None = None) -> Work:
    """Nonblocking ``send``: returns a Work; don't modify ``tensor`` before ``wait()``."""
    pg = resolve(group)
    peer = group_dst if group_dst is not None else pg.group_rank(dst, "isend: dst")
    buf, _ = _buffer(tensor, "isend")
    stats.add(buf.nbytes)
    return Work(pg.comm.Isend(buf, dest=peer, tag=_tag(tag)))


def irecv(tensor: Tensor, src: int | None = None, group=None, tag: int = 0, group_src: int | None = None) -> Work:
    """Nonblocking ``recv`` into ``tensor``: complete it with ``wait()``."""
    MPI = _mpi()
    pg = resolve(group)
    peer = group_src if group_src is not None else (MPI.ANY_SOURCE if src is None else pg.group_rank(src, "irecv: src"))
    buf, standin = _buffer(tensor, "irecv")
    return Work(pg.comm.Irecv(buf, source=peer, tag=_tag(tag)), lambda: _write_back(tensor, buf, standin))


# --- pickled Python objects (PyTorch's *_object functions) ---

def all_gather_object(object_list: list, obj, group=None) -> None:
    """Fill ``object_list`` (one slot per rank) with every rank's picklable ``obj``."""
    pg = resolve(group)
    if pg is None:
        return
    if len(object_list) != pg.size():
        raise ValueError(f"all_gather_object: object_list has {len(object_list)} slots, expected {pg.size()}")
    object_list[:] = pg.comm.allgather(obj)


def broadcast_object_list(object_list: list, src: int = 0, group=None, device=None,
                          group_src: int | None = None) -> None:
    """Replace ``object_list``'s items on every rank with rank ``src``'s (pickled)."""
    pg = resolve(group)
    if pg is None:
        return
    root = group_src if group_src is not None else pg.group_rank(src, "broadcast_object_list: src")
    got = pg.comm.bcast(list(object_list) if pg.rank() == root else None, root=root)
    object_list[:] = got


def gather_object(obj, object_gather_list: list | None = None, dst: int = 0, group=None,
                  group_dst: int | None = None) -> None:
    """Rank ``dst``'s ``object_gather_list`` receives every rank's ``obj``."""
    pg = resolve(group)
    if pg is None:
        return
    root = group_dst if group_dst is not None else pg.group_rank(dst, "gather_object: dst")
    got = pg.comm.gather(obj, root=root)
    if pg.rank() == root:
        if object_gather_list is None:
            raise ValueError("gather_object: the destination rank needs an object_gather_list")
        object_gather_list[:] = got


def scatter_object_list(scatter_object_output_list: list, scatter_object_input_list: list | None = None,
                        src: int = 0, group=None, group_src: int | None = None) -> None:
    """Rank r receives ``scatter_object_input_list[r]`` from rank ``src`` into ``scatter_object_output_list[0]``."""
    pg = resolve(group)
    if pg is None:
        return
    root = group_src if group_src is not None else pg.group_rank(src, "scatter_object_list: src")
    got = pg.comm.scatter(list(scatter_object_input_list) if pg.rank() == root else None, root=root)
    scatter_object_output_list[0] = got



def send_object_list(object_list: list, dst: int | None = None, group=None, device=None,
                     group_dst: int | None = None) -> None:
    """Send the picklable items of ``object_list`` to rank ``dst``."""
    pg = resolve(group)
    peer = group_dst if group_dst is not None else pg.group_rank(dst, "send_object_list: dst")
    pg.comm.send(list(object_list), dest=peer, tag=0x50B)


def recv_object_list(object_list: list, src: int | None = None, group=None, device=None,
                     group_src: int | None = None) -> int:
    """Fill ``object_list`` with the items rank ``src`` sent (any rank when None); returns the sender."""
    MPI = _mpi()
    pg = resolve(group)
    peer = group_src if group_src is not None else (MPI.ANY_SOURCE if src is None else
                                                   pg.group_rank(src, "recv_object_list: src"))
    status = MPI.Status()
    got = pg.comm.recv(source=peer, tag=0x50B, status=status)
    object_list[:len(got)] = got
    return pg.ranks[status.Get_source()]


def all_to_all(output_tensor_list: list, input_tensor_list: list, group=None, async_op: bool = False):
    """Rank r sends ``input_tensor_list[k]`` to rank k and receives rank k's ``[r]`` into ``output_tensor_list[k]``."""
    pg = resolve(group)
    if pg is None:
        return None
    n = pg.size()
    if len(input_tensor_list) != n or len(output_tensor_list) != n:
        raise ValueError(f"all_to_all: both lists need the group size {n} tensors, got {len(input_tensor_list)} "
                         f"and {len(output_tensor_list)}")
    _check_same(input_tensor_list, input_tensor_list[0], "all_to_all")
    _check_same(output_tensor_list, input_tensor_list[0], "all_to_all")
    send = np.ascontiguousarray(np.stack([np.asarray(t._data) for t in input_tensor_list]))
    recv = np.empty_like(send)
    stats.add(send.nbytes)
    pg.comm.Alltoall(send, recv)
    for t, part in zip(output_tensor_list, recv):
        t._data[...] = part
        _bump(t)
    return _done(async_op)


class P2POp:
    """One point-to-point operation for ``batch_isend_irecv``: ``P2POp(isend, tensor, peer)``."""

    def __init__(self, op, tensor: Tensor, peer: int | None = None, group=None, tag: int = 0,
                 group_peer: int | None = None):
        if op not in (isend, irecv):
            raise ValueError("P2POp: op must be shendu.distributed.isend or shendu.distributed.irecv")
        self.op, self.tensor, self.peer, self.group = op, tensor, peer, group
        self.tag, self.group_peer = tag, group_peer


def batch_isend_irecv(p2p_op_list: list) -> list:
    """Start every ``P2POp`` (nonblocking); returns their ``Work``s to ``wait()`` on."""
    works = []
    for p in p2p_op_list:
        if p.op is isend:
            works.append(isend(p.tensor, p.peer, p.group, p.tag, group_dst=p.group_peer))
        else:
            works.append(irecv(p.tensor, p.peer, p.group, p.tag, group_src=p.group_peer))
    return works


def monitored_barrier(group=None, timeout=None, wait_all_ranks: bool = False) -> None:
    """A barrier (MPI has no per-call timeout: a rank that never arrives blocks, or aborts the job if it raised)."""
    barrier(group)
