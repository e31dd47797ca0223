"""kerasarch: the classic deep-learning architectures as clean, fast, correct Keras 3 models.

>>> import kerasarch
>>> model = kerasarch.ResNet50(num_classes=10)
>>> kerasarch.list_models("resnet*")[:3]
['resnet18', 'resnet20', 'resnet32']
"""

from kerasarch import _startup

_startup.import_backend()  # silences TensorFlow's start-up lines for the kerasarch command only

from kerasarch import layers  # noqa: E402
from kerasarch.models import *  # noqa: E402,F401,F403
from kerasarch.models import __all__ as _models_all  # noqa: E402
from kerasarch import contract  # noqa: E402
from kerasarch.registry import UnknownModelError, create_model, list_models, model_entry, register_model  # noqa: E402
from kerasarch.summary import count_macs, summary_table  # noqa: E402
from kerasarch.train import Recipe, compile_for_training  # noqa: E402

__version__ = "0.1.0"
__all__ = ["contract", "layers", "Recipe", "compile_for_training", "count_macs", "create_model", "list_models",
           "model_entry", "register_model", "summary_table", "UnknownModelError", *_models_all]
