"""Every public function and class a user reaches with ``help()`` has a docstring.

Walks the public namespaces (their ``__all__``, else their non-underscore names), every public
method and property of the classes found there (through their shendu base classes: ``help()``
shows a base class's docstring for a method that overrides it without one), and every method of
``Tensor``. A class needs a docstring of its own; a base class's would describe something else.
"""
import importlib
import inspect
import re

import pytest

import shendu
import shendu.train

NAMESPACES = [
    "shendu", "shendu.autograd", "shendu.nn", "shendu.nn.functional", "shendu.nn.init", "shendu.nn.utils",
    "shendu.optim", "shendu.optim.lr_scheduler", "shendu.utils.data", "shendu.data", "shendu.train",
    "shendu.io", "shendu.linalg", "shendu.metrics", "shendu.amp", "shendu.random", "shendu.nn.utils.rnn",
    "shendu.models", "shendu.text", "shendu.text.decoding", "shendu.text.corpus", "shendu.experiments",
    "shendu.distributions", "shendu.distributions.constraints", "shendu.distributions.transforms", "shendu.ml",
    "shendu.distributed", "shendu.onnx", "shendu.utils.checkpoint", "shendu.utils.flop_counter", "shendu.nn.parallel",
    "shendu.nn.lora", "shendu.models.sizing", "shendu.metrics.information", "shendu.train.finetune",
]

# Names other work is adding right now (brand new, not yet documented by their authors); remove an
# entry as soon as its docstring lands. Nothing that existed before may be listed here.
PENDING: set[str] = set()  # names allowed to lack a docstring for now (none)


def _public_names(module) -> list[str]:
    names = getattr(module, "__all__", None)
    if names is None:
        names = [n for n in dir(module) if not n.startswith("_")]
    return list(names)


def _ours(obj) -> bool:
    return (getattr(obj, "__module__", None) or "").startswith("shendu")


def _has_doc(obj) -> bool:
    if inspect.isclass(obj):
        return bool((obj.__dict__.get("__doc__") or "").strip())
    return bool((inspect.getdoc(obj) or "").strip())


def _members(cls):
    """``(qualified name, object)`` of the public methods and properties ``cls`` defines or inherits from shendu."""
    for klass in cls.__mro__:
        if not _ours(klass):
            continue
        for name, raw in vars(klass).items():
            if name.startswith("_"):
                continue
            if isinstance(raw, property):
                yield f"{klass.__qualname__}.{name}", raw
            elif isinstance(raw, (staticmethod, classmethod)) or inspect.isfunction(raw):
                yield f"{klass.__qualname__}.{name}", getattr(cls, name)


def undocumented() -> list[str]:
    seen: set[int] = set()
    missing: list[str] = []

    def check(label: str, obj) -> None:
        key = id(inspect.unwrap(obj.__func__ if inspect.ismethod(obj) else obj))
        if key in seen:
            return
        seen.add(key)
        if not _has_doc(obj) and label not in PENDING:
            missing.append(label)

    classes = [shendu.Tensor]
    for module_name in NAMESPACES:
        module = importlib.import_module(module_name)
        for name in _public_names(module):
            obj = getattr(module, name, None)
            if obj is None or inspect.ismodule(obj) or not callable(obj) or not _ours(obj):
                continue
            check(f"{module_name}.{name}", obj)
            if inspect.isclass(obj):
                classes.append(obj)
    for cls in classes:
        for label, member in _members(cls):
            check(label, member)
    return missing


def test_every_public_callable_has_a_docstring():
    missing = undocumented()
    assert not missing, f"{len(missing)} public names without a docstring:\n" + "\n".join(missing)


def test_the_walk_can_fail():
    def helper(x):
        return x

    class Thing:
        def method(self):
            return 1

    assert not _has_doc(helper) and not _has_doc(Thing)
    assert not _has_doc(Thing.method)
    helper.__doc__ = "A helper."
    assert _has_doc(helper)


def test_in_place_methods_say_what_they_are_the_in_place_version_of():
    """``add_`` names ``add`` and says it works in place (PyTorch: "In-place version of add()")."""
    tensor = shendu.Tensor
    names = [n for n in dir(tensor) if n.endswith("_") and not n.startswith("_") and callable(getattr(tensor, n))]
    assert len(names) > 40
    vague = []
    for name in names:
        method = getattr(tensor, name)
        doc = inspect.getdoc(method) or ""
        twin, own_twin = name[:-1], method.__name__[:-1]  # an alias (multiply_ = mul_) names its original
        if not doc or (callable(getattr(tensor, twin, None)) and not (
                (twin in doc or own_twin in doc) and re.search(r"in-place|in place", doc, re.IGNORECASE))):
            vague.append(name)
    assert not vague, vague


@pytest.mark.parametrize("name", ["item", "tolist", "numpy", "backward", "detach", "to", "view", "reshape"])
def test_core_tensor_methods_are_documented(name):
    doc = inspect.getdoc(getattr(shendu.Tensor, name))
    assert doc and len(doc) > 30, doc


@pytest.mark.parametrize("fn", [shendu.train.fit, shendu.train.Trainer.fit, shendu.train.Trainer,
                                shendu.train.evaluate, shendu.train.predict],
                         ids=lambda f: f.__qualname__)
def test_training_entry_points_document_every_argument(fn):
    doc = inspect.getdoc(fn)
    target = fn.__init__ if inspect.isclass(fn) else fn
    params = [p for p in inspect.signature(target).parameters if p not in ("self",)]
    missing = [p for p in params if not re.search(rf"\b{p}\b", doc)]
    assert not missing, f"{fn.__qualname__}: arguments not described: {missing}"


def _layers():
    from shendu.nn import Module
    out = []
    for name in _public_names(shendu.nn):
        obj = getattr(shendu.nn, name)
        if inspect.isclass(obj) and issubclass(obj, Module) and _ours(obj) and f"shendu.nn.{name}" not in PENDING:
            out.append(obj)
    return out


# containers and base classes: their subclasses' docstrings give the shapes
SHAPELESS = {"Module", "Sequential", "ModuleList", "ModuleDict", "ParameterList", "ParameterDict", "DataParallel",
             "RNNBase", "RNNCellBase"}


@pytest.mark.parametrize("layer", [c for c in _layers() if c.__name__ not in SHAPELESS], ids=lambda c: c.__name__)
def test_layers_state_the_shapes_of_what_goes_in_and_out(layer):
    doc = layer.__dict__.get("__doc__") or ""
    assert re.search(r"Shape|\(N, |\(\*|shape", doc), f"{layer.__name__}: no Shape section"


def test_pending_holds_only_names_still_without_a_docstring():
    saved = set(PENDING)
    PENDING.clear()
    try:
        missing = set(undocumented())
    finally:
        PENDING.update(saved)
    stale = sorted(saved - missing)
    assert not stale, f"documented now, remove from PENDING: {stale}"
