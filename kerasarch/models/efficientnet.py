"""EfficientNet B0-B7 (Tan & Le 2019) and EfficientNetV2 S/M/L (Tan & Le 2021), torchvision's layouts.

B0's stages (expansion, kernel, stride, in -> out channels, repeats):

| stage | expand | kernel | stride | channels  | repeats |
|-------|--------|--------|--------|-----------|---------|
| 1     | 1      | 3      | 1      | 32 -> 16  | 1       |
| 2     | 6      | 3      | 2      | 16 -> 24  | 2       |
| 3     | 6      | 5      | 2      | 24 -> 40  | 2       |
| 4     | 6      | 3      | 2      | 40 -> 80  | 3       |
| 5     | 6      | 5      | 1      | 80 -> 112 | 3       |
| 6     | 6      | 5      | 2      | 112 -> 192| 4       |
| 7     | 6      | 3      | 1      | 192 -> 320| 1       |

Compound scaling (width, depth, resolution, dropout), the paper's coefficients:

| name            | width | depth | resolution | dropout | params     |
|-----------------|-------|-------|------------|---------|------------|
| efficientnet_b0 | 1.0   | 1.0   | 224        | 0.2     | 5,288,548  |
| efficientnet_b1 | 1.0   | 1.1   | 240        | 0.2     | 7,794,184  |
| efficientnet_b2 | 1.1   | 1.2   | 260        | 0.3     | 9,109,994  |
| efficientnet_b3 | 1.2   | 1.4   | 300        | 0.3     | 12,233,232 |
| efficientnet_b4 | 1.4   | 1.8   | 380        | 0.4     | 19,341,616 |
| efficientnet_b5 | 1.6   | 2.2   | 456        | 0.4     | 30,389,784 |
| efficientnet_b6 | 1.8   | 2.6   | 528        | 0.5     | 43,040,704 |
| efficientnet_b7 | 2.0   | 3.1   | 600        | 0.5     | 66,347,960 |

Channels are ``make_divisible(c * width, 8)``, repeats ``ceil(n * depth)``; the stem is a
3x3/2 convolution to 32 (scaled), the head a 1x1 convolution to 4x the last stage's width.
Stochastic depth rises linearly from 0 to ``drop_path_rate`` (0.2 in the references) over
the blocks. V2 (S/M/L) starts with :class:`FusedMBConv` stages and ends with a 1280 head;
its stages are in ``V2_STAGES``.
"""

import dataclasses
import math

from kerasarch.layers import ConvBNAct, FusedMBConv, MBConv
from kerasarch.layers.mobile import make_divisible
from kerasarch.models.base import ImageModelBuilder
from kerasarch.registry import export_constructors, image_contract, register_model

__all__ = ["EfficientNetVariant", "VARIANTS", "B0_STAGES", "V2_STAGES", "build_efficientnet"]

# (block, expand, kernel, stride, in, out, repeats)
B0_STAGES = (
    ("mb", 1, 3, 1, 32, 16, 1), ("mb", 6, 3, 2, 16, 24, 2), ("mb", 6, 5, 2, 24, 40, 2),
    ("mb", 6, 3, 2, 40, 80, 3), ("mb", 6, 5, 1, 80, 112, 3), ("mb", 6, 5, 2, 112, 192, 4),
    ("mb", 6, 3, 1, 192, 320, 1),
)
V2_STAGES = {
    "s": (("fused", 1, 3, 1, 24, 24, 2), ("fused", 4, 3, 2, 24, 48, 4), ("fused", 4, 3, 2, 48, 64, 4),
          ("mb", 4, 3, 2, 64, 128, 6), ("mb", 6, 3, 1, 128, 160, 9), ("mb", 6, 3, 2, 160, 256, 15)),
    "m": (("fused", 1, 3, 1, 24, 24, 3), ("fused", 4, 3, 2, 24, 48, 5), ("fused", 4, 3, 2, 48, 80, 5),
          ("mb", 4, 3, 2, 80, 160, 7), ("mb", 6, 3, 1, 160, 176, 14), ("mb", 6, 3, 2, 176, 304, 18),
          ("mb", 6, 3, 1, 304, 512, 5)),
    "l": (("fused", 1, 3, 1, 32, 32, 4), ("fused", 4, 3, 2, 32, 64, 7), ("fused", 4, 3, 2, 64, 96, 7),
          ("mb", 4, 3, 2, 96, 192, 10), ("mb", 6, 3, 1, 192, 224, 19), ("mb", 6, 3, 2, 224, 384, 25),
          ("mb", 6, 3, 1, 384, 640, 7)),
}


@dataclasses.dataclass(frozen=True)
class EfficientNetVariant:
    name: str
    stages: tuple
    width: float = 1.0
    depth: float = 1.0
    resolution: int = 224
    dropout: float = 0.2
    last_channel: int = 0  # 0: 4x the last stage's width (V1); V2 uses 1280
    bn_epsilon: float = 1e-5
    bn_momentum: float = 0.9


_B = ((1.0, 1.0, 224, 0.2), (1.0, 1.1, 240, 0.2), (1.1, 1.2, 260, 0.3), (1.2, 1.4, 300, 0.3),
      (1.4, 1.8, 380, 0.4), (1.6, 2.2, 456, 0.4), (1.8, 2.6, 528, 0.5), (2.0, 3.1, 600, 0.5))
VARIANTS = (
    # torchvision builds B5-B7 with BatchNorm2d(eps=1e-3, momentum=0.01), B0-B4 with the defaults.
    *(EfficientNetVariant(f"efficientnet_b{i}", B0_STAGES, w, d, r, p,
                          **(dict(bn_epsilon=1e-3, bn_momentum=0.99) if i >= 5 else {}))
      for i, (w, d, r, p) in enumerate(_B)),
    EfficientNetVariant("efficientnet_v2_s", V2_STAGES["s"], resolution=384, dropout=0.2, last_channel=1280,
                        bn_epsilon=1e-3),
    EfficientNetVariant("efficientnet_v2_m", V2_STAGES["m"], resolution=480, dropout=0.3, last_channel=1280,
                        bn_epsilon=1e-3),
    EfficientNetVariant("efficientnet_v2_l", V2_STAGES["l"], resolution=480, dropout=0.4, last_channel=1280,
                        bn_epsilon=1e-3),
)


def _contract(v):
    return image_contract(input_shape=(v.resolution, v.resolution, 3), num_classes=1000, min_size=32)


def build_efficientnet(variant, *, drop_rate=None, **kwargs):
    """Build an EfficientNet (V1 or V2).

    Args:
        drop_rate: dropout before the classifier; default the variant's (0.2 ... 0.5).
        **kwargs: the common builder arguments (:mod:`kerasarch.models.base`); use
            ``drop_path_rate=0.2`` for the references' stochastic depth.

    Feature levels: the outputs at reductions 2, 4, 8, 16, 32 (the last after the head's 1x1
    convolution), timm's choice.
    """
    v = variant
    drop_rate = v.dropout if drop_rate is None else drop_rate
    b = ImageModelBuilder(v.name, dict(kwargs, drop_rate=drop_rate), contract=_contract(v),
                          family="efficientnet", head_name="classifier")
    bn = dict(bn_epsilon=v.bn_epsilon, bn_momentum=v.bn_momentum)

    def width(c):
        return make_divisible(c * v.width)

    def repeats(n):
        return int(math.ceil(n * v.depth))

    total = sum(repeats(stage[-1]) for stage in v.stages)
    with b.policy():
        x = ConvBNAct(width(v.stages[0][4]), 3, strides=2, activation="silu", name="stem", **bn)(b.inputs)
        reduction, index = 2, 0
        for s, (kind, expand, kernel, stride, _, out, n) in enumerate(v.stages, start=1):
            for i in range(repeats(n)):
                strides = stride if i == 0 else 1
                if strides == 2:
                    b.add_feature(x, f"stage{s - 1}" if s > 1 else "stem", reduction)
                    reduction *= 2
                rate = b.drop_path_at(index, total)
                name = f"stage{s}_block{i + 1}"
                if kind == "fused":
                    x = FusedMBConv(width(out), expand, kernel, strides, drop_path_rate=rate, name=name, **bn)(x)
                else:
                    x = MBConv(width(out), expand, kernel, strides, drop_path_rate=rate, name=name, **bn)(x)
                index += 1
        last = v.last_channel or 4 * width(v.stages[-1][5])
        x = ConvBNAct(last, 1, activation="silu", name="conv_head", **bn)(x)
        b.add_feature(x, "conv_head", reduction)
        return b.finish(x)


# Test tiers (tests/tiers.py): V2-S reaches FusedMBConv; B0 compiles MBConv's drop path and SE under XLA.
TAGS = {"efficientnet_b0": ("ci_xla", "ci_onnx"), "efficientnet_v2_s": ("ci",)}

for _v in VARIANTS:
    register_model(_v.name, build_efficientnet, _v, family="efficientnet", contract=_contract(_v),
                   tags=TAGS.get(_v.name, ()))

__all__ += export_constructors(globals(), "efficientnet")
