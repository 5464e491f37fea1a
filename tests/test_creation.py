"""Building tensors: ``shendu.tensor`` dtype rules, zeros/ones/full/empty/eye/arange/linspace and ``*_like``."""
import numpy as np
import pytest
import torch

import shendu as sd

# -- shendu.tensor: dtype rules -------------------------------------------------------------------
TORCH_DTYPE = {sd.float16: torch.float16, sd.float32: torch.float32, sd.float64: torch.float64,
               sd.int8: torch.int8, sd.uint8: torch.uint8, sd.int16: torch.int16, sd.int32: torch.int32,
               sd.int64: torch.int64, sd.bool: torch.bool, sd.complex64: torch.complex64,
               sd.complex128: torch.complex128}


@pytest.mark.parametrize("data, dtype", [
    (1.5, sd.float32),                              # Python float -> the default float dtype
    ([1.0, 2.5], sd.float32),
    ([1, 2.5], sd.float32),                         # a float anywhere makes it float
    ((1, 2.0), sd.float32),
    (np.array([1.0, 2.0]), sd.float64),             # data with a dtype keeps it (PyTorch's rule)
    (np.float64(2.0), sd.float64),
    (np.float32(2.0), sd.float32),
    ([np.float64(1.0), 2.0], sd.float64),           # in a list, each element counts with its dtype
    ([[1, 2], [np.float64(3.0), 4]], sd.float64),
    ([np.float32(1.0), 2], sd.float32),
    ([np.float16(1.0), 2.5], sd.float32),
    ([np.int32(1), 2], sd.int64),
    ([True, np.int8(3)], sd.int8),
    (np.array([1.0, 2.0], dtype=np.float32), sd.float32),
    (np.array([1.0], dtype=np.float16), sd.float16),
    (3, sd.int64),                                  # Python ints -> int64
    ([[1, 2], [3, 4]], sd.int64),
    (2 ** 40, sd.int64),
    (np.array([1, 2], dtype=np.int32), sd.int32),   # NumPy int arrays keep their dtype
    (np.int32(2), sd.int32),
    (np.array([1, 2], dtype=np.uint8), sd.uint8),
    (True, sd.bool),                                # bools -> bool
    ([True, False], sd.bool),
    ([True, 1], sd.int64),
    ([1 + 2j], sd.complex64),
    (range(3), sd.int64),
])
def test_tensor_default_dtype(data, dtype):
    t = sd.tensor(data)
    expected = torch.tensor(data)
    assert t.dtype == dtype and TORCH_DTYPE[dtype] == expected.dtype
    np.testing.assert_array_equal(t.numpy(), expected.numpy())


def test_tensor_of_tensors_keeps_their_dtype():
    parts = [sd.tensor(1.0, dtype=sd.float64), 2.0]
    assert sd.tensor(parts).dtype == sd.float64
    assert torch.tensor([torch.tensor(1.0, dtype=torch.float64), 2.0]).dtype == torch.float64
    assert sd.tensor([sd.tensor(1), sd.tensor(2)]).tolist() == [1, 2]


def test_legacy_constructor_and_as_tensor_dtypes():
    a = np.array([1.0, 2.0])
    assert sd.Tensor(a).dtype == sd.float32 and torch.Tensor(a).dtype == torch.float32  # default dtype
    assert sd.as_tensor(a).dtype == sd.float64 and sd.from_numpy(a).dtype == sd.float64
    assert sd.as_tensor([1.0, 2.0]).dtype == sd.float32
    shared = sd.as_tensor(a)
    a[0] = 9.0
    assert shared.tolist() == [9.0, 2.0]  # no conversion needed: memory is shared
    t = sd.tensor([1.0, 2.0])
    assert sd.as_tensor(t) is t and sd.as_tensor(t, dtype=sd.float64).dtype == sd.float64
    assert sd.asarray(a).dtype == sd.float64 and sd.asarray(a, copy=True)._data is not a


@pytest.mark.parametrize("data, dtype", [
    ([1, 2], sd.float32), (1.5, sd.float64), (np.array([1.0, 2.0]), sd.float64),
    ([1.7, -2.7], sd.int64), ([0, 2], sd.bool), (3, "float64"), ([1.0], float), ([1.9], int),
])
def test_tensor_explicit_dtype(data, dtype):
    t = sd.tensor(data, dtype=dtype)
    expected = torch.tensor(data, dtype={sd.float32: torch.float32, sd.float64: torch.float64,
                                         sd.int64: torch.int64, sd.bool: torch.bool, "float64": torch.float64,
                                         float: torch.float32, int: torch.int64}[dtype])
    assert t.dtype == expected.numpy().dtype
    np.testing.assert_array_equal(t.numpy(), expected.numpy())


def test_tensor_shape_and_values_from_nested_lists():
    t = sd.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    assert t.shape == (2, 3)
    assert t.tolist() == [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    assert sd.tensor(2.5).shape == ()
    assert sd.tensor([]).shape == (0,) and sd.tensor([]).dtype == sd.float32


def test_tensor_copies_numpy_but_from_numpy_shares():
    a = np.array([1.0, 2.0], dtype=np.float32)
    copied, shared = sd.tensor(a), sd.from_numpy(a)
    a[0] = 7.0
    assert copied.tolist() == [1.0, 2.0]
    assert shared.tolist() == [7.0, 2.0]
    b = np.array([1.0, 2.0])
    assert sd.from_numpy(b).dtype == sd.float64  # from_numpy keeps the dtype, as in PyTorch
    assert sd.as_tensor(b).dtype == sd.float64


def test_tensor_from_tensor_copies():
    a = sd.tensor([1.0, 2.0])
    b = sd.tensor(a)
    b += 1
    assert a.tolist() == [1.0, 2.0]


def test_tensor_requires_grad_only_for_floats():
    assert sd.tensor([1.0, 2.0], requires_grad=True).requires_grad
    with pytest.raises(RuntimeError, match="floating"):
        sd.tensor([1, 2], requires_grad=True)
    with pytest.raises(RuntimeError, match="int64"):
        sd.zeros(2, dtype=sd.int64, requires_grad=True)


def test_tensor_rejects_strings():
    with pytest.raises(TypeError, match="tensor"):
        sd.tensor(["a", "b"])


def test_set_default_dtype_changes_float_default():
    try:
        sd.set_default_dtype(sd.float64)
        assert sd.tensor(1.5).dtype == sd.float64
        assert sd.zeros(2).dtype == sd.float64
        assert sd.tensor(np.zeros(2, dtype=np.float32)).dtype == sd.float32
    finally:
        sd.set_default_dtype(sd.float32)
    assert sd.tensor(1.5).dtype == sd.float32
    with pytest.raises(TypeError, match="floating"):
        sd.set_default_dtype(sd.int64)


# -- factories vs torch ---------------------------------------------------------------------------
FACTORIES = [
    ("zeros", lambda m: m.zeros(2, 3)),
    ("zeros_tuple", lambda m: m.zeros((2, 3))),
    ("zeros_list", lambda m: m.zeros([4])),
    ("zeros_scalar", lambda m: m.zeros(())),
    ("zeros_int", lambda m: m.zeros(2, dtype=m.int64)),
    ("ones", lambda m: m.ones(3, 1)),
    ("ones_f64", lambda m: m.ones(2, dtype=m.float64)),
    ("full_float", lambda m: m.full((2, 2), 1.5)),
    ("full_int", lambda m: m.full((3,), 7)),
    ("full_bool", lambda m: m.full((2,), True)),
    ("full_dtype", lambda m: m.full((2,), 3, dtype=m.float32)),
    ("eye", lambda m: m.eye(3)),
    ("eye_rect", lambda m: m.eye(2, 4)),
    ("arange_int", lambda m: m.arange(5)),
    ("arange_start_end", lambda m: m.arange(2, 9, 3)),
    ("arange_neg_step", lambda m: m.arange(5, 0, -2)),
    ("arange_float", lambda m: m.arange(0, 1, 0.25)),
    ("arange_float_end", lambda m: m.arange(5.0)),
    ("arange_dtype", lambda m: m.arange(4, dtype=m.float32)),
    ("linspace", lambda m: m.linspace(-1, 1, 5)),
    ("linspace_one", lambda m: m.linspace(0, 3, 1)),
    ("logspace", lambda m: m.logspace(0, 2, 3)),
]


@pytest.mark.parametrize("name, make", FACTORIES, ids=[f[0] for f in FACTORIES])
def test_factories_match_torch(name, make):
    s, t = make(sd), make(torch)
    assert s.shape == tuple(t.shape)
    assert s.dtype == t.numpy().dtype
    np.testing.assert_allclose(s.numpy(), t.numpy(), rtol=1e-6)
    assert not s.requires_grad and s.is_leaf


def test_empty_shape_and_dtype():
    e = sd.empty(2, 3)
    assert e.shape == (2, 3) and e.dtype == sd.float32
    assert sd.empty((4,), dtype=sd.int64).dtype == sd.int64


def test_factories_requires_grad_and_device():
    for t in (sd.zeros(2, requires_grad=True), sd.ones(2, requires_grad=True), sd.eye(2, requires_grad=True),
              sd.full((2,), 1.0, requires_grad=True), sd.linspace(0, 1, 3, requires_grad=True),
              sd.arange(3.0, requires_grad=True)):
        assert t.requires_grad and t.is_leaf
    assert sd.zeros(2, device="cpu").device == sd.device("cpu")


def test_factory_errors():
    with pytest.raises(RuntimeError, match="negative dimension"):
        sd.zeros(2, -1)
    with pytest.raises(RuntimeError, match="step must be nonzero"):
        sd.arange(0, 5, 0)


# -- *_like ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["zeros_like", "ones_like", "empty_like"])
@pytest.mark.parametrize("src_dtype", [sd.float64, sd.int64])
def test_like_keeps_shape_and_dtype(name, src_dtype):
    src = sd.ones(2, 3, dtype=src_dtype)
    out = getattr(sd, name)(src)
    assert out.shape == (2, 3) and out.dtype == src_dtype and not out.requires_grad
    assert getattr(sd, name)(src, dtype=sd.float32).dtype == sd.float32
    if name != "empty_like":
        np.testing.assert_array_equal(out.numpy(), np.full((2, 3), name == "ones_like"))


def test_full_like_and_like_requires_grad():
    src = sd.zeros(3, 2)
    out = sd.full_like(src, 2.5)
    assert out.dtype == sd.float32 and out.tolist() == [[2.5, 2.5]] * 3
    assert sd.full_like(sd.zeros(2, dtype=sd.int64), 7).tolist() == [7, 7]
    assert sd.zeros_like(src, requires_grad=True).requires_grad
    assert sd.zeros_like(src, device="cpu").device == "cpu"
    x = sd.randn(3, requires_grad=True)
    assert not sd.zeros_like(x).requires_grad  # *_like does not copy requires_grad (as in PyTorch)


# -- PyTorch's factory forms: size=, out=, empty_strided, arange dtype rules ----------------------
@pytest.mark.parametrize("name", ["zeros", "ones", "empty"])
def test_size_forms(name):
    for args, kwargs in (((2, 3), {}), (((2, 3),), {}), (([2, 3],), {}), ((), {"size": (2, 3)}),
                         ((sd.Size([2, 3]),), {})):
        out = getattr(sd, name)(*args, **kwargs)
        assert out.shape == (2, 3) and out.dtype == sd.float32
    assert getattr(torch, name)(size=(2, 3)).shape == (2, 3)
    with pytest.raises(TypeError, match="size"):
        getattr(sd, name)(2.5)


@pytest.mark.parametrize("make", [
    lambda m: m.arange(5), lambda m: m.arange(0.0, 5), lambda m: m.arange(np.int32(5)),
    lambda m: m.arange(np.float64(3)), lambda m: m.arange(m.tensor(5)), lambda m: m.arange(m.tensor(4.0)),
    lambda m: m.arange(1, 2.5, 0.5), lambda m: m.arange(0, 1, 0.1), lambda m: m.arange(-1.0, 1.0, 0.3),
    lambda m: m.arange(10, dtype=m.float64), lambda m: m.arange(1.5, 4, dtype=m.int64),
    lambda m: m.full((2,), True), lambda m: m.full((2,), 1.5), lambda m: m.full((2,), 2),
    lambda m: m.full((2,), np.int32(3)), lambda m: m.linspace(0, 1, 7, dtype=m.float64),
])
def test_dtype_rules_match_torch(make):
    s, t = make(sd), make(torch)
    assert s.dtype == t.numpy().dtype
    np.testing.assert_allclose(s.numpy(), t.numpy(), rtol=1e-6)


def test_out_argument_writes_in_place_and_resizes():
    buf = sd.ones(2, 3, dtype=sd.float64)
    got = sd.zeros(2, 3, out=buf)
    assert got is buf and buf.dtype == sd.float64 and buf.tolist() == [[0.0] * 3] * 2
    sd.arange(4, out=buf)  # another shape: resized, keeping out's dtype (as PyTorch)
    assert buf.shape == (4,) and buf.tolist() == [0.0, 1.0, 2.0, 3.0] and buf.dtype == sd.float64
    t = torch.ones(2, 3, dtype=torch.float64)
    torch.arange(4, out=t)
    assert t.dtype == torch.float64 and t.tolist() == buf.tolist()
    r = sd.empty(3)
    sd.randn(3, out=r)
    assert r.dtype == sd.float32 and np.all(r.numpy() != 0)


def test_empty_strided():
    x = sd.empty_strided((2, 3), (1, 2))
    assert x.shape == (2, 3) and x.dtype == sd.float32
    assert tuple(s // 4 for s in x._data.strides) == torch.empty_strided((2, 3), (1, 2)).stride()
    assert sd.empty_strided((0, 3), (3, 1)).shape == (0, 3)
    with pytest.raises(RuntimeError, match="length"):
        sd.empty_strided((2, 3), (1,))


def test_layout_argument():
    assert sd.zeros(2, layout=sd.strided).shape == (2,)
    with pytest.raises(ValueError, match="strided"):
        sd.zeros(2, layout=sd.sparse_coo)


def test_factory_kw_dtype_device_requires_grad_everywhere():
    for make in (lambda **k: sd.zeros(2, **k), lambda **k: sd.ones(2, **k), lambda **k: sd.empty(2, **k),
                 lambda **k: sd.full((2,), 1.0, **k), lambda **k: sd.eye(2, **k), lambda **k: sd.arange(2.0, **k),
                 lambda **k: sd.linspace(0, 1, 2, **k), lambda **k: sd.logspace(0, 1, 2, **k),
                 lambda **k: sd.tensor([1.0, 2.0], **k), lambda **k: sd.empty_strided((2,), (1,), **k)):
        t = make(dtype=sd.float64, device="cpu", requires_grad=True)
        assert t.dtype == sd.float64 and t.requires_grad and t.device == "cpu"
