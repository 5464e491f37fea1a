"""The "export a model from PyTorch to ONNX and run it with ONNX Runtime" tutorial: the super-resolution
network (convolutions and a pixel shuffle) exported with a dynamic batch axis, checked with
onnx.checker, run in an onnxruntime InferenceSession and compared with the eager output; then a small
digits classifier trained for a few epochs, exported, and its ONNX Runtime predictions compared with
the eager model's on the whole set. Weights start from a fixed NumPy draw, so every figure equals
PyTorch's. The ONNX Runtime part is skipped when onnxruntime is not installed.
"""
import os
import tempfile

import numpy as np
from sklearn.datasets import load_digits

import shendu as torch
import shendu.nn as nn
import shendu.nn.init as init

try:
    import onnx
    import onnxruntime
except ImportError:  # the export still runs; only the checks in ONNX Runtime are skipped
    onnx = onnxruntime = None


class SuperResolutionNet(nn.Module):
    def __init__(self, upscale_factor, inplace=False):
        super().__init__()
        self.relu = nn.ReLU(inplace=inplace)
        self.conv1 = nn.Conv2d(1, 16, (5, 5), (1, 1), (2, 2))
        self.conv2 = nn.Conv2d(16, 16, (3, 3), (1, 1), (1, 1))
        self.conv3 = nn.Conv2d(16, 8, (3, 3), (1, 1), (1, 1))
        self.conv4 = nn.Conv2d(8, upscale_factor**2, (3, 3), (1, 1), (1, 1))
        self.pixel_shuffle = nn.PixelShuffle(upscale_factor)
        self._initialize_weights()

    def forward(self, x):
        x = self.relu(self.conv1(x))
        x = self.relu(self.conv2(x))
        x = self.relu(self.conv3(x))
        return self.pixel_shuffle(self.conv4(x))

    def _initialize_weights(self):
        rng = np.random.RandomState(0)
        with torch.no_grad():
            for conv in (self.conv1, self.conv2, self.conv3, self.conv4):
                fan_in = conv.weight[0].numel()
                w = rng.normal(0.0, np.sqrt(2.0 / fan_in), tuple(conv.weight.shape)).astype(np.float32)
                conv.weight.copy_(torch.from_numpy(w))
                init.zeros_(conv.bias)


def to_numpy(tensor):
    return tensor.detach().cpu().numpy() if tensor.requires_grad else tensor.cpu().numpy()


def super_resolution(out_dir):
    torch_model = SuperResolutionNet(upscale_factor=3)
    torch_model.eval()
    rng = np.random.RandomState(1)
    x = torch.from_numpy(rng.rand(2, 1, 16, 16).astype(np.float32))
    torch_out = torch_model(x)
    path = os.path.join(out_dir, "super_resolution.onnx")
    torch.onnx.export(torch_model, x, path, export_params=True, opset_version=17, do_constant_folding=True,
                      input_names=["input"], output_names=["output"],
                      dynamic_axes={"input": {0: "batch_size"}, "output": {0: "batch_size"}}, dynamo=False)
    result = {"out_shape": tuple(torch_out.shape), "out_mean": torch_out.mean().item(),
              "written": os.path.getsize(path) > 10_000}
    if onnxruntime is None:
        return result
    onnx_model = onnx.load(path)
    onnx.checker.check_model(onnx_model)
    ort_session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    ort_inputs = {ort_session.get_inputs()[0].name: to_numpy(x)}
    ort_outs = ort_session.run(None, ort_inputs)
    np.testing.assert_allclose(to_numpy(torch_out), ort_outs[0], rtol=1e-03, atol=1e-05)
    bigger = torch.from_numpy(rng.rand(5, 1, 16, 16).astype(np.float32))  # another batch size
    (ort_big,) = ort_session.run(None, {"input": to_numpy(bigger)})
    with torch.no_grad():
        big_diff = float(np.abs(ort_big - to_numpy(torch_model(bigger))).max())
    result.update({
        "ort_names": ([i.name for i in ort_session.get_inputs()], [o.name for o in ort_session.get_outputs()]),
        "dynamic_batch": (ort_session.get_inputs()[0].shape[0], ort_big.shape),
        "ort_matches": big_diff < 1e-4,
        "initializers": sorted(i.name for i in onnx_model.graph.initializer if i.name.endswith(".weight")),
    })
    return result


def classifier(out_dir, epochs=15):
    digits = load_digits()
    X = torch.tensor(digits.data / 16.0, dtype=torch.float32)
    y = torch.tensor(digits.target)
    model = nn.Sequential(nn.Linear(64, 32), nn.Tanh(), nn.Dropout(0.1), nn.Linear(32, 10), nn.LogSoftmax(dim=1))
    rng = np.random.RandomState(2)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.from_numpy(rng.uniform(-0.2, 0.2, tuple(p.shape)).astype(np.float32)))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    model.eval()  # no dropout draws: the run is deterministic
    for _ in range(epochs):
        optimizer.zero_grad()
        loss = nn.functional.nll_loss(model(X), y)
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        eager = model(X)
    path = os.path.join(out_dir, "digits.onnx")
    model.train()  # exported in eval mode (dropout off), then put back in training mode
    torch.onnx.export(model, (X[:4],), path, input_names=["pixels"], output_names=["log_probs"],
                      dynamic_axes={"pixels": {0: "batch"}, "log_probs": {0: "batch"}}, dynamo=False)
    result = {"loss": loss.item(), "accuracy": (eager.argmax(1) == y).float().mean().item(),
              "training_mode_restored": model.training is True}
    if onnxruntime is None:
        return result
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    (log_probs,) = session.run(["log_probs"], {"pixels": to_numpy(X)})
    result.update({"same_predictions": bool((log_probs.argmax(1) == to_numpy(eager).argmax(1)).all()),
                   "max_diff_small": float(np.abs(log_probs - to_numpy(eager)).max()) < 1e-4,
                   "probs_sum_to_one": bool(np.allclose(np.exp(log_probs).sum(1), 1.0, atol=1e-5))})
    return result


def main(out_dir=None):
    out_dir = out_dir or tempfile.mkdtemp()
    return {"super_resolution": super_resolution(out_dir), "classifier": classifier(out_dir)}


if __name__ == "__main__":
    print(main())
