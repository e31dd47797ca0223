"""One backend's half of tests/test_backends.py, run in a subprocess (Keras fixes its backend per
process): ``KERAS_BACKEND=jax python tests/backend_files.py save DIR NAME...`` builds each model
with a fixed seed and writes ``DIR/<backend>/<name>.keras`` with its inputs and inference outputs;
``... load DIR NAME...`` loads every other backend's files and writes the outputs it gets from them
to ``DIR/<backend>/from_<saver>/<name>.npy``. The comparison is the test's, in the parent process."""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import kerasarch  # noqa: E402
from kerasarch.registry import model_entry  # noqa: E402

BACKENDS = ("tensorflow", "jax", "torch")
NUM_CLASSES = 7


def _np(tensor):
    return np.asarray(keras.ops.convert_to_numpy(tensor))


def save(root, names):
    out = os.path.join(root, keras.backend.backend())
    os.makedirs(out, exist_ok=True)
    for name in names:
        keras.utils.set_random_seed(0)
        model = kerasarch.create_model(name, num_classes=NUM_CLASSES, classifier_activation=None,
                                       input_shape=model_entry(name).contract.input.tiny_shape(None))
        x = model.contract.sample_inputs(batch=2)
        # BatchNorm's moving statistics off their initial 0 and 1 in every layer, so the loaded
        # outputs depend on each being read back (set, not trained: a training-mode pass would
        # compile every op a second time on JAX).
        rng = np.random.default_rng(0)
        for v in model.non_trainable_variables:
            if v.path.endswith("moving_mean"):
                v.assign(rng.normal(0.0, 0.1, v.shape).astype(v.dtype))
            elif v.path.endswith("moving_variance"):
                v.assign(rng.uniform(0.5, 1.5, v.shape).astype(v.dtype))
        np.save(os.path.join(out, f"{name}_x.npy"), x)
        np.save(os.path.join(out, f"{name}_y.npy"), _np(model(x, training=False)))
        model.save(os.path.join(out, f"{name}.keras"))
        with open(os.path.join(out, f"{name}.json"), "w") as f:
            json.dump({"class": type(model).__name__, "contract": model.contract.to_json()}, f)


def load(root, names):
    backend = keras.backend.backend()
    for saver in BACKENDS:
        if saver == backend:
            continue
        out = os.path.join(root, backend, f"from_{saver}")
        os.makedirs(out, exist_ok=True)
        for name in names:
            model = keras.saving.load_model(os.path.join(root, saver, f"{name}.keras"))
            x = np.load(os.path.join(root, saver, f"{name}_x.npy"))
            np.save(os.path.join(out, f"{name}.npy"), _np(model(x, training=False)))
            with open(os.path.join(out, f"{name}.json"), "w") as f:
                json.dump({"class": type(model).__name__, "contract": model.contract.to_json()}, f)
    # Loading another backend's files must not pull TensorFlow into a JAX or torch process.
    with open(os.path.join(root, backend, "modules.json"), "w") as f:
        json.dump({"tensorflow": "tensorflow" in sys.modules}, f)


if __name__ == "__main__":
    if keras.backend.backend() == "torch":
        import torch

        # The three backends' processes share the machine with pytest's workers; torch's OpenMP
        # pool spins on every core otherwise (see tests/conftest.py).
        torch.set_num_threads(1)
    command, root, *model_names = sys.argv[1:]
    {"save": save, "load": load}[command](root, model_names)
