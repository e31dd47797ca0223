"""Res2Net (Gao et al. 2019), timm's layout.

| name             | block        | blocks per stage | width x scale | params (trainable) |
|------------------|--------------|------------------|---------------|--------------------|
| res2net50_26w_4s | Res2NetBlock | 3, 4, 6, 3       | 26 x 4        | 25,699,120         |

The paper and timm publish 25.70M; the exact count here is 25,699,120 (timm's layout,
counted from the model by ``tests/test_families.py``). The stem is ResNet's (7x7/2 conv,
3x3/2 max pool); each :class:`~kerasarch.layers.Res2NetBlock` splits its 3x3 stage into 4
groups of 26 x (stage width / 64) channels.
"""

import dataclasses

import keras

from kerasarch.layers import ConvBNAct, Res2NetBlock
from kerasarch.models.base import ImageModelBuilder
from kerasarch.registry import export_constructors, image_contract, register_model

__all__ = ["Res2NetVariant", "VARIANTS", "build_res2net"]


@dataclasses.dataclass(frozen=True)
class Res2NetVariant:
    name: str
    depths: tuple
    base_width: int
    scale: int
    groups: int = 1


VARIANTS = (Res2NetVariant("res2net50_26w_4s", (3, 4, 6, 3), 26, 4),)
CONTRACT = image_contract((224, 224, 3), num_classes=1000, min_size=32)


def build_res2net(variant, *, zero_init_residual=False, **kwargs):
    """Build a Res2Net.

    Args:
        zero_init_residual: start each block's last BatchNorm scale at zero.
        **kwargs: the common builder arguments (:mod:`kerasarch.models.base`).

    Feature levels: the stem, then each stage (reductions 2, 4, 8, 16, 32).
    """
    v = variant
    b = ImageModelBuilder(v.name, kwargs, contract=CONTRACT, family="res2net", head_name="fc")
    total, index = sum(v.depths), 0
    with b.policy():
        x = ConvBNAct(64, 7, strides=2, name="stem")(b.inputs)
        b.add_feature(x, "stem", 2)
        x = keras.layers.ZeroPadding2D(1, name="stem_pool_pad")(x)  # post-ReLU input: zeros are safe
        x = keras.layers.MaxPooling2D(3, strides=2, name="stem_pool")(x)
        reduction = 4
        for stage, depth in enumerate(v.depths, start=1):
            for i in range(depth):
                x = Res2NetBlock(64 * 2 ** (stage - 1), v.base_width, v.scale,
                                 strides=2 if stage > 1 and i == 0 else 1, groups=v.groups,
                                 zero_init_last=zero_init_residual,
                                 drop_path_rate=b.drop_path_at(index, total),
                                 name=f"stage{stage}_block{i + 1}")(x)
                index += 1
            reduction *= 2 if stage > 1 else 1
            b.add_feature(x, f"stage{stage}", reduction)
        return b.finish(x)


# Test tiers (tests/tiers.py): the TensorFlow contract only; Res2NetBlock is round-tripped on JAX.
TAGS = {"res2net50_26w_4s": ("ci",)}

for _v in VARIANTS:
    register_model(_v.name, build_res2net, _v, family="res2net", contract=CONTRACT,
                   tags=TAGS.get(_v.name, ()))

__all__ += export_constructors(globals(), "res2net")
