"""MobileNetV2 and V3 (small, large) from torchvision; MobileNetV1 and V2 from timm.

torchvision numbers a block's units by position in an ``nn.Sequential``, so a unit's index
depends on which units the block has (V2's first block and V3's unexpanded ones have no
expansion convolution; V3 puts squeeze-excite between the depthwise and the projection); the
index is counted over the units the Keras block built. V2's projection is a bare conv and BN
(``conv.2``, ``conv.3``), not a conv-BN unit. The squeeze-excite projections are 1x1
convolutions ``(out, in, 1, 1)``; kerasarch applies them to the pooled vector as dense layers,
so they are reshaped to ``(in, out)``; likewise V3's first classifier layer is kerasarch's
``pre_logits``. timm's MobileNets (its EfficientNet class) nest blocks by stage
(``blocks.{stage}.{index}``), which kerasarch numbers flat: the stage lengths are timm's
architecture definitions (V1 ``mobilenetv1_100``: 1, 2, 2, 6, 2 depthwise-separable blocks;
V2 ``mobilenetv2_100``: the paper's table). timm's ``mobilenetv3_*_100`` are not twins: their
BatchNorm epsilon is 1e-5, where torchvision's and kerasarch's V3 use 1e-3.
"""

from kerasarch.models.mobilenet import VARIANTS
from kerasarch.weights.layout import torch_layout

# The order the units of an inverted residual run in (torchvision's Sequential order).
_UNITS = ("expand", "depthwise", "se", "project")
_TIMM_V1_STAGES = (1, 2, 2, 6, 2)
_TIMM_V2_STAGES = (1, 2, 3, 4, 3, 3, 1)


def pointwise_as_dense(value, variable):
    """A 1x1 ``Conv2d.weight`` (out, in, 1, 1) -> ``Dense.kernel`` (in, out)."""
    if value.ndim != 4 or value.shape[2:] != (1, 1):
        return value  # the shape check reports it, with both shapes
    return value.reshape(value.shape[0], value.shape[1]).T


def _block_count(variant):
    v = next(v for v in VARIANTS if v.name == variant)
    return sum(b[2] for b in v.blocks) if v.version == 2 else len(v.blocks)


def _conv_bn(t, path, prefix):
    t.layer(f"{path}/conv", f"{prefix}.0")
    t.layer(f"{path}/bn", f"{prefix}.1")


def _blocks(t):
    """``{block number: set of unit names}`` for the inverted residual / separable blocks built."""
    blocks = {}
    for _, m in t.find(r"block(\d+)/(\w+)/(conv|bn|fc1|fc2)"):
        blocks.setdefault(int(m[1]), set()).add(m[2])
    return blocks


@torch_layout("mobilenet", "torchvision",
              twins={"mobilenet_v2": "mobilenet_v2", "mobilenet_v3_small": "mobilenet_v3_small",
                     "mobilenet_v3_large": "mobilenet_v3_large"},
              ci=("mobilenet_v2", "mobilenet_v3_small"))
def torchvision_mobilenet(t):
    _conv_bn(t, "stem", "features.0")
    blocks = _blocks(t)
    v3 = t.variant.startswith("mobilenet_v3")
    for block, units in blocks.items():
        name = f"block{block}"
        prefix = f"features.{block}.{'block' if v3 else 'conv'}"
        for index, unit in enumerate(u for u in _UNITS if u in units):
            if unit == "se":
                for fc in ("fc1", "fc2"):
                    t.tensor(f"{name}/se/{fc}:kernel", f"{prefix}.{index}.{fc}.weight", pointwise_as_dense)
                    t.tensor(f"{name}/se/{fc}:bias", f"{prefix}.{index}.{fc}.bias")
            elif unit == "project" and not v3:
                t.layer(f"{name}/project/conv", f"{prefix}.{index}")
                t.layer(f"{name}/project/bn", f"{prefix}.{index + 1}")
            else:
                _conv_bn(t, f"{name}/{unit}", f"{prefix}.{index}")
    _conv_bn(t, "conv_last", f"features.{_block_count(t.variant) + 1}")
    if v3:
        t.layer("pre_logits", "classifier.0", head=True)
        t.layer("classifier", "classifier.3", head=True)
    else:
        t.layer("classifier", "classifier.1", head=True)


def _timm_stage_index(stages):
    """Block number (from 1) -> ``blocks.{stage}.{index}``."""
    out, number = {}, 1
    for stage, repeats in enumerate(stages):
        for index in range(repeats):
            out[number] = f"blocks.{stage}.{index}"
            number += 1
    return out


@torch_layout("mobilenet", "timm", twins={"mobilenet_v1": "mobilenetv1_100", "mobilenet_v2": "mobilenetv2_100"},
              ci=("mobilenet_v1", "mobilenet_v2"))
def timm_mobilenet(t):
    t.layer("stem/conv", "conv_stem")
    t.layer("stem/bn", "bn1")
    v1 = t.variant == "mobilenet_v1"
    where = _timm_stage_index(_TIMM_V1_STAGES if v1 else _TIMM_V2_STAGES)
    for block, units in _blocks(t).items():
        name, prefix = f"block{block}", where[block]
        if v1:  # depthwise-separable: depthwise, then pointwise, both with an activation
            t.layer(f"{name}/depthwise/conv", f"{prefix}.conv_dw")
            t.layer(f"{name}/depthwise/bn", f"{prefix}.bn1")
            t.layer(f"{name}/pointwise/conv", f"{prefix}.conv_pw")
            t.layer(f"{name}/pointwise/bn", f"{prefix}.bn2")
        elif "expand" not in units:  # timm's DepthwiseSeparableConv: the projection is conv_pw, bn2
            t.layer(f"{name}/depthwise/conv", f"{prefix}.conv_dw")
            t.layer(f"{name}/depthwise/bn", f"{prefix}.bn1")
            t.layer(f"{name}/project/conv", f"{prefix}.conv_pw")
            t.layer(f"{name}/project/bn", f"{prefix}.bn2")
        else:
            t.layer(f"{name}/expand/conv", f"{prefix}.conv_pw")
            t.layer(f"{name}/expand/bn", f"{prefix}.bn1")
            t.layer(f"{name}/depthwise/conv", f"{prefix}.conv_dw")
            t.layer(f"{name}/depthwise/bn", f"{prefix}.bn2")
            t.layer(f"{name}/project/conv", f"{prefix}.conv_pwl")
            t.layer(f"{name}/project/bn", f"{prefix}.bn3")
    if not v1:
        t.layer("conv_last/conv", "conv_head")
        t.layer("conv_last/bn", "bn2")
    t.layer("classifier", "classifier", head=True)
