"""Reading a PyTorch checkpoint into ``{name: numpy array}``, without running anything in it.

``.pth`` / ``.pt`` / ``.bin`` files are pickles: they are read with
``torch.load(weights_only=True)``, which unpickles tensors and plain containers only and refuses
any other object, so a checkpoint cannot run code. ``.safetensors`` files are read with the
``safetensors`` library, which needs no torch at all.
"""

import os

import numpy as np

__all__ = ["CheckpointError", "read_state_dict", "TORCH_SUFFIXES", "SAFETENSORS_SUFFIXES"]

TORCH_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt")
SAFETENSORS_SUFFIXES = (".safetensors",)
# Where training scripts nest the weights: torchvision's references save {"model": ...},
# timm's train.py {"state_dict": ..., "state_dict_ema": ...}, Lightning {"state_dict": ...}.
_NESTED = ("state_dict", "model", "model_state_dict", "module")


class CheckpointError(ValueError):
    """A checkpoint that cannot be read, or does not fit the model it is loaded into."""


def is_checkpoint_path(path):
    """Whether ``path`` names a PyTorch or safetensors file (by its suffix)."""
    return isinstance(path, (str, os.PathLike)) and os.fspath(path).lower().endswith(
        TORCH_SUFFIXES + SAFETENSORS_SUFFIXES)


def read_state_dict(source):
    """``{name: numpy array}`` from a checkpoint path or an in-memory state dict.

    ``source``: a ``.safetensors`` file, a ``.pth``/``.pt``/``.bin`` file, or a mapping of names
    to torch tensors or arrays (``module.state_dict()``). A training checkpoint that nests the
    weights under ``"state_dict"`` or ``"model"`` is unwrapped, and the ``module.`` prefix that
    ``DataParallel`` adds is removed.
    """
    if isinstance(source, (str, os.PathLike)):
        state = _read_file(os.fspath(source))
    elif hasattr(source, "keys"):
        state = dict(source)
    else:
        raise CheckpointError(f"A checkpoint is a .pth/.safetensors path or a state dict (a mapping of names to "
                              f"tensors), not {type(source).__name__}.")
    state = _unwrap(state)
    arrays = {}
    for key, value in state.items():
        if not isinstance(key, str):
            raise CheckpointError(f"The state dict has a non-string key {key!r}; expected parameter names.")
        arrays[key] = _to_numpy(key, value)
    if arrays and all(k.startswith("module.") for k in arrays):
        arrays = {k[len("module."):]: v for k, v in arrays.items()}
    if not arrays:
        raise CheckpointError("The checkpoint holds no tensors.")
    return arrays


def _read_file(path):
    if not os.path.isfile(path):
        raise CheckpointError(f"Checkpoint {path!r} does not exist.")
    lower = path.lower()
    if lower.endswith(SAFETENSORS_SUFFIXES):
        from safetensors import SafetensorError
        from safetensors.numpy import load_file

        try:
            return load_file(path)
        except (SafetensorError, OSError) as err:
            raise CheckpointError(f"{path!r} is not a readable .safetensors file ({err}).") from None
        except TypeError as err:  # bfloat16 has no numpy dtype: read it through torch where it exists
            return _read_safetensors_with_torch(path, err)
    if lower.endswith(TORCH_SUFFIXES):
        try:
            import torch
        except ImportError:
            raise CheckpointError(
                f"{path!r} is a PyTorch pickle; reading it needs torch (pip install 'kerasarch[torch]'), or "
                "convert it once to .safetensors, which kerasarch reads without torch.") from None
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # torch raises UnpicklingError, RuntimeError or EOFError by cause
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise CheckpointError(
                f"{path!r} could not be read with torch.load(weights_only=True): {first}. kerasarch reads only "
                "tensors (never arbitrary pickled objects); save model.state_dict() or a .safetensors file."
            ) from None
    raise CheckpointError(f"{path!r}: a checkpoint ends in {', '.join(TORCH_SUFFIXES + SAFETENSORS_SUFFIXES)}.")


def _read_safetensors_with_torch(path, err):
    try:
        from safetensors.torch import load_file
    except ImportError:
        raise CheckpointError(f"{path!r} holds tensors numpy has no dtype for ({err}); reading it needs torch "
                              "(pip install 'kerasarch[torch]').") from None
    return {k: v.float() for k, v in load_file(path).items()}


def _unwrap(state):
    for key in _NESTED:
        inner = state.get(key)
        if hasattr(inner, "keys") and not _is_tensor(inner) and any(_is_tensor(v) for v in inner.values()):
            return dict(inner)
    return state


def _is_tensor(value):
    return isinstance(value, np.ndarray) or type(value).__name__ in ("Tensor", "Parameter")


def _to_numpy(key, value):
    if type(value).__name__ in ("Tensor", "Parameter"):
        value = value.detach().cpu()
        if str(value.dtype) in ("torch.bfloat16", "torch.float16"):
            value = value.float()
        return value.numpy()
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, (int, float)):
        return np.asarray(value)
    raise CheckpointError(f"Checkpoint entry {key!r} is a {type(value).__name__}, not a tensor.")
