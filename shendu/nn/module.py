"""``Module``: the base class of every layer and model (PyTorch's ``torch.nn.Module``).

Setting a ``Parameter``, a ``Buffer`` or a ``Module`` as an attribute registers it, so
``parameters()``, ``state_dict()``, ``to()`` and ``train()`` reach it without the subclass listing
anything. ``__call__`` runs the forward pre-hooks, ``forward`` and the forward hooks.
"""
from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

from shendu import backend, dtypes
from shendu.nn.parameter import Parameter
from shendu.nn.state_dict import StateDictMixin
from shendu.tensor import Tensor


class Buffer(Tensor):
    """A Tensor that a Module registers as a buffer when set as an attribute (``torch.nn.Buffer``).

    ``Buffer(data, persistent=True)`` shares ``data``'s array; a non-persistent buffer is left out
    of ``state_dict()``.
    """

    def __init__(self, data: Tensor, *, persistent: bool = True):
        self._data = data._data if isinstance(data, Tensor) else Tensor(data)._data
        self.persistent = persistent


class RemovableHandle:
    """The handle a ``register_*_hook`` call returns; ``remove()`` takes the hook out again."""

    _next_id = itertools.count()

    def __init__(self, hooks: dict):
        self.hooks_dict = hooks
        self.id = next(RemovableHandle._next_id)

    def remove(self) -> None:
        self.hooks_dict.pop(self.id, None)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


def _check_name(kind: str, module: Module, name: Any) -> None:
    if "_parameters" not in module.__dict__:
        raise AttributeError(f"cannot assign {kind} before Module.__init__() call")
    if not isinstance(name, str):
        raise TypeError(f"{kind} name should be a string, got {type(name).__name__}")
    if name == "" or "." in name:
        raise KeyError(f"{kind} name can't be empty or contain '.', got {name!r}")


def _addindent(text: str, spaces: int) -> str:
    lines = text.split("\n")
    return lines[0] if len(lines) == 1 else "\n".join([lines[0]] + [" " * spaces + ln for ln in lines[1:]])


class Module(StateDictMixin):
    """Base class for all neural-network modules; subclasses define ``forward``.

    Submodules, ``Parameter``s and buffers assigned as attributes in ``__init__`` are registered
    (``self.fc = Linear(4, 3)``), so they are moved, saved and trained with their parent.

    Attributes:
        training (bool): whether the module is in training mode (``train()``) or evaluation mode
            (``eval()``); layers such as Dropout and BatchNorm behave differently in each.
    """

    training: bool
    dump_patches = False

    def __init__(self, *args, **kwargs) -> None:
        if args or kwargs:
            raise TypeError(f"{type(self).__name__}.__init__() got unexpected arguments {args} {kwargs}")
        d = self.__dict__
        d["training"] = True
        d["_parameters"] = {}
        d["_buffers"] = {}
        d["_non_persistent_buffers_set"] = set()
        d["_modules"] = {}
        d["_forward_hooks"] = {}
        d["_forward_pre_hooks"] = {}

    def forward(self, *args, **kwargs):
        """The computation of this module; subclasses override it (call the module, ``m(x)``, not ``m.forward(x)``,
        so hooks run).

        A layer's docstring gives the shapes its ``forward`` takes and returns.
        """
        raise NotImplementedError(f'Module [{type(self).__name__}] is missing the required "forward" function')

    def __call__(self, *args, **kwargs):
        d = self.__dict__
        if not (d["_forward_hooks"] or d["_forward_pre_hooks"]):
            return self.forward(*args, **kwargs)
        for hook, with_kwargs in list(d["_forward_pre_hooks"].values()):
            if with_kwargs:
                result = hook(self, args, kwargs)
                if result is not None:
                    args, kwargs = result
            else:
                result = hook(self, args)
                if result is not None:
                    args = result if isinstance(result, tuple) else (result,)
        out = self.forward(*args, **kwargs)
        for hook, with_kwargs in list(d["_forward_hooks"].values()):
            result = hook(self, args, kwargs, out) if with_kwargs else hook(self, args, out)
            if result is not None:
                out = result
        return out

    # -- registration ----------------------------------------------------------------------------
    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Add ``param`` (a ``Parameter`` or None) as the parameter ``name``; ``self.name = Parameter(...)`` does
        the same. It then appears in ``parameters()`` and ``state_dict()``.
        """
        _check_name("parameter", self, name)
        if hasattr(self, name) and name not in self._parameters:
            raise KeyError(f"attribute '{name}' already exists")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign '{type(param).__name__}' object to parameter '{name}' "
                            "(shendu.nn.Parameter or None required)")
        if param is not None and param.grad_fn is not None:
            raise ValueError(f"Cannot assign non-leaf Tensor to parameter '{name}'. Model parameters must "
                             "be created explicitly; wrap the value in Parameter(t.detach()).")
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Add ``tensor`` (or None) as the buffer ``name``: state that is not trained (running means, masks).

        Buffers move with ``to()`` and are saved in ``state_dict()`` unless ``persistent=False``.
        """
        _check_name("buffer", self, name)
        if hasattr(self, name) and name not in self._buffers:
            raise KeyError(f"attribute '{name}' already exists")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"cannot assign '{type(tensor).__name__}' object to buffer '{name}' "
                            "(shendu.Tensor or None required)")
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        """Add ``module`` (or None) as the child ``name``; ``self.name = module`` does the same. Alias:
        ``register_module``.
        """
        _check_name("module", self, name)
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        if hasattr(self, name) and name not in self._modules:
            raise KeyError(f"attribute '{name}' already exists")
        self._modules[name] = module

    register_module = add_module

    def __setattr__(self, name: str, value: Any) -> None:
        d = self.__dict__
        params = d.get("_parameters")
        if isinstance(value, Parameter):
            if params is None:
                raise AttributeError("cannot assign parameters before Module.__init__() call")
            self._forget(name, keep="_parameters")
            self.register_parameter(name, value)
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as parameter '{name}' "
                                "(shendu.nn.Parameter or None expected)")
            params[name] = None
        elif isinstance(value, Module):
            if params is None:
                raise AttributeError("cannot assign module before Module.__init__() call")
            self._forget(name, keep="_modules")
            d["_modules"][name] = value
        elif params is not None and name in d["_modules"]:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as child module '{name}' "
                                "(shendu.nn.Module or None expected)")
            d["_modules"][name] = None
        elif isinstance(value, Buffer):
            self._forget(name, keep="_buffers")
            self.register_buffer(name, value, value.persistent)
        elif params is not None and name in d["_buffers"]:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign '{type(value).__name__}' as buffer '{name}' "
                                "(shendu.Tensor or None expected)")
            d["_buffers"][name] = value
        else:
            object.__setattr__(self, name, value)

    def _forget(self, name: str, keep: str) -> None:
        """Drop ``name`` from every registry but ``keep`` (a re-assignment keeps its place in order)."""
        d = self.__dict__
        d.pop(name, None)
        for key in ("_parameters", "_buffers", "_modules"):
            if key != keep:
                d[key].pop(name, None)
        if keep != "_buffers":
            d["_non_persistent_buffers_set"].discard(name)

    def __getattr__(self, name: str) -> Any:
        d = self.__dict__
        for key in ("_parameters", "_buffers", "_modules"):
            members = d.get(key)
            if members is not None and name in members:
                return members[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        d = self.__dict__
        for key in ("_parameters", "_buffers", "_modules"):
            if name in d.get(key, ()):
                del d[key][name]
                d["_non_persistent_buffers_set"].discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self) -> list:
        keys = list(object.__dir__(self))
        keys += list(self._parameters) + list(self._buffers) + list(self._modules)
        return sorted(k for k in set(keys) if not k[:1].isdigit())

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)

    # -- lookup ----------------------------------------------------------------------------------
    def get_submodule(self, target: str) -> Module:
        """The submodule at dotted path ``target`` (``"encoder.layers.0"``); ``""`` is ``self``."""
        mod = self
        for item in target.split(".") if target else []:
            if not hasattr(mod, item):
                raise AttributeError(f"{type(mod).__name__} has no attribute `{item}` (looking up {target!r})")
            mod = getattr(mod, item)
            if not isinstance(mod, Module):
                raise AttributeError(f"`{item}` is not an nn.Module (looking up {target!r})")
        return mod

    def get_parameter(self, target: str) -> Parameter:
        """The parameter at dotted path ``target`` (``"encoder.0.weight"``); AttributeError if there is none."""
        module_path, _, name = target.rpartition(".")
        mod = self.get_submodule(module_path)
        if not hasattr(mod, name):
            raise AttributeError(f"{type(mod).__name__} has no attribute `{name}` (looking up {target!r})")
        param = getattr(mod, name)
        if not isinstance(param, Parameter):
            raise AttributeError(f"`{name}` is not an nn.Parameter (looking up {target!r})")
        return param

    def get_buffer(self, target: str) -> Tensor:
        """The buffer at dotted path ``target`` (``"bn.running_mean"``); AttributeError if there is none."""
        module_path, _, name = target.rpartition(".")
        mod = self.get_submodule(module_path)
        if name not in mod._buffers:
            raise AttributeError(f"`{name}` is not a buffer of {type(mod).__name__} (looking up {target!r})")
        return mod._buffers[name]

    # -- iteration -------------------------------------------------------------------------------
    def named_modules(self, memo: set | None = None, prefix: str = "",
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Module]]:
        """(name, module) for this module and every descendant, each module once by default."""
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, module in self._modules.items():
            if module is not None:
                yield from module.named_modules(memo, f"{prefix}.{name}" if prefix else name, remove_duplicate)

    def modules(self) -> Iterator[Module]:
        """This module and every descendant, depth first, each module once."""
        for _, module in self.named_modules():
            yield module

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """``(name, module)`` for each direct child, each module once."""
        seen = set()
        for name, module in self._modules.items():
            if module is not None and id(module) not in seen:
                seen.add(id(module))
                yield name, module

    def children(self) -> Iterator[Module]:
        """The direct child modules, each once."""
        for _, module in self.named_children():
            yield module

    def _named_members(self, kind: str, prefix: str, recurse: bool, remove_duplicate: bool) -> Iterator:
        seen = set()
        modules = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse else [(prefix, self)]
        for mod_prefix, module in modules:
            for name, value in module.__dict__[kind].items():
                if value is None or (remove_duplicate and id(value) in seen):
                    continue
                seen.add(id(value))
                yield (f"{mod_prefix}.{name}" if mod_prefix else name), value

    def named_parameters(self, prefix: str = "", recurse: bool = True,
                         remove_duplicate: bool = True) -> Iterator[tuple[str, Parameter]]:
        """(dotted name, Parameter) pairs; a parameter shared by two modules comes once, first name."""
        return self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """Every parameter of this module (and of its descendants when ``recurse``), each once: what an
        optimizer trains, ``optim.SGD(model.parameters(), lr=0.1)``.
        """
        for _, param in self.named_parameters(recurse=recurse):
            yield param

    def named_buffers(self, prefix: str = "", recurse: bool = True,
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Tensor]]:
        """``(dotted name, buffer)`` pairs, of descendants too when ``recurse``; a shared buffer comes once."""
        return self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        """Every buffer of this module (and of its descendants when ``recurse``), each once."""
        for _, buf in self.named_buffers(recurse=recurse):
            yield buf

    # -- modes and gradients ---------------------------------------------------------------------
    def apply(self, fn: Callable[[Module], None]) -> Module:
        """Call ``fn`` on every submodule (children first) and then on ``self``."""
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    def train(self, mode: bool = True) -> Module:
        """Set training mode (``mode=True``) or evaluation mode on this module and every descendant; returns ``self``.

        Dropout and batch normalisation behave differently in the two modes.
        """
        if not isinstance(mode, bool):
            raise ValueError(f"train(): training mode is expected to be boolean, got {mode!r}")
        for module in self.modules():
            module.__dict__["training"] = mode
        return self

    def eval(self) -> Module:
        """Evaluation mode, ``train(False)``: dropout off, batch norm uses its running statistics. Returns ``self``."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Set ``requires_grad`` on every parameter (False freezes the module); returns ``self``."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear every parameter's ``.grad``: set it to None (default) or, with ``set_to_none=False``, fill it with
        zeros.
        """
        for p in self.parameters():
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                p.grad = p.grad.detach()
                p.grad._data[...] = 0

    # -- dtype and device ------------------------------------------------------------------------
    def _apply(self, fn: Callable, floating_only: bool = False) -> Module:
        """Replace the array of every parameter, gradient and buffer by ``fn(array)``, in place.

        Assigning ``.data`` keeps each Parameter object, so an optimizer built before ``to()``
        still holds the parameters it updates (as PyTorch does).
        """
        def convert(t: Tensor | None) -> None:
            if t is not None and (not floating_only or dtypes._is_float(t._data.dtype)):
                t._data = fn(t._data)

        for module in self.modules():
            for p in module._parameters.values():
                if p is not None:
                    convert(p)
                    convert(p.grad)
            for b in module._buffers.values():
                convert(b)
        return self

    def to(self, *args, dtype=None, device=None, non_blocking: bool = False) -> Module:
        """``to(dtype)``, ``to(device)``, ``to(device, dtype)`` or ``to(tensor)``, in place.

        Only floating-point parameters and buffers change dtype (integer counters stay integers).
        """
        for a in args:
            if isinstance(a, Tensor):
                dtype, device = a.dtype, a.device
            elif isinstance(a, backend.Device) or (isinstance(a, str) and a.split(":")[0] in ("cpu", "cuda")):
                device = a
            elif a is not None:
                dtype = a
        if dtype is not None:
            dtype = dtypes.as_dtype(dtype)
            if not dtypes._is_float(dtype):
                raise TypeError(f"{type(self).__name__}.to() only accepts floating point dtypes, but got {dtype}")
            self._apply(lambda a: a if a.dtype == dtype else a.astype(dtype), floating_only=True)
        if device is not None:
            self._apply(lambda a: backend.to_device(a, device))
        return self

    def float(self) -> Module:
        """Cast floating-point parameters and buffers to float32, in place; returns ``self``."""
        return self.to(dtypes.float32)

    def bfloat16(self) -> Module:
        """Cast floating-point parameters and buffers to bfloat16, in place; returns ``self``."""
        return self.to(dtypes.bfloat16)

    def double(self) -> Module:
        """Cast floating-point parameters and buffers to float64, in place; returns ``self``."""
        return self.to(dtypes.float64)

    def half(self) -> Module:
        """Cast floating-point parameters and buffers to float16, in place; returns ``self``."""
        return self.to(dtypes.float16)

    def type(self, dst_type) -> Module:
        """Cast floating-point parameters and buffers to ``dst_type``, in place (``to(dst_type)``); returns ``self``."""
        return self.to(dst_type)

    def cpu(self) -> Module:
        """Move parameters and buffers to host memory, in place; returns ``self``."""
        return self.to("cpu")

    def cuda(self, device=None) -> Module:
        """Move parameters and buffers to the GPU, in place (needs CuPy and a GPU); returns ``self``."""
        return self.to("cuda")

    # -- hooks -----------------------------------------------------------------------------------
    def _add_hook(self, hooks: dict, hook: Callable, prepend: bool, with_kwargs: bool) -> RemovableHandle:
        handle = RemovableHandle(hooks)
        hooks[handle.id] = (hook, with_kwargs)
        if prepend:
            items = list(hooks.items())
            hooks.clear()
            hooks.update([items[-1]] + items[:-1])
        return handle

    def register_forward_pre_hook(self, hook: Callable, *, prepend: bool = False,
                                  with_kwargs: bool = False) -> RemovableHandle:
        """``hook(module, args)`` before ``forward``; a returned value replaces the positional args.

        With ``with_kwargs``: ``hook(module, args, kwargs)``, returning ``None`` or ``(args, kwargs)``.
        """
        return self._add_hook(self._forward_pre_hooks, hook, prepend, with_kwargs)

    def register_forward_hook(self, hook: Callable, *, prepend: bool = False,
                              with_kwargs: bool = False) -> RemovableHandle:
        """``hook(module, args, output)`` after ``forward`` (``hook(module, args, kwargs, output)`` with
        ``with_kwargs``); a returned value replaces the output."""
        return self._add_hook(self._forward_hooks, hook, prepend, with_kwargs)

    # -- display ---------------------------------------------------------------------------------
    def extra_repr(self) -> str:
        """The text inside this module's parentheses in ``repr``; layers override it."""
        return ""

    def _get_name(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [f"({name}): " + _addindent(repr(module), 2) for name, module in self._modules.items()]
        lines = extra_lines + child_lines
        body = ""
        if lines:
            body = extra_lines[0] if len(extra_lines) == 1 and not child_lines else "\n  " + "\n  ".join(lines) + "\n"
        return f"{self._get_name()}({body})"
