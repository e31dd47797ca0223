"""The checkpoints torchvision publishes for kerasarch's variants, and how each expects its input.

A user who has ``resnet50-11ad3fa6.pth`` gets a model that knows it: ``load_torch_weights``
records the checkpoint's preprocessing (resize, centre crop, interpolation, mean/std) and its
ImageNet class names on the model (``model.arch``), so a ``.keras`` file, a uint8 SavedModel or
ONNX export, and ``kerasarch predict`` all do the right thing with no further arguments.
``tests/test_known_checkpoints.py`` checks every row against torchvision's own weight enums.

A timm checkpoint is known by the ``config.json`` that the Hugging Face hub keeps beside its
``model.safetensors`` (timm's ``pretrained_cfg``), not by its file name, which is always the same.
"""

import dataclasses
import functools
import json
import os

from kerasarch.preprocessing import IMAGENET_MEAN, IMAGENET_STD, Preprocessing
from kerasarch.weights.checkpoint import CheckpointError

__all__ = ["Checkpoint", "TORCHVISION", "identify", "imagenet_classes"]

# file, kerasarch model, torchvision weights tag, crop, resize (shorter side), interpolation[, mean, std]
_TORCHVISION_ROWS = (
    ('alexnet-owt-7be5be79.pth', 'alexnet', 'IMAGENET1K_V1', 224, 256, 'bilinear'),
    ('convnext_base-6075fbad.pth', 'convnext_base', 'IMAGENET1K_V1', 224, 232, 'bilinear'),
    ('convnext_large-ea097f82.pth', 'convnext_large', 'IMAGENET1K_V1', 224, 232, 'bilinear'),
    ('convnext_small-0c510722.pth', 'convnext_small', 'IMAGENET1K_V1', 224, 230, 'bilinear'),
    ('convnext_tiny-983f1562.pth', 'convnext_tiny', 'IMAGENET1K_V1', 224, 236, 'bilinear'),
    ('densenet121-a639ec97.pth', 'densenet121', 'IMAGENET1K_V1', 224, 256, 'bilinear'),
    ('densenet161-8d451a50.pth', 'densenet161', 'IMAGENET1K_V1', 224, 256, 'bilinear'),
    ('densenet169-b2777c0a.pth', 'densenet169', 'IMAGENET1K_V1', 224, 256, 'bilinear'),
    ('densenet201-c1103571.pth', 'densenet201', 'IMAGENET1K_V1', 224, 256, 'bilinear'),
    ('efficientnet_b0_rwightman-7f5810bc.pth', 'efficientnet_b0', 'IMAGENET1K_V1', 224, 256, 'bicubic'),
    ('efficientnet_b1_rwightman-bac287d4.pth', 'efficientnet_b1', 'IMAGENET1K_V1', 240, 256, 'bicubic'),
    ('efficientnet_b1-c27df63c.pth', 'efficientnet_b1', 'IMAGENET1K_V2', 240, 255, 'bilinear'),
    ('efficientnet_b2_rwightman-c35c1473.pth', 'efficientnet_b2', 'IMAGENET1K_V1', 288, 288, 'bicubic'),
    ('efficientnet_b3_rwightman-b3899882.pth', 'efficientnet_b3', 'IMAGENET1K_V1', 300, 320, 'bicubic'),
    ('efficientnet_b4_rwightman-23ab8bcd.pth', 'efficientnet_b4', 'IMAGENET1K_V1', 380, 384, 'bicubic'),
    ('efficientnet_b5_lukemelas-1a07897c.pth', 'efficientnet_b5', 'IMAGENET1K_V1', 456, 456, 'bicubic'),
    ('efficientnet_b6_lukemelas-24a108a5.pth', 'efficientnet_b6', 'IMAGENET1K_V1', 528, 528, 'bicubic'),
    ('efficientnet_b7_lukemelas-c5b4e57e.pth', 'efficientnet_b7', 'IMAGENET1K_V1', 600, 600, 'bicubic'),
    ('efficientnet_v2_l-59c71312.pth', 'efficientnet_v2_l', 'IMAGENET1K_V1', 480, 480, 'bicubic', (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
    ('efficientnet_v2_m-dc08266a.pth', 'efficientnet_v2_m', 'IMAGENET1K_V1', 480, 480, 'bilinear'),
    ('efficientnet_v2_s-dd5fe13b.pth', 'efficientnet_v2_s', 'IMAGENET1K_V1', 384, 384, 'bilinear'),
    ('googlenet-1378be20.pth', 'googlenet', 'IMAGENET1K_V1', 224, 256, 'bilinear'),
    ('inception_v3_google-0cc3c7bd.pth', 'inception_v3', 'IMAGENET1K_V1', 299, 342, 'bilinear'),
    ('mobilenet_v2-b0353104.pth', 'mobilenet_v2', 'IMAGENET1K_V1', 224, 256, 'bilinear'),
    ('mobilenet_v2-7ebf99e0.pth', 'mobilenet_v2', 'IMAGENET1K_V2', 224, 232, 'bilinear'),
    ('mobilenet_v3_large-8738ca79.pth', 'mobilenet_v3_large', 'IMAGENET1K_V1', 224, 256, 'bilinear'),
    ('mobilenet_v3_large-5c1a4163.pth', 'mobilenet_v3_large', 'IMAGENET1K_V2', 224, 232, 'bilinear'),
    ('mobilenet_v3_small-047dcff4.pth', 'mobilenet_v3_small', 'IMAGENET1K_V1', 224, 256, 'bilinear'),
    ('resnet18-f37072fd.pth', 'resnet18', 'IMAGENET1K_V1', 224, 256, 'bilinear'),
    ('resnet34-b627a593.pth', 'resnet34', 'IMAGENET1K_V1', 224, 256, 'bilinear'),
    ('resnet50-0676ba61.pth', 'resnet50', 'IMAGENET1K_V1', 224, 256, 'bilinear'),
    ('resnet50-11ad3fa6.pth', 'resnet50', 'IMAGENET1K_V2', 224, 232, 'bilinear'),
    ('resnet101-63fe2227.pth', 'resnet101', 'IMAGENET1K_V1', 224, 256, 'bilinear'),
    ('resnet101-cd907fc2.pth', 'resnet101', 'IMAGENET1K_V2', 224, 232, 'bilinear'),
    ('resnet152-394f9c45.pth', 'resnet152', 'IMAGENET1K_V1', 224, 256, 'bilinear'),
    ('resnet152-f82ba261.pth', 'resnet152', 'IMAGENET1K_V2', 224, 232, 'bilinear'),
    ('resnext50_32x4d-7cdf4587.pth', 'resnext50_32x4d', 'IMAGENET1K_V1', 224, 256, 'bilinear'),
    ('resnext50_32x4d-1a0047aa.pth', 'resnext50_32x4d', 'IMAGENET1K_V2', 224, 232, 'bilinear'),
    ('resnext101_32x8d-8ba56ff5.pth', 'resnext101_32x8d', 'IMAGENET1K_V1', 224, 256, 'bilinear'),
    ('resnext101_32x8d-110c445d.pth', 'resnext101_32x8d', 'IMAGENET1K_V2', 224, 232, 'bilinear'),
    ('resnext101_64x4d-173b62eb.pth', 'resnext101_64x4d', 'IMAGENET1K_V1', 224, 232, 'bilinear'),
    ('vgg11-8a719046.pth', 'vgg11', 'IMAGENET1K_V1', 224, 256, 'bilinear'),
    ('vgg11_bn-6002323d.pth', 'vgg11_bn', 'IMAGENET1K_V1', 224, 256, 'bilinear'),
    ('vgg13-19584684.pth', 'vgg13', 'IMAGENET1K_V1', 224, 256, 'bilinear'),
    ('vgg13_bn-abd245e5.pth', 'vgg13_bn', 'IMAGENET1K_V1', 224, 256, 'bilinear'),
    ('vgg16-397923af.pth', 'vgg16', 'IMAGENET1K_V1', 224, 256, 'bilinear'),
    ('vgg16_bn-6c64b313.pth', 'vgg16_bn', 'IMAGENET1K_V1', 224, 256, 'bilinear'),
    ('vgg19-dcbb9e9d.pth', 'vgg19', 'IMAGENET1K_V1', 224, 256, 'bilinear'),
    ('vgg19_bn-c79401a0.pth', 'vgg19_bn', 'IMAGENET1K_V1', 224, 256, 'bilinear'),
    ('vit_b_16-c867db91.pth', 'vit_b16', 'IMAGENET1K_V1', 224, 256, 'bilinear'),
    ('vit_b_16_swag-9ac1b537.pth', 'vit_b16', 'IMAGENET1K_SWAG_E2E_V1', 384, 384, 'bicubic'),
    ('vit_b_16_lc_swag-4e70ced5.pth', 'vit_b16', 'IMAGENET1K_SWAG_LINEAR_V1', 224, 224, 'bicubic'),
    ('vit_b_32-d86f8d99.pth', 'vit_b32', 'IMAGENET1K_V1', 224, 256, 'bilinear'),
    ('vit_l_16-852ce7e3.pth', 'vit_l16', 'IMAGENET1K_V1', 224, 242, 'bilinear'),
    ('vit_l_16_swag-4f3808c9.pth', 'vit_l16', 'IMAGENET1K_SWAG_E2E_V1', 512, 512, 'bicubic'),
    ('vit_l_16_lc_swag-4d563306.pth', 'vit_l16', 'IMAGENET1K_SWAG_LINEAR_V1', 224, 224, 'bicubic'),
    ('vit_l_32-c7638314.pth', 'vit_l32', 'IMAGENET1K_V1', 224, 256, 'bilinear'),
    ('wide_resnet50_2-95faca4d.pth', 'wide_resnet50_2', 'IMAGENET1K_V1', 224, 256, 'bilinear'),
    ('wide_resnet50_2-9ba9bcbe.pth', 'wide_resnet50_2', 'IMAGENET1K_V2', 224, 232, 'bilinear'),
    ('wide_resnet101_2-32ee1156.pth', 'wide_resnet101_2', 'IMAGENET1K_V1', 224, 256, 'bilinear'),
    ('wide_resnet101_2-d733dc28.pth', 'wide_resnet101_2', 'IMAGENET1K_V2', 224, 232, 'bilinear'),
)

# GoogLeNet's and Inception-v3's checkpoints were ported from Google's, which take (x - 0.5) / 0.5:
# torchvision's transform_input=True (on whenever it loads them) turns the ImageNet-normalised
# input into that. The kerasarch model has no such step, so the recorded preprocessing is 0.5 / 0.5.
_GOOGLE_INPUT = {"googlenet-1378be20.pth", "inception_v3_google-0cc3c7bd.pth"}


@dataclasses.dataclass(frozen=True)
class Checkpoint:
    """A published checkpoint: which kerasarch model it fits, and its preprocessing."""

    file: str
    model: str
    source: str
    tag: str
    preprocessing: Preprocessing
    num_classes: int = 1000
    class_names: tuple = None

    def describe(self):
        p = self.preprocessing
        return (f"{self.source} {self.model} {self.tag} ({self.file}): resize {p.resize}, crop {p.crop}, "
                f"{p.interpolation}, mean {p.mean}, std {p.std}")


def _torchvision(row):
    file, model, tag, crop, resize, interpolation, *norm = row
    mean, std = norm if norm else (IMAGENET_MEAN, IMAGENET_STD)
    if file in _GOOGLE_INPUT:
        mean = std = (0.5, 0.5, 0.5)
    preprocessing = Preprocessing(mean=mean, std=std, resize=resize, crop=crop, interpolation=interpolation)
    return Checkpoint(file, model, "torchvision", tag, preprocessing, class_names=imagenet_classes())


@functools.lru_cache(maxsize=1)
def imagenet_classes():
    """The 1,000 ImageNet-1k class names in the order of the classifiers' outputs."""
    with open(os.path.join(os.path.dirname(__file__), "imagenet_classes.txt")) as f:
        return tuple(line.rstrip("\n") for line in f)


@functools.lru_cache(maxsize=1)
def _table():
    return {row[0]: _torchvision(row) for row in _TORCHVISION_ROWS}


def torchvision_checkpoints():
    """``{file name: Checkpoint}`` for every torchvision checkpoint of a kerasarch variant."""
    return dict(_table())


def identify(checkpoint):
    """The :class:`Checkpoint` a path is, by its torchvision file name or the timm ``config.json``
    beside it; ``None`` for a state dict or a file kerasarch does not know."""
    if not isinstance(checkpoint, (str, os.PathLike)):
        return None
    path = os.fspath(checkpoint)
    known = _table().get(os.path.basename(path))
    if known is not None:
        return known
    return _timm_config(path)


def _timm_config(path):
    config_path = os.path.join(os.path.dirname(os.path.abspath(path)), "config.json")
    if not os.path.isfile(config_path):
        return None
    try:
        with open(config_path) as f:
            config = json.load(f)
    except (OSError, ValueError):
        return None
    cfg = config.get("pretrained_cfg") if isinstance(config, dict) else None
    if not isinstance(cfg, dict) or "architecture" not in config:
        return None
    from kerasarch.weights.layout import twins

    arch = config["architecture"]
    model = next((name for name, refs in twins("timm").items() if any(t.name == arch for t in refs)), None)
    if model is None:
        return None
    size = int(cfg.get("input_size", (3, 224, 224))[-1])
    crop_pct = float(cfg.get("crop_pct", 0.875))
    mode = cfg.get("crop_mode", "center")
    preprocessing = Preprocessing(mean=cfg.get("mean", IMAGENET_MEAN), std=cfg.get("std", IMAGENET_STD),
                                  resize=int(size / crop_pct) if mode == "center" else size, crop=size,
                                  interpolation=cfg.get("interpolation", "bicubic"))
    num_classes = int(config.get("num_classes", cfg.get("num_classes", 1000)))
    names = config.get("label_names") or (imagenet_classes() if num_classes == 1000 else None)
    tag = cfg.get("tag") or config.get("pretrained_cfg", {}).get("hf_hub_id", "")
    return Checkpoint(os.path.basename(path), model, "timm", f"{arch}.{tag}" if tag else arch, preprocessing,
                      num_classes, tuple(names) if names else None)


def check_fits(model, info):
    """A known checkpoint loads only into its own architecture (the message says which)."""
    variant = (getattr(model, "arch", None) or {}).get("variant")
    if variant != info.model:
        raise CheckpointError(f"{model.name}: {info.file} is the {info.source} checkpoint of {info.model} "
                              f"({info.tag}), not of {variant}; build kerasarch.create_model({info.model!r}, ...).")


def annotate(model, info):
    """Record on the model what its weights expect: preprocessing, class names, provenance."""
    model.arch["weights"] = {"source": info.source, "file": info.file, "tag": info.tag}
    model.arch["preprocessing"] = info.preprocessing.to_json()
    num_classes = model.arch.get("num_classes")
    if info.class_names and num_classes == len(info.class_names):
        model.arch["class_names"] = list(info.class_names)
