"""``shendu.onnx``: PyTorch's ``torch.onnx`` names; ``export`` writes standard ONNX by tracing a forward.

``export(model, args, f, input_names=..., output_names=..., dynamic_axes=..., opset_version=17)`` runs the
forward once with a tracer on (``tracer.py``: ``Function.apply`` wrapped for the duration of the export
only), maps each recorded op to ONNX nodes (``symbolic.py``, ``symbolic_nn.py``), keeps the weights as
initializers named by their state_dict keys (``graph.py``) and writes the model through the ``onnx``
package (an optional dependency: ``pip install shendu[onnx]``). Anything without a mapping raises
``OnnxExporterError`` naming the op and the line of the model that called it.
"""
from __future__ import annotations

from shendu.onnx.exporter import TrainingMode, export, is_in_onnx_export
from shendu.onnx.graph import OnnxExporterError


def dynamo_export(model, *args, **kwargs):
    """Not supported: shendu exports by tracing; use ``shendu.onnx.export``."""
    raise OnnxExporterError("shendu.onnx.dynamo_export: not supported; shendu exports by tracing "
                            "(use shendu.onnx.export)")


__all__ = ["OnnxExporterError", "TrainingMode", "dynamo_export", "export", "is_in_onnx_export"]
