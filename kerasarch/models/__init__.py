"""Architecture families; importing this package registers every variant."""

from kerasarch.models import classic, convnext, densenet, efficientnet, inception, mobilenet, res2net, resnet, text, vgg, vit
from kerasarch.models.base import ArchModel
from kerasarch.models.classic import *  # noqa: F401,F403  (constructors such as AlexNet)
from kerasarch.models.convnext import *  # noqa: F401,F403
from kerasarch.models.densenet import *  # noqa: F401,F403
from kerasarch.models.efficientnet import *  # noqa: F401,F403
from kerasarch.models.inception import *  # noqa: F401,F403
from kerasarch.models.mobilenet import *  # noqa: F401,F403
from kerasarch.models.res2net import *  # noqa: F401,F403
from kerasarch.models.resnet import *  # noqa: F401,F403  (constructors such as ResNet50)
from kerasarch.models.text import *  # noqa: F401,F403
from kerasarch.models.vgg import *  # noqa: F401,F403
from kerasarch.models.vit import *  # noqa: F401,F403

__all__ = ["ArchModel", *classic.__all__, *convnext.__all__, *densenet.__all__, *efficientnet.__all__, *inception.__all__, *mobilenet.__all__, *res2net.__all__, *resnet.__all__, *text.__all__, *vgg.__all__, *vit.__all__]
