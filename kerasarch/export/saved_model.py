"""SavedModel export in the folder layout TensorFlow Serving loads: ``base/<name>/<version>/``."""

import os
import re

from kerasarch._atomic import atomic_path

__all__ = ["export_saved_model", "next_version"]


def next_version(model_dir):
    """The next free version number under ``model_dir`` (1 when there is none)."""
    if not os.path.isdir(model_dir):
        return 1
    versions = [int(n) for n in os.listdir(model_dir) if re.fullmatch(r"\d+", n)]
    return max(versions, default=0) + 1


def export_saved_model(model, base_dir, *, version=None, overwrite=False, verbose=False):
    """Write ``model`` as a SavedModel to ``base_dir/<model.name>/<version>/`` and return that path.

    ``version`` defaults to the next free number; an existing version is replaced only with
    ``overwrite=True``. The export is written to a temporary folder beside the target and
    renamed at the end, so a failure leaves nothing at the target path.
    """
    import keras

    base_dir = os.fspath(base_dir)
    if os.path.isfile(base_dir):
        raise ValueError(f"{base_dir!r} is a file; export_saved_model needs a folder (it is created if missing).")
    model_dir = os.path.join(base_dir, model.name)
    if version is None:
        version = next_version(model_dir)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ValueError(f"version must be a positive integer (TF Serving's numbered folders), got {version!r}.")
    target = os.path.join(model_dir, str(version))
    if os.path.exists(target) and not overwrite:
        raise ValueError(
            f"{target} already exists; TF Serving would serve the old or the new model without "
            f"saying which. Pass version={next_version(model_dir)} (the next free one) or overwrite=True."
        )
    if keras.backend.backend() != "tensorflow":
        raise ValueError("SavedModel export runs on the TensorFlow backend; set KERAS_BACKEND=tensorflow.")
    with atomic_path(target, is_dir=True, overwrite=True) as tmp:
        model.export(tmp, format="tf_saved_model", verbose=verbose)
    return target
