"""VGG (Simonyan & Zisserman 2014), torchvision's layout, and d2l's ``conv_arch`` form.

| name            | conv_arch (convs, channels) per block                | BN  | params      |
|-----------------|------------------------------------------------------|-----|-------------|
| vgg11 / _bn     | (1,64) (1,128) (2,256) (2,512) (2,512)                | -/y | 132,863,336 / 132,868,840 |
| vgg13 / _bn     | (2,64) (2,128) (2,256) (2,512) (2,512)                | -/y | 133,047,848 / 133,053,736 |
| vgg16 / _bn     | (2,64) (2,128) (3,256) (3,512) (3,512)                | -/y | 138,357,544 / 138,365,992 |
| vgg19 / _bn     | (2,64) (2,128) (4,256) (4,512) (4,512)                | -/y | 143,667,240 / 143,678,248 |

Each block is a :class:`~kerasarch.layers.VGGBlock` (n 3x3 convolutions, 2x2 max pool);
the classifier is an adaptive average pool to 7x7, then 4096, 4096 and the output layer,
dropout 0.5 after each hidden layer. ``conv_arch`` builds any VGG of the d2l book, and
``width_divisor`` shrinks every block's channels (d2l trains VGG-11 on Fashion-MNIST with
a ratio of 4). Porting torchvision's first classifier weights needs a transpose: PyTorch
flattens (C, H, W), Keras (H, W, C).
"""

import dataclasses

from kerasarch.layers import VGGBlock
from kerasarch.models.base import ImageModelBuilder
from kerasarch.registry import export_constructors, image_contract, register_model

__all__ = ["VGGVariant", "VARIANTS", "CONV_ARCH", "build_vgg"]

CONV_ARCH = {
    11: ((1, 64), (1, 128), (2, 256), (2, 512), (2, 512)),
    13: ((2, 64), (2, 128), (2, 256), (2, 512), (2, 512)),
    16: ((2, 64), (2, 128), (3, 256), (3, 512), (3, 512)),
    19: ((2, 64), (2, 128), (4, 256), (4, 512), (4, 512)),
}


@dataclasses.dataclass(frozen=True)
class VGGVariant:
    name: str
    conv_arch: tuple
    batch_norm: bool = False


VARIANTS = tuple(
    VGGVariant(f"vgg{depth}{'_bn' if bn else ''}", arch, bn)
    for bn in (False, True) for depth, arch in CONV_ARCH.items()
)
CONTRACT = image_contract((224, 224, 3), num_classes=1000, min_size=32)


def build_vgg(variant, *, conv_arch=None, width_divisor=1, fc_units=4096, drop_rate=0.5, **kwargs):
    """Build a VGG.

    Args:
        conv_arch: ``((num_convs, channels), ...)``, one pair per block; default the variant's.
        width_divisor: divide every block's channels by this (d2l's ``ratio``).
        fc_units: width of the two hidden dense layers (4096).
        drop_rate: dropout after each hidden dense layer (0.5).
        **kwargs: the common builder arguments (:mod:`kerasarch.models.base`).

    Feature levels: each block's output, reductions 2, 4, 8, ... The input must be at
    least ``2 ** len(conv_arch)`` pixels on a side (32 for the standard five blocks).
    """
    arch = tuple(tuple(int(v) for v in pair) for pair in (conv_arch or variant.conv_arch))
    if not arch or any(len(p) != 2 or p[0] < 1 or p[1] < 1 for p in arch):
        raise ValueError(f"{variant.name}: conv_arch must be ((num_convs, channels), ...) with positive "
                         f"entries, got {conv_arch!r}.")
    if not isinstance(width_divisor, int) or width_divisor < 1 or any(c // width_divisor < 1 for _, c in arch):
        raise ValueError(f"{variant.name}: width_divisor must be a positive integer that leaves every block "
                         f"at least one channel, got {width_divisor!r}.")
    b = ImageModelBuilder(variant.name, dict(kwargs, drop_rate=drop_rate), contract=CONTRACT,
                          family="vgg", head_name="fc3",
                          min_size=2 ** len(arch))
    b.arch_extra = {"conv_arch": [list(p) for p in arch], "width_divisor": width_divisor}
    with b.policy():
        x = b.inputs
        for i, (num_convs, channels) in enumerate(arch, start=1):
            x = VGGBlock(num_convs, channels // width_divisor, batch_norm=variant.batch_norm, name=f"block{i}")(x)
            b.add_feature(x, f"block{i}", 2 ** i)
        return b.finish(x, head=lambda x: b.dense_head(x, 7, fc_units, "fc", dropout_first=False))


# Test tiers (tests/tiers.py): vgg11_bn adds BatchNorm to the smallest, vgg11.
TAGS = {"vgg11_bn": ("ci",)}

for _v in VARIANTS:
    register_model(_v.name, build_vgg, _v, family="vgg", contract=CONTRACT,
                   tags=TAGS.get(_v.name, ()))

__all__ += export_constructors(globals(), "vgg")
