"""The op-test harness (tinygrad's ``helper_test_op`` shape): PyTorch parity and float64 gradcheck.

``check_op(sd_fn, torch_fn, shapes)`` feeds the same random float32 data to a shendu function and
to its PyTorch twin, compares the outputs (values, dtype, shape), backpropagates the same random
upstream gradient through both and compares every input gradient. ``check_grad(sd_fn, shapes)``
runs ``shendu.gradcheck`` on float64 copies of the inputs, ``check_gradgrad`` ``shendu.gradgradcheck``.

``shapes`` lists the op's positional inputs. Each entry is
- a shape tuple: a random float tensor that requires grad,
- a NumPy float array: a float tensor with those values that requires grad,
- ``Const(array)``: a tensor with those values that needs no grad (indices, masks, targets; float
  values take the dtype of the run: float32 for parity, float64 for gradcheck),
- anything else (a Python number, None, a string): passed to both functions unchanged.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

import shendu as sd


@dataclass
class Const:
    """An input tensor that needs no gradient (integer indices, bool masks, fixed float targets)."""

    value: Any


def _is_float_input(spec) -> bool:
    return isinstance(spec, tuple) or (isinstance(spec, np.ndarray) and spec.dtype.kind == "f")


def make_arrays(shapes: Sequence, low: float = -2.0, high: float = 2.0, seed: int = 0) -> list:
    """Random data for every float input (uniform in [low, high)), the given values for the rest."""
    rng = np.random.default_rng(seed)
    out = []
    for spec in shapes:
        if isinstance(spec, tuple):
            out.append(rng.uniform(low, high, size=spec).astype(np.float32))
        elif isinstance(spec, np.ndarray) and spec.dtype.kind == "f":
            out.append(spec.astype(np.float32))
        else:
            out.append(spec)
    return out


def _noncontiguous(a: np.ndarray) -> np.ndarray:
    """The same values in a non-C-contiguous layout (column-major), as after a transpose."""
    return np.asfortranarray(a) if a.ndim >= 2 else np.stack([a, a], axis=-1)[..., 0]


def available_devices() -> list[str]:
    """The devices the spec tables run on: "cpu", and "cuda" where CuPy sees a GPU."""
    return ["cpu"] + (["cuda"] if sd.cuda.is_available() else [])


def device_note() -> str:
    """Why CUDA is or is not among the test devices (printed in pytest's header)."""
    if sd.cuda.is_available():
        return f"devices: cpu, cuda ({sd.cuda.get_device_name()}): the op spec tables run on both"
    return "devices: cpu only; the op spec tables' cuda runs are skipped: no GPU (CuPy absent or no device)"


def _host(a):
    """A NumPy copy of a raw array from either device."""
    return sd.backend.to_numpy(a)


def _sd_inputs(arrays, shapes, dtype, noncontig: bool, device: str = "cpu") -> list:
    out = []
    for a, spec in zip(arrays, shapes):
        if _is_float_input(spec):
            arr = a.astype(dtype)
            if noncontig:
                arr = _noncontiguous(arr)
            t = sd.from_numpy(arr)
            out.append((t if device == "cpu" else t.to(device)).requires_grad_())
        elif isinstance(spec, Const):
            v = np.asarray(spec.value)
            t = sd.from_numpy(v.astype(dtype) if v.dtype.kind == "f" else v.copy())
            out.append(t if device == "cpu" else t.to(device))
        else:
            out.append(a)
    return out


def _torch_inputs(arrays, shapes, noncontig: bool) -> list:
    out = []
    for a, spec in zip(arrays, shapes):
        if _is_float_input(spec):
            arr = _noncontiguous(a) if noncontig else a.copy()
            out.append(torch.from_numpy(arr).requires_grad_())
        elif isinstance(spec, Const):
            v = np.array(spec.value)
            out.append(torch.from_numpy(v.astype(np.float32) if v.dtype.kind == "f" else v))
        else:
            out.append(a)
    return out


def _as_list(out) -> list:
    return list(out) if isinstance(out, (tuple, list)) else [out]


def torch_dtype_as_numpy(dtype: torch.dtype) -> np.dtype:
    return torch.empty(0, dtype=dtype).numpy().dtype


def check_op(sd_fn: Callable, torch_fn: Callable | None, shapes: Sequence, *, low: float = -2.0,
             high: float = 2.0, rtol: float = 1e-5, atol: float = 1e-6, grad_rtol: float = 1e-4,
             grad_atol: float = 1e-5, forward_only: bool = False, noncontig: bool = False,
             seed: int = 0, device: str = "cpu") -> None:
    """Parity of ``sd_fn`` with ``torch_fn`` (the same callable when None) on float32 inputs.

    Outputs may be a tensor or a tuple of tensors (``max(x, dim)``); integer outputs must match
    exactly. Every float output gets a random upstream gradient, the same in both libraries.
    ``device``: where shendu's inputs live ("cuda": CuPy arrays); PyTorch's stay on the CPU.
    """
    torch_fn = torch_fn or sd_fn
    arrays = make_arrays(shapes, low, high, seed)
    sd_in = _sd_inputs(arrays, shapes, np.float32, noncontig, device)
    t_in = _torch_inputs(arrays, shapes, noncontig)
    sd_out, t_out = _as_list(sd_fn(*sd_in)), _as_list(torch_fn(*t_in))
    assert len(sd_out) == len(t_out), f"{len(sd_out)} outputs, torch gives {len(t_out)}"
    for k, (s, t) in enumerate(zip(sd_out, t_out)):
        assert isinstance(s, sd.Tensor), f"output {k} is a {type(s).__name__}, expected a Tensor"
        assert s.shape == tuple(t.shape), f"output {k}: shape {s.shape}, torch gives {tuple(t.shape)}"
        assert s.dtype == torch_dtype_as_numpy(t.dtype), f"output {k}: dtype {s.dtype}, torch gives {t.dtype}"
        assert str(s.device) == device, f"output {k} is on {s.device}, its inputs on {device}"
        np.testing.assert_allclose(_host(s._data), t.detach().numpy(), rtol=rtol, atol=atol, equal_nan=True,
                                   err_msg=f"forward output {k}")
    if forward_only:
        return
    rng = np.random.default_rng(seed + 1)
    pairs = [(s, t) for s, t in zip(sd_out, t_out) if t.requires_grad]
    assert [s.requires_grad for s in sd_out] == [t.requires_grad for t in t_out], "requires_grad differs"
    if not pairs:
        return
    ups = [rng.standard_normal(t.shape).astype(np.float32) for _, t in pairs]
    sd.autograd.backward([s for s, _ in pairs], [sd.from_numpy(u.copy()).to(device) for u in ups])
    torch.autograd.backward([t for _, t in pairs], [torch.from_numpy(u.copy()) for u in ups])
    for i, (s, t) in enumerate(zip(sd_in, t_in)):
        if not isinstance(t, torch.Tensor) or not t.requires_grad:
            continue
        if t.grad is None:
            assert s.grad is None or not np.any(_host(s.grad._data)), f"input {i}: torch gives no gradient"
            continue
        assert s.grad is not None, f"input {i}: no gradient (torch has one)"
        assert s.grad.shape == s.shape, f"input {i}: gradient shape {s.grad.shape} != input shape {s.shape}"
        assert s.grad.dtype == s.dtype, f"input {i}: gradient dtype {s.grad.dtype} != input dtype {s.dtype}"
        np.testing.assert_allclose(_host(s.grad._data), t.grad.numpy(), rtol=grad_rtol, atol=grad_atol,
                                   err_msg=f"gradient of input {i}")


def _float64_inputs(shapes, low, high, seed, noncontig) -> list:
    arrays = make_arrays(shapes, low, high, seed)
    inputs = _sd_inputs(arrays, shapes, np.float64, noncontig)
    for i, (x, a) in enumerate(zip(inputs, arrays)):
        if isinstance(x, sd.Tensor) and x.requires_grad:  # float64 data of the same random draw
            inputs[i] = sd.from_numpy(_noncontiguous(a.astype(np.float64)) if noncontig
                                      else a.astype(np.float64)).requires_grad_()
    return inputs


def check_grad(sd_fn: Callable, shapes: Sequence, *, low: float = -2.0, high: float = 2.0,
               atol: float = 1e-5, rtol: float = 1e-3, eps: float = 1e-6, noncontig: bool = False,
               seed: int = 0) -> None:
    """float64 central-difference gradcheck of ``sd_fn`` (random upstream gradient)."""
    inputs = _float64_inputs(shapes, low, high, seed, noncontig)
    assert sd.gradcheck(sd_fn, inputs, eps=eps, atol=atol, rtol=rtol)


def check_gradgrad(sd_fn: Callable, shapes: Sequence, *, low: float = -2.0, high: float = 2.0,
                   atol: float = 1e-4, rtol: float = 1e-3, eps: float = 1e-6, seed: int = 0) -> None:
    """float64 ``shendu.gradgradcheck``: the backward, built with create_graph, differentiated again."""
    inputs = _float64_inputs(shapes, low, high, seed, False)
    with np.errstate(all="ignore"):
        assert sd.gradgradcheck(sd_fn, inputs, eps=eps, atol=atol, rtol=rtol)


@dataclass
class Case:
    """One row of a spec table: an op, its PyTorch twin (None: the same callable) and its inputs."""

    id: str
    sd_fn: Callable
    torch_fn: Callable | None
    shapes: Sequence
    opts: dict | None = None  # extra keyword arguments for check_op / check_grad (low, high, atol...)
    grad: bool = True  # False: no float64 gradcheck (non-differentiable or forward-only)

    def parity(self, **extra) -> None:
        opts = {k: v for k, v in (self.opts or {}).items() if k not in ("gc_atol", "gc_rtol", "gc_eps")}
        check_op(self.sd_fn, self.torch_fn, self.shapes, **{**opts, **extra})

    def gradcheck(self, **extra) -> None:
        o = self.opts or {}
        kw = {k: o[k] for k in ("low", "high", "seed") if k in o}
        for src, dst in (("gc_atol", "atol"), ("gc_rtol", "rtol"), ("gc_eps", "eps")):
            if src in o:
                kw[dst] = o[src]
        check_grad(self.sd_fn, self.shapes, **{**kw, **extra})

    def gradgradcheck(self) -> None:
        o = self.opts or {}
        check_gradgrad(self.sd_fn, self.shapes, **{k: o[k] for k in ("low", "high", "seed") if k in o})


def case(id: str, sd_fn: Callable, torch_fn: Callable | None, shapes: Sequence, grad: bool = True,
         **opts) -> Case:
    return Case(id, sd_fn, torch_fn, shapes, opts or None, grad)


def ids(cases: Sequence[Case]) -> list:
    return [c.id for c in cases]


def grad_cases(cases: Sequence[Case]) -> list:
    return [c for c in cases if c.grad]


def spec_tests(cases):
    """The three tests every spec table gets: PyTorch parity (on every available device), float64 gradcheck
    and gradgradcheck.

    Usage in a test module: ``test_parity, test_gradcheck, test_gradgradcheck = spec_tests(CASES)``.
    """
    import pytest

    @pytest.mark.parametrize("device", available_devices())
    @pytest.mark.parametrize("c", cases, ids=ids(cases))
    def test_parity(c, device):
        c.parity(device=device)

    differentiable = grad_cases(cases)

    @pytest.mark.parametrize("c", differentiable, ids=ids(differentiable))
    def test_gradcheck(c):
        c.gradcheck()

    @pytest.mark.parametrize("c", differentiable, ids=ids(differentiable))
    def test_gradgradcheck(c):
        c.gradgradcheck()

    return test_parity, test_gradcheck, test_gradgradcheck
