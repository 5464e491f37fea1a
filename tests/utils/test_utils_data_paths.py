"""``shendu.utils.data`` has PyTorch's module paths, holding the objects of ``shendu.data``."""
import importlib
import subprocess
import sys

import pytest

import shendu
import shendu.data as data

PATHS = [
    ("shendu.utils.data", "DataLoader", data.DataLoader),
    ("shendu.utils.data", "DistributedSampler", data.DistributedSampler),
    ("shendu.utils.data", "get_worker_info", data.get_worker_info),
    ("shendu.utils.data.dataloader", "DataLoader", data.DataLoader),
    ("shendu.utils.data.dataloader", "default_collate", data.default_collate),
    ("shendu.utils.data.dataset", "Dataset", data.Dataset),
    ("shendu.utils.data.dataset", "TensorDataset", data.TensorDataset),
    ("shendu.utils.data.dataset", "random_split", data.random_split),
    ("shendu.utils.data.sampler", "WeightedRandomSampler", data.WeightedRandomSampler),
    ("shendu.utils.data.sampler", "BatchSampler", data.BatchSampler),
    ("shendu.utils.data.distributed", "DistributedSampler", data.DistributedSampler),
    ("shendu.utils.data._utils.collate", "default_collate", data.default_collate),
    ("shendu.utils.data._utils.collate", "default_convert", data.default_convert),
]


@pytest.mark.parametrize("module, name, obj", PATHS, ids=[f"{m}.{n}" for m, n, _ in PATHS])
def test_pytorch_paths_hold_the_same_objects(module, name, obj):
    assert getattr(importlib.import_module(module), name) is obj
    assert getattr(importlib.import_module(module.replace("shendu.", "torch.", 1)), name)  # the path is PyTorch's


def test_from_import_in_a_fresh_interpreter():
    code = ("import shendu as torch\nfrom shendu.utils.data.dataloader import DataLoader\n"
            "from shendu.utils.data import Dataset, DistributedSampler\n"
            "assert torch.utils.data.DataLoader is DataLoader\nprint('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_get_worker_info_is_none_in_the_main_process():
    assert shendu.utils.data.get_worker_info() is None
