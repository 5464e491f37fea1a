"""The namespaces every CPU build of PyTorch has, reporting honestly: cuda, backends, accelerator,
nn.parallel, onnx; legacy typed constructors, finfo/iinfo, bfloat16, Size, printing, default device."""
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch

import shendu as sd
from shendu import backend

HAS_GPU = sd.cuda.is_available()


# -- shendu.cuda / accelerator / backends ---------------------------------------------------------
def test_cuda_reports_what_the_machine_has():
    expected = backend._cupy is not None and sd.cuda.device_count() > 0
    assert sd.cuda.is_available() is expected
    if backend._cupy is None:
        assert sd.cuda.device_count() == 0 and sd.cuda.memory_allocated() == 0
    sd.cuda.manual_seed(0)
    sd.cuda.manual_seed_all(0)  # harmless no-ops either way
    sd.cuda.empty_cache()


@pytest.mark.skipif(HAS_GPU, reason="a GPU is present")
@pytest.mark.parametrize("call", [sd.cuda.synchronize, sd.cuda.current_device, sd.cuda.get_device_name,
                                  sd.accelerator.synchronize, sd.accelerator.current_device_index])
def test_gpu_only_calls_say_what_is_missing(call):
    with pytest.raises(RuntimeError, match="CuPy|GPU|accelerator"):
        call()


@pytest.mark.skipif(HAS_GPU, reason="a GPU is present")
def test_moving_to_cuda_without_a_gpu_raises_clearly():
    dev = sd.device("cuda")
    assert dev.type == "cuda" and str(sd.device("cuda:1")) == "cuda:1"
    with pytest.raises(RuntimeError, match="CuPy|GPU"):
        sd.zeros(2).to(dev)
    with pytest.raises(RuntimeError, match="CuPy|GPU"):
        sd.zeros(2).cuda()
    with pytest.raises(RuntimeError, match="CuPy|GPU"):
        sd.cuda.FloatTensor([1.0])
    with pytest.raises(RuntimeError, match="GPU"):
        sd.set_default_device("cuda")


def test_accelerator_matches_cuda():
    assert sd.accelerator.is_available() is sd.cuda.is_available()
    assert sd.accelerator.device_count() == sd.cuda.device_count()
    cur = sd.accelerator.current_accelerator()
    assert (cur is None) is (not sd.cuda.is_available())
    if not HAS_GPU:
        assert torch.accelerator.current_accelerator() is None  # what a CPU build of PyTorch says too


def test_backends_flags_are_settable_and_report_absence():
    cudnn = sd.backends.cudnn
    assert (cudnn.enabled, cudnn.benchmark, cudnn.deterministic) == (
        torch.backends.cudnn.enabled, torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic)
    old = cudnn.benchmark, cudnn.deterministic
    try:
        sd.backends.cudnn.benchmark = True
        sd.backends.cudnn.deterministic = True
        assert sd.backends.cudnn.benchmark and sd.backends.cudnn.deterministic
        with cudnn.flags(enabled=False):
            assert not cudnn.enabled
        assert cudnn.enabled
    finally:
        cudnn.benchmark, cudnn.deterministic = old
    assert cudnn.is_available() is False and sd.backends.mps.is_available() is False
    assert sd.backends.mps.is_built() is False and sd.backends.mkldnn.is_available() is False
    assert isinstance(sd.backends.openmp.is_available(), bool)
    sd.backends.cuda.matmul.allow_tf32 = True
    assert sd.backends.cuda.matmul.allow_tf32
    assert sd.backends.cpu.get_cpu_capability() in ("AVX512", "AVX2", "DEFAULT")


# -- nn.parallel, onnx ----------------------------------------------------------------------------
def test_data_parallel_is_a_pass_through_with_module_prefix():
    sd.manual_seed(0)
    net = sd.nn.Sequential(sd.nn.Linear(3, 4), sd.nn.ReLU(), sd.nn.Linear(4, 2))
    dp = sd.nn.DataParallel(net)
    assert dp.module is net
    x = sd.randn(5, 3)
    np.testing.assert_array_equal(dp(x).detach().numpy(), net(x).detach().numpy())
    tnet = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    assert list(dp.state_dict()) == list(torch.nn.DataParallel(tnet).state_dict())  # 'module.0.weight', ...
    assert len(list(dp.parameters())) == 4
    fresh = sd.nn.DataParallel(sd.nn.Sequential(sd.nn.Linear(3, 4), sd.nn.ReLU(), sd.nn.Linear(4, 2)))
    fresh.load_state_dict(dp.state_dict())
    np.testing.assert_array_equal(fresh(x).detach().numpy(), net(x).detach().numpy())
    assert sd.nn.parallel.data_parallel(net, x).shape == (5, 2)


def test_distributed_data_parallel_needs_a_process_group_and_onnx_export_writes_a_file(tmp_path):
    with pytest.raises(RuntimeError, match="process group"):
        sd.nn.parallel.DistributedDataParallel(sd.nn.Linear(2, 2))
    pytest.importorskip("onnx")
    sd.onnx.export(sd.nn.Linear(2, 2), (sd.zeros(1, 2),), str(tmp_path / "model.onnx"))
    assert (tmp_path / "model.onnx").stat().st_size > 0
    assert sd.onnx.is_in_onnx_export() is False


# -- legacy typed constructors --------------------------------------------------------------------
LEGACY = ["FloatTensor", "DoubleTensor", "HalfTensor", "LongTensor", "IntTensor", "ShortTensor", "CharTensor",
          "ByteTensor", "BoolTensor"]


@pytest.mark.parametrize("name", LEGACY)
def test_legacy_constructors_match_torch(name):
    ours, theirs = getattr(sd, name), getattr(torch, name)
    data = [[1, 0], [3, 4]]
    a, b = ours(data), theirs(data)
    assert a.dtype == b.numpy().dtype and a.tolist() == b.tolist()
    assert ours(2, 3).shape == tuple(theirs(2, 3).shape) and ours(2, 3).dtype == b.numpy().dtype
    assert ours().shape == tuple(theirs().shape) == (0,)
    assert isinstance(a, ours) and isinstance(a, sd.Tensor)
    other = "DoubleTensor" if name != "DoubleTensor" else "FloatTensor"
    assert not isinstance(a, getattr(sd, other)) and not isinstance(b, getattr(torch, other))
    assert not isinstance(np.zeros(2), ours)


def test_legacy_constructor_from_float64_array_takes_its_dtype():
    arr = np.array([1.5, 2.5])
    assert sd.FloatTensor(arr).dtype == sd.float32 and torch.FloatTensor(arr).dtype == torch.float32
    assert sd.LongTensor(np.array([1.7, -2.7])).tolist() == torch.LongTensor(np.array([1.7, -2.7])).tolist()


# -- finfo / iinfo / bfloat16 / complex -----------------------------------------------------------
@pytest.mark.parametrize("name", ["float16", "bfloat16", "float32", "float64"])
def test_finfo_matches_torch(name):
    a, b = sd.finfo(getattr(sd, name)), torch.finfo(getattr(torch, name))
    for attr in ("bits", "eps", "max", "min", "tiny", "smallest_normal", "resolution", "dtype"):
        assert getattr(a, attr) == getattr(b, attr), attr
    assert type(a.eps) is float and "finfo(" in repr(a)


def test_finfo_default_and_errors():
    assert sd.finfo().dtype == "float32" and sd.finfo(sd.complex64).eps == torch.finfo(torch.complex64).eps
    with pytest.raises(TypeError, match="floating"):
        sd.finfo(sd.int32)
    with pytest.raises(TypeError, match="integer"):
        sd.iinfo(sd.float32)


@pytest.mark.parametrize("name", ["uint8", "int8", "int16", "int32", "int64"])
def test_iinfo_matches_torch(name):
    a, b = sd.iinfo(getattr(sd, name)), torch.iinfo(getattr(torch, name))
    assert (a.bits, a.min, a.max, a.dtype) == (b.bits, b.min, b.max, b.dtype)
    assert type(a.max) is int


def test_bfloat16_tensors_create_cast_and_print():
    values = [1.0, 2.5, -3.140625, 1e-3]
    x = sd.tensor(values, dtype=sd.bfloat16)
    t = torch.tensor(values, dtype=torch.bfloat16)
    assert x.dtype == sd.bfloat16 and x.dtype.itemsize == 2
    np.testing.assert_array_equal(x.float().numpy(), t.float().numpy())  # same rounding to bfloat16
    assert x.float().dtype == sd.float32
    assert sd.zeros(2, 3, dtype=sd.bfloat16).dtype == sd.bfloat16
    assert sd.tensor(values).to(sd.bfloat16).dtype == sd.bfloat16
    assert sd.tensor(values).to("bfloat16").dtype == sd.bfloat16
    assert "bfloat16" in repr(x) and "2.5" in repr(x)
    assert sd.is_floating_point(x) and isinstance(sd.BFloat16Tensor([1.0]), sd.BFloat16Tensor)


def test_complex_dtypes():
    assert sd.cfloat == sd.complex64 and sd.cdouble == sd.complex128
    z = sd.tensor([1 + 2j, 3.0])
    assert z.dtype == sd.complex64 and torch.tensor([1 + 2j, 3.0]).dtype == torch.complex64
    assert sd.is_complex(z) and not sd.is_complex(sd.zeros(1))


# -- Size ------------------------------------------------------------------------------------------
def test_size_behaves_as_torch_size():
    s, t = sd.Size([2, 3, 4]), torch.Size([2, 3, 4])
    assert s == (2, 3, 4) and s == tuple(t) and hash(s) == hash((2, 3, 4))
    assert s.numel() == t.numel() == 24 and sd.Size([]).numel() == 1
    assert s[1:] == (3, 4) and isinstance(s[0], int)  # slices are plain tuples here (C-speed indexing)
    assert isinstance(s + (5,), sd.Size) and isinstance((1,) + s, sd.Size) and isinstance(s * 2, sd.Size)
    assert repr(s) == "shendu.Size([2, 3, 4])"
    assert pickle.loads(pickle.dumps(s)) == s and isinstance(pickle.loads(pickle.dumps(s)), sd.Size)
    assert sd.Size(np.array([2, 3])) == (2, 3)
    with pytest.raises(TypeError, match="int"):
        sd.Size([2.5])
    assert sd.zeros(s).shape == (2, 3, 4)


# -- module-level predicates, print options, default device ---------------------------------------
def test_predicates_match_torch():
    x, tx = sd.zeros(2, 3), torch.zeros(2, 3)
    assert sd.is_tensor(x) and torch.is_tensor(tx) and not sd.is_tensor(np.zeros(2))
    assert sd.is_storage(x) is torch.is_storage(tx) is False
    assert sd.numel(x) == torch.numel(tx) == 6
    assert sd.is_floating_point(x) and not sd.is_floating_point(sd.zeros(1, dtype=sd.int64))
    assert sd.is_nonzero(sd.tensor([1.0])) and not sd.is_nonzero(sd.tensor(0))
    with pytest.raises(RuntimeError, match="elements"):
        sd.is_nonzero(sd.zeros(2))


def test_set_printoptions_round_trip():
    before = sd.get_printoptions()
    assert before == torch._tensor_str.PRINT_OPTS.__dict__
    try:
        sd.set_printoptions(precision=2, threshold=5, edgeitems=1)
        opts = sd.get_printoptions()
        assert (opts["precision"], opts["threshold"], opts["edgeitems"]) == (2, 5, 1)
        from shendu.tensor_api import format_array
        torch.set_printoptions(precision=2, threshold=5, edgeitems=1)
        for a in (np.array([1.23456, 2.0], dtype=np.float32), np.arange(20.0, dtype=np.float32).reshape(4, 5)):
            assert repr(sd.from_numpy(a)) == repr(torch.from_numpy(a)).replace("torch.", "shendu.")
        assert format_array(np.array([1.23456, 2.0], dtype=np.float32)) == "[1.23, 2.00]"
        assert "..." in format_array(np.arange(20.0))
        sd.set_printoptions(profile="full")
        assert "..." not in format_array(np.arange(2000.0))
    finally:
        sd.set_printoptions(profile="default")
        torch.set_printoptions(profile="default")
    assert sd.get_printoptions() == before


def test_default_device_is_cpu():
    assert sd.get_default_device() == "cpu" and str(torch.get_default_device()) == "cpu"
    sd.set_default_device("cpu")
    assert sd.zeros(2).device == "cpu"
    sd.set_default_device(None)
    assert sd.get_default_device() == sd.device("cpu")


# -- Variable ---------------------------------------------------------------------------------------
def test_variable_is_the_deprecated_alias():
    from shendu.autograd import Variable
    t = sd.ones(2)
    v = Variable(t, requires_grad=True)
    assert type(v) is sd.Tensor and v.requires_grad and v is not t and v.is_leaf
    assert isinstance(t, Variable) and not isinstance(3, Variable)
    (v * 3).sum().backward()
    assert v.grad.tolist() == [3.0, 3.0]
    assert not Variable(t).requires_grad
    with pytest.raises(TypeError, match="tensor"):
        Variable([1.0])


# -- every public module imports first in a fresh interpreter --------------------------------------
MODULES = ["shendu.cuda", "shendu.backends", "shendu.backends.cudnn", "shendu.accelerator", "shendu.onnx",
           "shendu.nn.parallel", "shendu.sparse", "shendu.random", "shendu.creation", "shendu.size",
           "shendu.type_info", "shendu.utils.data", "shendu.utils.data.dataloader", "shendu.utils.data.sampler",
           "shendu.utils.data.distributed", "shendu.utils.data._utils.collate", "shendu.autograd.functional",
           "shendu.data.distributed"]


@pytest.mark.parametrize("module", MODULES)
def test_module_imports_first_in_a_fresh_interpreter(module):
    out = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
