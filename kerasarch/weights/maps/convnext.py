"""ConvNeXt Tiny/Small/Base/Large from torchvision and from timm (``convnext_tiny`` etc.).

The two compute the same network (4x4/4 stem + LayerNorm, LayerNorm + 2x2/2 downsampling,
blocks of 7x7 depthwise conv, LayerNorm, Linear 4C, exact GELU, Linear C, layer scale; head:
average pool, LayerNorm, Linear) and differ only in names. torchvision flattens stages and
downsamplings into one ``features`` Sequential (stem 0, stage s at 2s - 1, the downsampling
into stage s at 2s - 2) and stores the layer scale as ``(C, 1, 1)``; timm nests the
downsampling inside its stage (``stages.N.downsample``) and stores the scale as ``(C,)``.
The head's LayerNorm is marked ``head`` only because a model without a top has none.
"""

from kerasarch.weights.layout import torch_layout

_NAMES = ("convnext_tiny", "convnext_small", "convnext_base", "convnext_large")


def layer_scale(value, variable):
    """torchvision's ``layer_scale`` (C, 1, 1) -> the block's ``gamma`` (C,)."""
    if value.ndim != 3 or value.shape[1:] != (1, 1):
        return value  # the shape check reports it, with both shapes
    return value.reshape(-1)


def _blocks(t):
    """``(stage, block)`` of every ConvNeXt block in the model, in order."""
    return [(int(m[1]), int(m[2])) for _, m in t.find(r"stage(\d+)_block(\d+)/dwconv")]


@torch_layout("convnext", "torchvision", twins={name: name for name in _NAMES}, ci=("convnext_tiny",))
def torchvision_convnext(t):
    t.layer("stem_conv", "features.0.0")
    t.layer("stem_norm", "features.0.1")
    for path, m in t.find(r"downsample(\d+)/(norm|conv)"):
        t.layer(path, f"features.{2 * int(m[1]) - 2}.{0 if m[2] == 'norm' else 1}")
    for stage, block in _blocks(t):
        name, prefix = f"stage{stage}_block{block}", f"features.{2 * stage - 1}.{block - 1}"
        t.layer(f"{name}/dwconv", f"{prefix}.block.0")
        t.layer(f"{name}/norm", f"{prefix}.block.2")
        t.layer(f"{name}/fc1", f"{prefix}.block.3")
        t.layer(f"{name}/fc2", f"{prefix}.block.5")
        t.tensor(f"{name}:gamma", f"{prefix}.layer_scale", layer_scale)
    t.layer("head_norm", "classifier.0", head=True)
    t.layer("classifier", "classifier.2", head=True)


@torch_layout("convnext", "timm", twins={name: name for name in _NAMES}, ci=("convnext_tiny",))
def timm_convnext(t):
    t.layer("stem_conv", "stem.0")
    t.layer("stem_norm", "stem.1")
    for path, m in t.find(r"downsample(\d+)/(norm|conv)"):
        t.layer(path, f"stages.{int(m[1]) - 1}.downsample.{0 if m[2] == 'norm' else 1}")
    for stage, block in _blocks(t):
        name, prefix = f"stage{stage}_block{block}", f"stages.{stage - 1}.blocks.{block - 1}"
        t.layer(f"{name}/dwconv", f"{prefix}.conv_dw")
        t.layer(f"{name}/norm", f"{prefix}.norm")
        t.layer(f"{name}/fc1", f"{prefix}.mlp.fc1")
        t.layer(f"{name}/fc2", f"{prefix}.mlp.fc2")
        t.tensor(f"{name}:gamma", f"{prefix}.gamma")
    t.layer("head_norm", "head.norm", head=True)
    t.layer("classifier", "head.fc", head=True)
