"""Architecture families; importing this package registers every variant."""

from kerasarch.models.base import ArchModel
from kerasarch.models.resnet import *  # noqa: F401,F403  (constructors such as ResNet50)
from kerasarch.models import resnet

__all__ = ["ArchModel", *resnet.__all__]
