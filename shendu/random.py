"""Random numbers: one seedable global generator (``shendu.manual_seed``) and ``Generator`` objects.

Also PyTorch's ``torch.random`` module: ``fork_rng``, ``default_generator``, ``get_rng_state`` /
``set_rng_state`` (a generator's state is a uint8 tensor, as in PyTorch). Samplers that PyTorch
records in the graph (``normal``, ``bernoulli``, ``poisson`` of tensors that require grad) give
outputs that require grad with a zero gradient, as PyTorch's do: the draw is not reparameterized.
"""
from __future__ import annotations

import contextlib

import numpy as np

from shendu import backend, dtypes
from shendu.autograd.function import Function
from shendu.tensor import Tensor

_STATE_BYTES = 45  # seed (8) + PCG64 state (16) + increment (16) + has_uint32 (1) + uinteger (4)


class Generator:
    """A random stream (PyTorch's ``torch.Generator``), backed by NumPy's PCG64."""

    def __init__(self, device: str = "cpu"):
        self.device = backend.Device(device)
        self._seed = int(np.random.SeedSequence().entropy % (2 ** 63))
        self._rng = np.random.Generator(np.random.PCG64(self._seed))

    def manual_seed(self, seed: int) -> Generator:
        """Reseed the stream; returns the generator itself (``g = Generator().manual_seed(0)``)."""
        self._seed = int(seed) % (2 ** 64)
        self._rng = np.random.Generator(np.random.PCG64(self._seed))
        return self

    def seed(self) -> int:
        """Reseed from fresh entropy and return the new seed."""
        return self.manual_seed(int(np.random.SeedSequence().entropy % (2 ** 63)))._seed

    def initial_seed(self) -> int:
        """The seed this generator was last seeded with."""
        return self._seed

    def get_state(self) -> Tensor:
        """The stream's state as a uint8 tensor (``set_state`` takes it back)."""
        st = self._rng.bit_generator.state
        parts = [self._seed.to_bytes(8, "little"), st["state"]["state"].to_bytes(16, "little"),
                 st["state"]["inc"].to_bytes(16, "little"), bytes([st["has_uint32"]]),
                 int(st["uinteger"]).to_bytes(4, "little")]
        return Tensor._wrap(np.frombuffer(b"".join(parts), dtype=np.uint8).copy())

    def set_state(self, new_state) -> Generator:
        """Restore a state from ``get_state`` (a uint8 tensor; the older dict form is accepted too)."""
        if isinstance(new_state, dict):  # the form shendu used before (old checkpoints)
            self._seed = new_state["seed"]
            self._rng.bit_generator.state = new_state["bit_generator"]
            return self
        raw = new_state._data if isinstance(new_state, Tensor) else np.asarray(new_state)
        raw = backend.to_numpy(raw)
        if raw.dtype != np.uint8 or raw.shape != (_STATE_BYTES,):
            raise RuntimeError(f"Generator.set_state: expected a uint8 tensor of {_STATE_BYTES} bytes from "
                               f"get_state(), got dtype {raw.dtype} and shape {raw.shape}")
        b = raw.tobytes()
        self._seed = int.from_bytes(b[:8], "little")
        self._rng.bit_generator.state = {
            "bit_generator": "PCG64",
            "state": {"state": int.from_bytes(b[8:24], "little"), "inc": int.from_bytes(b[24:40], "little")},
            "has_uint32": b[40], "uinteger": int.from_bytes(b[41:45], "little")}
        return self


default_generator = Generator().manual_seed(0)


def _generator(generator: Generator | None = None) -> np.random.Generator:
    return (generator or default_generator)._rng


def manual_seed(seed: int) -> Generator:
    """Seed the global generator (and NumPy's legacy one, which some helpers use)."""
    np.random.seed(int(seed) % (2 ** 32))
    return default_generator.manual_seed(seed)


def seed() -> int:
    """Seed the global generator from a non-deterministic source (the OS) and return that seed."""
    return default_generator.seed()


def initial_seed() -> int:
    """The seed the global generator was last seeded with (``manual_seed`` or ``seed``)."""
    return default_generator.initial_seed()


def get_rng_state() -> Tensor:
    """The global generator's state (a uint8 tensor)."""
    return default_generator.get_state()


def set_rng_state(new_state) -> None:
    """Restore the global generator from ``new_state``, a uint8 tensor from ``get_rng_state()``."""
    default_generator.set_state(new_state)


@contextlib.contextmanager
def fork_rng(devices=None, enabled: bool = True, _caller: str = "fork_rng", _devices_kw: str = "devices",
             device_type: str = "cuda"):
    """Run a block with the global generator's state saved and restored afterwards.

    Draws inside the block do not change the stream outside it (PyTorch's ``torch.random.fork_rng``;
    ``devices`` name GPUs, whose streams shendu does not have: random numbers are drawn on the host).
    """
    if not enabled:
        yield
        return
    state = get_rng_state()
    try:
        yield
    finally:
        set_rng_state(state)


# -- drawing ---------------------------------------------------------------------------------------
def _shape(size, kwargs: dict | None = None, op: str = "rand") -> tuple:
    if kwargs:
        if "size" not in kwargs or len(kwargs) > 1:
            raise TypeError(f"{op}() got unexpected keyword arguments {sorted(k for k in kwargs if k != 'size')}")
        if size:
            raise TypeError(f"{op}(): got the size both positionally and as size=")
        size = (kwargs["size"],)
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = size[0]
    return tuple(int(s) for s in size)


def _float(dtype, op: str = "rand") -> np.dtype:
    dt = dtypes.as_dtype(dtype) if dtype is not None else dtypes.get_default_dtype()
    if dt.kind != "f" and dt.name != "bfloat16":
        raise TypeError(f"{op}: expected a floating dtype, got {dt}")
    return dt


def _make(arr, requires_grad: bool = False, device=None, out: Tensor | None = None) -> Tensor:
    from shendu.creation import _finish
    return _finish(arr, requires_grad, device, out)


def rand(*size, generator=None, out=None, dtype=None, layout=None, device=None, requires_grad: bool = False,
         pin_memory: bool = False, **kwargs) -> Tensor:
    """Uniform samples on [0, 1)."""
    arr = _generator(generator).random(_shape(size, kwargs, "rand"), dtype=np.float64)
    return _make(arr.astype(_float(dtype if out is None or dtype else out.dtype, "rand")), requires_grad, device, out)


def randn(*size, generator=None, out=None, dtype=None, layout=None, device=None, requires_grad: bool = False,
          pin_memory: bool = False, **kwargs) -> Tensor:
    """Standard normal samples."""
    arr = _generator(generator).standard_normal(_shape(size, kwargs, "randn"))
    return _make(arr.astype(_float(dtype if out is None or dtype else out.dtype, "randn")), requires_grad, device, out)


def randint(low: int = 0, high=None, size=None, *, generator=None, out=None, dtype=None, layout=None,
            device=None, requires_grad: bool = False) -> Tensor:
    """Integers in [low, high) of shape ``size``: ``randint(low, high, size)`` or ``randint(high, size)``."""
    if isinstance(high, (tuple, list)) and size is None:  # randint(high, size)
        low, high, size = 0, low, high
    elif high is None:
        low, high = 0, low
    if size is None:
        raise TypeError("randint(): missing the size argument, e.g. randint(0, 10, (3,))")
    low, high = int(low), int(high)
    if low >= high:
        raise RuntimeError(f"randint: expected low < high, got low={low}, high={high}")
    arr = _generator(generator).integers(low, high, size=_shape((size,)))
    dt = dtypes.as_dtype(dtype) if dtype is not None else (out.dtype if out is not None else dtypes.int64)
    return _make(np.asarray(arr, dtype=dt), requires_grad, device, out)


def randperm(n: int, *, generator=None, out=None, dtype=None, layout=None, device=None,
             requires_grad: bool = False) -> Tensor:
    """A random permutation of 0, ..., n - 1 (int64 unless ``dtype``)."""
    perm = _generator(generator).permutation(int(n))
    return _make(perm.astype(dtypes.as_dtype(dtype) if dtype else dtypes.int64), requires_grad, device, out)


class _Drawn(Function):
    """Carries a sample drawn from tensor parameters into the graph with PyTorch's zero gradient."""

    raw = True
    saved_inputs = ()

    def forward(ctx, *params, sample):
        return sample

    def backward(ctx, grad):
        from shendu.creation import zeros_like
        return tuple(zeros_like(p) if need else None for p, need in zip(ctx.inputs, ctx.needs_input_grad))


def _drawn(sample, *params) -> Tensor:
    tensors = [p for p in params if isinstance(p, Tensor)]
    if any(p.requires_grad for p in tensors):
        return _Drawn.apply(*tensors, sample=sample)
    return Tensor._wrap(sample)


def normal(mean=0.0, std=1.0, size=None, *, generator=None, out=None, dtype=None, layout=None, device=None,
           requires_grad: bool = False) -> Tensor:
    """Samples of N(mean, std**2): ``mean`` and ``std`` are numbers (give ``size``) or tensors.

    Tensor arguments broadcast and set the dtype; std must be non-negative.
    """
    m = mean._data if isinstance(mean, Tensor) else mean
    s = std._data if isinstance(std, Tensor) else std
    if np.any(np.asarray(backend.to_numpy(s)) < 0):
        raise RuntimeError("normal: expected all elements of std >= 0.0")
    tensors = [t for t in (mean, std) if isinstance(t, Tensor)]
    if dtype is None:
        dtype = tensors[0].dtype if tensors else (out.dtype if out is not None else dtypes.get_default_dtype())
        if len(tensors) == 2:
            dtype = np.promote_types(tensors[0].dtype, tensors[1].dtype)
    if tensors and size is not None:
        raise RuntimeError("normal: size= is only for number mean and std; tensors give the shape")
    shape = _shape((size,)) if size is not None else np.broadcast_shapes(np.shape(m), np.shape(s))
    m, s = backend.to_numpy(np.asarray(m)), backend.to_numpy(np.asarray(s))
    sample = np.asarray(_generator(generator).normal(m, s, shape), dtype=dtypes.as_dtype(dtype))
    if tensors:
        sample = backend.to_device(sample, tensors[0].device)
        return _drawn(sample, mean, std)
    return _make(sample, requires_grad, device, out)


def bernoulli(input: Tensor, p: float | None = None, *, generator=None, out=None) -> Tensor:
    """1 with probability ``input`` (or the number ``p``), else 0, elementwise; the dtype of ``input``."""
    probs = backend.to_numpy(input._data) if p is None else p
    if np.any((np.asarray(probs) < 0) | (np.asarray(probs) > 1)):
        raise RuntimeError("bernoulli: expected all probabilities in [0, 1]")
    draws = (_generator(generator).random(input.shape) < probs).astype(input.dtype)
    draws = backend.to_device(draws, input.device)
    if out is not None:
        return _make(draws, out=out)
    return _drawn(draws, input) if p is None else Tensor._wrap(draws)


def poisson(input: Tensor, generator=None) -> Tensor:
    """Counts drawn from Poisson(``input``) elementwise, in the dtype of ``input`` (rates >= 0)."""
    rates = backend.to_numpy(input._data)
    if np.any(rates < 0) or not np.all(np.isfinite(rates)):
        raise RuntimeError("poisson: expected all rates to be finite and >= 0")
    draws = _generator(generator).poisson(rates).astype(input.dtype)
    return _drawn(backend.to_device(draws, input.device), input)


def multinomial(input: Tensor, num_samples: int, replacement: bool = False, *, generator=None,
                out=None) -> Tensor:
    """Draw category indices from the rows of ``input``, non-negative weights that need not sum to 1.

    ``input`` is 1-D (one distribution) or 2-D (one per row); the result has ``num_samples``
    int64 indices per row. Without replacement, each index appears at most once per row.
    """
    probs = np.asarray(backend.to_numpy(input._data), dtype=np.float64)
    if probs.ndim not in (1, 2):
        raise RuntimeError(f"multinomial: prob_dist must be 1 or 2 dim, got shape {tuple(probs.shape)}")
    n_cat = probs.shape[-1]
    if num_samples <= 0:
        raise RuntimeError(f"multinomial: cannot sample n_sample <= 0 samples (num_samples={num_samples})")
    if not replacement and num_samples > n_cat:
        raise RuntimeError(f"multinomial: cannot sample n_sample > prob_dist.size(-1) samples without replacement "
                           f"(num_samples={num_samples}, {n_cat} categories)")
    if not np.all(np.isfinite(probs)) or np.any(probs < 0):
        raise RuntimeError("multinomial: probability tensor contains either `inf`, `nan` or element < 0")
    rows = probs.reshape(-1, n_cat)
    totals = rows.sum(axis=1, keepdims=True)
    if np.any(totals <= 0):
        raise RuntimeError("multinomial: invalid multinomial distribution (sum of probabilities <= 0)")
    rows = rows / totals
    rng = _generator(generator)
    n_rows = rows.shape[0]
    if replacement:
        # one searchsorted over all rows: row r's CDF is shifted into [r, r + 1]
        cdf = np.cumsum(rows, axis=1)
        cdf[:, -1] = 1.0
        offset = np.arange(n_rows)[:, None]
        u = rng.random((n_rows, num_samples)) + offset
        flat = np.searchsorted((cdf + offset).ravel(), u.ravel(), side="right").reshape(n_rows, num_samples)
        idx = np.minimum(flat - offset * n_cat, n_cat - 1)
    else:
        # Gumbel top-k: sampling without replacement in one vectorized step
        with np.errstate(divide="ignore"):
            g = np.log(rows) - np.log(-np.log(rng.random(rows.shape)))
        idx = np.argsort(-g, axis=1, kind="stable")[:, :num_samples]
    result = idx.reshape(probs.shape[:-1] + (num_samples,)).astype(np.int64)
    return _make(backend.to_device(result, input.device), out=out)


def rand_like(input: Tensor, *, dtype=None, layout=None, device=None, requires_grad: bool = False,
              memory_format=None) -> Tensor:
    """Uniform samples in [0, 1) shaped like ``input``.

    Shape: ``input.shape``; ``dtype`` and ``device`` default to ``input``'s.
    """
    return rand(*input.shape, dtype=dtype or input.dtype, requires_grad=requires_grad, device=device or input.device)


def randn_like(input: Tensor, *, dtype=None, layout=None, device=None, requires_grad: bool = False,
               memory_format=None) -> Tensor:
    """Standard-normal samples shaped like ``input``.

    Shape: ``input.shape``; ``dtype`` and ``device`` default to ``input``'s.
    """
    return randn(*input.shape, dtype=dtype or input.dtype, requires_grad=requires_grad, device=device or input.device)


def randint_like(input: Tensor, low: int = 0, high: int | None = None, *, dtype=None, layout=None, device=None,
                 requires_grad: bool = False, memory_format=None) -> Tensor:
    """Integers drawn uniformly from [low, high) (``randint_like(x, high)``: [0, high)) shaped like ``input``.

    Shape: ``input.shape``; ``dtype`` and ``device`` default to ``input``'s.
    """
    return randint(low, high, input.shape, dtype=dtype or input.dtype, device=device or input.device)


__all__ = ["Generator", "bernoulli", "default_generator", "fork_rng", "get_rng_state", "initial_seed",
           "manual_seed", "multinomial", "normal", "poisson", "rand", "rand_like", "randint", "randint_like",
           "randn", "randn_like", "randperm", "seed", "set_rng_state"]
