"""GoogLeNet (Szegedy et al. 2015) and Inception-v3 (Szegedy et al. 2016), torchvision's layouts.

| name         | stem                                   | blocks                                   | input   | params (aux)             |
|--------------|----------------------------------------|------------------------------------------|---------|--------------------------|
| googlenet    | 7x7/2, pool, 1x1, 3x3, pool            | 3a 3b pool 4a-4e pool 5a 5b (Inception)  | 224     | 6,624,904 (+aux heads)   |
| inception_v3 | 3x3/2, 3x3, 3x3, pool, 1x1, 3x3, pool  | A x3, B, C x4, D, E x2                   | 299     | 27,161,264 with aux      |

GoogLeNet uses BatchNorm (torchvision's version; the 2014 paper had none and used local
response normalisation) and a 3x3 convolution in the third branch where the paper has
5x5, as torchvision's weights do. Auxiliary classifiers are optional (``aux_logits``); a
model with them returns ``[main, aux...]``, each with ``classifier_activation``.
"""

import dataclasses

import keras

from kerasarch.layers import ConvBNAct, InceptionAux, InceptionModule, InceptionV3Block, TorchPool2D
from kerasarch.layers.inception import INCEPTION_BN_EPSILON
from kerasarch.models.base import ImageModelBuilder
from kerasarch.registry import export_constructors, image_contract, register_model

__all__ = ["GOOGLENET_MODULES", "build_googlenet", "build_inception_v3"]

# name: (in, 1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool proj) as in the paper's Table 1.
GOOGLENET_MODULES = {
    "3a": (64, 96, 128, 16, 32, 32), "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64), "4b": (160, 112, 224, 24, 64, 64),
    "4c": (128, 128, 256, 24, 64, 64), "4d": (112, 144, 288, 32, 64, 64),
    "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128), "5b": (384, 192, 384, 48, 128, 128),
}


@dataclasses.dataclass(frozen=True)
class InceptionVariant:
    name: str


def _aux_output(b, aux_layer, x):
    """An auxiliary classifier whose output gets the same activation as the main one."""
    y = aux_layer(x)
    if b.classifier_activation is not None:
        y = keras.layers.Activation(b.classifier_activation, dtype="float32", name=f"{aux_layer.name}_predictions")(y)
    return y


def _check_aux(b, aux_logits):
    if aux_logits and (b.features_only or not b.include_top):
        raise ValueError(f"{b.model_name}: aux_logits=True needs the classifier (include_top=True, "
                         "features_only=False).")


def build_googlenet(variant, *, aux_logits=False, third_kernel_size=3, drop_rate=0.2, **kwargs):
    """GoogLeNet with BatchNorm.

    Args:
        aux_logits: add the two auxiliary classifiers (after 4a and 4d); the model then
            returns ``[main, aux1, aux2]``. Use loss weights such as ``[1, 0.3, 0.3]``.
        third_kernel_size: 3 (torchvision, default) or 5 (the paper) in each module's third branch.
        drop_rate: dropout before the classifier (0.2, torchvision).
        **kwargs: the common builder arguments (:mod:`kerasarch.models.base`).

    Feature levels: conv2 (reduction 4... after the stem pools), 3b, 4e, 5b.
    """
    b = ImageModelBuilder(variant.name, dict(kwargs, drop_rate=drop_rate), contract=GOOGLENET_CONTRACT,
                          family="inception",
                          head_name="fc")
    _check_aux(b, aux_logits)
    b.arch_extra = {"aux_logits": bool(aux_logits)}
    unit = dict(bn_epsilon=INCEPTION_BN_EPSILON)
    aux = []

    def module(x, name):
        return InceptionModule(*GOOGLENET_MODULES[name], third_kernel_size=third_kernel_size,
                               name=f"inception{name}")(x)

    with b.policy():
        x = ConvBNAct(64, 7, strides=2, name="conv1", **unit)(b.inputs)
        b.add_feature(x, "conv1", 2)
        x = TorchPool2D(3, 2, ceil_mode=True, name="maxpool1")(x)
        x = ConvBNAct(64, 1, name="conv2", **unit)(x)
        x = ConvBNAct(192, 3, name="conv3", **unit)(x)
        b.add_feature(x, "conv3", 4)
        x = TorchPool2D(3, 2, ceil_mode=True, name="maxpool2")(x)
        x = module(module(x, "3a"), "3b")
        b.add_feature(x, "inception3b", 8)
        x = TorchPool2D(3, 2, ceil_mode=True, name="maxpool3")(x)
        for name in ("4a", "4b", "4c", "4d", "4e"):
            x = module(x, name)
            if aux_logits and name in ("4a", "4d"):
                aux.append(_aux_output(b, InceptionAux(b.num_classes, style="googlenet",
                                                       name=f"aux{len(aux) + 1}"), x))
        b.add_feature(x, "inception4e", 16)
        x = TorchPool2D(2, 2, ceil_mode=True, name="maxpool4")(x)
        x = module(module(x, "5a"), "5b")
        b.add_feature(x, "inception5b", 32)
        return b.finish(x, head=(lambda x: [b.head(x), *aux]) if aux else None)


def build_inception_v3(variant, *, aux_logits=False, drop_rate=0.5, **kwargs):
    """Inception-v3.

    Args:
        aux_logits: add the auxiliary classifier after Mixed_6e; the model then returns
            ``[logits, aux]``. It needs the full 299x299 input (its 5x5 convolution must fit).
        drop_rate: dropout before the classifier (0.5, torchvision).
        **kwargs: the common builder arguments (:mod:`kerasarch.models.base`).

    The smallest input is 75x75 (299x299 with ``aux_logits``). Feature levels: the stem
    (reduction 4 nominal; "valid" convolutions make maps a little smaller), Mixed_5d,
    Mixed_6e, Mixed_7c.
    """
    b = ImageModelBuilder(variant.name, dict(kwargs, drop_rate=drop_rate), contract=INCEPTION_V3_CONTRACT,
                          family="inception", head_name="fc", min_size=299 if aux_logits else 75)
    _check_aux(b, aux_logits)
    b.arch_extra = {"aux_logits": bool(aux_logits)}
    unit = dict(bn_epsilon=INCEPTION_BN_EPSILON)
    aux = []
    with b.policy():
        x = ConvBNAct(32, 3, strides=2, padding=0, name="Conv2d_1a_3x3", **unit)(b.inputs)
        x = ConvBNAct(32, 3, padding=0, name="Conv2d_2a_3x3", **unit)(x)
        x = ConvBNAct(64, 3, name="Conv2d_2b_3x3", **unit)(x)
        x = keras.layers.MaxPooling2D(3, 2, name="maxpool1")(x)
        b.add_feature(x, "Conv2d_2b_3x3", 4)  # reduction nominal: valid convolutions
        x = ConvBNAct(80, 1, name="Conv2d_3b_1x1", **unit)(x)
        x = ConvBNAct(192, 3, padding=0, name="Conv2d_4a_3x3", **unit)(x)
        x = keras.layers.MaxPooling2D(3, 2, name="maxpool2")(x)
        for name, pool_features in (("Mixed_5b", 32), ("Mixed_5c", 64), ("Mixed_5d", 64)):
            x = InceptionV3Block("a", pool_features=pool_features, name=name)(x)
        b.add_feature(x, "Mixed_5d", 8)
        x = InceptionV3Block("b", name="Mixed_6a")(x)
        for name, c7 in (("Mixed_6b", 128), ("Mixed_6c", 160), ("Mixed_6d", 160), ("Mixed_6e", 192)):
            x = InceptionV3Block("c", channels_7x7=c7, name=name)(x)
        b.add_feature(x, "Mixed_6e", 16)
        if aux_logits:
            aux.append(_aux_output(b, InceptionAux(b.num_classes, style="inception_v3", name="AuxLogits"), x))
        x = InceptionV3Block("d", name="Mixed_7a")(x)
        x = InceptionV3Block("e", name="Mixed_7b")(x)
        x = InceptionV3Block("e", name="Mixed_7c")(x)
        b.add_feature(x, "Mixed_7c", 32)
        return b.finish(x, head=(lambda x: [b.head(x), *aux]) if aux else None)


GOOGLENET_CONTRACT = image_contract((224, 224, 3), num_classes=1000, min_size=32)
INCEPTION_V3_CONTRACT = image_contract((299, 299, 3), num_classes=1000, min_size=75)

register_model("googlenet", build_googlenet, InceptionVariant("googlenet"), family="inception",
               contract=GOOGLENET_CONTRACT, tags=("ci_onnx",))
register_model("inception_v3", build_inception_v3, InceptionVariant("inception_v3"), family="inception",
               contract=INCEPTION_V3_CONTRACT, tags=("ci",))

__all__ += export_constructors(globals(), "inception")
