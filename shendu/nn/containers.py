"""Containers: ``Sequential``, ``ModuleList``, ``ModuleDict``, ``ParameterList``, ``ParameterDict``."""
from __future__ import annotations

import operator
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from shendu.nn.module import Module, _addindent
from shendu.nn.parameter import Parameter
from shendu.tensor import Tensor


def _index(idx: int, n: int, owner: str) -> int:
    idx = operator.index(idx)
    if not -n <= idx < n:
        raise IndexError(f"{owner}: index {idx} is out of range for {n} entries")
    return idx % n


class _IndexedModules(Module):
    """Modules stored under the keys "0", "1", ...: the shared part of Sequential and ModuleList."""

    def _values(self) -> list:
        return list(self._modules.values())

    def _renumber(self, modules: list) -> None:
        self._modules.clear()
        for i, m in enumerate(modules):
            self.add_module(str(i), m)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return type(self)(self._values()[idx])
        return self._values()[_index(idx, len(self), type(self).__name__)]

    def __setitem__(self, idx: int, module: Module) -> None:
        key = list(self._modules)[_index(idx, len(self), type(self).__name__)]
        self.add_module(key, module)

    def __delitem__(self, idx) -> None:
        values = self._values()
        if isinstance(idx, slice):
            del values[idx]
        else:
            del values[_index(idx, len(self), type(self).__name__)]
        self._renumber(values)  # keep the keys "0".."n-1", as PyTorch does

    def append(self, module: Module):
        """Add ``module`` at the end (registered under the next index); returns ``self``."""
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules: Iterable[Module]):
        """Add every module of ``modules`` at the end; returns ``self``."""
        for m in modules:
            self.append(m)
        return self

    def insert(self, index: int, module: Module) -> None:
        """Insert ``module`` before position ``index``, renumbering the ones after it."""
        values = self._values()
        values.insert(index, module)
        self._renumber(values)

    def pop(self, idx: int = -1) -> Module:
        """Remove and return the module at ``idx`` (default the last), renumbering the ones after it."""
        module = self[idx]
        del self[idx]
        return module

    def __iadd__(self, other):
        return self.extend(other)

    def __dir__(self) -> list:
        return [k for k in super().__dir__() if not k.isdigit()]


class Sequential(_IndexedModules):
    """Modules applied in order: ``Sequential(m1, m2)(x) == m2(m1(x))``.

    Built from modules (named "0", "1", ...) or from one OrderedDict of name -> module. Supports
    indexing, slicing (a new Sequential sharing the modules), ``len``, iteration and ``append``.
    """

    def __init__(self, *args: Module):
        super().__init__()
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            for name, module in args[0].items():
                self.add_module(name, module)
        else:
            for i, module in enumerate(args):
                self.add_module(str(i), module)

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return Sequential(OrderedDict(list(self._modules.items())[idx]))
        if isinstance(idx, str):
            return self._modules[idx]
        return super().__getitem__(idx)

    def __add__(self, other: Sequential) -> Sequential:
        if not isinstance(other, Sequential):
            raise ValueError(f"Sequential: can only add another Sequential, got {type(other).__name__}")
        return Sequential(*self, *other)

    def forward(self, input):
        """Call each module in order on the output of the one before: ``m2(m1(m0(input)))``.

        Shape: the first module's input shape in, the last module's output shape out.
        """
        for module in self._modules.values():
            input = module(input)
        return input


class ModuleList(_IndexedModules):
    """A list of modules, each registered ("0", "1", ...) so the parent sees their parameters."""

    def __init__(self, modules: Iterable[Module] | None = None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def __add__(self, other: Iterable[Module]) -> ModuleList:
        return ModuleList([*self, *other])

    def __repr__(self) -> str:
        """Runs of identical entries are collapsed, as PyTorch does: ``(0-2): 3 x Linear(...)``."""
        reprs = [repr(m) for m in self]
        if not reprs:
            return "ModuleList()"
        lines, start = [], 0
        for i in range(1, len(reprs) + 1):
            if i == len(reprs) or reprs[i] != reprs[start]:
                label = f"({start})" if i - start == 1 else f"({start}-{i - 1}): {i - start} x"
                sep = ": " if i - start == 1 else " "
                lines.append(label + sep + _addindent(reprs[start], 2))
                start = i
        return "ModuleList(\n  " + "\n  ".join(lines) + "\n)"

    def forward(self, *args, **kwargs):
        """Not callable: a container of modules has no ``forward`` (it raises NotImplementedError);
        iterate over it and call its modules."""
        raise NotImplementedError("ModuleList has no forward; iterate over it and call its modules")


class ModuleDict(Module):
    """A dict of modules (insertion-ordered), each registered under its key."""

    def __init__(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]] | None = None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key: str) -> Module:
        return self._modules[key]

    def __setitem__(self, key: str, module: Module) -> None:
        self.add_module(key, module)

    def __delitem__(self, key: str) -> None:
        del self._modules[key]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def __contains__(self, key: str) -> bool:
        return key in self._modules

    def clear(self) -> None:
        """Remove every module."""
        self._modules.clear()

    def pop(self, key: str) -> Module:
        """Remove the module under ``key`` and return it."""
        return self._modules.pop(key)

    def keys(self):
        """The keys, in insertion order."""
        return self._modules.keys()

    def items(self):
        """``(key, module)`` pairs, in insertion order."""
        return self._modules.items()

    def values(self):
        """The modules, in insertion order."""
        return self._modules.values()

    def update(self, modules) -> None:
        """Add (or replace) the modules of a mapping or of an iterable of ``(key, module)`` pairs."""
        pairs = modules.items() if isinstance(modules, Mapping) else modules
        for key, module in pairs:
            self[key] = module

    def forward(self, *args, **kwargs):
        """Not callable: a container of modules has no ``forward`` (it raises NotImplementedError);
        index it and call its modules."""
        raise NotImplementedError("ModuleDict has no forward; index it and call its modules")


def _as_parameter(value: Any) -> Any:
    # PyTorch wraps plain tensors put in a ParameterList/Dict into Parameters.
    return Parameter(value) if isinstance(value, Tensor) and not isinstance(value, Parameter) else value


def _param_repr(p: Any) -> str:
    if not isinstance(p, Tensor):
        return f"Object of type: {type(p).__name__}"
    size = "x".join(str(s) for s in p.shape)
    return f"Parameter containing: [shendu.{p.dtype} of size {size}]"


class ParameterList(Module):
    """A list of Parameters, registered as "0", "1", ... (plain tensors are wrapped in Parameter)."""

    def __init__(self, values: Iterable[Any] | None = None):
        super().__init__()
        self._size = 0
        if values is not None:
            self.extend(values)

    def __len__(self) -> int:
        return self._size

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return ParameterList([self[i] for i in range(self._size)[idx]])
        return getattr(self, str(_index(idx, self._size, "ParameterList")))

    def __setitem__(self, idx: int, param: Any) -> None:
        setattr(self, str(_index(idx, self._size, "ParameterList")), _as_parameter(param))

    def __iter__(self) -> Iterator[Any]:
        return (self[i] for i in range(self._size))

    def append(self, value: Any) -> ParameterList:
        """Add ``value`` at the end (a plain tensor is wrapped in ``Parameter``); returns ``self``."""
        self._size += 1
        setattr(self, str(self._size - 1), _as_parameter(value))
        return self

    def extend(self, values: Iterable[Any]) -> ParameterList:
        """Add every value of ``values`` at the end (tensors wrapped in ``Parameter``); returns ``self``."""
        for v in values:
            self.append(v)
        return self

    def __iadd__(self, values: Iterable[Any]) -> ParameterList:
        return self.extend(values)

    def extra_repr(self) -> str:
        return "\n".join(f"({i}): {_param_repr(p)}" for i, p in enumerate(self))

    def forward(self, *args, **kwargs):
        """Not callable: a container of parameters has no ``forward`` (it raises NotImplementedError);
        index it and use the parameters."""
        raise NotImplementedError("ParameterList has no forward")


class ParameterDict(Module):
    """A dict of Parameters under string keys (plain tensors are wrapped in Parameter)."""

    def __init__(self, parameters: Mapping[str, Any] | Iterable[tuple[str, Any]] | None = None):
        super().__init__()
        self._keys: dict[str, None] = {}
        if parameters is not None:
            self.update(parameters)

    def __getitem__(self, key: str) -> Any:
        if key not in self._keys:
            raise KeyError(key)
        return getattr(self, key)

    def __setitem__(self, key: str, value: Any) -> None:
        self._keys[key] = None
        setattr(self, key, _as_parameter(value))

    def __delitem__(self, key: str) -> None:
        del self._keys[key]
        delattr(self, key)

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __contains__(self, key: str) -> bool:
        return key in self._keys

    def keys(self):
        """The keys, in insertion order."""
        return self._keys.keys()

    def items(self):
        """``(key, parameter)`` pairs, in insertion order."""
        return [(k, self[k]) for k in self._keys]

    def values(self):
        """The parameters, in insertion order."""
        return [self[k] for k in self._keys]

    def get(self, key: str, default: Any = None) -> Any:
        """The parameter under ``key``, or ``default`` when there is none."""
        return self[key] if key in self._keys else default

    def pop(self, key: str) -> Any:
        """Remove the parameter under ``key`` and return it."""
        value = self[key]
        del self[key]
        return value

    def clear(self) -> None:
        """Remove every parameter."""
        for k in list(self._keys):
            del self[k]

    def update(self, parameters) -> None:
        """Add (or replace) the values of a mapping or of ``(key, value)`` pairs (tensors wrapped in
        ``Parameter``).
        """
        pairs = parameters.items() if isinstance(parameters, Mapping) else parameters
        for key, value in pairs:
            self[key] = value

    def extra_repr(self) -> str:
        return "\n".join(f"({k}): {_param_repr(v)}" for k, v in self.items())

    def forward(self, *args, **kwargs):
        """Not callable: a container of parameters has no ``forward`` (it raises NotImplementedError);
        index it and use the parameters."""
        raise NotImplementedError("ParameterDict has no forward")
