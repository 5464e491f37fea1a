"""Import order never matters: every public module imports first in a fresh interpreter, and the
package still loads when the imports of shendu/__init__.py are shuffled."""
import ast
import os
import pkgutil
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import shendu

PACKAGE = Path(shendu.__file__).parent


def _public_modules() -> list[str]:
    """The top-level modules and packages, and every module of the core layers (tensor, autograd, ops)."""
    names = []
    for info in pkgutil.walk_packages([str(PACKAGE)], prefix="shendu."):
        parts = info.name.split(".")[1:]
        core = parts[0] in ("autograd", "ops")
        if not any(p.startswith("_") for p in parts) and (len(parts) == 1 or core):
            names.append(info.name)
    return sorted(names)


def _run_all(commands: list[list[str]], env=None) -> list[subprocess.CompletedProcess]:
    """Run the commands two at a time (the suite's machine has two cores)."""
    results, running = [], []
    for cmd in commands:
        running.append((cmd, subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                              env=env)))
        if len(running) == 2:
            results += [_finish(*running.pop(0))]
    results += [_finish(*r) for r in running]
    return results


def _finish(cmd, proc) -> subprocess.CompletedProcess:
    out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def test_every_public_module_imports_first_in_a_fresh_interpreter():
    modules = _public_modules()
    assert "shendu.tensor" in modules and "shendu.autograd.function" in modules and len(modules) > 30
    # Several modules per interpreter would hide an order dependence; one each, in batches of processes.
    batches = [modules[i::2] for i in range(2)]
    code = ("import importlib, subprocess, sys\n"
            "for name in sys.argv[1:]:\n"
            "    r = subprocess.run([sys.executable, '-c', f'import {name}'], capture_output=True, text=True)\n"
            "    if r.returncode: print(name, r.stderr.strip().splitlines()[-1]); sys.exit(1)\n")
    failures = [r.stdout + r.stderr for r in _run_all([[sys.executable, "-c", code, *b] for b in batches])
                if r.returncode]
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("seed", [0, 1])
def test_package_loads_with_its_init_imports_in_any_order(tmp_path, seed):
    copy = tmp_path / "shendu"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    source = (PACKAGE / "__init__.py").read_text()
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    imports, rest = [], []
    for node in tree.body:
        text = "".join(lines[node.lineno - 1:node.end_lineno])
        is_import = isinstance(node, (ast.Import, ast.ImportFrom)) and getattr(node, "module", None) != "__future__"
        (imports if is_import and "_bind_tensor_methods" not in text else rest).append(text)
    random.Random(seed).shuffle(imports)
    (copy / "__init__.py").write_text("".join(imports) + "".join(rest))
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    # An editable install's finder would find the real package before PYTHONPATH: drop it.
    probe = ("import sys; sys.meta_path = [f for f in sys.meta_path if '__editable__' not in "
             "getattr(f, '__module__', '')]; "
             "import shendu; x = shendu.ones(2, requires_grad=True); (x * 3).sum().backward(); print(shendu.__file__)")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=120,
                            cwd=tmp_path)  # not the checkout: "-c" puts the working directory first on sys.path
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().startswith(str(tmp_path))
