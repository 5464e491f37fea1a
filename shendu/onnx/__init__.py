"""``shendu.onnx``: PyTorch's ``torch.onnx`` names; exporting to ONNX is not implemented yet."""
from __future__ import annotations


class OnnxExporterError(RuntimeError):
    """Raised for export failures (PyTorch's ``torch.onnx.OnnxExporterError``)."""


def export(model, args=(), f=None, *more, **kwargs):
    """Not implemented yet: raises ``NotImplementedError`` (save the weights with ``shendu.save`` instead)."""
    raise NotImplementedError("shendu.onnx.export: ONNX export is not implemented yet; save the weights "
                              "with shendu.save(model.state_dict(), path) (or shendu.io's safetensors) meanwhile")


def dynamo_export(model, *args, **kwargs):
    """Not implemented yet: raises ``NotImplementedError``."""
    raise NotImplementedError("shendu.onnx.dynamo_export: ONNX export is not implemented yet")


def is_in_onnx_export() -> bool:
    """False: shendu never traces for ONNX (code can branch on it as in PyTorch)."""
    return False


__all__ = ["OnnxExporterError", "dynamo_export", "export", "is_in_onnx_export"]
