"""MobileNet V1 (Howard et al. 2017), V2 (Sandler et al. 2018) and V3 (Howard et al. 2019).

| name               | block                          | head                          | params    |
|--------------------|--------------------------------|-------------------------------|-----------|
| mobilenet_v1       | 13 depthwise-separable, ReLU6  | pool, dropout, dense          | 4,231,976 |
| mobilenet_v2       | 17 inverted residuals, ReLU6   | 1x1 conv 1280, pool, dense    | 3,504,872 |
| mobilenet_v3_large | 15 inverted residuals, SE, HS  | 1x1 960, pool, 1280, dense    | 5,483,032 |
| mobilenet_v3_small | 11 inverted residuals, SE, HS  | 1x1 576, pool, 1024, dense    | 2,542,856 |

V1 has no torchvision model; its layout and count are the paper's and keras.applications'
(ReLU6, as Keras). V2 and V3 follow torchvision. ``alpha`` (V1, V2, V3) scales every width,
rounded to multiples of 8 (V2/V3) as the references do.
"""

import dataclasses

from kerasarch.layers import ConvBNAct, DepthwiseSeparableConv, InvertedResidual
from kerasarch.layers.mobile import make_divisible
from kerasarch.models.base import ImageModelBuilder
from kerasarch.registry import export_constructors, image_contract, register_model

__all__ = ["MobileNetVariant", "VARIANTS", "build_mobilenet_v1", "build_mobilenet_v2", "build_mobilenet_v3"]

# (channels, stride) of the 13 depthwise-separable units.
V1_BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
             (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1))
# (expansion t, channels c, repeats n, first stride s), the paper's Table 2.
V2_BLOCKS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
             (6, 320, 1, 1))
# (kernel, expanded, out, squeeze-excite, activation, stride), torchvision's tables.
V3_LARGE = (
    (3, 16, 16, False, "relu", 1), (3, 64, 24, False, "relu", 2), (3, 72, 24, False, "relu", 1),
    (5, 72, 40, True, "relu", 2), (5, 120, 40, True, "relu", 1), (5, 120, 40, True, "relu", 1),
    (3, 240, 80, False, "hard_swish", 2), (3, 200, 80, False, "hard_swish", 1),
    (3, 184, 80, False, "hard_swish", 1), (3, 184, 80, False, "hard_swish", 1),
    (3, 480, 112, True, "hard_swish", 1), (3, 672, 112, True, "hard_swish", 1),
    (5, 672, 160, True, "hard_swish", 2), (5, 960, 160, True, "hard_swish", 1),
    (5, 960, 160, True, "hard_swish", 1),
)
V3_SMALL = (
    (3, 16, 16, True, "relu", 2), (3, 72, 24, False, "relu", 2), (3, 88, 24, False, "relu", 1),
    (5, 96, 40, True, "hard_swish", 2), (5, 240, 40, True, "hard_swish", 1), (5, 240, 40, True, "hard_swish", 1),
    (5, 120, 48, True, "hard_swish", 1), (5, 144, 48, True, "hard_swish", 1), (5, 288, 96, True, "hard_swish", 2),
    (5, 576, 96, True, "hard_swish", 1), (5, 576, 96, True, "hard_swish", 1),
)
# MobileNetV3 uses BatchNorm with PyTorch momentum 0.01 (Keras 0.99) and epsilon 1e-3.
V3_BN = dict(bn_momentum=0.99, bn_epsilon=1e-3)


@dataclasses.dataclass(frozen=True)
class MobileNetVariant:
    name: str
    version: int
    blocks: tuple = ()
    last_channel: int = 0


VARIANTS = (
    MobileNetVariant("mobilenet_v1", 1, V1_BLOCKS),
    MobileNetVariant("mobilenet_v2", 2, V2_BLOCKS, 1280),
    MobileNetVariant("mobilenet_v3_large", 3, V3_LARGE, 1280),
    MobileNetVariant("mobilenet_v3_small", 3, V3_SMALL, 1024),
)
CONTRACT = image_contract((224, 224, 3), num_classes=1000, min_size=32)


def _check_alpha(name, alpha):
    if not isinstance(alpha, (int, float)) or isinstance(alpha, bool) or alpha <= 0:
        raise ValueError(f"{name}: alpha (the width multiplier) must be a positive number, got {alpha!r}.")


def build_mobilenet_v1(variant, *, alpha=1.0, drop_rate=1e-3, **kwargs):
    """MobileNetV1.

    Args:
        alpha: width multiplier (0.25, 0.5, 0.75, 1.0 in the paper).
        drop_rate: dropout before the classifier (1e-3, as keras.applications).
        **kwargs: the common builder arguments (:mod:`kerasarch.models.base`).

    Feature levels: the outputs at reductions 2, 4, 8, 16, 32.
    """
    _check_alpha(variant.name, alpha)
    b = ImageModelBuilder(variant.name, dict(kwargs, drop_rate=drop_rate), contract=CONTRACT,
                          family="mobilenet", head_name="classifier")
    b.arch_extra = {"alpha": alpha}
    with b.policy():
        x = ConvBNAct(int(32 * alpha), 3, strides=2, activation="relu6", name="stem")(b.inputs)
        reduction = 2
        for i, (channels, stride) in enumerate(variant.blocks, start=1):
            if stride == 2:
                b.add_feature(x, f"block{i - 1}" if i > 1 else "stem", reduction)
                reduction *= 2
            x = DepthwiseSeparableConv(int(channels * alpha), stride, name=f"block{i}")(x)
        b.add_feature(x, f"block{len(variant.blocks)}", reduction)
        return b.finish(x)


def build_mobilenet_v2(variant, *, alpha=1.0, drop_rate=0.2, **kwargs):
    """MobileNetV2, torchvision's layout.

    Args:
        alpha: width multiplier; channels rounded to multiples of 8; the last 1x1 layer is
            ``1280 * max(1, alpha)``.
        drop_rate: dropout before the classifier (0.2).
        **kwargs: the common builder arguments, with ``drop_path_rate`` on the residual blocks.

    Feature levels: the outputs at reductions 2, 4, 8, 16, 32 (the last after the 1x1 conv).
    """
    _check_alpha(variant.name, alpha)
    b = ImageModelBuilder(variant.name, dict(kwargs, drop_rate=drop_rate), contract=CONTRACT,
                          family="mobilenet", head_name="classifier")
    b.arch_extra = {"alpha": alpha}
    total = sum(n for _, _, n, _ in variant.blocks)
    with b.policy():
        channels = make_divisible(32 * alpha)
        x = ConvBNAct(channels, 3, strides=2, activation="relu6", name="stem")(b.inputs)
        reduction, index = 2, 0
        for t, c, n, s in variant.blocks:
            out = make_divisible(c * alpha)
            for i in range(n):
                stride = s if i == 0 else 1
                if stride == 2:
                    b.add_feature(x, f"block{index}" if index else "stem", reduction)
                    reduction *= 2
                x = InvertedResidual(out, int(round(channels * t)), 3, stride, activation="relu6",
                                     drop_path_rate=b.drop_path_at(index, total), name=f"block{index + 1}")(x)
                channels, index = out, index + 1
        x = ConvBNAct(make_divisible(variant.last_channel * max(1.0, alpha)), 1, activation="relu6",
                      name="conv_last")(x)
        b.add_feature(x, "conv_last", reduction)
        return b.finish(x)


def build_mobilenet_v3(variant, *, alpha=1.0, drop_rate=0.2, **kwargs):
    """MobileNetV3 large or small, torchvision's layout.

    Args:
        alpha: width multiplier (torchvision's ``width_mult``), rounded to multiples of 8.
        drop_rate: dropout between the two classifier layers (0.2).
        **kwargs: the common builder arguments, with ``drop_path_rate`` on the residual blocks.

    The head is: 1x1 conv to 6x the last block's channels (hard-swish), global pool, dense
    ``last_channel`` (hard-swish), dropout, dense classifier. Feature levels: the outputs at
    reductions 2, 4, 8, 16, 32 (the last after the 1x1 conv).
    """
    _check_alpha(variant.name, alpha)
    b = ImageModelBuilder(variant.name, dict(kwargs, drop_rate=drop_rate), contract=CONTRACT,
                          family="mobilenet", head_name="classifier")
    b.arch_extra = {"alpha": alpha}
    total = len(variant.blocks)
    with b.policy():
        x = ConvBNAct(make_divisible(16 * alpha), 3, strides=2, activation="hard_swish", name="stem", **V3_BN)(b.inputs)
        reduction = 2
        for i, (k, expanded, out, se, act, stride) in enumerate(variant.blocks):
            if stride == 2:
                b.add_feature(x, f"block{i}" if i else "stem", reduction)
                reduction *= 2
            expanded = make_divisible(expanded * alpha)
            x = InvertedResidual(make_divisible(out * alpha), expanded, k, stride, activation=act,
                                 se_filters=make_divisible(expanded // 4) if se else 0, se_gate="hard_sigmoid",
                                 drop_path_rate=b.drop_path_at(i, total), name=f"block{i + 1}", **V3_BN)(x)
        last_conv = 6 * make_divisible(variant.blocks[-1][2] * alpha)
        x = ConvBNAct(last_conv, 1, activation="hard_swish", name="conv_last", **V3_BN)(x)
        b.add_feature(x, "conv_last", reduction)
        return b.finish(x, head=lambda x: b.head(x, hidden=variant.last_channel, hidden_activation="hard_swish"))


_BUILDERS = {1: build_mobilenet_v1, 2: build_mobilenet_v2, 3: build_mobilenet_v3}
# Test tiers (tests/tiers.py): each version has its own builder and block (depthwise-separable,
# inverted residual without and with squeeze-excite and hard-swish).
TAGS = {"mobilenet_v1": ("ci", "ci_xla"), "mobilenet_v2": ("ci", "ci_onnx"), "mobilenet_v3_large": ("ci_onnx",),
        "mobilenet_v3_small": ("ci_xla",)}

for _v in VARIANTS:
    register_model(_v.name, _BUILDERS[_v.version], _v, family="mobilenet", contract=CONTRACT,
                   tags=TAGS.get(_v.name, ()))

__all__ += export_constructors(globals(), "mobilenet")
