"""Export trained models for serving: SavedModel (TF Serving) and ONNX, each loaded back and
compared with Keras before it appears at its path. TensorFlow is imported only when exporting.

>>> kerasarch.export.export(model, "serving", format="saved_model")   # serving/<name>/1/
>>> kerasarch.export.export(model, "model.onnx", format="onnx", uint8=True)
"""

from kerasarch.export.serving import ExportedPath, ExportError, ServingModel
from kerasarch.export.twin import float32_model
from kerasarch.preprocessing import Preprocessing
from kerasarch.export.onnx import DEFAULT_OPSET, MAX_OPSET, MIN_OPSET, NOT_EXPORTABLE, export_onnx
from kerasarch.export.saved_model import export_saved_model, next_version, serving_instructions, write_models_config
from kerasarch.export.seq2seq import export_seq2seq_saved_model

__all__ = ["export", "export_onnx", "export_saved_model", "export_seq2seq_saved_model", "next_version", "write_models_config",
           "serving_instructions", "ExportError", "ExportedPath", "Preprocessing", "ServingModel", "float32_model", "FORMATS",
           "MIN_OPSET", "MAX_OPSET", "DEFAULT_OPSET", "NOT_EXPORTABLE"]

FORMATS = ("saved_model", "onnx")


def export(model, path, *, format="saved_model", **kwargs):
    """``export_saved_model(model, path, ...)`` or ``export_onnx(model, path, ...)`` by ``format``."""
    if format in ("saved_model", "tf_saved_model", "savedmodel"):
        if "opset" in kwargs:
            raise ValueError("opset is an ONNX option; a SavedModel has none.")
        return export_saved_model(model, path, **kwargs)
    if format == "onnx":
        for key in ("version", "warmup", "dtype", "models_config"):
            if key in kwargs:
                raise ValueError(f"{key} is a SavedModel option; export_onnx has no {key!r}.")
        return export_onnx(model, path, **kwargs)
    raise ValueError(f"unknown export format {format!r}; use one of {', '.join(FORMATS)}.")
