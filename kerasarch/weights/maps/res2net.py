"""Res2Net-50 26w x 4s from timm (torchvision has no Res2Net).

timm builds Res2Net on its ResNet class: the stem is ``conv1``/``bn1``, blocks are
``layer{stage}.{index}``. A block's split 3x3 convolutions and their BatchNorms are two
``ModuleList``s (``convs.{i}``, ``bns.{i}``) where kerasarch has one conv-BN unit per split
(``convs_{i}``); the shortcut is ``downsample.0`` (conv) and ``downsample.1`` (BN). The
first block of each stage average-pools its last split, which has no weights.
"""

from kerasarch.weights.layout import torch_layout


@torch_layout("res2net", "timm", twins={"res2net50_26w_4s": "res2net50_26w_4s"}, ci=("res2net50_26w_4s",))
def timm_res2net(t):
    t.layer("stem/conv", "conv1")
    t.layer("stem/bn", "bn1")
    for path, m in t.find(r"stage(\d+)_block(\d+)/(conv1|conv3|convs_\d+|downsample)/(conv|bn)"):
        prefix = f"layer{m[1]}.{int(m[2]) - 1}"
        unit, part = m[3], m[4]
        if unit == "downsample":
            t.layer(path, f"{prefix}.downsample.{0 if part == 'conv' else 1}")
        elif unit.startswith("convs_"):
            t.layer(path, f"{prefix}.{'convs' if part == 'conv' else 'bns'}.{unit[len('convs_'):]}")
        else:
            t.layer(path, f"{prefix}.{'conv' if part == 'conv' else 'bn'}{unit[-1]}")
    t.layer("fc", "fc", head=True)
