"""``shendu.onnx``: PyTorch's ``torch.onnx`` names; exporting lands with issue 14."""
from __future__ import annotations


class OnnxExporterError(RuntimeError):
    """Raised for export failures (PyTorch's ``torch.onnx.OnnxExporterError``)."""


def export(model, args=(), f=None, *more, **kwargs):
    """Not yet: ONNX export lands with issue 14."""
    raise NotImplementedError("shendu.onnx.export: not yet: ONNX export lands with issue 14; save the weights "
                              "with shendu.save(model.state_dict(), path) (or shendu.io's safetensors) meanwhile")


def dynamo_export(model, *args, **kwargs):
    """Not yet: ONNX export lands with issue 14."""
    raise NotImplementedError("shendu.onnx.dynamo_export: not yet: ONNX export lands with issue 14")


def is_in_onnx_export() -> bool:
    """False: shendu never traces for ONNX (code can branch on it as in PyTorch)."""
    return False


__all__ = ["OnnxExporterError", "dynamo_export", "export", "is_in_onnx_export"]
