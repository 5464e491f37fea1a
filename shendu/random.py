"""Random numbers: one seedable global generator (``shendu.manual_seed``) and ``Generator`` objects."""
from __future__ import annotations

import numpy as np

from shendu import backend, dtypes
from shendu.tensor import Tensor


class Generator:
    """A random stream (PyTorch's ``torch.Generator``), backed by NumPy's PCG64."""

    def __init__(self, device: str = "cpu"):
        self._seed = int(np.random.SeedSequence().entropy % (2 ** 63))
        self._rng = np.random.Generator(np.random.PCG64(self._seed))

    def manual_seed(self, seed: int) -> Generator:
        self._seed = int(seed)
        self._rng = np.random.Generator(np.random.PCG64(self._seed))
        return self

    def seed(self) -> int:
        return self.manual_seed(int(np.random.SeedSequence().entropy % (2 ** 63)))._seed

    def initial_seed(self) -> int:
        return self._seed

    def get_state(self) -> dict:
        return {"seed": self._seed, "bit_generator": self._rng.bit_generator.state}

    def set_state(self, state: dict) -> None:
        self._seed = state["seed"]
        self._rng.bit_generator.state = state["bit_generator"]


default_generator = Generator().manual_seed(0)


def _generator(generator: Generator | None = None) -> np.random.Generator:
    return (generator or default_generator)._rng


def manual_seed(seed: int) -> Generator:
    """Seed the global generator (and NumPy's legacy one, which some helpers use)."""
    np.random.seed(int(seed) % (2 ** 32))
    return default_generator.manual_seed(seed)


def seed() -> int:
    return default_generator.seed()


def initial_seed() -> int:
    return default_generator.initial_seed()


def get_rng_state() -> dict:
    return default_generator.get_state()


def set_rng_state(state: dict) -> None:
    default_generator.set_state(state)


def _shape(size) -> tuple:
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = size[0]
    return tuple(int(s) for s in size)


def _float(dtype):
    return dtypes.as_dtype(dtype) if dtype is not None else dtypes.get_default_dtype()


def _make(arr, requires_grad: bool = False, device=None) -> Tensor:
    if device is not None:
        arr = backend.to_device(arr, device)
    t = Tensor._wrap(arr)
    return t.requires_grad_() if requires_grad else t


def rand(*size, generator=None, dtype=None, requires_grad: bool = False, device=None) -> Tensor:
    """Uniform samples on [0, 1)."""
    arr = _generator(generator).random(_shape(size), dtype=np.float64).astype(_float(dtype))
    return _make(arr, requires_grad, device)


def randn(*size, generator=None, dtype=None, requires_grad: bool = False, device=None) -> Tensor:
    """Standard normal samples."""
    return _make(_generator(generator).standard_normal(_shape(size)).astype(_float(dtype)), requires_grad, device)


def randint(low: int, high=None, size=(), generator=None, dtype=None, device=None) -> Tensor:
    """Integers in [low, high) of shape ``size``; ``randint(high, size)`` means low = 0 (as in PyTorch)."""
    if isinstance(high, (tuple, list)):  # randint(high, size)
        low, high, size = 0, low, high
    elif high is None:
        low, high = 0, low
    if low >= high:
        raise ValueError(f"randint: expected low < high, got low={low}, high={high}")
    arr = _generator(generator).integers(low, high, size=tuple(size))
    return _make(np.asarray(arr, dtype=dtypes.as_dtype(dtype) if dtype else np.int64), device=device)


def randperm(n: int, generator=None, dtype=None, device=None) -> Tensor:
    perm = _generator(generator).permutation(n)
    return _make(perm.astype(dtypes.as_dtype(dtype) if dtype else np.int64), device=device)


def normal(mean=0.0, std=1.0, size=None, generator=None, dtype=None) -> Tensor:
    """Samples of N(mean, std**2); tensor ``mean``/``std`` broadcast and set the dtype."""
    m = mean._data if isinstance(mean, Tensor) else mean
    s = std._data if isinstance(std, Tensor) else std
    if dtype is None:
        dtype = next((t.dtype for t in (mean, std) if isinstance(t, Tensor)), dtypes.get_default_dtype())
    shape = tuple(size) if size is not None else np.broadcast_shapes(np.shape(m), np.shape(s))
    return Tensor._wrap(np.asarray(_generator(generator).normal(m, s, shape), dtype=dtypes.as_dtype(dtype)))


def bernoulli(input: Tensor, p: float | None = None, generator=None) -> Tensor:
    probs = input._data if p is None else p
    draws = _generator(generator).random(input.shape) < probs
    return Tensor._wrap(draws.astype(input.dtype))


def multinomial(input: Tensor, num_samples: int, replacement: bool = False, generator=None) -> Tensor:
    """Draw category indices from the (unnormalized) rows of ``input``."""
    probs = np.asarray(input._data, dtype=np.float64)
    rows = probs.reshape(-1, probs.shape[-1])
    rows = rows / rows.sum(axis=1, keepdims=True)
    rng = _generator(generator)
    if replacement:
        cdf = np.cumsum(rows, axis=1)
        u = rng.random((rows.shape[0], num_samples))
        out = np.minimum((u[:, :, None] > cdf[:, None, :]).sum(-1), rows.shape[1] - 1)
    else:
        # Gumbel top-k: sampling without replacement in one vectorized step
        g = np.log(np.maximum(rows, 1e-300)) - np.log(-np.log(rng.random(rows.shape)))
        g[rows == 0] = -np.inf
        out = np.argsort(-g, axis=1)[:, :num_samples]
    shape = probs.shape[:-1] + (num_samples,)
    return Tensor._wrap(out.reshape(shape).astype(np.int64))


def rand_like(input: Tensor, dtype=None, requires_grad: bool = False, device=None) -> Tensor:
    return rand(*input.shape, dtype=dtype or input.dtype, requires_grad=requires_grad, device=device or input.device)


def randn_like(input: Tensor, dtype=None, requires_grad: bool = False, device=None) -> Tensor:
    return randn(*input.shape, dtype=dtype or input.dtype, requires_grad=requires_grad, device=device or input.device)


def randint_like(input: Tensor, low: int, high: int | None = None, dtype=None, device=None) -> Tensor:
    return randint(low, high, input.shape, dtype=dtype or input.dtype, device=device or input.device)
