"""EfficientNet B0-B7 and EfficientNetV2 S/M/L from torchvision.

torchvision numbers each block's units by position in an ``nn.Sequential`` (``block.0``,
``block.1``, ...), so a unit's index depends on which units the block has: MBConv has no
expansion convolution at expand ratio 1, FusedMBConv no projection at expand ratio 1. The
index is therefore counted over the units the Keras block actually built. torchvision's
squeeze-excite projections are 1x1 convolutions ``(out, in, 1, 1)``; kerasarch applies them
to the pooled vector as dense layers, so they are reshaped to ``(in, out)``.
"""

from kerasarch.weights.layout import torch_layout

_NAMES = tuple(f"efficientnet_b{i}" for i in range(8)) + ("efficientnet_v2_s", "efficientnet_v2_m", "efficientnet_v2_l")
# The order the units run in, which is the order torchvision's Sequential holds them in.
_UNITS = ("expand", "fused", "depthwise", "se", "project")


def pointwise_as_dense(value, variable):
    """A 1x1 ``Conv2d.weight`` (out, in, 1, 1) -> ``Dense.kernel`` (in, out)."""
    if value.ndim != 4 or value.shape[2:] != (1, 1):
        return value  # the shape check reports it, with both shapes
    return value.reshape(value.shape[0], value.shape[1]).T


@torch_layout("efficientnet", "torchvision", twins={name: name for name in _NAMES},
              ci=("efficientnet_b0", "efficientnet_v2_s"))
def torchvision_efficientnet(t):
    t.layer("stem/conv", "features.0.0")
    t.layer("stem/bn", "features.0.1")
    blocks = {}
    for path, m in t.find(r"stage(\d+)_block(\d+)/(\w+)/(conv|bn|fc1|fc2)"):
        blocks.setdefault((int(m[1]), int(m[2])), set()).add(m[3])
    for (stage, block), units in blocks.items():
        name, prefix = f"stage{stage}_block{block}", f"features.{stage}.{block - 1}.block"
        for index, unit in enumerate(u for u in _UNITS if u in units):
            if unit == "se":
                for fc in ("fc1", "fc2"):
                    t.tensor(f"{name}/se/{fc}:kernel", f"{prefix}.{index}.{fc}.weight", pointwise_as_dense)
                    t.tensor(f"{name}/se/{fc}:bias", f"{prefix}.{index}.{fc}.bias")
            else:
                t.layer(f"{name}/{unit}/conv", f"{prefix}.{index}.0")
                t.layer(f"{name}/{unit}/bn", f"{prefix}.{index}.1")
    t.layer("conv_head/conv", f"features.{max(s for s, _ in blocks) + 1}.0")
    t.layer("conv_head/bn", f"features.{max(s for s, _ in blocks) + 1}.1")
    t.layer("classifier", "classifier.1", head=True)


# timm's own (non-"tf_") B0-B4 compute what torchvision's do: symmetric padding, BatchNorm eps
# 1e-5, the same squeeze width. Not B5-B7 (timm keeps eps 1e-5 where torchvision, and so
# kerasarch, use 1e-3), nor V2: timm's efficientnetv2_* use eps 1e-5 against torchvision's 1e-3,
# and its tf_efficientnet* ports pad TensorFlow's asymmetric "same" way.
_TIMM_NAMES = tuple(f"efficientnet_b{i}" for i in range(5))
# timm names a block's units by role; the first stage's blocks (no expansion) are its
# DepthwiseSeparableConv, whose BatchNorms and pointwise conv are numbered one lower.
_TIMM_UNITS = {"expand": ("conv_pw", "bn1"), "depthwise": ("conv_dw", "bn2"), "project": ("conv_pwl", "bn3")}
_TIMM_SEPARABLE = {"depthwise": ("conv_dw", "bn1"), "project": ("conv_pw", "bn2")}


@torch_layout("efficientnet", "timm", twins={name: name for name in _TIMM_NAMES}, ci=("efficientnet_b0",))
def timm_efficientnet(t):
    t.layer("stem/conv", "conv_stem")
    t.layer("stem/bn", "bn1")
    for path, m in t.find(r"(stage(\d+)_block(\d+))/(expand|depthwise|se|project)/(conv|bn|fc1|fc2)"):
        name, stage, block, unit, part = m[1], int(m[2]), int(m[3]), m[4], m[5]
        prefix = f"blocks.{stage - 1}.{block - 1}"
        if unit == "se":
            fc = "conv_reduce" if part == "fc1" else "conv_expand"
            t.tensor(f"{path}:kernel", f"{prefix}.se.{fc}.weight", pointwise_as_dense)
            t.tensor(f"{path}:bias", f"{prefix}.se.{fc}.bias")
        else:
            names = _TIMM_UNITS if t.has(f"{name}/expand/conv") else _TIMM_SEPARABLE
            t.layer(path, f"{prefix}.{names[unit][0 if part == 'conv' else 1]}")
    t.layer("conv_head/conv", "conv_head")
    t.layer("conv_head/bn", "bn2")
    t.layer("classifier", "classifier", head=True)
