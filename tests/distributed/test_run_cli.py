"""``shendu run``: the mpiexec command it builds, its usage errors, and the one-line error without mpiexec."""
import os
import sys

import pytest

from shendu.cli import main
from shendu.cli import run as run_cli
from shendu.distributed import launch


def test_mpiexec_command_spells_nproc_hosts_and_the_launch_module():
    cmd = run_cli.mpiexec_command("/x/mpiexec", 3, "train.py", ["--epochs", "2"], hosts="a,b")
    assert cmd == ["/x/mpiexec", "-n", "3", "-hosts", "a,b", sys.executable, "-m", "shendu.distributed.launch",
                   "train.py", "--epochs", "2"]


def test_usage_errors_exit_2(tmp_path, capsys):
    assert main(["run", "--nproc", "0", "x.py"]) == 2
    assert "--nproc" in capsys.readouterr().err
    assert main(["run", "--nproc", "2", str(tmp_path / "missing.py")]) == 2
    assert "no such script" in capsys.readouterr().err
    script = tmp_path / "s.py"
    script.write_text("print('hi')\n")
    assert main(["run", "--hosts", ",", str(script)]) == 2


def test_script_arguments_pass_through(tmp_path, monkeypatch):
    script = tmp_path / "s.py"
    script.write_text("")
    seen = {}
    monkeypatch.setattr(run_cli, "find_mpiexec", lambda explicit=None: "/bin/mpiexec")
    monkeypatch.setattr(run_cli.subprocess, "call", lambda cmd: seen.update(cmd=cmd) or 7)
    assert main(["run", "--nproc", "2", str(script), "--lr", "0.1", "-v"]) == 7
    assert seen["cmd"][-4:] == [str(script), "--lr", "0.1", "-v"] and seen["cmd"][1:3] == ["-n", "2"]
    assert main(["run", "--nproc", "3", "-m", "shendu", "train", "gpt", "--epochs", "1"]) == 7
    assert seen["cmd"][-7:] == ["shendu.distributed.launch", "-m", "shendu", "train", "gpt", "--epochs", "1"]


def test_missing_mpiexec_is_one_line(tmp_path, monkeypatch, capsys):
    script = tmp_path / "s.py"
    script.write_text("")
    monkeypatch.setattr(run_cli, "find_mpiexec", lambda explicit=None: None)
    assert main(["run", "--nproc", "2", str(script)]) == 1
    err = capsys.readouterr().err
    assert "mpiexec not found" in err and err.count("\n") == 1


def test_launcher_sets_torchrun_variables():
    env = {"PMI_RANK": "1", "PMI_SIZE": "3", "MPI_LOCALRANKID": "1", "MPI_LOCALNRANKS": "3"}
    launch.set_launcher_env(env)
    assert (env["RANK"], env["WORLD_SIZE"], env["LOCAL_RANK"], env["LOCAL_WORLD_SIZE"]) == ("1", "3", "1", "3")
    assert int(env["SHENDU_NUM_THREADS"]) == max(1, len(os.sched_getaffinity(0)) // 3)
    kept = {"PMI_RANK": "0", "PMI_SIZE": "2", "OMP_NUM_THREADS": "4"}
    launch.set_launcher_env(kept)
    assert "SHENDU_NUM_THREADS" not in kept


def test_single_process_errors():
    import shendu.distributed as dist
    if dist.is_initialized():
        pytest.skip("a process group is already initialised in this process")
    with pytest.raises(ValueError, match="init_process_group"):
        dist.get_rank()
    with pytest.raises(RuntimeError, match="nccl"):
        dist.init_process_group("nccl")
    with pytest.raises(RuntimeError, match="mpiexec -n 4"):
        dist.init_process_group("mpi", world_size=4)
    from shendu import nn
    with pytest.raises(RuntimeError, match="init_process_group"):
        nn.parallel.DistributedDataParallel(nn.Linear(2, 2))
    assert os.environ.get("PMI_RANK") is None
