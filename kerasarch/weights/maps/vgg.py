"""VGG-11/13/16/19, with and without BatchNorm, from torchvision.

torchvision's ``features`` is one ``nn.Sequential`` of conv, [BatchNorm,] ReLU per convolution
and a max pool per block, so a layer's index is its position in that flat list: the map walks
the model's own ``conv_arch`` to count it. ``classifier.{0,3,6}`` are the dense layers; the
first sees the 512x7x7 adaptive-pooled map flattened in PyTorch's (C, H, W) order, so its rows
are reordered for Keras's (H, W, C) flatten.

timm's VGGs are not mapped: their ``pre_logits`` is a 7x7 then a 1x1 convolution followed by
global pooling, which equals the dense head only when the last map is at most 7x7 (inputs up
to 224); a larger input slides the 7x7 convolution over the map and averages after the ReLUs,
where torchvision (and kerasarch) pool to 7x7 first.

CI checks vgg11_bn here and vgg11 (the index count without BatchNorm) at two input sizes in
tests/test_torch_weights_classic.py: each VGG twin is 129M parameters, mostly the first dense layer.
"""

from kerasarch.weights.layout import flattened_linear_kernel, torch_layout

_NAMES = tuple(f"vgg{depth}{bn}" for bn in ("", "_bn") for depth in (11, 13, 16, 19))


@torch_layout("vgg", "torchvision", twins={name: name for name in _NAMES}, ci=("vgg11_bn",))
def torchvision_vgg(t):
    batch_norm = t.variant.endswith("_bn")
    divisor = t.arch.get("width_divisor", 1)
    index = 0
    channels = 512
    for block, (num_convs, channels) in enumerate(t.arch["conv_arch"], start=1):
        for conv in range(1, num_convs + 1):
            t.layer(f"block{block}/conv{conv}", f"features.{index}")
            if batch_norm:
                t.layer(f"block{block}/bn{conv}", f"features.{index + 1}")
            index += 3 if batch_norm else 2
        index += 1  # the block's max pool
    t.tensor("fc1:kernel", "classifier.0.weight", head=True,
             convert=flattened_linear_kernel(channels // divisor, 7, 7))
    t.tensor("fc1:bias", "classifier.0.bias", head=True)
    t.layer("fc2", "classifier.3", head=True)
    t.layer("fc3", "classifier.6", head=True)
