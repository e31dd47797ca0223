"""The parity check against the real reference code: a torchvision / timm twin with random weights
(moved off their initial values, BatchNorm given random running statistics, so nothing is
vacuous), written to real .pth and .safetensors files and loaded through the public API."""

import os

import keras
import numpy as np

import kerasarch
from kerasarch.registry import model_entry
from kerasarch.weights.reference import build_reference, reference_logits

TOLERANCE = 1e-4  # max |diff| / max(1, max |logit|)
NUM_CLASSES = 7


def randomize(module, seed=0):
    """Every parameter and BatchNorm statistic off its initial value, deterministically."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            noise = torch.randn(p.shape, generator=gen)
            p.mul_(1 + 0.2 * noise).add_(0.02 * torch.randn(p.shape, generator=gen))
        for m in module.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.running_mean is not None:
                m.running_mean.copy_(0.2 * torch.rand(m.running_mean.shape, generator=gen) - 0.1)
                m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=gen))
                m.num_batches_tracked.fill_(100)
    return module.eval()


def parity_size(name):
    """A small input the model and its twin both take (64 pixels, or the model's minimum)."""
    contract = model_entry(name).contract.input
    return max(64, contract.min_size)


def write_checkpoints(module, directory, stem="model"):
    """The twin's state dict as a .pth (torch.save) and a .safetensors file."""
    import torch
    from safetensors.torch import save_file

    state = {k: v.detach().clone().contiguous() for k, v in module.state_dict().items()}
    pth = os.path.join(directory, f"{stem}.pth")
    torch.save(state, pth)
    st = os.path.join(directory, f"{stem}.safetensors")
    save_file(state, st)
    return pth, st


def images(size, batch=2, seed=0):
    return np.random.default_rng(seed).normal(size=(batch, size, size, 3)).astype("float32")


def relative_diff(got, want):
    return float(np.abs(np.asarray(got, np.float64) - want).max() / max(1.0, float(np.abs(want).max())))


def kerasarch_logits(model, x):
    if keras.backend.backend() == "jax":
        # One compiled call: eager JAX compiles each op on its first call, 3x slower here.
        return np.asarray(model.predict(x, batch_size=len(x), verbose=0))
    return np.asarray(keras.ops.convert_to_numpy(model(x, training=False)))


def twin_and_files(name, directory, num_classes=NUM_CLASSES, size=None, source=None, seed=0):
    """(reference module, its logits on ``images(size)``, (.pth, .safetensors) paths)."""
    import torch

    size = size or parity_size(name)
    torch.manual_seed(seed)  # the reference's own initialisation too, so a figure can be reproduced
    ref = randomize(build_reference(name, num_classes=num_classes, size=size, source=source), seed)
    x = images(size)
    return ref, x, reference_logits(ref, x), write_checkpoints(ref, directory)


def build(name, size, num_classes=NUM_CLASSES, **kwargs):
    return kerasarch.create_model(name, num_classes=num_classes, input_shape=(size, size, 3),
                                  classifier_activation=None, **kwargs)
