"""Flatten parameters into one vector and back (PyTorch's ``torch.nn.utils.convert_parameters``)."""
from __future__ import annotations

from collections.abc import Iterable

from shendu.grad_mode import no_grad
from shendu.ops.shape import cat
from shendu.tensor import Tensor


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    """Concatenate the parameters, each flattened, into one 1-D tensor (differentiable)."""
    params = list(parameters)
    if not params:
        raise ValueError("parameters_to_vector: expected at least one parameter, got none")
    return cat([p.reshape(-1) for p in params])


def vector_to_parameters(vec: Tensor, parameters: Iterable[Tensor]) -> None:
    """Copy consecutive slices of the 1-D ``vec`` into each parameter, in place (shapes kept)."""
    if not isinstance(vec, Tensor):
        raise TypeError(f"vector_to_parameters: expected vec to be a Tensor, but got {type(vec).__name__}")
    params = list(parameters)
    total = sum(p.numel() for p in params)
    if vec.ndim != 1 or vec.numel() != total:
        raise ValueError(f"vector_to_parameters: expected a 1-D vector of {total} elements (the parameters' "
                         f"total), got shape {vec.shape}")
    offset = 0
    with no_grad():
        for p in params:
            n = p.numel()
            xp = p._xp()
            xp.copyto(p._data, vec._data[offset:offset + n].reshape(p.shape), casting="unsafe")
            offset += n
