"""The layer-test harness: a contract check (Keras' ``run_layer_test`` shape), PyTorch parity and gradcheck.

``run_layer_test(layer_cls, init_kwargs, input_shape=...)`` checks what every layer owes:
output shape and dtype, parameter names and count, a state_dict round-trip into a fresh instance
that gives identical outputs, train/eval, a float64 conversion that keeps the Parameter objects,
and one hand-written SGD step that lowers a loss by what the gradient predicts.

``check_parity(sd_layer, torch_layer, inputs)`` copies shendu's weights into the PyTorch layer and
compares outputs, input gradients and parameter gradients under a random upstream gradient (and
the state after the forward, e.g. running statistics). ``check_layer_grad(layer, inputs)`` runs a
float64 ``shendu.gradcheck`` with respect to the inputs and, optionally, the parameters.

Input specs (``inputs`` / ``input_shape``): a shape tuple is a random float input that requires
grad; a NumPy array is used as is (integer ids, masks; float arrays require grad); a list of specs
is a layer with several inputs.
"""
from __future__ import annotations

import copy
import pickle
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

import shendu as sd
from shendu import nn


def _spec_list(spec) -> list:
    """One spec per layer input: a bare shape tuple or array is a single input."""
    if isinstance(spec, list):
        return spec
    return [spec]


def make_inputs(specs: Sequence, dtype=np.float32, seed: int = 0, low: float = -2.0, high: float = 2.0) -> list:
    """NumPy arrays for each spec: uniform random floats for shapes, the given arrays otherwise."""
    rng = np.random.default_rng(seed)
    out = []
    for s in specs:
        if isinstance(s, tuple):
            out.append(rng.uniform(low, high, size=s).astype(dtype))
        elif isinstance(s, np.ndarray):
            out.append(s.astype(dtype) if s.dtype.kind == "f" else s)
        else:
            raise TypeError(f"layer_harness: input spec must be a shape tuple or an array, got {type(s).__name__}")
    return out


def _sd(arrays: list, grad: bool = True) -> list:
    return [sd.from_numpy(a.copy()).requires_grad_(grad and a.dtype.kind == "f") for a in arrays]


def _torch(arrays: list, grad: bool = True) -> list:
    return [torch.from_numpy(a.copy()).requires_grad_(grad and a.dtype.kind == "f") for a in arrays]


def _first(out):
    return out[0] if isinstance(out, (tuple, list)) else out


def _loss(out: sd.Tensor, target: np.ndarray) -> sd.Tensor:
    diff = out - sd.from_numpy(target.astype(out.dtype))
    return (diff * diff).mean()


def run_layer_test(layer_cls: Callable[..., nn.Module], init_kwargs: dict | None = None, *,
                   input_shape: Any = None, input_data: Any = None,
                   expected_output_shape: tuple | None = None, expected_output_dtype=None,
                   expected_param_names: Sequence[str] | None = None, expected_num_params: int | None = None,
                   expected_buffer_names: Sequence[str] | None = None, train_differs: bool = False,
                   run_training_check: bool = True, run_float64_check: bool = True,
                   lr: float = 1e-2, seed: int = 0) -> nn.Module:
    """Check one layer's contract; returns the layer built (in eval mode).

    ``train_differs``: the training-mode output differs from the eval one (Dropout, BatchNorm);
    otherwise both must be equal. The SGD step runs in eval mode, so it is deterministic.
    """
    kwargs = init_kwargs or {}
    specs = _spec_list(input_shape if input_data is None else input_data)
    arrays = make_inputs(specs, seed=seed)
    sd.manual_seed(seed)
    layer = layer_cls(**kwargs)
    name = type(layer).__name__
    assert repr(layer).startswith(name + "("), f"repr {repr(layer)!r} should start with {name}("
    assert layer.training, f"{name} should start in training mode"

    # shape and dtype
    out = _first(layer(*_sd(arrays, grad=False)))
    assert isinstance(out, sd.Tensor), f"{name} returned a {type(out).__name__}"
    if expected_output_shape is not None:
        assert out.shape == tuple(expected_output_shape), f"{name}: output shape {out.shape}, expected " \
                                                          f"{tuple(expected_output_shape)}"
    expected_dtype = expected_output_dtype or next((a.dtype for a in arrays if a.dtype.kind == "f"), sd.float32)
    assert out.dtype == expected_dtype, f"{name}: output dtype {out.dtype}, expected {expected_dtype}"

    # parameters and buffers
    names = [n for n, _ in layer.named_parameters()]
    if expected_param_names is not None:
        assert names == list(expected_param_names), f"{name}: parameters {names}, expected {expected_param_names}"
    if expected_num_params is not None:
        count = sum(p.numel() for p in layer.parameters())
        assert count == expected_num_params, f"{name}: {count} parameters, expected {expected_num_params}"
    buffers = [n for n, _ in layer.named_buffers()]
    if expected_buffer_names is not None:
        assert buffers == list(expected_buffer_names), f"{name}: buffers {buffers}, expected {expected_buffer_names}"
    for n, p in layer.named_parameters():
        assert isinstance(p, nn.Parameter) and p.requires_grad, f"{name}.{n} should be a Parameter requiring grad"

    # state_dict round trip into a fresh instance (built from another seed)
    state = layer.state_dict()
    persistent = [n for n in buffers if n in state]
    assert list(state) == names + persistent or set(state) == set(names) | set(persistent), \
        f"{name}: state_dict keys {list(state)} should be the parameters and persistent buffers"
    sd.manual_seed(seed + 1)
    fresh = layer_cls(**kwargs)
    before = {n: p for n, p in fresh.named_parameters()}
    result = fresh.load_state_dict(copy.deepcopy(state))
    assert result.missing_keys == [] and result.unexpected_keys == [], f"{name}: load_state_dict gave {result}"
    assert all(p is before[n] for n, p in fresh.named_parameters()), f"{name}: load_state_dict replaced Parameters"
    layer.eval()
    fresh.eval()
    assert not any(m.training for m in layer.modules()), f"{name}.eval() left a submodule in training mode"
    ref = _first(layer(*_sd(arrays, grad=False)))._data.copy()
    np.testing.assert_array_equal(_first(fresh(*_sd(arrays, grad=False)))._data, ref,
                                  err_msg=f"{name}: a fresh instance loaded with the state_dict differs")
    np.testing.assert_array_equal(_first(layer(*_sd(arrays, grad=False)))._data, ref,
                                  err_msg=f"{name}: eval-mode output is not deterministic")
    clone = pickle.loads(pickle.dumps(layer))
    np.testing.assert_array_equal(_first(clone(*_sd(arrays, grad=False)))._data, ref,
                                  err_msg=f"{name}: a pickled copy differs")

    # train vs eval
    trained = copy.deepcopy(layer).train()
    assert all(m.training for m in trained.modules()), f"{name}.train() left a submodule in eval mode"
    train_out = _first(trained(*_sd(arrays, grad=False)))._data
    if train_differs:
        assert not np.allclose(train_out, ref), f"{name}: training-mode output should differ from eval mode"
    else:
        np.testing.assert_allclose(train_out, ref, rtol=1e-6, atol=1e-7,
                                   err_msg=f"{name}: training-mode output should equal eval mode")

    trainable = [p for p in layer.parameters() if p.requires_grad]
    if run_training_check and trainable:
        _sgd_step_check(layer, arrays, lr, seed, name)
    if run_float64_check:
        _float64_check(layer, arrays, name)
    return layer


def _sgd_step_check(layer: nn.Module, arrays: list, lr: float, seed: int, name: str) -> None:
    """float32: one SGD step lowers the loss; float64: by lr·|g|² to first order (the gradient is right)."""
    rng = np.random.default_rng(seed + 2)
    inputs = _sd(arrays, grad=False)
    target = rng.standard_normal(_first(layer(*inputs)).shape)
    layer.zero_grad()
    loss0 = _loss(_first(layer(*inputs)), target)
    loss0.backward()
    params = [p for p in layer.parameters() if p.requires_grad]
    for (n, p) in layer.named_parameters():
        if p.requires_grad:
            assert p.grad is not None, f"{name}.{n} got no gradient"
            assert p.grad.shape == p.shape and p.grad.dtype == p.dtype, f"{name}.{n}: bad gradient shape/dtype"
            assert np.all(np.isfinite(p.grad._data)), f"{name}.{n}: non-finite gradient"
    assert any(np.any(p.grad._data) for p in params), f"{name}: every parameter gradient is zero"
    with sd.no_grad():
        for p in params:
            p -= lr * p.grad
    loss1 = _loss(_first(layer(*inputs)), target)
    assert loss1.item() < loss0.item(), f"{name}: an SGD step did not lower the loss ({loss0.item()} -> {loss1.item()})"
    layer.zero_grad()
    assert all(p.grad is None for p in params)

    model = copy.deepcopy(layer).double()
    x64 = _sd([a.astype(np.float64) if a.dtype.kind == "f" else a for a in arrays], grad=False)
    loss0 = _loss(_first(model(*x64)), target)
    loss0.backward()
    params = [p for p in model.parameters() if p.requires_grad]
    g2 = sum(float((p.grad._data ** 2).sum()) for p in params)
    step = 1e-4 / max(g2, 1e-12) ** 0.5  # a step of norm 1e-4 along -g
    with sd.no_grad():
        for p in params:
            p -= step * p.grad
    drop = loss0.item() - _loss(_first(model(*x64)), target).item()
    np.testing.assert_allclose(drop, step * g2, rtol=2e-2,
                               err_msg=f"{name}: the loss drop of a small SGD step disagrees with lr·|g|²")


def _float64_check(layer: nn.Module, arrays: list, name: str) -> None:
    model = copy.deepcopy(layer)
    before = list(model.parameters())
    model.double()
    assert all(a is b for a, b in zip(before, model.parameters())), f"{name}.double() replaced Parameters"
    assert all(p.dtype == np.float64 for p in model.parameters()), f"{name}.double() left a float32 parameter"
    x64 = _sd([a.astype(np.float64) if a.dtype.kind == "f" else a for a in arrays], grad=False)
    assert _first(model(*x64)).dtype == np.float64, f"{name}: float64 model gave a non-float64 output"
    model.float()
    assert all(p.dtype == np.float32 for p in model.parameters())


def copy_weights(sd_layer: nn.Module, torch_layer: torch.nn.Module, name_map: Callable[[str], str] | None = None):
    """Load shendu's state_dict (parameters and buffers) into the PyTorch layer."""
    name_map = name_map or (lambda n: n)
    state = {name_map(k): torch.from_numpy(np.array(v._data)) for k, v in sd_layer.state_dict().items()}
    torch_layer.load_state_dict(state)


def check_parity(sd_layer: nn.Module, torch_layer: torch.nn.Module, inputs: Any, *, train: bool = False,
                 rtol: float = 1e-5, atol: float = 1e-6, grad_rtol: float = 1e-4, grad_atol: float = 1e-5,
                 name_map: Callable[[str], str] | None = None, low: float = -2.0, high: float = 2.0,
                 seed: int = 0) -> None:
    """float32 parity with PyTorch after copying the weights: output, input and parameter gradients.

    ``name_map`` maps a shendu parameter name to PyTorch's when they differ.
    """
    name_map = name_map or (lambda n: n)
    copy_weights(sd_layer, torch_layer, name_map)
    sd_layer.train(train)
    torch_layer.train(train)
    arrays = make_inputs(_spec_list(inputs), seed=seed, low=low, high=high)
    xs, ts = _sd(arrays), _torch(arrays)
    out, tout = _first(sd_layer(*xs)), _first(torch_layer(*ts))
    assert out.shape == tuple(tout.shape), f"output shape {out.shape}, torch gives {tuple(tout.shape)}"
    assert out.dtype == tout.detach().numpy().dtype, f"output dtype {out.dtype}, torch gives {tout.dtype}"
    np.testing.assert_allclose(out._data, tout.detach().numpy(), rtol=rtol, atol=atol, err_msg="forward")
    g = np.random.default_rng(seed + 1).standard_normal(out.shape).astype(np.float32)
    out.backward(sd.from_numpy(g.copy()))
    tout.backward(torch.from_numpy(g.copy()))
    for i, (x, t) in enumerate(zip(xs, ts)):
        if t.requires_grad:
            assert x.grad is not None, f"input {i}: no gradient"
            np.testing.assert_allclose(x.grad._data, t.grad.numpy(), rtol=grad_rtol, atol=grad_atol,
                                       err_msg=f"gradient of input {i}")
    tparams = dict(torch_layer.named_parameters())
    for n, p in sd_layer.named_parameters():
        tp = tparams[name_map(n)]
        if tp.grad is None:
            assert p.grad is None or not np.any(p.grad._data), f"{n}: torch gives no gradient"
            continue
        assert p.grad is not None, f"parameter {n}: no gradient (torch has one)"
        np.testing.assert_allclose(p.grad._data, tp.grad.numpy(), rtol=grad_rtol, atol=grad_atol,
                                   err_msg=f"gradient of parameter {n}")
    tstate = torch_layer.state_dict()
    for k, v in sd_layer.state_dict().items():  # buffers updated by the forward (running statistics)
        np.testing.assert_allclose(np.asarray(v._data), tstate[name_map(k)].numpy(), rtol=rtol, atol=atol,
                                   err_msg=f"state after forward: {k}")


def check_layer_grad(layer: nn.Module, inputs: Any, *, params: bool = True, eps: float = 1e-6,
                     atol: float = 1e-5, rtol: float = 1e-3, low: float = -2.0, high: float = 2.0,
                     seed: int = 0) -> None:
    """float64 gradcheck of a (float64 copy of the) layer w.r.t. its float inputs and its parameters."""
    model = copy.deepcopy(layer).double()
    arrays = make_inputs(_spec_list(inputs), dtype=np.float64, seed=seed, low=low, high=high)
    xs = _sd(arrays)
    n = len(xs)
    weights = [p for p in model.parameters() if p.requires_grad] if params else []

    def fn(*args):
        return _first(model(*args[:n]))

    assert sd.gradcheck(fn, xs + weights, eps=eps, atol=atol, rtol=rtol)
