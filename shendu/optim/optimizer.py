"""``Optimizer``: parameter groups, per-parameter state, ``zero_grad``, ``step`` and ``state_dict``.

An elementwise optimizer is four small pieces (MLX's ``init_single`` / ``apply_single``):

- ``state_arrays``: the names of its buffers shaped like the parameter (``("exp_avg", "exp_avg_sq")``);
- ``_init_state(p, state, group)``: create the buffers a parameter still lacks (``p`` a raw array);
- ``_settings(state, group) -> dict``: once per parameter and step, count the step and compute the
  scalars of the update (bias corrections, the learning rate of this step...);
- ``_update(p, g, state, **settings) -> new p``: the update as plain array math on raw arrays, which
  replaces the state entries it changes (``state["exp_avg"] = m``) and returns the new parameter.

``step`` runs ``_update`` for every parameter through one executor (``shendu.optim._parallel``),
which writes the results back in place, over flat chunks of the parameters on several threads; a
step records no graph. Closure-based optimizers (L-BFGS, Newton-CG) override ``step`` instead.
"""
from __future__ import annotations

import warnings
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from shendu import backend
from shendu.grad_mode import enable_grad
from shendu.optim._parallel import run_updates
from shendu.tensor import Tensor


class _RequiredParameter:
    def __repr__(self) -> str:
        return "<required parameter>"


required = _RequiredParameter()  # a default that every param group must set itself


class Optimizer:
    """Base class of all optimizers (PyTorch's ``torch.optim.Optimizer``).

    Args:
        params: an iterable of Tensors, of ``(name, Tensor)`` pairs, or of dicts that each define a
            parameter group (``{"params": [...], "lr": 0.1, ...}``); options a group leaves out come
            from ``defaults``.
        defaults: the default value of every option.

    Attributes:
        param_groups: list of dicts, each with ``"params"`` (a list of Tensors) and its options.
        state: ``{Tensor: dict}``, each parameter's buffers (moments, step count).
        defaults: the options given at construction.
    """

    def __init__(self, params: Iterable, defaults: dict[str, Any]):
        self.defaults = defaults
        self.state: defaultdict = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        self._check_group(defaults)
        if isinstance(params, Tensor):
            raise TypeError(f"{self._name}: params must be an iterable of Tensors or dicts, got a single Tensor of "
                            f"shape {params.shape}; wrap it in a list")
        if isinstance(params, set):
            raise TypeError(f"{self._name}: parameters must be an ordered collection (a list), not a set, so that "
                            "the order (and so state_dict) is the same on every run")
        groups = list(params)
        if not groups:
            raise ValueError(f"{self._name}: got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    @property
    def _name(self) -> str:
        return type(self).__name__

    # -- option checks ---------------------------------------------------------------------------
    def _check_group(self, group: dict) -> None:
        """Raise ValueError for an invalid option of ``group`` (defaults or a group's overrides)."""

    def _check(self, ok: bool, what: str, value: Any, expected: str) -> None:
        if not ok:
            raise ValueError(f"{self._name}: invalid {what} {value!r} (expected {expected})")

    def _check_common(self, group: dict, *names: str) -> None:
        """Checks of the options most optimizers share: lr, eps, weight_decay, momentum, betas."""
        checks = {
            "lr": ("learning rate", "lr >= 0"),
            "eps": ("epsilon value", "eps >= 0"),
            "weight_decay": ("weight_decay value", "weight_decay >= 0"),
            "momentum": ("momentum value", "momentum >= 0"),
        }
        for name in names:
            if name not in group or isinstance(group[name], _RequiredParameter):
                continue
            value = group[name]
            if name == "betas":
                if not isinstance(value, (tuple, list)) or len(value) != 2:
                    raise ValueError(f"{self._name}: invalid betas {value!r} (expected a pair (beta1, beta2))")
                for i, beta in enumerate(value):
                    self._check(0.0 <= float(beta) < 1.0, f"beta parameter at index {i}:", beta, f"0 <= betas[{i}] < 1")
            else:
                what, expected = checks[name]
                self._check(float(value) >= 0.0, what, value, expected)

    # -- groups ----------------------------------------------------------------------------------
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters with its own options (e.g. a new layer being unfrozen)."""
        if not isinstance(param_group, dict):
            raise TypeError(f"{self._name}: a param group must be a dict, got {type(param_group).__name__}")
        group = dict(param_group)
        params = group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError(f"{self._name}: parameters must be an ordered collection (a list), not a set, so that "
                            "the order (and so state_dict) is the same on every run")
        else:
            params = list(params)
        if params and all(isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str) for p in params):
            group["param_names"] = [name for name, _ in params]
            params = [p for _, p in params]
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(f"{self._name}: can only optimize Tensors, but parameter {i} is a "
                                f"{type(p).__name__}")
            if p.dtype.kind not in "fc":
                raise ValueError(f"{self._name}: can only optimize floating-point tensors, but parameter {i} "
                                 f"(shape {p.shape}) has dtype {p.dtype}")
            if not p.is_leaf:
                raise ValueError(f"{self._name}: can't optimize a non-leaf Tensor (parameter {i}, shape {p.shape}); "
                                 "pass leaves (Parameters) or call .detach().requires_grad_()")
        group["params"] = params
        for name, default in self.defaults.items():
            if isinstance(default, _RequiredParameter) and name not in group:
                raise ValueError(f"{self._name}: parameter group didn't specify a value of required option {name!r}")
            group.setdefault(name, default)
        self._check_group(group)
        if len({id(p) for p in params}) != len(params):
            warnings.warn(f"{self._name}: a parameter group contains duplicate parameters; in a future version "
                          "this will be an error", UserWarning, stacklevel=3)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in params):
            raise ValueError(f"{self._name}: some parameters appear in more than one parameter group")
        self.param_groups.append(group)

    # -- the step --------------------------------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset every parameter's gradient: to None (the default), or to zeros in place."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    p.grad = p.grad.detach() if p.grad._ctx is not None else p.grad
                    p.grad._data[...] = 0

    def step(self, closure: Callable[[], Any] | None = None):
        """One update of every parameter that has a gradient.

        Args:
            closure: optional; re-evaluates the model and returns the loss (gradients enabled).

        Returns:
            the closure's loss, or None.
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        items = []
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                self._init_state(p._data, state, group)
                settings = self._settings(state, group)
                buffers = {name: state[name]._data for name in self.state_arrays if name in state}
                items.append((p._data, p.grad._data, buffers, settings))
        if items:
            run_updates(self._update, items)
        return loss

    # -- the pieces of an elementwise optimizer ------------------------------------------------------
    state_arrays: tuple[str, ...] = ()  # the buffers shaped like the parameter that _update reads and replaces

    def _init_state(self, p, state: dict, group: dict) -> None:
        """Create the buffers ``state`` still lacks for parameter ``p`` (a raw array)."""

    def _start_state(self, p, state: dict, *buffers: str, step: bool = True) -> None:
        """A new parameter's state: its step count and the named buffers, zeroed (PyTorch's names)."""
        if step:
            state["step"] = self._step_tensor()
        for name in buffers:
            state[name] = self._zeros_like(p)

    def _settings(self, state: dict, group: dict) -> dict:
        """Count the step and return the keyword arguments of ``_update`` for this parameter."""
        raise NotImplementedError(f"{self._name} does not implement _settings")

    @staticmethod
    def _update(p, g, state: dict, **settings):
        """The update on raw arrays (whole parameters or flat chunks of them; any thread): return the
        new parameter, put new values of buffers into ``state``, write into no argument."""
        raise NotImplementedError

    # -- helpers for the updates -----------------------------------------------------------------
    @staticmethod
    def _zeros_like(p) -> Tensor:
        return Tensor._wrap(backend.array_module(p).zeros_like(p))

    @staticmethod
    def _step_tensor() -> Tensor:
        import numpy as np
        return Tensor._wrap(np.zeros((), dtype=np.float32))

    @staticmethod
    def _next_step(state: dict) -> float:
        """Increment the parameter's step count (a 0-d float32 tensor, as in PyTorch) and return it."""
        step = state["step"]._data
        step += 1  # in place: a 0-d array stays an array (a ufunc's result would be a NumPy scalar)
        return float(step)

    # -- state_dict ------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """``{"state": {index: {name: value}}, "param_groups": [{options..., "params": [index, ...]}]}``.

        Parameters are numbered in group order (PyTorch's layout); tensors are copies, so the dict is
        a snapshot that later steps do not change.
        """
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            for p in group["params"]:
                index.setdefault(id(p), len(index))
            packed["params"] = [index[id(p)] for p in group["params"]]
            groups.append(packed)
        state = {}
        for p, s in self.state.items():
            if s and id(p) in index:
                state[index[id(p)]] = {k: _copy_value(v) for k, v in s.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore options and state saved by ``state_dict`` (the same parameters, in the same groups)."""
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"{self._name}.load_state_dict: the state dict has {len(saved_groups)} parameter groups, "
                             f"the optimizer has {len(self.param_groups)}")
        for i, (g, sg) in enumerate(zip(self.param_groups, saved_groups)):
            if len(g["params"]) != len(sg["params"]):
                raise ValueError(f"{self._name}.load_state_dict: parameter group {i} has {len(g['params'])} "
                                 f"parameters, the state dict's has {len(sg['params'])}")
        by_index = {}
        for g, sg in zip(self.param_groups, saved_groups):
            for p, i in zip(g["params"], sg["params"]):
                by_index[int(i)] = p
        state: defaultdict = defaultdict(dict)
        for i, s in state_dict["state"].items():
            p = by_index.get(int(i))
            if p is None:
                continue
            state[p] = {k: _load_value(k, v, p) for k, v in s.items()}
        self.state = state
        for g, sg in zip(self.param_groups, saved_groups):
            params = g["params"]
            g.clear()
            g.update({k: v for k, v in sg.items() if k != "params"})
            g["params"] = params

    def __repr__(self) -> str:
        lines = [f"{self._name} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(k for k in group if k != "params"):
                lines.append(f"    {key}: {group[key]}")
        lines.append(")")
        return "\n".join(lines)


# -- pieces the formulas share -----------------------------------------------------------------
def l2_grad(p, g, weight_decay: float, maximize: bool):
    """The gradient to descend: ``-g`` when maximizing, plus ``weight_decay * p`` (L2, PyTorch's order)."""
    if maximize:
        g = -g
    return g + weight_decay * p if weight_decay != 0 else g


def _copy_value(v):
    """A snapshot of a state value: tensors and arrays copied, lists and dicts copied recursively."""
    if isinstance(v, Tensor):
        return Tensor._wrap(v._data.copy())
    if hasattr(v, "copy") and hasattr(v, "dtype"):  # a raw array
        return v.copy()
    if isinstance(v, (list, tuple)):
        return type(v)(_copy_value(x) for x in v)
    if isinstance(v, dict):
        return {k: _copy_value(x) for k, x in v.items()}
    return v


def _load_value(key: str, v, p: Tensor):
    """A saved state value made ready for ``p``: arrays copied onto p's device (moments in p's dtype)."""
    if key == "step" and not isinstance(v, Tensor):
        import numpy as np
        return Tensor._wrap(np.array(float(v), dtype=np.float32))
    if isinstance(v, (list, tuple)):
        return type(v)(_load_value(key, x, p) for x in v)
    is_tensor = isinstance(v, Tensor)
    if is_tensor or (hasattr(v, "dtype") and hasattr(v, "shape")):
        arr = backend.to_device(v._data if is_tensor else v, p.device)
        if key != "step" and arr.shape == p.shape and arr.dtype.kind == "f":
            arr = arr.astype(p.dtype)  # a copy, even when the dtype is already right
        else:
            arr = arr.copy()
        return Tensor._wrap(arr) if is_tensor else arr
    return v
