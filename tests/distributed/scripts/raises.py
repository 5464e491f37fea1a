"""Rank 1 raises while the others wait in a collective: the job must end quickly with rank 1's error."""
import os
import sys

import shendu as torch
import shendu.distributed as dist

early = "--early" in sys.argv
if early and os.environ.get("RANK") == "1":
    raise ValueError("rank one failed before joining the group")
dist.init_process_group("mpi")
if dist.get_rank() == 1:
    raise ValueError("rank one failed on purpose")
x = torch.ones(3)
dist.all_reduce(x)  # never completes: rank 1 is gone
print("unreachable")
