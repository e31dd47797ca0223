"""DenseNet (Huang et al. 2017), torchvision's layout.

| name        | growth rate | layers per block | stem channels | params     |
|-------------|-------------|------------------|---------------|------------|
| densenet121 | 32          | 6, 12, 24, 16    | 64            | 7,978,856  |
| densenet161 | 48          | 6, 12, 36, 24    | 96            | 28,681,000 |
| densenet169 | 32          | 6, 12, 32, 32    | 64            | 14,149,480 |
| densenet201 | 32          | 6, 12, 48, 32    | 64            | 20,013,928 |

Stem: 7x7/2 conv, BN, ReLU, 3x3/2 max pool. Each dense layer is BN-ReLU-1x1 conv to
``bn_size * growth`` (bn_size 4) then BN-ReLU-3x3 conv to ``growth``; each transition halves
the channels (compression 0.5) and the resolution. A final BN-ReLU precedes the classifier.
"""

import dataclasses

import keras

from kerasarch.layers import DenseBlock, TransitionLayer
from kerasarch.layers.conv import BN_EPSILON, BN_MOMENTUM, he_normal
from kerasarch.models.base import ImageModelBuilder
from kerasarch.registry import export_constructors, image_contract, register_model

__all__ = ["DenseNetVariant", "VARIANTS", "build_densenet"]


@dataclasses.dataclass(frozen=True)
class DenseNetVariant:
    name: str
    growth_rate: int
    block_config: tuple
    num_init_features: int
    bn_size: int = 4


VARIANTS = (
    DenseNetVariant("densenet121", 32, (6, 12, 24, 16), 64),
    DenseNetVariant("densenet161", 48, (6, 12, 36, 24), 96),
    DenseNetVariant("densenet169", 32, (6, 12, 32, 32), 64),
    DenseNetVariant("densenet201", 32, (6, 12, 48, 32), 64),
)
CONTRACT = image_contract((224, 224, 3), num_classes=1000, min_size=32)


def build_densenet(variant, *, dense_drop_rate=0.0, **kwargs):
    """Build a DenseNet.

    Args:
        dense_drop_rate: dropout after each dense layer's 3x3 convolution (torchvision's
            ``drop_rate``; 0 by default). ``drop_rate`` is the dropout before the classifier.
        **kwargs: the common builder arguments (:mod:`kerasarch.models.base`).

    Feature levels: the stem (reduction 2), then each dense block (4, 8, 16, 32; the last
    after the final BN-ReLU).
    """
    v = variant
    b = ImageModelBuilder(v.name, kwargs, contract=CONTRACT, family="densenet", head_name="classifier")
    with b.policy():
        x = keras.layers.ZeroPadding2D(3, name="conv0_pad")(b.inputs)
        x = keras.layers.Conv2D(v.num_init_features, 7, strides=2, use_bias=False,
                                kernel_initializer=he_normal(), name="conv0")(x)
        x = keras.layers.BatchNormalization(momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name="norm0")(x)
        x = keras.layers.ReLU(name="relu0")(x)
        b.add_feature(x, "relu0", 2)
        # Zero padding is safe before this max pool: the input is post-ReLU, so >= 0.
        x = keras.layers.ZeroPadding2D(1, name="pool0_pad")(x)
        x = keras.layers.MaxPooling2D(3, strides=2, name="pool0")(x)
        channels = v.num_init_features
        for i, num_layers in enumerate(v.block_config, start=1):
            x = DenseBlock(num_layers, v.growth_rate, v.bn_size, dense_drop_rate, name=f"denseblock{i}")(x)
            channels += num_layers * v.growth_rate
            if i < len(v.block_config):
                b.add_feature(x, f"denseblock{i}", 2 ** (i + 1))
                x = TransitionLayer(channels // 2, name=f"transition{i}")(x)
                channels //= 2
        x = keras.layers.BatchNormalization(momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name="norm5")(x)
        x = keras.layers.ReLU(name="relu5")(x)
        b.add_feature(x, f"denseblock{len(v.block_config)}", 2 ** (len(v.block_config) + 1))
        return b.finish(x)


# Test tiers (tests/tiers.py): the TensorFlow contract only; its layers are round-tripped on JAX
# (minutes of JAX compilation for the whole net).
TAGS = {"densenet121": ("ci",)}

for _v in VARIANTS:
    register_model(_v.name, build_densenet, _v, family="densenet", contract=CONTRACT,
                   tags=TAGS.get(_v.name, ()))

__all__ += export_constructors(globals(), "densenet")
