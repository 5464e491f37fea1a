"""Run one of the tutorial-style programs in this folder under shendu, or under PyTorch.

Each program is a plain PyTorch script whose only change is `import shendu as torch` (and the matching
`import shendu.nn as nn`, `from shendu.utils.data import ...` lines). Spelling `shendu` back as `torch`
gives the PyTorch original, so a test can run the very same text under both frameworks and compare.
Every program defines `main(**options) -> dict` (what it reached) and runs it when executed as a script.
"""
from __future__ import annotations

import ast
import importlib.abc
import importlib.util
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


class _SiblingFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports of sibling programs (`from char_gpt import GPT`) get the same framework's spelling."""

    def __init__(self, framework: str):
        self.framework = framework

    def find_spec(self, fullname, path=None, target=None):
        if fullname in PROGRAMS:
            return importlib.util.spec_from_loader(fullname, self, origin=str(HERE / f"{fullname}.py"))
        return None

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        module.__file__ = str(HERE / f"{module.__name__}.py")
        exec(compile(source(module.__name__, self.framework), module.__file__, "exec"), module.__dict__)


def run(name: str, framework: str = "shendu", patches=(), **options) -> dict:
    """Execute the program as a fresh module (never `__main__`) and return `main(**options)`.

    `patches`: (old, new) text replacements applied to the program first, each of which must match:
    the tests' workarounds for a known gap, so the rest of a program is still checked.
    """
    text = source(name, framework)
    for old, new in patches:
        if old not in text:
            raise ValueError(f"{name}: patch target {old!r} is not in the program")
        text = text.replace(old, new)
    module_name = f"_program_{name}_{framework}"
    module = types.ModuleType(module_name)
    module.__file__ = str(HERE / f"{name}.py")
    finder = _SiblingFinder(framework)
    for sibling in PROGRAMS:  # a sibling imported under the other framework must not be reused
        sys.modules.pop(sibling, None)
    sys.meta_path.insert(0, finder)
    sys.modules[module_name] = module  # dataclasses and pickling look a program's classes up here
    try:
        exec(compile(text, module.__file__, "exec"), module.__dict__)
        return module.main(**options)
    finally:
        sys.modules.pop(module_name, None)
        sys.meta_path.remove(finder)
        for sibling in PROGRAMS:
            sys.modules.pop(sibling, None)
