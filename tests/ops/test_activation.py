"""Activation functions (shendu/ops/activation.py): PyTorch parity, float64 gradcheck, and every
piecewise activation's gradient exactly at its kinks and bounds, against PyTorch."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from helpers import case, check_op, ids, spec_tests

import shendu as sd
import shendu.nn.functional as F

# Away from every kink used below (0, ±0.5, ±1, ±3, 6, the thresholds), so finite differences
# never straddle one.
AWAY = np.array([[-3.7, -2.2, -1.3, -0.7], [-0.2, 0.3, 0.8, 1.6], [2.4, 3.6, 5.2, 7.1]])


def _f(name, kwargs=None, shape=AWAY, **opts):
    """A case for ``F.name(x, **kwargs)`` against ``torch.nn.functional.name``."""
    kw = kwargs or {}
    label = name + "".join(f"_{k}={v}" for k, v in kw.items())
    return case(label, lambda x: getattr(F, name)(x, **kw), lambda x: getattr(TF, name)(x, **kw), [shape], **opts)


CASES = [
    _f("relu"),
    _f("relu6"),
    _f("leaky_relu"),
    _f("leaky_relu", {"negative_slope": 0.2}),
    _f("leaky_relu", {"negative_slope": -0.3}),
    _f("elu"),
    _f("elu", {"alpha": 0.5}),
    _f("elu", {"alpha": -0.5}),
    _f("selu"),
    _f("celu"),
    _f("celu", {"alpha": 2.0}),
    _f("softplus", shape=(3, 4)),
    _f("softplus", {"beta": 2.0}, shape=(3, 4)),
    _f("softplus", {"beta": 2.0, "threshold": 1.0}),
    _f("hardtanh"),
    _f("hardtanh", {"min_val": -0.5, "max_val": 2.0}),
    _f("hardswish"),
    _f("hardsigmoid"),
    _f("threshold", {"threshold": 0.5, "value": -2.0}),
    _f("hardshrink"),
    _f("hardshrink", {"lambd": 1.0}),
    _f("softshrink"),
    _f("softshrink", {"lambd": 1.0}),
    _f("softsign", shape=(3, 4)),
    _f("tanhshrink", shape=(3, 4)),
    _f("gelu", shape=(3, 4)),
    _f("gelu", {"approximate": "tanh"}, shape=(3, 4)),
    _f("silu", shape=(3, 4)),
    _f("mish", shape=(3, 4)),
    _f("logsigmoid", shape=(3, 4)),
    _f("glu", shape=(3, 4)),
    _f("glu", {"dim": 0}, shape=(4, 3)),
    case("rrelu_eval", lambda x: F.rrelu(x), lambda x: TF.rrelu(x), [AWAY]),
    case("prelu_shared", lambda x, w: F.prelu(x, w), lambda x, w: TF.prelu(x, w), [AWAY, np.array([0.25])]),
    case("prelu_channels", lambda x, w: F.prelu(x, w), lambda x, w: TF.prelu(x, w),
         [np.tile(AWAY.reshape(1, 3, 4), (2, 1, 1)), np.array([0.25, -0.1, 0.6])]),
    case("torch.selu", lambda x: sd.selu(x), lambda x: torch.selu(x), [AWAY]),
    case("torch.celu", lambda x: sd.celu(x, 0.7), lambda x: torch.celu(x, 0.7), [AWAY]),
    case("torch.threshold", lambda x: sd.threshold(x, 0.5, 1.5), lambda x: torch.threshold(x, 0.5, 1.5), [AWAY]),
    case("method.hardshrink", lambda x: x.hardshrink(0.6), None, [AWAY]),
]

test_parity, test_gradcheck, test_gradgradcheck = spec_tests(CASES)


def _k(name, kwargs, values):
    kw = kwargs or {}
    label = name + "".join(f"_{k}={v}" for k, v in kw.items())
    return case(label, lambda x: getattr(F, name)(x, **kw), lambda x: getattr(TF, name)(x, **kw),
                [np.array(values, dtype=np.float64)])


# Inputs exactly at each kink, bound or threshold, with neighbours on both sides.
KINKS = [
    _k("relu", {}, [0.0, -0.0, -1.0, 1.0]),
    _k("relu6", {}, [0.0, 6.0, -1.0, 3.0, 7.0]),
    _k("leaky_relu", {}, [0.0, -1.0, 1.0]),
    _k("leaky_relu", {"negative_slope": 0.2}, [0.0, -0.0, -1.0, 1.0]),
    _k("leaky_relu", {"negative_slope": -0.3}, [0.0, -1.0, 1.0]),
    _k("elu", {}, [0.0, -1.0, 1.0]),
    _k("elu", {"alpha": 0.5}, [0.0, -1.0, 1.0]),
    _k("selu", {}, [0.0, -1.0, 1.0]),
    _k("celu", {"alpha": 2.0}, [0.0, -1.0, 1.0]),
    _k("hardtanh", {}, [-1.0, 1.0, 0.0, -2.0, 2.0]),
    _k("hardtanh", {"min_val": -0.5, "max_val": 2.0}, [-0.5, 2.0, 0.0]),
    _k("hardtanh", {"min_val": 0.5, "max_val": 0.5}, [0.5, 0.0, 1.0]),
    _k("hardswish", {}, [-3.0, 3.0, 0.0, -4.0, 4.0]),
    _k("hardsigmoid", {}, [-3.0, 3.0, 0.0, -4.0, 4.0]),
    _k("threshold", {"threshold": 0.5, "value": -2.0}, [0.5, 0.4, 0.6]),
    _k("hardshrink", {}, [0.5, -0.5, 0.0, 0.6, -0.6]),
    _k("softshrink", {}, [0.5, -0.5, 0.0, 0.6, -0.6]),
    _k("softplus", {"threshold": 1.0}, [1.0, 0.0, 2.0]),
    _k("softplus", {"beta": 2.0, "threshold": 1.0}, [0.5, 0.0, 1.0]),
    _k("softsign", {}, [0.0, 1.0]),
    _k("gelu", {}, [0.0]),
    _k("mish", {}, [0.0]),
    case("prelu", lambda x, w: F.prelu(x, w), lambda x, w: TF.prelu(x, w),
         [np.array([0.0, -0.0, -1.0, 1.0]), np.array([0.25])]),
]


@pytest.mark.parametrize("c", KINKS, ids=ids(KINKS))
def test_gradient_at_kinks_matches_torch(c):
    c.parity(grad_atol=0.0, grad_rtol=1e-6)


@pytest.mark.parametrize("name,expected", [
    ("relu", [0.0]), ("leaky_relu", [0.01]), ("elu", [1.0]), ("hardtanh", [0.0, 0.0]),
    ("relu6", [0.0, 0.0]), ("hardswish", [0.0, 1.0]), ("hardsigmoid", [0.0, 0.0]),
])
def test_kink_gradients_literal(name, expected):
    """The gradients PyTorch 2.13 gives at the kinks, written out: the parity test's reference."""
    at = {"hardtanh": [-1.0, 1.0], "relu6": [0.0, 6.0], "hardswish": [-3.0, 3.0],
          "hardsigmoid": [-3.0, 3.0]}.get(name, [0.0])
    x = sd.tensor(at, requires_grad=True)
    getattr(F, name)(x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.float32(expected))


EXTREME = np.array([[-1e4, -50.0, -1.0, 0.0], [1.0, 50.0, 1e4, -30.0]])


@pytest.mark.parametrize("name,kw", [("softplus", {}), ("softplus", {"beta": 2.0}), ("logsigmoid", {}),
                                     ("silu", {}), ("gelu", {}), ("elu", {}), ("selu", {}), ("celu", {}),
                                     ("mish", {}), ("softsign", {}), ("hardswish", {})])
def test_extreme_inputs_finite(name, kw):
    check_op(lambda x: getattr(F, name)(x, **kw), lambda x: getattr(TF, name)(x, **kw), [EXTREME])


def test_float32_stays_float32():
    x = sd.randn(3, 4)
    for name in ("relu", "relu6", "leaky_relu", "elu", "selu", "celu", "softplus", "hardtanh",
                 "hardswish", "hardsigmoid", "hardshrink", "softshrink", "softsign", "gelu", "silu",
                 "mish", "logsigmoid", "tanhshrink"):
        assert getattr(F, name)(x).dtype == sd.float32, name


def test_rrelu_training_slopes_in_range():
    sd.manual_seed(0)
    x = -sd.ones(1000)
    y = F.rrelu(x, 0.1, 0.3, training=True)
    slopes = -y.numpy()
    assert slopes.min() >= 0.1 and slopes.max() <= 0.3 and slopes.std() > 0.03
    np.testing.assert_array_equal(F.rrelu(sd.ones(3), training=True).numpy(), np.ones(3, np.float32))


def test_errors():
    with pytest.raises(ValueError, match="gelu"):
        F.gelu(sd.ones(3), approximate="fast")
    with pytest.raises(ValueError, match="hardtanh.*max_val"):
        F.hardtanh(sd.ones(3), 1.0, -1.0)
    with pytest.raises(RuntimeError, match=r"glu: halving dim -1.*\(2, 3\)"):
        F.glu(sd.ones(2, 3))
    with pytest.raises(IndexError, match="glu"):
        F.glu(sd.ones(2, 4), dim=2)
    with pytest.raises(RuntimeError, match=r"prelu: a weight of 3 slopes needs 3 channels.*\(2, 4\)"):
        F.prelu(sd.ones(2, 4), sd.ones(3))
    with pytest.raises(ValueError, match="softshrink"):
        F.softshrink(sd.ones(2), -1.0)
