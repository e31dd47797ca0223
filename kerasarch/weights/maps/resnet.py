"""ResNet, ResNeXt and Wide ResNet from torchvision and timm (the CIFAR nets have no twin)."""

from kerasarch.weights.layout import torch_layout

_IMAGENET = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "resnext50_32x4d",
             "resnext101_32x8d", "resnext101_64x4d", "wide_resnet50_2", "wide_resnet101_2")


@torch_layout("resnet", "torchvision", twins={name: name for name in _IMAGENET}, ci=("resnet18", "resnext50_32x4d"))
def torchvision_resnet(t):
    t.layer("stem/conv", "conv1")
    t.layer("stem/bn", "bn1")
    for path, m in t.find(r"stage(\d+)_block(\d+)/(conv\d|downsample)/(conv|bn)"):
        stage, block, unit, part = int(m[1]), int(m[2]), m[3], m[4]
        prefix = f"layer{stage}.{block - 1}"
        if unit == "downsample":
            t.layer(path, f"{prefix}.downsample.{0 if part == 'conv' else 1}")
        else:
            t.layer(path, f"{prefix}.{'conv' if part == 'conv' else 'bn'}{unit[-1]}")
    t.layer("fc", "fc", head=True)


# timm's ResNets keep torchvision's module names (and its v1.5 stride on the 3x3 convolution), so one
# map serves both; timm's checkpoints are the newer recipes (a1_in1k, tv2_in1k, ...).
torch_layout("resnet", "timm", twins={name: name for name in _IMAGENET}, ci=())(torchvision_resnet)
