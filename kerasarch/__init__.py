"""kerasarch: the classic deep-learning architectures as clean, fast, correct Keras 3 models.

>>> import kerasarch
>>> model = kerasarch.ResNet50(num_classes=10)
>>> kerasarch.list_models("resnet*")[:3]
['resnet18', 'resnet20', 'resnet32']
"""

from kerasarch import layers
from kerasarch.models import *  # noqa: F401,F403
from kerasarch.models import __all__ as _models_all
from kerasarch.registry import UnknownModelError, create_model, list_models, register_model
from kerasarch.summary import count_macs, summary_table
from kerasarch.train import Recipe, compile_for_training

__version__ = "0.1.0"
__all__ = ["layers", "Recipe", "compile_for_training", "count_macs", "create_model", "list_models", "register_model", "summary_table",
           "UnknownModelError", *_models_all]
