"""GoogLeNet and Inception-v3 from torchvision, Inception-v3 from timm.

Every convolution is a conv + BatchNorm unit in both libraries (``X.conv``, ``X.bn``). Inception-v3's
Keras layer paths are torchvision's module names (``Mixed_6b/branch7x7_2`` is
``Mixed_6b.branch7x7_2``), and timm's Inception-v3 uses the same names. GoogLeNet's modules hold
their branches in ``nn.Sequential``s, so a reduce-then-convolve branch is ``branchN.0`` /
``branchN.1`` and the pool branch's convolution ``branch4.1``. torchvision's checkpoints carry
the auxiliary classifiers (GoogLeNet's ``aux1``/``aux2``, Inception-v3's ``AuxLogits``): they load
into a model built with ``aux_logits=True`` and are left out otherwise. GoogLeNet's auxiliary
``fc1`` sees a 128x4x4 map flattened in PyTorch's (C, H, W) order, so its rows are reordered.
"""

from kerasarch.weights.layout import flattened_linear_kernel, torch_layout

_NO_AUX = "an auxiliary classifier (build the model with aux_logits=True to load it)"
_GOOGLENET_BRANCHES = {"branch1": "branch1", "branch2_reduce": "branch2.0", "branch2": "branch2.1",
                       "branch3_reduce": "branch3.0", "branch3": "branch3.1", "branch4": "branch4.1"}


def _googlenet(t):
    for path, m in t.find(r"(conv\d)/(conv|bn)"):
        t.layer(path, f"{m[1]}.{m[2]}")
    for path, m in t.find(r"(inception\d[a-e])/(branch\w+)/(conv|bn)"):
        t.layer(path, f"{m[1]}.{_GOOGLENET_BRANCHES[m[2]]}.{m[3]}")
    if not t.has("aux1/fc"):
        t.ignore(r"aux[12]\..+", _NO_AUX)
    else:
        for aux in ("aux1", "aux2"):
            t.layer(f"{aux}/conv0/conv", f"{aux}.conv.conv")
            t.layer(f"{aux}/conv0/bn", f"{aux}.conv.bn")
            t.tensor(f"{aux}/fc1:kernel", f"{aux}.fc1.weight", convert=flattened_linear_kernel(128, 4, 4))
            t.tensor(f"{aux}/fc1:bias", f"{aux}.fc1.bias")
            t.layer(f"{aux}/fc", f"{aux}.fc2", head=True)
    t.layer("fc", "fc", head=True)


def _inception_v3(t):
    for path, _ in t.find(r"(Conv2d_\w+|Mixed_\w+/\w+|AuxLogits/conv\d)/(conv|bn)"):
        t.layer(path, path.replace("/", "."))
    if t.has("AuxLogits/fc"):
        t.layer("AuxLogits/fc", "AuxLogits.fc", head=True)
    else:
        t.ignore(r"AuxLogits\..+", _NO_AUX)
    t.layer("fc", "fc", head=True)


_TV_KWARGS = {"aux_logits": True, "init_weights": False, "transform_input": False}


@torch_layout("inception", "torchvision", ci=("googlenet", "inception_v3"),
              twins={"googlenet": ("googlenet", _TV_KWARGS), "inception_v3": ("inception_v3", _TV_KWARGS)})
def torchvision_inception(t):
    (_googlenet if t.variant == "googlenet" else _inception_v3)(t)


# timm's model returns (logits, aux) from forward whenever it has the auxiliary head, and that head
# needs a 299-pixel input: the twin is built without it (only timm's tv_in1k weights have it).
# The same tensor names as torchvision's: CI checks the map there (ci=()); make test-all checks timm's twin.
@torch_layout("inception", "timm", twins={"inception_v3": "inception_v3"}, ci=())
def timm_inception(t):
    _inception_v3(t)
