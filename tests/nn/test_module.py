"""Module: registration, iteration, modes, dtype moves, state_dict, hooks, repr, lookups, containers, summary."""
import copy
import pickle
from collections import OrderedDict

import numpy as np
import pytest
import torch

import shendu as sd
from shendu import nn
from shendu.nn.utils import parameters_to_vector, vector_to_parameters


class Net(nn.Module):
    """A small model with a nested block, a persistent and a non-persistent buffer."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 3)
        self.block = nn.Sequential(nn.Linear(3, 3), nn.ReLU())
        self.scale = nn.Parameter(sd.ones(1))
        self.register_buffer("steps", sd.zeros(1, dtype=sd.int64))
        self.register_buffer("cache", sd.zeros(3), persistent=False)

    def forward(self, x):
        return self.block(self.fc1(x)) * self.scale


class TorchNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = torch.nn.Linear(4, 3)
        self.block = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.ReLU())
        self.scale = torch.nn.Parameter(torch.ones(1))
        self.register_buffer("steps", torch.zeros(1, dtype=torch.int64))
        self.register_buffer("cache", torch.zeros(3), persistent=False)


PARAMS = ["fc1.weight", "fc1.bias", "scale", "block.0.weight", "block.0.bias"]


# -- registration and iteration -----------------------------------------------------------------------
def test_registration_and_names_match_pytorch():
    m, t = Net(), TorchNet()
    assert [n for n, _ in m.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert [n for n, _ in m.named_buffers()] == [n for n, _ in t.named_buffers()] == ["steps", "cache"]
    assert [n for n, _ in m.named_modules()] == [n for n, _ in t.named_modules()]
    assert [n for n, _ in m.named_children()] == ["fc1", "block"]
    assert list(m.state_dict()) == list(t.state_dict())
    assert sorted(n for n, _ in m.named_parameters()) == sorted(PARAMS)
    assert [n for n, _ in m.named_parameters(recurse=False)] == ["scale"]
    assert [n for n, _ in m.block.named_parameters(prefix="block")] == ["block.0.weight", "block.0.bias"]
    assert len(list(m.parameters())) == 5 and len(list(m.buffers())) == 2 and len(list(m.children())) == 2
    assert {type(x).__name__ for x in m.modules()} == {"Net", "Linear", "Sequential", "ReLU"}


def test_setattr_rules_and_errors():
    m = Net()
    m.plain = sd.zeros(2)  # a plain tensor is an ordinary attribute, not a buffer
    assert "plain" not in dict(m.named_buffers()) and "plain" not in m.state_dict()
    with pytest.raises(TypeError, match="cannot assign 'Tensor' as parameter 'scale'"):
        m.scale = sd.ones(1)
    m.scale = None
    assert "scale" not in dict(m.named_parameters()) and m.scale is None
    m.steps = sd.ones(1, dtype=sd.int64)  # a tensor replaces a buffer
    assert m.steps.item() == 1 and "steps" in m.state_dict()
    with pytest.raises(TypeError, match="as buffer 'steps'"):
        m.steps = 3
    with pytest.raises(TypeError, match="as child module 'fc1'"):
        m.fc1 = 3
    m.fc1 = nn.Linear(4, 2)  # a module replaces a module
    m.buf = nn.Buffer(sd.ones(2), persistent=False)
    assert "buf" in dict(m.named_buffers()) and "buf" not in m.state_dict()
    with pytest.raises(KeyError, match="attribute 'fc1' already exists"):
        m.register_parameter("fc1", None)
    with pytest.raises(KeyError, match="can't be empty or contain"):
        m.register_buffer("a.b", sd.zeros(1))
    with pytest.raises(TypeError, match="parameter 'w'"):
        m.register_parameter("w", sd.zeros(1))
    with pytest.raises(ValueError, match="non-leaf"):
        m.register_parameter("w", _non_leaf_parameter())
    with pytest.raises(TypeError, match="is not a Module subclass"):
        m.add_module("x", 3)
    with pytest.raises(AttributeError, match="'Net' object has no attribute 'missing'"):
        m.missing


def _non_leaf_parameter():
    p = nn.Parameter(sd.ones(2))
    q = p * 2
    q.__class__ = nn.Parameter  # a Parameter-typed tensor with a grad_fn
    return q


def test_assign_before_init_fails():
    class Bad(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(sd.ones(1))
            super().__init__()

    with pytest.raises(AttributeError, match="before Module.__init__"):
        Bad()


def test_add_module_delattr_dir():
    m = nn.Module()
    m.add_module("a", nn.Linear(2, 2))
    m.register_module("b", nn.ReLU())
    m.w = nn.Parameter(sd.ones(3))
    assert [n for n, _ in m.named_children()] == ["a", "b"]
    assert {"a", "b", "w", "forward", "state_dict"} <= set(dir(m))
    del m.w
    del m.a
    assert list(m.state_dict()) == [] and [n for n, _ in m.named_children()] == ["b"]
    m.x = 1
    del m.x
    with pytest.raises(AttributeError):
        m.x
    with pytest.raises(NotImplementedError, match=r'Module \[Module\] is missing the required "forward"'):
        m(sd.ones(1))


def test_shared_parameters_once_and_tied_gradients_sum():
    a, b = nn.Linear(3, 3, bias=False), nn.Linear(3, 3, bias=False)
    b.weight = a.weight
    model = nn.Sequential(a, nn.Tanh(), b)
    assert [n for n, _ in model.named_parameters()] == ["0.weight"]
    assert list(model.state_dict()) == ["0.weight", "2.weight"]  # PyTorch keeps both names in state_dict
    shared_mod = nn.Sequential(a, a)
    assert len(list(shared_mod.modules())) == 2 and len(list(shared_mod.children())) == 1

    ta = torch.nn.Linear(3, 3, bias=False)
    ta.weight.data = torch.from_numpy(a.weight._data.copy())
    tmodel = torch.nn.Sequential(ta, torch.nn.Tanh(), torch.nn.Linear(3, 3, bias=False))
    tmodel[2].weight = ta.weight
    x = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    g = np.random.default_rng(1).standard_normal((4, 3)).astype(np.float32)
    model(sd.from_numpy(x)).backward(sd.from_numpy(g))
    tmodel(torch.from_numpy(x)).backward(torch.from_numpy(g))
    np.testing.assert_allclose(a.weight.grad._data, ta.weight.grad.numpy(), rtol=1e-5, atol=1e-6)


# -- modes, gradients, dtype -------------------------------------------------------------------------
def test_train_eval_apply_requires_grad_zero_grad():
    m = Net()
    assert m.eval() is m and not any(x.training for x in m.modules())
    m.train()
    assert all(x.training for x in m.modules())
    with pytest.raises(ValueError, match="boolean"):
        m.train("yes")
    seen = []
    m.apply(lambda x: seen.append(type(x).__name__))
    assert seen == ["Linear", "Linear", "ReLU", "Sequential", "Net"]  # children first, as in PyTorch
    m.apply(lambda x: nn.init.zeros_(x.bias) if isinstance(x, nn.Linear) else None)
    assert not np.any(m.fc1.bias._data)

    m(sd.randn(2, 4)).sum().backward()
    assert all(p.grad is not None for p in m.parameters())
    m.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not np.any(p.grad._data) for p in m.parameters())
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())
    m.fc1.requires_grad_(False)
    m(sd.randn(2, 4)).sum().backward()
    assert m.fc1.weight.grad is None and m.block[0].weight.grad is not None


def test_to_dtype_keeps_parameter_objects():
    m = Net()
    params = list(m.parameters())
    m(sd.randn(2, 4)).sum().backward()
    assert m.double() is m
    assert all(a is b for a, b in zip(params, m.parameters()))
    assert all(p.dtype == np.float64 and p.grad.dtype == np.float64 for p in m.parameters())
    assert m.steps.dtype == np.int64 and m.cache.dtype == np.float64  # integer buffers keep their dtype
    assert m(sd.randn(2, 4, dtype=sd.float64)).dtype == np.float64
    m.float()
    assert all(p.dtype == np.float32 for p in params)
    m.to(sd.zeros(1, dtype=sd.float64))
    assert params[0].dtype == np.float64
    m.to("cpu", sd.float32)
    m.to(device="cpu", dtype=sd.float32)
    assert params[0].dtype == np.float32 and params[0].device == "cpu"
    with pytest.raises(TypeError, match="floating point"):
        m.to(sd.int64)


# -- state dict ----------------------------------------------------------------------------------------
def test_state_dict_contents_and_round_trip():
    m = Net()
    sdict = m.state_dict()
    assert isinstance(sdict, OrderedDict)
    assert list(sdict) == ["scale", "steps", "fc1.weight", "fc1.bias", "block.0.weight", "block.0.bias"]
    assert not sdict["fc1.weight"].requires_grad and sdict["fc1.weight"]._data is m.fc1.weight._data
    assert m.state_dict(keep_vars=True)["fc1.weight"] is m.fc1.weight
    fresh = Net()
    weight = fresh.fc1.weight
    res = fresh.load_state_dict(copy.deepcopy(sdict))
    assert res == ([], []) and res.missing_keys == [] and res.unexpected_keys == []
    assert fresh.fc1.weight is weight and fresh.fc1.weight._data is not m.fc1.weight._data  # copied in place
    x = sd.randn(2, 4)
    np.testing.assert_array_equal(fresh(x)._data, m(x)._data)
    # PyTorch loads our state dict and gives the same output
    t = TorchNet()
    t.load_state_dict({k: torch.from_numpy(v._data.copy()) for k, v in sdict.items()})
    np.testing.assert_allclose(t.block(t.fc1(torch.from_numpy(x._data))).detach().numpy() * t.scale.item(),
                               m(x)._data, rtol=1e-6)
    # ... and we load PyTorch's (as tensors or as plain NumPy arrays)
    fresh.load_state_dict({k: v.numpy() for k, v in TorchNet().state_dict().items()})


def test_load_state_dict_errors_name_keys_and_shapes():
    m = Net()
    state = m.state_dict()
    del state["scale"]
    state["extra.weight"] = sd.zeros(1)
    with pytest.raises(RuntimeError) as err:
        Net().load_state_dict(state)
    msg = str(err.value)
    assert "Error(s) in loading state_dict for Net" in msg
    assert 'Missing key(s) in state_dict: "scale".' in msg and 'Unexpected key(s) in state_dict: "extra.weight".' in msg
    res = Net().load_state_dict(state, strict=False)
    assert res.missing_keys == ["scale"] and res.unexpected_keys == ["extra.weight"]
    bad = m.state_dict()
    bad["fc1.weight"] = sd.zeros(3, 5)
    with pytest.raises(RuntimeError, match=r"size mismatch for fc1.weight: copying a param with shape \(3, 5\) from "
                                           r"checkpoint, the shape in current model is \(3, 4\)"):
        Net().load_state_dict(bad, strict=False)
    with pytest.raises(TypeError, match="dict-like"):
        Net().load_state_dict([1, 2])


def test_load_state_dict_assign():
    m, src = nn.Linear(2, 2), nn.Linear(2, 2)
    w = src.weight._data
    m.load_state_dict(src.state_dict(), assign=True)
    assert m.weight._data is w


def test_deepcopy_and_pickle():
    m = Net()
    x = sd.randn(2, 4)
    for clone in (copy.deepcopy(m), pickle.loads(pickle.dumps(m))):
        np.testing.assert_array_equal(clone(x)._data, m(x)._data)
        assert clone.fc1.weight is not m.fc1.weight and isinstance(clone.fc1.weight, nn.Parameter)
        assert [n for n, _ in clone.named_parameters()] == [n for n, _ in m.named_parameters()]


# -- hooks ---------------------------------------------------------------------------------------------
def test_forward_hooks():
    m = nn.Linear(3, 2)
    calls = []
    h1 = m.register_forward_pre_hook(lambda mod, args: (args[0] * 0,))
    h2 = m.register_forward_hook(lambda mod, args, out: calls.append((mod, args[0].shape, out.shape)))
    h3 = m.register_forward_hook(lambda mod, args, out: out + 1)
    y = m(sd.randn(4, 3))
    np.testing.assert_allclose(y._data, np.broadcast_to(m.bias._data + 1, (4, 2)), rtol=1e-6)
    assert calls == [(m, (4, 3), (4, 2))]
    for h in (h1, h2, h3):
        h.remove()
    x = sd.randn(4, 3)
    np.testing.assert_array_equal(m(x)._data, nn.functional.linear(x, m.weight, m.bias)._data)
    assert len(calls) == 1
    order = []
    m.register_forward_hook(lambda *a: order.append("second"))
    with m.register_forward_hook(lambda *a: order.append("first"), prepend=True):
        m(x)
    m(x)
    assert order == ["first", "second", "second"]


def test_forward_hooks_with_kwargs():
    class Scale(nn.Module):
        def forward(self, x, factor=1.0):
            return x * factor

    m = Scale()
    seen = []
    m.register_forward_pre_hook(lambda mod, args, kwargs: (args, {"factor": kwargs["factor"] * 2}), with_kwargs=True)
    m.register_forward_hook(lambda mod, args, kwargs, out: seen.append(kwargs["factor"]), with_kwargs=True)
    assert m(sd.ones(2), factor=3.0)._data.tolist() == [6.0, 6.0] and seen == [6.0]


def test_call_passes_kwargs():
    class Scale(nn.Module):
        def forward(self, x, factor=1.0):
            return x * factor

    assert Scale()(sd.ones(2), factor=3.0)._data.tolist() == [3.0, 3.0]


# -- repr and lookups ----------------------------------------------------------------------------------
def test_repr_matches_pytorch():
    def build(mod):
        return mod.Sequential(OrderedDict([
            ("embed", mod.Embedding(10, 4, padding_idx=0)),
            ("layers", mod.ModuleList([mod.Linear(4, 4) for _ in range(3)] + [mod.Dropout(0.1)])),
            ("heads", mod.ModuleDict({"cls": mod.Linear(4, 2, bias=False), "act": mod.GELU(approximate="tanh")})),
            ("flat", mod.Flatten()), ("empty", mod.Sequential()),
        ]))
    assert repr(build(nn)) == repr(build(torch.nn))
    assert repr(nn.ModuleList()) == repr(torch.nn.ModuleList())


def test_get_submodule_parameter_buffer():
    m = Net()
    assert m.get_submodule("") is m and m.get_submodule("block.0") is m.block[0]
    assert m.get_parameter("block.0.bias") is m.block[0].bias and m.get_parameter("scale") is m.scale
    assert m.get_buffer("steps") is m.steps
    with pytest.raises(AttributeError, match="Sequential has no attribute `5`"):
        m.get_submodule("block.5")
    with pytest.raises(AttributeError, match="`scale` is not an nn.Module"):
        m.get_submodule("scale.x")
    with pytest.raises(AttributeError, match="`steps` is not an nn.Parameter"):
        m.get_parameter("steps")
    with pytest.raises(AttributeError, match="Linear has no attribute `nope`"):
        m.get_parameter("fc1.nope")
    with pytest.raises(AttributeError, match="`scale` is not a buffer"):
        m.get_buffer("scale")


# -- containers ----------------------------------------------------------------------------------------
def test_sequential():
    l1, r, l2 = nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)
    s = nn.Sequential(l1, r, l2)
    x = sd.randn(5, 4)
    np.testing.assert_array_equal(s(x)._data, l2(r(l1(x)))._data)
    assert len(s) == 3 and s[0] is l1 and s[-1] is l2 and list(s) == [l1, r, l2]
    head = s[:2]
    assert isinstance(head, nn.Sequential) and list(head) == [l1, r] and head[0] is l1
    assert [n for n, _ in s[1:].named_children()] == ["1", "2"]  # PyTorch keeps the original keys
    s.append(nn.Tanh())
    assert len(s) == 4 and type(s[3]).__name__ == "Tanh"
    del s[1]
    assert [n for n, _ in s.named_children()] == ["0", "1", "2"] and s[1] is l2
    s.insert(1, r)
    assert s[1] is r and len(s) == 4
    assert s.pop(-1).__class__.__name__ == "Tanh" and len(s) == 3
    s[2] = nn.Identity()
    assert isinstance(s[2], nn.Identity)
    assert len(s + nn.Sequential(nn.ReLU())) == 4
    named = nn.Sequential(OrderedDict([("enc", l1), ("act", r)]))
    assert [n for n, _ in named.named_children()] == ["enc", "act"] and named.enc is l1 and named["act"] is r
    assert list(named.state_dict()) == ["enc.weight", "enc.bias"]
    with pytest.raises(IndexError, match="index 5 is out of range"):
        s[5]


def test_module_list():
    layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(2)])
    layers.append(nn.ReLU())
    layers.extend([nn.Tanh(), nn.Sigmoid()])
    layers.insert(0, nn.Identity())
    assert len(layers) == 6 and isinstance(layers[0], nn.Identity) and isinstance(layers[-1], nn.Sigmoid)
    assert [n for n, _ in layers.named_parameters()] == ["1.weight", "1.bias", "2.weight", "2.bias"]
    assert isinstance(layers[1:3], nn.ModuleList) and len(layers[1:3]) == 2
    del layers[0]
    assert [n for n, _ in layers.named_children()] == [str(i) for i in range(5)]
    layers += [nn.ReLU()]
    assert len(layers) == 6 and len(layers + nn.ModuleList([nn.ReLU()])) == 7
    holder = nn.Module()
    holder.layers = layers
    assert len(list(holder.parameters())) == 4


def test_module_dict():
    d = nn.ModuleDict({"a": nn.Linear(2, 3), "b": nn.ReLU()})
    d["c"] = nn.Linear(3, 1)
    assert list(d) == ["a", "b", "c"] and "b" in d and len(d) == 3
    assert [n for n, _ in d.named_parameters()] == ["a.weight", "a.bias", "c.weight", "c.bias"]
    assert list(d.keys()) == ["a", "b", "c"] and isinstance(d["a"], nn.Linear)
    del d["b"]
    assert d.pop("c") is not None and list(d.keys()) == ["a"]
    d.update([("z", nn.Tanh())])
    assert list(d.items())[1][0] == "z" and len(list(d.values())) == 2
    d.clear()
    assert len(d) == 0


def test_parameter_list_and_dict():
    pl = nn.ParameterList([nn.Parameter(sd.ones(2)), sd.zeros(3)])
    pl.append(sd.ones(1))
    assert len(pl) == 3 and all(isinstance(p, nn.Parameter) and p.requires_grad for p in pl)
    assert [n for n, _ in pl.named_parameters()] == ["0", "1", "2"] and pl[-1].shape == (1,)
    pl[0] = sd.full((2,), 5.0)
    assert pl[0]._data.tolist() == [5.0, 5.0] and isinstance(pl[0], nn.Parameter)
    assert list(pl.state_dict()) == ["0", "1", "2"]
    assert "(1): Parameter containing: [shendu.float32 of size 3]" in repr(pl)

    pd = nn.ParameterDict({"w": sd.ones(2, 2), "b": nn.Parameter(sd.zeros(2))})
    pd["c"] = sd.ones(1)
    assert list(pd) == ["w", "b", "c"] and isinstance(pd["w"], nn.Parameter) and "c" in pd
    assert [n for n, _ in pd.named_parameters()] == ["w", "b", "c"]
    assert pd.pop("c").shape == (1,) and len(pd) == 2 and pd.get("zz") is None
    del pd["w"]
    assert list(pd.keys()) == ["b"] and [n for n, _ in pd.named_parameters()] == ["b"]
    owner = nn.Module()
    owner.pd = pd
    assert list(owner.state_dict()) == ["pd.b"]


# -- summary and parameter vectors ---------------------------------------------------------------------
def test_summary(capsys):
    model = nn.Sequential(nn.Embedding(10, 4), nn.Flatten(), nn.Linear(12, 5), nn.ReLU(), nn.Linear(5, 2))
    model[0].requires_grad_(False)
    model.train()
    text = nn.summary(model, (2, 3), dtype=sd.int64)
    assert capsys.readouterr().out == ""
    assert model.training and all(m.training for m in model.modules())
    lines = text.splitlines()
    rows = [ln.split() for ln in lines if ln.split() and ln.split()[0].isdigit()]
    assert rows == [["0", "(Embedding)", "[2,", "3,", "4]", "40"], ["1", "(Flatten)", "[2,", "12]", "0"],
                    ["2", "(Linear)", "[2,", "5]", "65"], ["3", "(ReLU)", "[2,", "5]", "0"],
                    ["4", "(Linear)", "[2,", "2]", "12"]]
    assert "Total params: 117" in text and "Trainable params: 77" in text and "Non-trainable params: 40" in text
    assert sd.summary is nn.summary if hasattr(sd, "summary") else True
    shared = nn.Linear(3, 3)
    text = nn.summary(nn.Sequential(shared, nn.Tanh(), shared), input_data=sd.randn(1, 3))
    assert "(shared)" in text and "Total params: 12" in text
    with pytest.raises(ValueError, match="input_size"):
        nn.summary(model)


def test_parameters_to_vector_and_back():
    m = Net()
    vec = parameters_to_vector(m.parameters())
    t = TorchNet()
    t.load_state_dict({k: torch.from_numpy(v._data.copy()) for k, v in m.state_dict().items()})
    np.testing.assert_array_equal(vec._data, torch.nn.utils.parameters_to_vector(t.parameters()).detach().numpy())
    params = list(m.parameters())
    vector_to_parameters(sd.arange(vec.numel(), dtype=sd.float32), m.parameters())
    assert all(a is b for a, b in zip(params, m.parameters()))
    np.testing.assert_array_equal(parameters_to_vector(m.parameters())._data, np.arange(vec.numel()))
    assert m.scale.item() == 0.0 and m.fc1.weight._data.tolist()[0] == [1.0, 2.0, 3.0, 4.0]
    with pytest.raises(TypeError, match="expected vec to be a Tensor"):
        vector_to_parameters([1.0], m.parameters())
    with pytest.raises(ValueError, match="1-D vector of 28 elements"):
        vector_to_parameters(sd.zeros(5), m.parameters())
