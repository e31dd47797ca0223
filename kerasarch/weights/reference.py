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


def load_reference(name, checkpoint, source, num_classes, size=None):
    """The twin with ``checkpoint``'s weights, loaded strictly (every tensor, as PyTorch checks it)."""
    import torch

    from kerasarch.weights.checkpoint import read_state_dict

    module = build_reference(name, num_classes=num_classes, size=size, source=source)
    state = {k: torch.from_numpy(v.copy()) for k, v in read_state_dict(checkpoint).items()}
    module.load_state_dict(state, strict=True)
    return module.eval()


def reference_logits_in_subprocess(name, checkpoint, source, num_classes, images, size=None, timeout=600):
    """:func:`reference_logits` of the loaded twin, computed in a fresh process on the torch backend,
    so that it never shares a process with TensorFlow (see the module docstring)."""
    import os
    import subprocess
    import sys
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        x_path, y_path = os.path.join(tmp, "x.npy"), os.path.join(tmp, "y.npy")
        np.save(x_path, images)
        args = [sys.executable, "-m", "kerasarch.weights.reference", name, os.path.abspath(os.fspath(checkpoint)),
                source, str(num_classes), x_path, y_path, str(size or 0)]
        env = dict(os.environ, KERAS_BACKEND="torch", TF_CPP_MIN_LOG_LEVEL="3")
        done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=timeout)
        if done.returncode != 0:
            tail = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit status {done.returncode}"
            raise RuntimeError(f"the {source} reference of {name} could not run on the checkpoint: {tail}")
        return np.load(y_path)


def _main(argv):
    name, checkpoint, source, num_classes, x_path, y_path, size = argv
    module = load_reference(name, checkpoint, source, int(num_classes), int(size) or None)
    np.save(y_path, reference_logits(module, np.load(x_path)))


if __name__ == "__main__":
    import sys

    _main(sys.argv[1:])
