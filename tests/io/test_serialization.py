"""shendu.save / shendu.load: round trips of tensors and nested containers through safetensors."""
import io
import json
import math

import numpy as np
import pytest
import safetensors.numpy

import shendu as sd
from shendu.io.serialization import read_metadata
from shendu.nn.parameter import Parameter


def _same(a, b):
    assert type(a) is type(b), (type(a), type(b))
    if isinstance(a, sd.Tensor):
        assert a.dtype == b.dtype and a.shape == b.shape and a.requires_grad == b.requires_grad
        np.testing.assert_array_equal(a._data, b._data)
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            _same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _same(x, y)
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b)
    else:
        assert a == b


def test_state_dict_is_plain_safetensors(tmp_path):
    sd_ = {"fc.weight": sd.randn(3, 4), "fc.bias": sd.zeros(3), "bn.num_batches_tracked": sd.tensor(7)}
    path = tmp_path / "m.safetensors"
    sd.save(sd_, path)
    # Readable by the safetensors library itself, under the state dict's own names.
    raw = safetensors.numpy.load_file(str(path))
    assert sorted(raw) == sorted(sd_)
    np.testing.assert_array_equal(raw["fc.weight"], sd_["fc.weight"]._data)
    assert raw["bn.num_batches_tracked"].dtype == np.int64
    _same(sd.load(path), dict(sd_))


def test_nested_containers_round_trip(tmp_path):
    obj = {
        "model": {"w": sd.randn(2, 3, dtype=sd.float64), "mask": sd.tensor([True, False])},
        "optimizer": {  # PyTorch's layout: int keys, tuples, floats
            "state": {0: {"step": sd.tensor(3.0), "exp_avg": sd.ones(2, 3)}, 1: {}},
            "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "params": [0, 1], "amsgrad": False,
                              "foreach": None}],
        },
        "history": {"loss": [1.5, 0.5], "val_loss": [float("nan"), float("inf")]},
        "arr": np.arange(5, dtype=np.int16), "scalar": np.float32(2.5), "dtype": np.dtype("float16"),
        "empty": sd.zeros(0, 3), "half": sd.ones(2, dtype=sd.float16), "big": 2 ** 100, "text": "深度",
        "tricky": {"__shendu__": "not a marker", "a/b": sd.ones(1)}, "a": {"b": sd.zeros(1)},
    }
    path = tmp_path / "nested.safetensors"
    sd.save(obj, path)
    out = sd.load(path)
    _same(out, obj)
    assert out["scalar"].dtype == np.float32 and np.ndim(out["scalar"]) == 0


def test_requires_grad_and_parameter_survive(tmp_path):
    p = Parameter(sd.randn(2, 2))
    t = sd.randn(3).requires_grad_()
    sd.save({"p": p, "t": t}, tmp_path / "x.safetensors")
    out = sd.load(tmp_path / "x.safetensors")
    assert isinstance(out["p"], Parameter) and out["p"].requires_grad
    assert out["t"].requires_grad and out["t"].is_leaf
    np.testing.assert_array_equal(out["p"]._data, p._data)


def test_single_tensor_and_file_objects():
    x = sd.arange(6).reshape(2, 3)
    buf = io.BytesIO()
    sd.save(x, buf)
    buf.seek(0)
    _same(sd.load(buf), x)


def test_foreign_safetensors_file_loads_as_tensor_table(tmp_path):
    path = str(tmp_path / "foreign.safetensors")
    safetensors.numpy.save_file({"a": np.ones((2, 2), np.float32), "b": np.arange(3)}, path)
    out = sd.load(path)
    assert set(out) == {"a", "b"} and isinstance(out["a"], sd.Tensor) and out["b"].dtype == np.int64


def test_metadata_is_json_and_user_metadata_kept(tmp_path):
    path = tmp_path / "meta.safetensors"
    sd.save({"x": sd.ones(1), "n": 3}, path, metadata={"author": "me"})
    meta = read_metadata(path.read_bytes())
    assert meta["author"] == "me"
    assert json.loads(meta["shendu"])["n"] == 3
    with pytest.raises(ValueError, match="reserved"):
        sd.save({"x": sd.ones(1)}, path, metadata={"shendu": "x"})


def test_values_beyond_the_format_are_pickled_and_unstorable_arrays_raise(tmp_path):
    sd.save({"a": [{1, 2}]}, tmp_path / "set.pt")  # a set: pickled, as torch.save would
    assert sd.load(tmp_path / "set.pt", weights_only=False) == {"a": [{1, 2}]}
    with pytest.raises(TypeError, match="dtype <U1"):
        sd.save({"a": np.array(["x"])}, tmp_path / "bad.safetensors")
    assert not (tmp_path / "bad.safetensors").exists()


def test_truncated_file_is_a_clear_error(tmp_path):
    path = tmp_path / "t.safetensors"
    sd.save({"x": sd.ones(100)}, path)
    path.write_bytes(path.read_bytes()[:20])
    with pytest.raises(ValueError, match="truncated"):
        sd.load(path)


def test_whole_module_is_pickled_and_needs_weights_only_false(tmp_path):
    import pickle
    model = sd.nn.Sequential(sd.nn.Linear(3, 2), sd.nn.Tanh())
    path = tmp_path / "model.pt"
    sd.save(model, path)
    with pytest.raises(pickle.UnpicklingError, match="weights_only=False"):
        sd.load(path)
    again = sd.load(path, weights_only=False)
    x = sd.randn(4, 3)
    np.testing.assert_array_equal(again(x).detach().numpy(), model(x).detach().numpy())
    assert isinstance(again[0].weight, sd.nn.Parameter) and again[0].weight.requires_grad
    again(x).sum().backward()
    assert again[0].weight.grad is not None and model[0].weight.grad is None
