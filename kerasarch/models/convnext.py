"""ConvNeXt (Liu et al. 2022), torchvision's layout.

| name           | channels per stage      | blocks per stage | params      |
|----------------|-------------------------|------------------|-------------|
| convnext_tiny  | 96, 192, 384, 768       | 3, 3, 9, 3       | 28,589,128  |
| convnext_small | 96, 192, 384, 768       | 3, 3, 27, 3      | 50,223,688  |
| convnext_base  | 128, 256, 512, 1024     | 3, 3, 27, 3      | 88,591,464  |
| convnext_large | 192, 384, 768, 1536     | 3, 3, 27, 3      | 197,767,336 |

Stem: 4x4/4 "patchify" convolution + LayerNorm. Between stages: LayerNorm + 2x2/2
convolution. Head: global average pool, LayerNorm, dense. The references train with
stochastic depth 0.1 / 0.4 / 0.5 / 0.5 (``drop_path_rate``, rising linearly over blocks).
"""

import dataclasses

import keras

from kerasarch.layers import ConvNeXtBlock, ConvNeXtDownsample
from kerasarch.layers.convnext import LN_EPSILON, _trunc_normal
from kerasarch.models.base import ImageModelBuilder
from kerasarch.registry import export_constructors, image_contract, register_model

__all__ = ["ConvNeXtVariant", "VARIANTS", "build_convnext"]


@dataclasses.dataclass(frozen=True)
class ConvNeXtVariant:
    name: str
    widths: tuple
    depths: tuple
    reference_drop_path_rate: float


VARIANTS = (
    ConvNeXtVariant("convnext_tiny", (96, 192, 384, 768), (3, 3, 9, 3), 0.1),
    ConvNeXtVariant("convnext_small", (96, 192, 384, 768), (3, 3, 27, 3), 0.4),
    ConvNeXtVariant("convnext_base", (128, 256, 512, 1024), (3, 3, 27, 3), 0.5),
    ConvNeXtVariant("convnext_large", (192, 384, 768, 1536), (3, 3, 27, 3), 0.5),
)
CONTRACT = image_contract((224, 224, 3), num_classes=1000, min_size=32)


def build_convnext(variant, *, layer_scale_init=1e-6, **kwargs):
    """Build a ConvNeXt.

    Args:
        layer_scale_init: initial layer scale (1e-6); 0 disables it.
        **kwargs: the common builder arguments (:mod:`kerasarch.models.base`).

    Feature levels: each stage's output (reductions 4, 8, 16, 32).
    """
    v = variant
    b = ImageModelBuilder(v.name, kwargs, contract=CONTRACT, family="convnext", head_name="classifier")
    total, index = sum(v.depths), 0
    with b.policy():
        x = keras.layers.Conv2D(v.widths[0], 4, strides=4, kernel_initializer=_trunc_normal(), name="stem_conv")(b.inputs)
        x = keras.layers.LayerNormalization(epsilon=LN_EPSILON, name="stem_norm")(x)
        for stage, (width, depth) in enumerate(zip(v.widths, v.depths), start=1):
            if stage > 1:
                x = ConvNeXtDownsample(width, name=f"downsample{stage}")(x)
            for i in range(depth):
                x = ConvNeXtBlock(layer_scale_init=layer_scale_init,
                                  drop_path_rate=b.drop_path_at(index, total),
                                  name=f"stage{stage}_block{i + 1}")(x)
                index += 1
            b.add_feature(x, f"stage{stage}", 2 ** (stage + 1))
        return b.finish(x, head=lambda x: b.head(x, norm=LN_EPSILON))


# Test tiers (tests/tiers.py): LayerNorm, 7x7 depthwise and layer scale on every backend.
TAGS = {"convnext_tiny": ("ci_jax", "ci_xla", "ci_onnx")}

for _v in VARIANTS:
    register_model(_v.name, build_convnext, _v, family="convnext", contract=CONTRACT,
                   tags=TAGS.get(_v.name, ()))

__all__ += export_constructors(globals(), "convnext")
