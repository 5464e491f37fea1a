"""Run a sample of shendu's ops on CuPy arrays and compare with NumPy (a probe of the backend seam).

    python benchmarks/device/cupy_seam_check.py      # on a machine with a GPU and CuPy

Ops take their array module from their inputs (shendu/backend.py), so the same op code should run
unchanged on CuPy. This lists which ops do (forward and backward agree with NumPy) and which fail.
"""
from __future__ import annotations

import traceback

import numpy as np

import shendu as sd
import shendu.nn.functional as F


def cases():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((8, 16), dtype=np.float32), rng.standard_normal((16, 4), dtype=np.float32)
    x4 = rng.standard_normal((2, 3, 8, 8), dtype=np.float32)
    w4 = rng.standard_normal((4, 3, 3, 3), dtype=np.float32)
    y = rng.integers(0, 4, 8)
    return {
        "mul-add-relu-sum": ([a, a], lambda p, q: ((p * q + 1.0).relu()).sum()),
        "matmul": ([a, b], lambda p, q: (p @ q).sum()),
        "exp/log/tanh/sigmoid": ([a], lambda p: (p.exp().log1p() + p.tanh() * p.sigmoid()).mean()),
        "softmax": ([a], lambda p: (F.softmax(p, -1) * p).sum()),
        "log_softmax": ([a], lambda p: F.log_softmax(p, 1)[:, 0].sum()),
        "cross_entropy": ([a[:, :4]], lambda p: F.cross_entropy(p, sd.tensor(y, device=p.device))),
        "layer_norm": ([a], lambda p: (F.layer_norm(p, (16,)) * p).sum()),
        "linear": ([a, b.T.copy()], lambda p, q: F.linear(p, q).pow(2).sum()),
        "reductions": ([a], lambda p: p.var(1).sum() + p.amax(0).sum() + p.logsumexp(1).sum()),
        "shape ops": ([a], lambda p: (p.reshape(4, 32).T[1:3] * 2).flip(0).sum()),
        "indexing/gather": ([a], lambda p: p[[0, 0, 3]].sum()
                            + p.gather(1, sd.tensor(y[:, None], device=p.device)).sum()),
        "cat/stack/split": ([a], lambda p: sd.cat(list(p.split(4, 1)), 0).sum() + sd.stack([p, p]).mean()),
        "einsum": ([a, b], lambda p, q: sd.einsum("ij,jk->ik", p, q).sum()),
        "gelu": ([a], lambda p: F.gelu(p).sum()),
        "conv2d": ([x4, w4], lambda p, q: F.conv2d(p, q, padding=1).pow(2).sum()),
        "max_pool2d": ([x4], lambda p: F.max_pool2d(p, 2).sum()),
        "batch_norm": ([x4], lambda p: F.batch_norm(p, None, None, training=True).pow(2).sum()),
    }


def run_on(device: str, arrays, fn):
    ts = [sd.tensor(a, device=device, requires_grad=True) for a in arrays]
    out = fn(*ts)
    out.backward()
    return float(out.item()), [sd.backend.to_numpy(t.grad._data) for t in ts]


def main() -> int:
    ok = 0
    results = cases()
    for name, (arrays, fn) in results.items():
        try:
            v_cpu, g_cpu = run_on("cpu", arrays, fn)
            v_gpu, g_gpu = run_on("cuda", arrays, fn)
            assert abs(v_cpu - v_gpu) <= 1e-3 * max(1.0, abs(v_cpu)), (v_cpu, v_gpu)
            for gc, gg in zip(g_cpu, g_gpu):
                np.testing.assert_allclose(gg, gc, rtol=1e-3, atol=1e-4)
            print(f"PASS {name}")
            ok += 1
        except Exception as e:
            print(f"FAIL {name}: {type(e).__name__}: {str(e)[:300]}")
            traceback.print_exc(limit=3)
    print(f"{ok} passed, {len(results) - ok} failed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
