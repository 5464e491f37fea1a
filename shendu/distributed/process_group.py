"""Process groups over MPI: ``init_process_group``, ranks, groups, and failing fast when a rank raises.

shendu's one backend is MPI through mpi4py (``pip install "shendu[distributed]"`` brings mpi4py and the
MPICH wheel; a system MPI works too). Programs start under ``mpiexec -n N`` (or ``shendu run --nproc
N``); each process is one rank. ``backend="gloo"`` (PyTorch's CPU backend) is accepted as another name
for MPI, so PyTorch CPU programs run unchanged; ``get_backend()`` then says ``"mpi"``, what runs.
``"nccl"`` raises (it needs CUDA GPUs).

mpi4py is imported (and MPI initialised) only when a process group is made, never by ``import shendu``.
"""
from __future__ import annotations

import os
import sys
import traceback
from datetime import timedelta

__all__ = ["Backend", "DistBackendError", "DistError", "GroupMember", "ProcessGroup", "default_pg_timeout",
           "destroy_process_group", "get_backend", "get_default_backend_for_device", "get_global_rank",
           "get_group_rank", "get_node_local_rank", "get_process_group_ranks", "get_rank", "get_world_size",
           "init_process_group", "is_available", "is_backend_available", "is_gloo_available", "is_initialized",
           "is_mpi_available", "is_nccl_available", "is_torchelastic_launched", "new_group"]


default_pg_timeout = timedelta(minutes=30)


class DistError(RuntimeError):
    """Errors of the distributed package (PyTorch's ``DistError``)."""


class DistBackendError(DistError):
    """An error the communication backend reported."""


def get_node_local_rank(fallback_rank: int | None = None) -> int:
    """This process's rank on its machine (``LOCAL_RANK`` or MPI's local rank variable)."""
    for name in ("LOCAL_RANK", "MPI_LOCALRANKID", "OMPI_COMM_WORLD_LOCAL_RANK"):
        if name in os.environ:
            return int(os.environ[name])
    if fallback_rank is not None:
        return int(fallback_rank)
    raise RuntimeError("get_node_local_rank: LOCAL_RANK is not set (start the job with shendu run or mpiexec)")


def is_backend_available(backend: str) -> bool:
    """True for ``"mpi"`` and ``"gloo"`` (run on MPI) when mpi4py is installed."""
    return str(backend).lower() in ("mpi", "gloo") and is_available()


def get_default_backend_for_device(device) -> str:
    """``"mpi"`` for CPU devices (the one backend here); a GPU device raises."""
    if "cuda" in str(device):
        raise RuntimeError("get_default_backend_for_device: shendu has no GPU backend for distributed (MPI on CPU)")
    return Backend.MPI


class Backend(str):
    """Backend names (PyTorch's ``Backend``): ``Backend.MPI == "mpi"``; GLOO is an alias of MPI here."""

    UNDEFINED = "undefined"
    GLOO = "gloo"
    NCCL = "nccl"
    MPI = "mpi"

    def __new__(cls, name: str):
        if not isinstance(name, str):
            raise ValueError(f"Backend name must be a string, but got: {name!r}")
        return str.__new__(cls, name.lower())


def _mpi():
    """mpi4py's ``MPI`` module, or a RuntimeError saying how to install it."""
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise RuntimeError("shendu.distributed needs mpi4py and an MPI library: pip install \"shendu[distributed]\" "
                           f"(mpi4py + the mpich wheel), or mpi4py over a system MPI ({e})") from None
    return MPI


def is_available() -> bool:
    """True when distributed training can run here: mpi4py is importable (it is not imported)."""
    import importlib.util
    return importlib.util.find_spec("mpi4py") is not None


def is_mpi_available() -> bool:
    """True when mpi4py is installed (``is_available``)."""
    return is_available()


def is_gloo_available() -> bool:
    """True with MPI: ``backend="gloo"`` runs on MPI in shendu."""
    return is_available()


def is_nccl_available() -> bool:
    """False: shendu has no NCCL backend."""
    return False


def is_torchelastic_launched() -> bool:
    """False: shendu jobs start under mpiexec, not torchelastic."""
    return False


class ProcessGroup:
    """A set of ranks with its own MPI communicator; ``ranks`` are global (WORLD) ranks."""

    def __init__(self, comm, ranks: list[int], backend: str = "mpi"):
        self.comm, self.ranks, self.backend = comm, list(ranks), backend
        self._group_rank = {g: i for i, g in enumerate(self.ranks)}

    def rank(self) -> int:
        """This process's rank in the group."""
        return self.comm.Get_rank()

    def size(self) -> int:
        """The number of ranks in the group."""
        return self.comm.Get_size()

    def group_rank(self, global_rank: int, what: str = "rank") -> int:
        """The rank inside this group of global rank ``global_rank`` (ValueError when not a member)."""
        r = self._group_rank.get(int(global_rank))
        if r is None:
            raise ValueError(f"{what} {global_rank} is not part of the group (its global ranks are {self.ranks})")
        return r

    def __repr__(self) -> str:
        return f"ProcessGroup(backend={self.backend!r}, ranks={self.ranks})"


class GroupMember:
    """``GroupMember.WORLD`` (the default group once initialised) and ``NON_GROUP_MEMBER``."""

    WORLD: ProcessGroup | None = None
    NON_GROUP_MEMBER = object()


class _State:
    backend: str | None = None
    hook_installed = False


def is_initialized() -> bool:
    """Whether the default process group has been initialised."""
    return GroupMember.WORLD is not None


def _world() -> ProcessGroup:
    if GroupMember.WORLD is None:
        raise ValueError("Default process group has not been initialized, please make sure to call "
                         "init_process_group.")
    return GroupMember.WORLD


def resolve(group) -> ProcessGroup | None:
    """The ProcessGroup for ``group`` (None: WORLD); None when this rank is not a member."""
    world = _world()
    if group is None or group is world:
        return world
    if group is GroupMember.NON_GROUP_MEMBER:
        return None
    if not isinstance(group, ProcessGroup):
        raise TypeError(f"group must be a ProcessGroup made by new_group (or None for WORLD), got "
                        f"{type(group).__name__}")
    return group


def init_process_group(backend: str | None = None, init_method: str | None = None, timeout: timedelta | None = None,
                       world_size: int = -1, rank: int = -1, store=None, group_name: str = "", pg_options=None,
                       device_id=None) -> None:
    """Join the default process group: one rank per MPI process (``mpiexec -n N``).

    Args:
        backend: ``"mpi"`` (the default) or ``"gloo"`` (run on MPI too); ``"nccl"`` raises.
        init_method: accepted (``"env://"``, ``"tcp://..."``): MPI's launcher already connects the ranks.
        timeout: accepted; MPI has no per-operation timeout.
        world_size: when given (> 0) it must equal the number of MPI processes.
        rank: when given (>= 0) it must equal this process's MPI rank.
        store, group_name, pg_options, device_id: accepted for PyTorch programs; unused.

    Raises:
        RuntimeError: called twice, an unknown backend, mpi4py missing, or ``world_size``/``rank`` not matching
            the MPI job (e.g. ``world_size=2`` in a process not started by ``mpiexec -n 2``).
    """
    if GroupMember.WORLD is not None:
        raise RuntimeError("trying to initialize the default process group twice!")
    name = Backend(backend or "mpi")
    if name == Backend.NCCL:
        raise RuntimeError("init_process_group: backend 'nccl' needs CUDA GPUs and NCCL; shendu trains across "
                           "processes over MPI: use backend='mpi' (or 'gloo', an alias here)")
    if name not in (Backend.MPI, Backend.GLOO):
        raise RuntimeError(f"init_process_group: unknown backend {backend!r}; shendu has 'mpi' ('gloo' runs on MPI)")
    env_size = int(os.environ.get("WORLD_SIZE", -1)) if world_size in (-1, None) else int(world_size)
    if env_size > 1 and not _under_mpi_launcher():
        raise RuntimeError(f"init_process_group: world_size {env_size} asked for, but this process was not started by "
                           f"an MPI launcher; run 'mpiexec -n {env_size} python ...' or "
                           f"'shendu run --nproc {env_size} script.py'")
    MPI = _mpi()
    comm = MPI.COMM_WORLD
    size, me = comm.Get_size(), comm.Get_rank()
    if env_size not in (-1, size):
        how = "world_size" if world_size not in (-1, None) else "the WORLD_SIZE environment variable"
        raise RuntimeError(f"init_process_group: {how} is {env_size} but this MPI job has {size} process(es); "
                           f"start the program with 'mpiexec -n {env_size} python ...' or "
                           f"'shendu run --nproc {env_size} script.py'")
    if rank not in (-1, None) and int(rank) != me:
        raise RuntimeError(f"init_process_group: rank={rank} but MPI gave this process rank {me}; under MPI leave "
                           "rank=-1 (the launcher assigns ranks)")
    GroupMember.WORLD = ProcessGroup(comm.Dup(), list(range(size)), "mpi")
    _State.backend = "mpi"
    if size > 1:
        install_abort_hook()


def destroy_process_group(group=None) -> None:
    """Leave ``group`` (default: the default group, after which ``is_initialized()`` is False)."""
    if group is None or group is GroupMember.WORLD:
        if GroupMember.WORLD is not None:
            GroupMember.WORLD.comm.Free()
        GroupMember.WORLD, _State.backend = None, None
    elif isinstance(group, ProcessGroup):
        group.comm.Free()


def get_backend(group=None) -> str:
    """``"mpi"``: the backend running ``group`` (also when it was asked for as ``"gloo"``)."""
    _world()
    return Backend.MPI


def get_rank(group=None) -> int:
    """This process's rank in ``group`` (default WORLD); -1 when not a member."""
    pg = resolve(group)
    return -1 if pg is None else pg.rank()


def get_world_size(group=None) -> int:
    """The number of ranks in ``group`` (default WORLD); -1 when this rank is not a member."""
    pg = resolve(group)
    return -1 if pg is None else pg.size()


def get_group_rank(group: ProcessGroup, global_rank: int) -> int:
    """The rank inside ``group`` of WORLD rank ``global_rank`` (ValueError when not a member)."""
    return resolve(group).group_rank(global_rank)


def get_global_rank(group: ProcessGroup, group_rank: int) -> int:
    """The WORLD rank of rank ``group_rank`` of ``group``."""
    return resolve(group).ranks[group_rank]


def get_process_group_ranks(group: ProcessGroup) -> list[int]:
    """The WORLD ranks in ``group``, in group-rank order."""
    return list(resolve(group).ranks)


def new_group(ranks=None, timeout=None, backend=None, pg_options=None, use_local_synchronization: bool = False,
              group_desc=None, device_id=None):
    """A group of the global ``ranks`` (default all); every rank of WORLD must call it.

    Ranks outside ``ranks`` get ``GroupMember.NON_GROUP_MEMBER`` (collectives on it do nothing, as in PyTorch).
    """
    world = _world()
    if ranks is None:
        ranks = world.ranks
    ranks = sorted(int(r) for r in ranks)
    bad = [r for r in ranks if not 0 <= r < world.size()]
    if bad or len(set(ranks)) != len(ranks):
        raise ValueError(f"new_group: ranks must be distinct ranks in [0, {world.size()}), got {ranks}")
    comm = world.comm.Create_group(world.comm.Get_group().Incl(ranks))
    if world.rank() not in ranks:
        return GroupMember.NON_GROUP_MEMBER
    return ProcessGroup(comm, ranks, "mpi")


def _under_mpi_launcher() -> bool:
    return any(k in os.environ for k in ("PMI_RANK", "PMI_SIZE", "OMPI_COMM_WORLD_RANK", "HYDRA_CONTROL_FD"))


def install_abort_hook() -> None:
    """Make an uncaught exception on any rank print that rank's traceback and abort the whole MPI job.

    Without it, the other ranks wait forever in their next collective for the rank that died.
    """
    if _State.hook_installed:
        return
    _State.hook_installed = True
    previous = sys.excepthook

    def abort_on_error(kind, value, tb):
        rank = os.environ.get("PMI_RANK", os.environ.get("OMPI_COMM_WORLD_RANK", "?"))
        sys.stderr.write(f"[shendu.distributed] rank {rank} raised; aborting the job:\n")
        sys.stderr.write("".join(traceback.format_exception(kind, value, tb)))
        sys.stderr.flush()
        if kind is KeyboardInterrupt:
            previous(kind, value, tb)
        mpi = sys.modules.get("mpi4py.MPI")
        if mpi is None and _under_mpi_launcher():
            try:  # the rank raised before joining: join now, only to abort the others
                from mpi4py import MPI as mpi
            except ImportError:
                mpi = None
        if mpi is not None and mpi.Is_initialized() and not mpi.Is_finalized():
            mpi.COMM_WORLD.Abort(1)
        os._exit(1)

    sys.excepthook = abort_on_error
