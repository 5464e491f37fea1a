"""benchmarks/surface.py: the generated PyTorch-surface report adds up and tells the truth."""
import importlib
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
ROOT = Path(__file__).resolve().parents[2]


def _surface():
    """benchmarks/surface.py as a module, without putting the repository root on sys.path."""
    spec = importlib.util.spec_from_file_location("_surface_script", ROOT / "benchmarks" / "surface.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up here
    spec.loader.exec_module(module)
    return module


def _resolve(dotted):
    try:
        return importlib.import_module(dotted)
    except ImportError:
        head, _, attr = dotted.rpartition(".")
        return getattr(importlib.import_module(head), attr, None)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("surface") / "surface.md"
    proc = subprocess.run([sys.executable, "-m", "benchmarks.surface", "--out", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return out.read_text()


def test_counts_add_up_and_match_the_lists(report):
    surface = _surface()

    counts = surface.parse_counts(report)
    missing = surface.parse_missing(report)
    assert {"torch", "torch.Tensor", "torch.nn", "torch.nn.functional", "torch.optim",
            "torch.optim.lr_scheduler", "torch.utils.data", "torch.autograd"} <= counts.keys()
    assert counts.keys() == missing.keys()
    for ns, (total, present, n_missing) in counts.items():
        assert total == present + n_missing, ns
        assert len(missing[ns]) == n_missing == len(set(missing[ns])), ns
    assert counts["torch"][0] > 500 and counts["torch.Tensor"][0] > 300  # the filters keep PyTorch's API


def test_missing_names_are_pytorchs_public_names_that_shendu_lacks(report):
    surface = _surface()

    rows = {t: s for t, s, _ in surface.NAMESPACES}
    for ns, names in surface.parse_missing(report).items():
        theirs, ours = _resolve(ns), _resolve(rows[ns])
        for name in names:
            assert not name.startswith("_") and hasattr(theirs, name), (ns, name)
            assert ours is None or not hasattr(ours, name), f"{rows[ns]}.{name} exists but is listed missing"


def test_present_names_are_counted_present(report):
    surface = _surface()

    missing = surface.parse_missing(report)
    for ns, name in [("torch", "zeros"), ("torch", "manual_seed"), ("torch.Tensor", "view"),
                     ("torch.nn", "Linear"), ("torch.nn.functional", "cross_entropy"), ("torch.optim", "AdamW"),
                     ("torch.utils.data", "DataLoader")]:
        assert name not in missing[ns], (ns, name)
    # typing re-exports and stdlib modules are filtered, never reported missing
    assert "Optional" not in missing["torch.nn.functional"] and "math" not in missing["torch"]
