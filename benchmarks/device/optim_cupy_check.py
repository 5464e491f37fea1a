"""Run shendu.optim on CuPy parameters and compare with the same run on NumPy (a probe of the backend seam).

    python benchmarks/device/optim_cupy_check.py      # on a machine with a GPU and CuPy

Every optimizer takes its array module from the parameter (shendu/backend.py), so the same update
code should run unchanged on CuPy; clip_grad_norm_ and ExponentialMovingAverage too.
"""
from __future__ import annotations

import traceback

import numpy as np

import shendu as sd
from shendu import optim
from shendu.nn import Parameter
from shendu.nn.utils import clip_grad_norm_, clip_grad_value_

CASES = {
    "SGD+nesterov": (optim.SGD, dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)),
    "Adam+amsgrad": (optim.Adam, dict(lr=0.01, amsgrad=True, weight_decay=0.01)),
    "AdamW": (optim.AdamW, dict(lr=0.01)),
    "Adamax": (optim.Adamax, dict(lr=0.01)),
    "NAdam": (optim.NAdam, dict(lr=0.01)),
    "RMSprop centered+momentum": (optim.RMSprop, dict(lr=0.01, centered=True, momentum=0.5)),
    "Adagrad": (optim.Adagrad, dict(lr=0.1, lr_decay=0.01)),
    "Adadelta": (optim.Adadelta, dict()),
    "Lion": (optim.Lion, dict(lr=1e-3, weight_decay=0.1)),
    "LBFGS strong_wolfe": (optim.LBFGS, dict(line_search_fn="strong_wolfe", max_iter=5)),
    "NewtonCG": (optim.NewtonCG, dict()),
}


def run_on(device: str, cls, options: dict, steps: int = 8) -> list:
    rng = np.random.default_rng(0)
    x = sd.tensor(rng.standard_normal((64, 16), dtype=np.float32), device=device)
    y = sd.tensor(rng.standard_normal((64, 4), dtype=np.float32), device=device)
    w = Parameter(sd.tensor(rng.standard_normal((16, 4), dtype=np.float32) * 0.1, device=device))
    b = Parameter(sd.zeros(4, device=device))
    opt = cls([w, b], **options)
    ema = optim.ExponentialMovingAverage([w, b], decay=0.9)

    def loss_fn():
        return ((x @ w + b - y) ** 2).mean()

    def closure():
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        clip_grad_norm_([w, b], 1.0)
        clip_grad_value_([w, b], 0.5)
        return loss

    for _ in range(steps):
        opt.step(loss_fn if cls is optim.NewtonCG else closure)
        ema.update()
    assert type(w._data).__module__.startswith("cupy" if device == "cuda" else "numpy")
    return [sd.backend.to_numpy(a._data) for a in (w, b, *ema.shadow_params)]


def main() -> int:
    ok = 0
    for name, (cls, options) in CASES.items():
        try:
            cpu, gpu = run_on("cpu", cls, options), run_on("cuda", cls, options)
            for a, g in zip(cpu, gpu):
                np.testing.assert_allclose(g, a, rtol=1e-4, atol=1e-5)
            print(f"ok    {name}")
            ok += 1
        except Exception:
            print(f"FAIL  {name}\n{traceback.format_exc(limit=3)}")
    print(f"{ok} passed, {len(CASES) - ok} failed")
    return 0 if ok == len(CASES) else 1


if __name__ == "__main__":
    raise SystemExit(main())
