"""The Tensor API: properties, conversions, casts, repr, Python protocols and in-place updates."""
import numpy as np
import pytest
import torch

import shendu as sd


def test_properties():
    x = sd.tensor(np.arange(24, dtype=np.float32).reshape(2, 3, 4))
    assert x.shape == (2, 3, 4) and x.ndim == 3 and x.dim() == 3
    assert x.size() == (2, 3, 4) and x.size(1) == 3 and x.size(-1) == 4
    assert x.numel() == 24 and x.element_size() == 4
    assert x.dtype == sd.float32 and x.dtype == np.float32 and x.dtype != sd.float64
    assert x.is_floating_point() and not sd.tensor([1]).is_floating_point()
    assert x.is_leaf and x.grad is None and x.grad_fn is None and not x.requires_grad
    assert x.is_contiguous()


def test_device_attribute():
    x = sd.zeros(2)
    assert x.device == sd.device("cpu") and x.device == "cpu" and str(x.device) == "cpu"
    assert x.device.type == "cpu" and not x.is_cuda
    assert repr(sd.device("cpu")) == repr(torch.device("cpu"))
    assert x.to("cpu") is x and x.cpu() is x


def test_legacy_constructor():
    t = sd.Tensor(2, 3)
    assert t.shape == (2, 3) and t.dtype == sd.float32
    v = sd.Tensor([1, 2])
    assert v.dtype == sd.float32 and v.tolist() == [1.0, 2.0]  # Tensor(data) is a float tensor
    assert sd.Tensor().shape == (0,)
    with pytest.raises(TypeError, match="Tensor"):
        sd.Tensor([1.0], [2.0])


def test_transpose_property():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    x = sd.tensor(a)
    np.testing.assert_array_equal(x.T.numpy(), a.T)
    np.testing.assert_array_equal(sd.tensor(np.arange(3)).T.numpy(), np.arange(3))
    np.testing.assert_array_equal(sd.zeros(2, 3, 4).mT.shape, (2, 4, 3))


def test_numpy_item_tolist():
    x = sd.tensor([[1.5, 2.0], [3.0, 4.0]])
    arr = x.numpy()
    assert isinstance(arr, np.ndarray) and arr.dtype == np.float32
    assert x.tolist() == [[1.5, 2.0], [3.0, 4.0]]
    assert sd.tensor(3.5).item() == 3.5 and isinstance(sd.tensor(3.5).item(), float)
    assert sd.tensor([7]).item() == 7 and isinstance(sd.tensor([7]).item(), int)
    assert isinstance(sd.tensor(True).item(), bool)
    assert float(sd.tensor([2.5])) == 2.5 and int(sd.tensor(3)) == 3
    assert [10, 20, 30][sd.tensor(1)] == 20  # __index__
    with pytest.raises(RuntimeError, match="one element"):
        x.item()
    np.testing.assert_array_equal(np.asarray(x), arr)


def test_numpy_of_a_tensor_requiring_grad_needs_detach():
    w = sd.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="detach"):
        w.numpy()
    assert w.detach().numpy().tolist() == [1.0, 1.0]


@pytest.mark.parametrize("method, dtype", [
    (lambda x: x.float(), sd.float32), (lambda x: x.double(), sd.float64), (lambda x: x.long(), sd.int64),
    (lambda x: x.int(), sd.int32), (lambda x: x.half(), sd.float16), (lambda x: x.bool(), sd.bool),
    (lambda x: x.to(sd.float64), sd.float64), (lambda x: x.to("float64"), sd.float64),
    (lambda x: x.astype(sd.int64), sd.int64), (lambda x: x.to(dtype=sd.int32), sd.int32),
    (lambda x: x.to(sd.zeros(1, dtype=sd.float64)), sd.float64), (lambda x: x.to("cpu", sd.float64), sd.float64),
    (lambda x: x.type(sd.float64), sd.float64),
])
def test_casts_match_torch(method, dtype):
    vals = [1.5, -2.7, 0.0, 3.9]
    s = method(sd.tensor(vals))
    t = {sd.float32: torch.float32, sd.float64: torch.float64, sd.int64: torch.int64, sd.int32: torch.int32,
         sd.float16: torch.float16, sd.bool: torch.bool}[dtype]
    assert s.dtype == dtype
    np.testing.assert_array_equal(s.numpy(), torch.tensor(vals).to(t).numpy())


def test_cast_to_same_dtype_is_identity_and_cast_is_differentiable():
    x = sd.tensor([1.0, 2.0], requires_grad=True)
    assert x.float() is x
    y = x.double()
    assert y.dtype == sd.float64 and y.grad_fn is not None
    y.backward(sd.tensor([1.0, 3.0], dtype=sd.float64))
    assert x.grad.dtype == sd.float32 and x.grad.tolist() == [1.0, 3.0]
    assert x.type() == "shendu.FloatTensor" and sd.arange(3).type() == "shendu.LongTensor"
    assert x.type(sd.LongTensor).dtype == sd.int64 and x.type("torch.DoubleTensor").dtype == sd.float64


def test_repr():
    r = repr(sd.tensor([1.5, 2.0]))
    assert r.startswith("tensor(") and "1.5" in r and "2." in r
    assert "requires_grad=True" in repr(sd.tensor([1.0, 2.0], requires_grad=True))
    x = sd.tensor([1.0, 2.0], requires_grad=True)
    r = repr(x * 2)
    assert "grad_fn=" in r and "4." in r and "requires_grad" not in r
    assert "dtype=shendu.float64" in repr(sd.tensor([1.0], dtype=sd.float64))
    assert "dtype" not in repr(sd.tensor([1, 2])) and "dtype" not in repr(sd.tensor([True]))
    assert "..." in repr(sd.zeros(5000))  # large tensors are summarized
    assert str(sd.tensor(2.0)) == repr(sd.tensor(2.0))


def test_len_and_iter():
    x = sd.tensor([[1, 2], [3, 4], [5, 6]])
    assert len(x) == 3
    rows = list(x)
    assert len(rows) == 3 and all(isinstance(r, sd.Tensor) for r in rows)
    assert rows[2].tolist() == [5, 6]
    assert [float(v) for v in sd.tensor([1.5, 2.5])] == [1.5, 2.5]
    with pytest.raises(TypeError, match="0-d"):
        len(sd.tensor(1.0))
    with pytest.raises(TypeError, match="0-d"):
        iter(sd.tensor(1.0))


def test_iteration_is_differentiable():
    x = sd.tensor([1.0, 2.0, 3.0], requires_grad=True)
    total = sum(v * v for v in x)
    total.backward()
    assert x.grad.tolist() == [2.0, 4.0, 6.0]


def test_bool():
    assert bool(sd.tensor([1.0])) and not bool(sd.tensor(0)) and bool(sd.tensor(True))
    assert bool(sd.tensor([1, 2]).sum() == 3)
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(sd.zeros(2))
    with pytest.raises(RuntimeError, match="ambiguous"):
        if sd.ones(3) > 0:
            pass


def test_hash_is_identity():
    a, b = sd.tensor([1.0]), sd.tensor([1.0])
    assert len({a, b}) == 2 and {a: 1}[a] == 1


def test_zero_dim_results_hold_arrays():
    # NumPy reductions to 0-d give scalars; tensors must hold arrays so in-place updates work.
    x = sd.tensor([1.0, 2.0, 3.0])
    for y in (x.sum(), x.mean(), x.max(), x.dot(x), x[0] * x[1], sd.tensor(2.0) * 3.0, x.sum() + x.sum()):
        assert isinstance(y._data, np.ndarray), type(y._data)
        assert y.dtype == sd.float32 and y.shape == ()
    s = x.sum()
    s += 1
    assert s.item() == 7.0


def test_inplace_updates_without_grad():
    x = sd.tensor([1.0, 2.0, 3.0])
    ref = x
    x += 1
    x *= 2
    x -= sd.tensor([1.0, 1.0, 1.0])
    x /= 2
    assert x is ref and x.tolist() == [1.5, 2.5, 3.5]
    x.add_(sd.ones(3), alpha=2).sub_(1).mul_(2).div_(4)
    assert x.tolist() == [1.25, 1.75, 2.25]
    x.zero_()
    assert x.tolist() == [0.0, 0.0, 0.0]
    x.fill_(2).copy_(sd.tensor([4.0, 5.0, 6.0]))
    assert x.tolist() == [4.0, 5.0, 6.0] and x.dtype == sd.float32
    x.clamp_(4.5, 5.5)
    assert x.tolist() == [4.5, 5.0, 5.5]
    x[0] = 9.0
    x[1:] = sd.tensor([7.0, 8.0])
    assert x.tolist() == [9.0, 7.0, 8.0]
    x[x > 7.5] = 0.0
    assert x.tolist() == [0.0, 7.0, 0.0]


def test_inplace_shape_mismatch_is_a_clear_error():
    x = sd.zeros(3)
    with pytest.raises(RuntimeError, match=r"add_.*shape \(3,\)"):
        x += sd.ones(4)


def test_detach_shares_data():
    x = sd.tensor([1.0, 2.0], requires_grad=True)
    d = x.detach()
    assert not d.requires_grad and d.is_leaf and d.grad_fn is None
    d[0] = 5.0  # shares memory, as in PyTorch
    assert x.detach().tolist() == [5.0, 2.0]


def test_clone_and_contiguous():
    x = sd.tensor(np.arange(6, dtype=np.float32).reshape(2, 3))
    t = x.T
    assert not t.is_contiguous()
    c = t.contiguous()
    assert c.is_contiguous() and c.tolist() == t.tolist()
    y = x.clone()
    y[0, 0] = 100.0
    assert x[0, 0].item() == 0.0


def test_inplace_write_of_a_value_requiring_grad_is_recorded():
    # writing a value that requires grad into a plain tensor makes it part of the graph (as in PyTorch)
    x = sd.tensor([1.0, 2.0], requires_grad=True)
    buf = sd.zeros(3)
    buf[0] = (x * 2).sum()
    buf[1:] += x
    assert buf.requires_grad and buf.tolist() == [6.0, 1.0, 2.0]
    buf.backward(sd.tensor([1.0, 10.0, 100.0]))
    assert x.grad.tolist() == [2.0 + 10.0, 2.0 + 100.0]
    buf2 = sd.zeros(3)
    buf2[:2] = x.detach()  # explicitly detached: no graph
    with sd.no_grad():
        buf2[2] = x.sum()
    assert buf2.tolist() == [1.0, 2.0, 3.0] and not buf2.requires_grad


@pytest.mark.parametrize("values", [
    [1.5, 2.0], [1e-8, 1.0, 1e8], [1.0, 2.0, 3.0], [[1.2345678, -2.5], [float("nan"), float("inf")]],
    [-float("inf"), 1.0], [[[0.5, -1.25], [3.0, 4.5]], [[1e-3, 2.0], [7.0, -8.0]]], 3.25, [],
], ids=lambda v: str(v)[:20])
def test_repr_is_pytorchs(values):
    a = np.array(values, dtype=np.float32)
    assert repr(sd.from_numpy(a.copy())) == repr(torch.from_numpy(a.copy())).replace("torch.", "shendu.")


def test_repr_of_long_and_wide_tensors_is_pytorchs():
    rng = np.random.default_rng(0)
    for a in (rng.standard_normal(2000).astype(np.float32), rng.standard_normal((40, 40)).astype(np.float32),
              np.arange(30, dtype=np.int64), rng.integers(0, 5, (3, 4))):
        assert repr(sd.from_numpy(a.copy())) == repr(torch.from_numpy(a.copy())).replace("torch.", "shendu.")


def test_format_spec_of_a_scalar_tensor_and_module_constants():
    loss = sd.tensor(2.34567)
    assert f"{loss:.4f}" == "2.3457" and f"{sd.tensor([1.5]):.1f}" == "1.5"
    assert f"{sd.tensor([1.0, 2.0])}" == repr(sd.tensor([1.0, 2.0]))
    import math
    assert sd.pi == math.pi and sd.e == math.e and sd.inf == math.inf and math.isnan(sd.nan)
    assert isinstance(sd.randn(2).dtype, sd.dtype) and isinstance(sd.bfloat16, sd.dtype)


def test_module_to_bfloat16():
    m = sd.nn.Linear(2, 3).to(sd.bfloat16)
    assert m.weight.dtype == sd.bfloat16 and m.bias.dtype == sd.bfloat16
    assert sd.nn.Linear(2, 2).bfloat16().weight.dtype == sd.bfloat16


def test_one_line_methods_match_torch():
    x = sd.randn(3, 4)
    ref_x = torch.from_numpy(x.numpy().copy())
    calls = [("ravel",), ("select", 1, 2), ("select", -1, -1), ("fliplr",), ("flipud",), ("sum_to_size", 1, 4),
             ("byte",), ("short",), ("char",)]
    for name, *args in calls:
        call = f"{name}{tuple(args)}"
        ours, ref = getattr(x, name)(*args), getattr(ref_x, name)(*args)
        np.testing.assert_array_equal(ours.numpy(), ref.numpy(), err_msg=call)
        assert str(ours.dtype) == str(ref.dtype).replace("torch.", ""), call
    assert [tuple(p.shape) for p in x.split_with_sizes([1, 2])] == [(1, 4), (2, 4)]
    assert x.is_cpu and x.get_device() == -1 and x.is_same_size(sd.zeros(3, 4)) and not x.is_inference()
    assert sd.tensor([0.0]).is_nonzero() is False and sd.tensor([2]).is_nonzero() is True
    with pytest.raises(IndexError, match="select: index 4 is out of range"):
        x.select(1, 4)
    sd.manual_seed(0)
    draws = sd.full((4000,), 0.25).bernoulli()
    assert abs(float(draws.mean()) - 0.25) < 0.03
    picks = sd.tensor([0.0, 1.0, 0.0]).multinomial(5, True)
    assert picks.tolist() == [1, 1, 1, 1, 1]


@pytest.mark.parametrize("name", ["bfloat16", "float16", "float32", "float64", "int64", "uint8", "bool", "complex64"])
def test_is_floating_point_agrees_with_torch_for_every_dtype(name):
    import torch
    assert sd.zeros(2, dtype=getattr(sd, name)).is_floating_point() == \
        torch.zeros(2, dtype=getattr(torch, name)).is_floating_point()


def test_bfloat16_with_a_python_float_stays_bfloat16_like_torch():
    x, xt = sd.ones(3).to(sd.bfloat16), torch.ones(3).bfloat16()
    for f in (lambda a: a + 1.0, lambda a: a * 0.5, lambda a: 1.0 - a, lambda a: a / 3.0, lambda a: a ** 2.0):
        assert f(x).dtype == sd.bfloat16 and f(xt).dtype == torch.bfloat16
        np.testing.assert_allclose(f(x).float().numpy(), f(xt).float().numpy())


@pytest.mark.parametrize("values", [[1 + 2j, 3 - 1j], [1.5 + 2.25j, -3.0 - 1j, 0.001 + 100j],
                                    [[1 + 0j, 2 - 3j], [0.5j, -1]], [complex(0, -0.0), 2.5]])
def test_complex_tensors_print_as_torch(values):
    assert str(sd.tensor(values)) == str(torch.tensor(values))
    assert str(sd.tensor(values, dtype=sd.complex128)).replace("shendu.", "torch.") == \
        str(torch.tensor(values, dtype=torch.complex128))
