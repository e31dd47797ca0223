"""The torchvision / timm twin of a kerasarch variant, built in PyTorch (for parity checks).

Used by the tests and by ``kerasarch convert``'s parity report; needs torch and torchvision
(and timm for timm's twins). Import torch before TensorFlow in a process that uses both:
torchvision loads triton, whose LLVM crashes beside TensorFlow's when it comes second.
"""

import numpy as np

from kerasarch.weights.layout import twins

__all__ = ["build_reference", "reference_logits"]


def build_reference(name, num_classes=1000, size=None, source=None):
    """The twin of kerasarch model ``name`` (``source``'s, default the first registered), in
    eval mode with default initial weights. ``size``: the input side, for a twin that fixes it."""
    options = twins(source).get(name)
    if not options:
        raise ValueError(f"{name} has no {source or 'torchvision or timm'} twin; those that do: "
                         f"{', '.join(twins(source))}.")
    twin = options[0]
    kwargs = dict(twin.kwargs, num_classes=num_classes)
    if twin.sized and size is not None:
        kwargs[twin.sized] = size
    if twin.source == "torchvision":
        import torchvision

        module = torchvision.models.get_model(twin.name, **kwargs)
    else:
        import timm

        module = timm.create_model(twin.name, pretrained=False, **kwargs)
    return module.eval()


def reference_logits(module, images):
    """The reference's outputs for NHWC float ``images`` (the layout kerasarch takes)."""
    import torch

    with torch.no_grad():
        out = module(torch.from_numpy(np.ascontiguousarray(np.transpose(images, (0, 3, 1, 2)))))
    return out.numpy()
