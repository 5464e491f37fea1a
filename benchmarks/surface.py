"""How much of PyTorch's public Python surface shendu has: `dir()` of each namespace, side by side.

    python -m benchmarks.surface                          # writes docs/pytorch_surface.md
    python -m benchmarks.surface --out /tmp/surface.md    # somewhere else

For every namespace in NAMESPACES, the public names of PyTorch's (after the filters below) are
split into those shendu has (`hasattr` on shendu's twin) and those it lacks; the report gives the
counts per namespace and lists every missing name. Needs PyTorch installed (the `test` extra).

What counts as a public name of a PyTorch namespace (each filter is counted in the report):
- no leading underscore (dunders too: operators are reached through their named methods);
- not a module: a namespace's submodules are listed apart, and only those that are PyTorch's own;
- defined by PyTorch: values whose defining module is outside `torch` (`typing.Optional`,
  `functools.partial`, `collections.Counter`, `__future__.annotations`) are imports, not API; in a
  namespace with an `__all__` (except `torch` itself, whose `__all__` leaves out `unique`,
  `strided`, ...), a name outside `__all__` counts only if it is a class or function defined in
  that namespace (lr_scheduler's `Optimizer`, `Tensor` and `inf` are imports);
- not PyTorch plumbing: TorchScript's C++ IR classes bound by pybind11 (`Graph`, `Node`,
  `FunctionSchema`, ...), `__torch_function__` dispatch helpers (`handle_torch_function`,
  `has_torch_function*`), TorchScript typing aids (`BroadcastingList*`, `boolean_dispatch`),
  build flags and loader hooks (`USE_GLOBAL_DEPS`, `get_file_path`, ...), docstring fragments
  (`*_notes`);
- not deprecated or removed: the legacy per-dtype `*Storage` classes and the names PyTorch keeps
  only to raise or warn "removed, use X" (DEPRECATED below: `torch.eig`, `Tensor.volatile`,
  `Tensor.reinforce`, `nn.Container`, `nn.NLLLoss2d`, ...).
"""
from __future__ import annotations

import argparse
import datetime
import importlib
import inspect
import re
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "docs" / "pytorch_surface.md"

# (PyTorch's namespace, shendu's twin, compare only if shendu has the twin)
NAMESPACES = [
    ("torch", "shendu", False),
    ("torch.Tensor", "shendu.Tensor", False),
    ("torch.nn", "shendu.nn", False),
    ("torch.nn.functional", "shendu.nn.functional", False),
    ("torch.nn.init", "shendu.nn.init", False),
    ("torch.optim", "shendu.optim", False),
    ("torch.optim.lr_scheduler", "shendu.optim.lr_scheduler", False),
    ("torch.utils.data", "shendu.utils.data", False),
    ("torch.autograd", "shendu.autograd", False),
    ("torch.linalg", "shendu.linalg", True),
    ("torch.distributions", "shendu.distributions", True),
]

PLUMBING = {
    "handle_torch_function", "has_torch_function", "has_torch_function_unary", "has_torch_function_variadic",
    "is_tensor_like", "BroadcastingList1", "BroadcastingList2", "BroadcastingList3", "boolean_dispatch",
    "TYPE_CHECKING", "USE_GLOBAL_DEPS", "USE_RTLD_GLOBAL_WITH_LIBTORCH", "PRIVATE_OPS", "get_file_path",
    "prepare_multiprocessing_environment", "profiler_allow_cudagraph_cupti_lazy_reinit_cuda12",
    "compiled_with_cxx11_abi", "classproperty", "LoggerBase", "StorageBase", "DType", "EPOCH_DEPRECATION_WARNING",
}
# Names PyTorch keeps only to raise or warn "removed/deprecated, use X" (checked against PyTorch 2.13).
DEPRECATED = {
    "torch": {"eig", "lstsq", "matrix_rank", "solve", "symeig"},  # + every legacy *Storage class
    "torch.Tensor": {"eig", "lstsq", "symeig", "solve", "volatile", "reinforce"},
    "torch.nn": {"Container", "NLLLoss2d"},
}


@dataclass
class Report:
    """One namespace: PyTorch's public names split by whether shendu has them."""

    torch_name: str
    shendu_name: str
    present: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    submodules_missing: list[str] = field(default_factory=list)
    submodules_present: list[str] = field(default_factory=list)
    filtered: dict[str, int] = field(default_factory=dict)
    shendu_only: list[str] = field(default_factory=list)
    absent: bool = False  # shendu has no such namespace at all

    @property
    def total(self) -> int:
        return len(self.present) + len(self.missing)


def resolve(dotted: str):
    """A module, or a class reached through its module (`torch.Tensor`); None when absent."""
    try:
        return importlib.import_module(dotted)
    except ImportError:
        pass
    head, _, attr = dotted.rpartition(".")
    try:
        return getattr(importlib.import_module(head), attr)
    except (ImportError, AttributeError):
        return None


def _defining_module(value) -> str | None:
    mod = getattr(value, "__module__", None)
    return mod if isinstance(mod, str) else None


def classify(namespace, name: str, value, namespace_name: str) -> str:
    """'public', 'submodule', or the filter that drops the name."""
    if name.startswith("_"):
        return "private"
    if isinstance(value, types.ModuleType):
        own = value.__name__ == f"{getattr(namespace, '__name__', '')}.{name}"
        return "submodule" if own else "imported module"
    if name in PLUMBING or name.endswith("_notes"):
        return "plumbing"
    if isinstance(value, type) and type(value).__name__ == "pybind11_type":
        return "plumbing"  # TorchScript's C++ IR and runtime classes
    if name in DEPRECATED.get(namespace_name, ()) or namespace_name == "torch" and name.endswith("Storage"):
        return "deprecated or removed"
    if inspect.isclass(namespace):
        return "public"  # a class's attributes are its methods and properties, wherever they come from
    owner = _defining_module(value)
    exported = getattr(namespace, "__all__", None)
    if exported is not None and namespace_name != "torch" and name not in exported and not (
            (inspect.isclass(value) or inspect.isfunction(value)) and (owner or "").startswith(namespace_name)):
        return "not PyTorch's (an import)"  # e.g. lr_scheduler's Optimizer, Tensor, inf
    if owner is None or owner.split(".")[0] == "torch":
        return "public"
    if owner == "builtins" and not inspect.isclass(value) and not callable(value):
        return "public"  # constants (torch.pi, torch.inf)
    return "not PyTorch's (an import)"


def compare(torch_name: str, shendu_name: str) -> Report:
    report = Report(torch_name, shendu_name)
    theirs = resolve(torch_name)
    ours = resolve(shendu_name)
    report.absent = ours is None
    public = []
    for name in sorted(dir(theirs)):
        try:
            value = getattr(theirs, name)
        except Exception:  # a lazy attribute that fails to load is not usable surface
            report.filtered["fails to load"] = report.filtered.get("fails to load", 0) + 1
            continue
        kind = classify(theirs, name, value, torch_name)
        if kind == "submodule":
            (report.submodules_present if ours is not None and hasattr(ours, name) else
             report.submodules_missing).append(name)
        elif kind == "public":
            public.append(name)
        else:
            report.filtered[kind] = report.filtered.get(kind, 0) + 1
    for name in public:
        (report.present if ours is not None and hasattr(ours, name) else report.missing).append(name)
    if ours is not None:
        theirs_names = set(dir(theirs))
        report.shendu_only = sorted(n for n in dir(ours) if not n.startswith("_") and n not in theirs_names
                                    and not isinstance(getattr(ours, n, None), types.ModuleType))
    return report


def compare_all() -> list[Report]:
    reports = []
    for torch_name, shendu_name, only_if_present in NAMESPACES:
        if resolve(torch_name) is None:
            continue
        report = compare(torch_name, shendu_name)
        if report.absent and only_if_present:
            report.present, report.missing = [], report.present + report.missing
        reports.append(report)
    return reports


def _wrap(names: list[str], width: int = 110) -> list[str]:
    lines, line = [], ""
    for name in names:
        item = f"`{name}`"
        if line and len(line) + len(item) + 2 > width:
            lines.append(line + ",")
            line = item
        else:
            line = f"{line}, {item}" if line else item
    if line:
        lines.append(line)
    return lines


def render(reports: list[Report], torch_version: str, shendu_version: str) -> str:
    out = [
        "# PyTorch's public surface in shendu",
        "",
        f"Generated by `python -m benchmarks.surface` on {datetime.date.today().isoformat()}, comparing "
        f"PyTorch {torch_version} with shendu {shendu_version}. Do not edit by hand: rerun the script.",
        "",
        "A name counts as present when `hasattr` finds it on shendu's twin of the namespace; that says "
        "nothing about whether every argument works (the programs in `tests/programs/` try that). "
        "PyTorch's names are filtered as the script's docstring explains: private names, imports "
        "(`typing`, `functools`, standard-library modules), TorchScript/`__torch_function__` plumbing "
        "and deprecated or removed names are left out, and the dropped counts are shown per namespace.",
        "",
        "| namespace | PyTorch public | present in shendu | missing | coverage | submodules missing |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in reports:
        cover = f"{100 * len(r.present) / r.total:.0f}%" if r.total else "-"
        name = f"`{r.torch_name}`" + (" (absent in shendu)" if r.absent else "")
        out.append(f"| {name} | {r.total} | {len(r.present)} | {len(r.missing)} | {cover} | "
                   f"{len(r.submodules_missing)} |")
    for r in reports:
        out += ["", f"## `{r.torch_name}` (shendu: `{r.shendu_name}`)", ""]
        filtered = ", ".join(f"{k}: {v}" for k, v in sorted(r.filtered.items()))
        out.append(f"{len(r.present)} of {r.total} present, {len(r.missing)} missing. "
                   f"Left out: {filtered or 'none'}.")
        if r.submodules_missing:
            out += ["", f"Submodules missing ({len(r.submodules_missing)}):", ""]
            out += _wrap(r.submodules_missing)
        out += ["", f"Missing ({len(r.missing)}):", ""]
        out += _wrap(r.missing) or ["(none)"]
        if r.shendu_only:
            out += ["", f"shendu-only public names: {len(r.shendu_only)} (not in PyTorch's `dir()`)."]
    out.append("")
    return "\n".join(out)


def parse_counts(markdown: str) -> dict[str, tuple[int, int, int]]:
    """The summary table back as {namespace: (total, present, missing)} (used by the tests)."""
    rows = {}
    for m in re.finditer(r"^\| `([\w.]+)`[^|]* \| (\d+) \| (\d+) \| (\d+) \|", markdown, re.M):
        rows[m.group(1)] = (int(m.group(2)), int(m.group(3)), int(m.group(4)))
    return rows


def parse_missing(markdown: str) -> dict[str, list[str]]:
    """Each namespace's listed missing names (used by the tests)."""
    result = {}
    for section in re.split(r"^## ", markdown, flags=re.M)[1:]:
        ns = re.match(r"`([\w.]+)`", section).group(1)
        block = section.split("\nMissing (", 1)[1].split("\n\n", 2)[1]
        result[ns] = re.findall(r"`([^`]+)`", block.split("\n\nshendu-only")[0])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="markdown file to write")
    args = parser.parse_args(argv)
    try:
        import torch
    except ImportError:
        print("benchmarks.surface needs PyTorch (pip install -e '.[test]')", file=sys.stderr)
        return 2
    import shendu

    reports = compare_all()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render(reports, torch.__version__, getattr(shendu, "__version__", "?")))
    for r in reports:
        print(f"{r.torch_name:28s} {len(r.present):5d} / {r.total:5d} present, {len(r.missing):5d} missing")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
