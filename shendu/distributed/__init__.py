"""``shendu.distributed``: multi-process training over MPI with PyTorch's names.

Start N processes with ``mpiexec -n N python train.py`` (or ``shendu run --nproc N train.py``), call
``init_process_group()`` in each, then use the collectives (``all_reduce``, ``broadcast``, ...), wrap the
model in ``shendu.nn.parallel.DistributedDataParallel``, or shard the optimizer state with
``shendu.distributed.optim.ZeroRedundancyOptimizer``. ``shendu.distributed.pipeline`` splits a model by
layers across ranks (GPipe micro-batches). Tensor collectives use MPI's buffer API on the NumPy arrays
(no pickling); the ``*_object`` functions pickle. Groups: ``new_group(ranks)`` makes a sub-communicator.
"""
from shendu.distributed.checkpoint_utils import load_checkpoint, save_checkpoint
from shendu.distributed.collectives import (
    P2POp,
    ReduceOp,
    Work,
    all_gather,
    all_gather_into_tensor,
    all_gather_object,
    all_reduce,
    all_to_all,
    all_to_all_single,
    barrier,
    batch_isend_irecv,
    broadcast,
    broadcast_object_list,
    gather,
    gather_object,
    irecv,
    isend,
    monitored_barrier,
    recv,
    recv_object_list,
    reduce,
    reduce_scatter,
    reduce_scatter_tensor,
    scatter,
    scatter_object_list,
    send,
    send_object_list,
    stats,
)
from shendu.distributed.process_group import (
    Backend,
    DistBackendError,
    DistError,
    GroupMember,
    ProcessGroup,
    default_pg_timeout,
    destroy_process_group,
    get_backend,
    get_default_backend_for_device,
    get_global_rank,
    get_group_rank,
    get_node_local_rank,
    get_process_group_ranks,
    get_rank,
    get_world_size,
    init_process_group,
    install_abort_hook,
    is_available,
    is_backend_available,
    is_gloo_available,
    is_initialized,
    is_mpi_available,
    is_nccl_available,
    is_torchelastic_launched,
    new_group,
)

group = GroupMember  # PyTorch's ``dist.group.WORLD``

__all__ = ["Backend", "DistBackendError", "DistError", "GroupMember", "P2POp", "ProcessGroup", "ReduceOp", "Work",
           "all_gather", "all_gather_into_tensor", "all_gather_object", "all_reduce", "all_to_all",
           "all_to_all_single", "barrier", "batch_isend_irecv", "broadcast", "broadcast_object_list",
           "default_pg_timeout", "destroy_process_group", "gather", "gather_object", "get_backend",
           "get_default_backend_for_device", "get_global_rank", "get_group_rank", "get_node_local_rank",
           "get_process_group_ranks", "get_rank", "get_world_size", "group", "init_process_group",
           "install_abort_hook", "irecv", "is_available", "is_backend_available", "is_gloo_available",
           "is_initialized", "is_mpi_available", "is_nccl_available", "is_torchelastic_launched", "isend",
           "load_checkpoint", "monitored_barrier", "new_group", "recv", "recv_object_list", "reduce", "reduce_scatter",
           "reduce_scatter_tensor", "save_checkpoint", "scatter", "scatter_object_list", "send", "send_object_list",
           "stats"]
