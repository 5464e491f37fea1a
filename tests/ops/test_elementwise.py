"""Unary elementwise ops and activations, clamp, maximum/minimum, where: PyTorch parity and gradcheck."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from helpers import Const, case, check_op, spec_tests

import shendu as sd
import shendu.nn.functional as F

POS = {"low": 0.1, "high": 3.0}
# Keep gradcheck's finite differences away from kinks (relu/abs at 0) by excluding a band round 0.
AWAY0 = np.array([[-1.5, -0.7, -0.2, 0.3], [0.8, 1.7, -1.1, 0.05], [-0.05, 2.2, -2.5, 0.6]])


def _both(name, kwargs=None, **opts):
    """A case for ``F.name(x, **kwargs)`` (shendu) against ``torch.nn.functional.name``."""
    kw = kwargs or {}
    return case(f"{name}{'_' + '_'.join(f'{k}={v}' for k, v in kw.items()) if kw else ''}",
                lambda x: getattr(F, name)(x, **kw), lambda x: getattr(TF, name)(x, **kw),
                [opts.pop("shape", (3, 4))], **opts)


def _method(name, **opts):
    return case(name, lambda x: getattr(x, name)(), None, [opts.pop("shape", (3, 4))], **opts)


CASES = [
    _method("exp"),
    _method("log", **POS),
    _method("log1p", low=-0.5, high=2.0),
    _method("expm1"),
    _method("sqrt", **POS),
    _method("rsqrt", **POS, rtol=1e-5, atol=1e-5),
    case("abs", lambda x: x.abs(), None, [AWAY0]),
    case("sign", lambda x: x.sign(), None, [AWAY0]),
    _method("sin"),
    _method("cos"),
    _method("tanh"),
    _method("sigmoid"),
    case("relu", lambda x: x.relu(), None, [AWAY0]),
    case("F.relu", lambda x: F.relu(x), lambda x: TF.relu(x), [AWAY0]),
    case("leaky_relu", lambda x: F.leaky_relu(x), lambda x: TF.leaky_relu(x), [AWAY0]),
    case("leaky_relu_0.2", lambda x: F.leaky_relu(x, 0.2), lambda x: TF.leaky_relu(x, 0.2), [AWAY0]),
    case("elu", lambda x: F.elu(x), lambda x: TF.elu(x), [AWAY0]),
    case("elu_alpha", lambda x: F.elu(x, alpha=0.5), lambda x: TF.elu(x, alpha=0.5), [AWAY0]),
    _both("gelu"),
    _both("gelu", {"approximate": "tanh"}),
    _both("silu"),
    _both("softplus"),
    _both("softplus", {"beta": 2.0}),
    _both("softplus", {"beta": 2.0, "threshold": 1.0}, shape=AWAY0),
    _both("selu", shape=AWAY0),
    _both("mish"),
    _both("logsigmoid"),
    _both("relu6", shape=AWAY0 * 4),
    _both("hardtanh", shape=AWAY0),
    case("erf", lambda x: x.erf(), None, [(3, 4)]),
    case("torch.erf", lambda x: sd.erf(x), lambda x: torch.erf(x), [(3, 4)]),
    case("clamp_min", lambda x: x.clamp(min=-0.4), None, [AWAY0]),
    case("clamp_max", lambda x: x.clamp(max=0.4), None, [AWAY0]),
    case("clamp_both", lambda x: x.clamp(-0.4, 0.4), None, [AWAY0]),
    case("clip", lambda x: x.clip(-0.4, 0.4), None, [AWAY0]),
    case("clamp_tensor_bounds", lambda x, lo, hi: x.clamp(lo, hi), None,
         [AWAY0, Const(np.full((3, 4), -0.4, dtype=np.float32)), Const(np.float32([0.5, 1.0, 0.2, 2.0]))]),
    case("maximum", lambda x, y: sd.maximum(x, y), lambda x, y: torch.maximum(x, y), [(3, 4), (3, 4)]),
    case("minimum_bcast", lambda x, y: sd.minimum(x, y), lambda x, y: torch.minimum(x, y), [(2, 3, 4), (4,)]),
    case("max_binary", lambda x, y: sd.max(x, y), lambda x, y: torch.max(x, y), [(3, 4), (3, 4)]),
    case("where", lambda x, y: sd.where(x > 0, x, y), lambda x, y: torch.where(x > 0, x, y), [AWAY0, (3, 4)]),
    case("where_bcast", lambda x, y: sd.where(y > 0, x, y), lambda x, y: torch.where(y > 0, x, y),
         [(3, 1), (1, 4)]),
    case("where_cond_bcast", lambda c, x, y: sd.where(c, x, y), lambda c, x, y: torch.where(c, x, y),
         [Const(np.array([True, False, True, False])), (3, 4), (3, 1)]),
    case("where_scalar", lambda x: sd.where(x > 0, x, 0.0), lambda x: torch.where(x > 0, x, 0.0), [AWAY0]),
    case("where_scalar_first", lambda x: sd.where(x > 0, 1.5, x), lambda x: torch.where(x > 0, 1.5, x), [AWAY0]),
    case("method_where", lambda x, y: x.where(x > 0, y), None, [AWAY0, (3, 4)]),
    case("square", lambda x: x.square(), None, [(3, 4)]),
    case("reciprocal", lambda x: x.reciprocal(), None, [(3, 4)], **POS),
    case("floor", lambda x: x.floor(), None, [(3, 4)], grad=False),
    case("ceil", lambda x: x.ceil(), None, [(3, 4)], grad=False),
    case("trunc", lambda x: x.trunc(), None, [(3, 4)], grad=False),
    case("round", lambda x: x.round(), None, [(3, 4)], grad=False),
    case("chain_noncontig", lambda x: x.mT.tanh().sigmoid(), None, [(4, 3)], noncontig=True),
    case("empty", lambda x: x.exp() * x.sigmoid(), None, [(0, 3)]),
]


test_parity, test_gradcheck, test_gradgradcheck = spec_tests(CASES)


EXTREME = np.array([[-1e4, -50.0, -1.0, 0.0], [1.0, 50.0, 1e4, -30.0]], dtype=np.float32)


@pytest.mark.parametrize("name,kw", [("sigmoid", {}), ("softplus", {}), ("softplus", {"beta": 2.0}),
                                     ("logsigmoid", {}), ("silu", {}), ("tanh", {}), ("gelu", {}),
                                     ("elu", {}), ("mish", {})])
def test_extreme_inputs_finite(name, kw):
    check_op(lambda x: getattr(F, name)(x, **kw), lambda x: getattr(TF, name)(x, **kw), [EXTREME])


def test_float32_stays_float32():
    x = sd.randn(3, 4)
    for fn in (sd.exp, sd.sigmoid, sd.erf, F.gelu, F.silu, F.softplus, F.elu, F.leaky_relu,
               lambda t: F.gelu(t, approximate="tanh"), lambda t: t.clamp(-1, 1), sd.rsqrt):
        assert fn(x.abs() + 0.1).dtype == sd.float32


def test_clamp_needs_a_bound():
    with pytest.raises(ValueError, match="clamp"):
        sd.ones(3).clamp()


def test_gelu_bad_approximate():
    with pytest.raises(ValueError, match="gelu"):
        F.gelu(sd.ones(3), approximate="fast")


def test_where_broadcast_error():
    with pytest.raises(RuntimeError, match=r"where.*\(3,\).*\(2, 4\)"):
        sd.where(sd.ones(3) > 0, sd.ones(2, 4, requires_grad=True), 0.0)
