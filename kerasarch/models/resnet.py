"""ResNet, ResNeXt, Wide ResNet and the CIFAR ResNets / plain nets.

References: He et al. 2016 "Deep Residual Learning for Image Recognition" (ResNet, the CIFAR
nets and their plain twins); Xie et al. 2017 "Aggregated Residual Transformations" (ResNeXt);
Zagoruyko & Komodakis 2016 "Wide Residual Networks". The ImageNet layouts are torchvision's
(v1.5: the stride sits on the 3x3 convolution), so its weights port tensor by tensor.

| name               | block      | blocks per stage | stage widths        | groups x width | stem     | shortcut   |
|--------------------|------------|------------------|---------------------|----------------|----------|------------|
| resnet18           | basic      | 2, 2, 2, 2       | 64, 128, 256, 512   | 1 x 64         | imagenet | projection |
| resnet34           | basic      | 3, 4, 6, 3       | 64, 128, 256, 512   | 1 x 64         | imagenet | projection |
| resnet50           | bottleneck | 3, 4, 6, 3       | 64, 128, 256, 512   | 1 x 64         | imagenet | projection |
| resnet101          | bottleneck | 3, 4, 23, 3      | 64, 128, 256, 512   | 1 x 64         | imagenet | projection |
| resnet152          | bottleneck | 3, 8, 36, 3      | 64, 128, 256, 512   | 1 x 64         | imagenet | projection |
| resnext50_32x4d    | bottleneck | 3, 4, 6, 3       | 64, 128, 256, 512   | 32 x 4         | imagenet | projection |
| resnext101_32x8d   | bottleneck | 3, 4, 23, 3      | 64, 128, 256, 512   | 32 x 8         | imagenet | projection |
| resnext101_64x4d   | bottleneck | 3, 4, 23, 3      | 64, 128, 256, 512   | 64 x 4         | imagenet | projection |
| wide_resnet50_2    | bottleneck | 3, 4, 6, 3       | 64, 128, 256, 512   | 1 x 128        | imagenet | projection |
| wide_resnet101_2   | bottleneck | 3, 4, 23, 3      | 64, 128, 256, 512   | 1 x 128        | imagenet | projection |
| resnet20 ... 110   | basic      | n, n, n (6n+2)   | 16, 32, 64          | -              | cifar    | zero_pad   |
| plain20 ... 110    | basic      | n, n, n (6n+2)   | 16, 32, 64          | -              | cifar    | none       |

Stage widths are a basic block's output channels and a bottleneck's base width: its output has four
times that, its inner 3x3 int(stage width * width / 64) * groups channels (ResNeXt-50 32x4d: 128 in
the first stage, Wide ResNet-50-2: 128). The CIFAR nets' basic blocks have no groups.
The ImageNet nets take 224x224x3 and 1000 classes by default, the CIFAR nets 32x32x3 and 10.
"""

import dataclasses

import keras

from kerasarch.layers import ConvBNAct, ResidualBlock
from kerasarch.models.base import ImageModelBuilder
from kerasarch.registry import export_constructors, image_contract, register_model

__all__ = ["ResNetVariant", "VARIANTS", "build_resnet"]


@dataclasses.dataclass(frozen=True)
class ResNetVariant:
    name: str
    block_type: str
    depths: tuple
    widths: tuple = (64, 128, 256, 512)
    groups: int = 1
    width_per_group: int = 64
    cifar: bool = False  # 3x3 stem with 16 channels, no max pool, 32x32 inputs, 10 classes
    use_shortcut: bool = True


def _cifar(name, n, use_shortcut=True):
    return ResNetVariant(name, "basic", (n, n, n), widths=(16, 32, 64), cifar=True, use_shortcut=use_shortcut)


VARIANTS = (
    ResNetVariant("resnet18", "basic", (2, 2, 2, 2)),
    ResNetVariant("resnet34", "basic", (3, 4, 6, 3)),
    ResNetVariant("resnet50", "bottleneck", (3, 4, 6, 3)),
    ResNetVariant("resnet101", "bottleneck", (3, 4, 23, 3)),
    ResNetVariant("resnet152", "bottleneck", (3, 8, 36, 3)),
    ResNetVariant("resnext50_32x4d", "bottleneck", (3, 4, 6, 3), groups=32, width_per_group=4),
    ResNetVariant("resnext101_32x8d", "bottleneck", (3, 4, 23, 3), groups=32, width_per_group=8),
    ResNetVariant("resnext101_64x4d", "bottleneck", (3, 4, 23, 3), groups=64, width_per_group=4),
    ResNetVariant("wide_resnet50_2", "bottleneck", (3, 4, 6, 3), width_per_group=128),
    ResNetVariant("wide_resnet101_2", "bottleneck", (3, 4, 23, 3), width_per_group=128),
    _cifar("resnet20", 3),
    _cifar("resnet32", 5),
    _cifar("resnet44", 7),
    _cifar("resnet56", 9),
    _cifar("resnet110", 18),
    _cifar("plain20", 3, use_shortcut=False),
    _cifar("plain32", 5, use_shortcut=False),
    _cifar("plain44", 7, use_shortcut=False),
    _cifar("plain56", 9, use_shortcut=False),
    _cifar("plain110", 18, use_shortcut=False),
)


def _contract(v):
    """The variant's contract: default input, classes and smallest input (its total downsampling)."""
    if v.cifar:
        return image_contract(input_shape=(32, 32, 3), num_classes=10, min_size=2 ** (len(v.depths) - 1))
    return image_contract(input_shape=(224, 224, 3), num_classes=1000, min_size=32)


def build_resnet(variant, *, zero_init_residual=False, **kwargs):
    """Build a ResNet-family model from a row of ``VARIANTS``.

    Args:
        variant: a :class:`ResNetVariant`.
        zero_init_residual: start each block's last BatchNorm scale at zero, so every
            block begins as the identity (Goyal et al. 2017; helps large-batch training).
        **kwargs: the common builder arguments of :mod:`kerasarch.models.base`.

    Feature levels (``features_only``): the stem, then each stage; reductions 2, 4, 8, 16,
    32 for the ImageNet nets and 1, 1, 2, 4 for the CIFAR nets.
    """
    v = variant
    b = ImageModelBuilder(v.name, kwargs, contract=_contract(v), family="resnet", head_name="fc")
    with b.policy():
        if v.cifar:
            x = ConvBNAct(v.widths[0], 3, name="stem")(b.inputs)
            b.add_feature(x, "stem", 1)
            reduction = 1
        else:
            x = ConvBNAct(v.widths[0], 7, strides=2, name="stem")(b.inputs)
            b.add_feature(x, "stem", 2)
            # Zero padding is safe before a max pool here: the input is post-ReLU, so >= 0.
            x = keras.layers.ZeroPadding2D(1, name="stem_pool_pad")(x)
            x = keras.layers.MaxPooling2D(3, strides=2, name="stem_pool")(x)
            reduction = 4
        total_blocks, block_index = sum(v.depths), 0
        for stage, (depth, width) in enumerate(zip(v.depths, v.widths), start=1):
            for i in range(depth):
                strides = 2 if stage > 1 and i == 0 else 1
                x = ResidualBlock(
                    width,
                    block_type=v.block_type,
                    strides=strides,
                    groups=v.groups,
                    width_per_group=v.width_per_group,
                    shortcut="zero_pad" if v.cifar else "projection",
                    use_shortcut=v.use_shortcut,
                    zero_init_last=zero_init_residual,
                    drop_path_rate=b.drop_path_at(block_index, total_blocks),
                    name=f"stage{stage}_block{i + 1}",
                )(x)
                block_index += 1
            reduction *= 2 if stage > 1 else 1
            b.add_feature(x, f"stage{stage}", reduction)
        return b.finish(x)


# Test tiers beyond the smallest of the family (tests/tiers.py): the bottleneck block and ImageNet stem
# (resnet50), grouped convolution (resnext50), blocks without shortcuts (plain20); resnet20 is the
# main job's model (it ties with plain20 for the smallest).
TAGS = {"resnet20": ("ci", "ci_jax", "ci_xla", "ci_onnx"), "resnet18": ("ci_onnx",), "resnet50": ("ci",),
        "resnext50_32x4d": ("ci", "ci_jax", "ci_xla", "ci_onnx"), "plain20": ("ci",)}

for _v in VARIANTS:
    register_model(_v.name, build_resnet, _v, family="resnet", contract=_contract(_v),
                   tags=TAGS.get(_v.name, ()))

__all__ += export_constructors(globals(), "resnet")
