"""DenseNet-121/161/169/201 from torchvision and from timm (whose state dicts use the same names).

Every Keras layer carries its torch module's name (``denseblock1/denselayer1/norm1`` is
``features.denseblock1.denselayer1.norm1``), so the map only swaps ``/`` for ``.``. The
checkpoints torchvision publishes (``densenet121-a639ec97.pth`` and its siblings) predate that
naming and spell the dense layers' modules ``norm.1``, ``conv.1``, ``norm.2``, ``conv.2``
(torchvision renames them when it loads them); the map uses that spelling when the checkpoint
does, so both load as they are.
"""

import re

from kerasarch.weights.layout import torch_layout

_NAMES = ("densenet121", "densenet161", "densenet169", "densenet201")
_OLD_STYLE = re.compile(r"features\.denseblock\d+\.denselayer\d+\.(?:norm|conv)\.[12]\.")
_DENSE_LAYER_UNIT = re.compile(r"(denselayer\d+/(?:norm|conv))([12])$")


def _densenet(t):
    old_style = any(_OLD_STYLE.match(key) for key in t.keys)
    for path in t.layers:
        if path == "classifier":
            continue
        if old_style:
            path_in_file = _DENSE_LAYER_UNIT.sub(r"\1/\2", path)
        else:
            path_in_file = path
        t.layer(path, "features." + path_in_file.replace("/", "."))
    t.layer("classifier", "classifier", head=True)


@torch_layout("densenet", "torchvision", twins={name: name for name in _NAMES}, ci=("densenet121",))
def torchvision_densenet(t):
    _densenet(t)


# The same tensor names as torchvision's: CI checks the map there (ci=()); make test-all checks timm's twins.
@torch_layout("densenet", "timm", twins={name: name for name in _NAMES}, ci=())
def timm_densenet(t):
    _densenet(t)
