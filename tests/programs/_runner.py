"""Run one of the tutorial-style programs in this folder under shendu, or under PyTorch.

Each program is a plain PyTorch script whose only change is `import shendu as torch` (and the matching
`import shendu.nn as nn`, `from shendu.utils.data import ...` lines). Spelling `shendu` back as `torch`
gives the PyTorch original, so a test can run the very same text under both frameworks and compare.
Every program defines `main(**options) -> dict` (what it reached) and runs it when executed as a script.
"""
from __future__ import annotations

import ast
import re
import sys
import types
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROGRAMS = sorted(p.stem for p in HERE.glob("*.py") if not p.stem.startswith(("_", "test_")))


def source(name: str, framework: str = "shendu") -> str:
    """The program's text; for `framework="torch"` every `shendu` is spelled `torch` again."""
    text = (HERE / f"{name}.py").read_text()
    if framework == "torch":
        text = re.sub(r"\bshendu\b", "torch", text)
    elif framework != "shendu":
        raise ValueError(f"framework must be 'shendu' or 'torch', got {framework!r}")
    return text


def main_params(name: str) -> list[str]:
    """The names of the program's `main` parameters, read from its text without running it."""
    tree = ast.parse(source(name))
    (fn,) = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "main"]
    return [a.arg for a in fn.args.args + fn.args.kwonlyargs]


def run(name: str, framework: str = "shendu", **options) -> dict:
    """Execute the program as a fresh module (never `__main__`) and return `main(**options)`."""
    if str(HERE) not in sys.path:  # programs import their siblings (makemore_mlp reuses makemore_bigram's words)
        sys.path.insert(0, str(HERE))
    module_name = f"_program_{name}_{framework}"
    module = types.ModuleType(module_name)
    module.__file__ = str(HERE / f"{name}.py")
    sys.modules[module_name] = module  # dataclasses and pickling look a program's classes up here
    try:
        exec(compile(source(name, framework), module.__file__, "exec"), module.__dict__)
        return module.main(**options)
    finally:
        sys.modules.pop(module_name, None)
