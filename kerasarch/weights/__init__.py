"""Weights from PyTorch checkpoints: torchvision's and timm's, tensor by tensor.

>>> model = kerasarch.create_model("resnet50", weights="resnet50-11ad3fa6.pth")
>>> report = kerasarch.weights.load_torch_weights(model, "model.safetensors", source="timm")

``.pth`` files are read with ``torch.load(weights_only=True)`` (tensors only, never arbitrary
objects); ``.safetensors`` files without torch. Every tensor is checked against the model before
any is assigned. Known torchvision files (and timm hub downloads, by their ``config.json``) also
give the model its preprocessing and ImageNet class names.
"""

from kerasarch.weights.checkpoint import CheckpointError, is_checkpoint_path, read_state_dict
from kerasarch.weights.known import Checkpoint, identify, imagenet_classes, torchvision_checkpoints
from kerasarch.weights.layout import SOURCES, twins
from kerasarch.weights.loader import LoadReport, checkpoint_classes, load_torch_weights, torch_families

__all__ = ["Checkpoint", "CheckpointError", "LoadReport", "SOURCES", "checkpoint_classes", "identify", "imagenet_classes",
           "is_checkpoint_path", "load_torch_weights", "read_state_dict", "torch_families",
           "torchvision_checkpoints", "twins"]
