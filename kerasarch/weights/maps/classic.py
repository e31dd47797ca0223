"""AlexNet from torchvision (LeNet-5 has no torchvision or timm twin).

torchvision keeps the layers in two ``nn.Sequential`` containers, so the tensors are named by
position: ``features.{0,3,6,8,10}`` are the five convolutions (ReLU and max pools in between
hold nothing) and ``classifier.{1,4,6}`` the dense layers (dropout before the first two). The
first dense layer sees the adaptive-pooled 256x6x6 map flattened in PyTorch's (C, H, W) order,
so its rows are reordered for Keras's (H, W, C) flatten.
"""

from kerasarch.weights.layout import flattened_linear_kernel, torch_layout

_CONVS = {"conv1": 0, "conv2": 3, "conv3": 6, "conv4": 8, "conv5": 10}


@torch_layout("alexnet", "torchvision", twins={"alexnet": "alexnet"}, ci=("alexnet",))
def torchvision_alexnet(t):
    for name, index in _CONVS.items():
        t.layer(name, f"features.{index}")
    t.tensor("fc1:kernel", "classifier.1.weight", convert=flattened_linear_kernel(256, 6, 6), head=True)
    t.tensor("fc1:bias", "classifier.1.bias", head=True)
    t.layer("fc2", "classifier.4", head=True)
    t.layer("fc3", "classifier.6", head=True)
