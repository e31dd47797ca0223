"""Export trained models for serving. TensorFlow is imported only when exporting."""

from kerasarch.export.saved_model import export_saved_model, next_version

__all__ = ["export_saved_model", "next_version"]
