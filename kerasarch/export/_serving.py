"""What SavedModel and ONNX exports share: the serving function, its float32 model, the
uint8 preprocessing, the parity check and the quiet tracing.

The serving function takes a batch of images named ``images`` and returns a dict of float32
outputs named for what they are:

* a classifier ending in softmax (kerasarch's default head): ``probabilities`` and the
  ``logits`` that feed the softmax;
* a classifier ending in a linear Dense (``classifier_activation=None``): ``logits`` and
  ``probabilities`` (their softmax);
* anything else (``include_top=False``, features, a user's model): ``outputs`` (or
  ``output_0``, ``output_1``, ... for several).

With ``uint8=True`` the images are raw pixels of any height and width; the graph casts them,
applies the :class:`Preprocessing` (rescale, then optional mean/std) and resizes them
bilinearly to the model's input size, exactly as ``kerasarch.data.make_dataset`` prepares
training images.
"""

import contextlib
import dataclasses
import json
import os
import sys
import tempfile

import numpy as np

__all__ = ["ExportError", "ExportedPath", "Preprocessing", "ServingModel"]

MIXED_POLICIES = ("mixed_bfloat16", "mixed_float16", "bfloat16", "float16")


class ExportError(RuntimeError):
    """An export that could not produce an artifact equal to the Keras model; nothing was written."""


class ExportedPath(str):
    """The path of a written export (a ``str``) that also carries what its check measured.

    ``parity``: ``{"max_diff", "checked_images", "max_diff_vs_trained"?}`` (empty when the
    check was skipped); ``outputs``: the output names; ``input_dtype``: "float32" or "uint8".
    """

    def __new__(cls, path, parity, serving):
        self = super().__new__(cls, path)
        self.parity = dict(parity)
        self.outputs = list(serving.output_names)
        self.input_dtype = "uint8" if serving.uint8 else "float32"
        return self


@dataclasses.dataclass(frozen=True)
class Preprocessing:
    """The pixel preprocessing baked into a ``uint8`` serving graph (and used by ``kerasarch predict``).

    ``pixels * rescale``, then ``(x - mean) / std`` per channel when given, then a bilinear
    resize to the model's input size. The default is kerasarch's training pipeline (``[0, 1]``
    pixels); an ImageNet-normalised model would use ``mean=(0.485, 0.456, 0.406)``,
    ``std=(0.229, 0.224, 0.225)``.
    """

    rescale: float = 1 / 255.0
    mean: tuple = None
    std: tuple = None

    def __post_init__(self):
        for name in ("mean", "std"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, tuple(float(v) for v in np.atleast_1d(value)))
        if (self.mean is None) != (self.std is None):
            raise ValueError("Preprocessing needs both mean and std, or neither.")
        if self.std is not None and any(s <= 0 for s in self.std):
            raise ValueError(f"Preprocessing std must be positive, got {self.std}.")

    def to_json(self):
        return {"rescale": self.rescale, "mean": self.mean, "std": self.std}

    @classmethod
    def from_json(cls, data):
        return cls(**data) if data else cls()

    def apply(self, images, size):
        """Float32 model input from a uint8 (or float 0-255) batch, as a TensorFlow tensor."""
        import tensorflow as tf

        x = tf.cast(images, tf.float32) * self.rescale
        if self.mean is not None:
            x = (x - tf.constant(self.mean, tf.float32)) / tf.constant(self.std, tf.float32)
        return tf.image.resize(x, size, method="bilinear")


def float32_model(model):
    """``model`` itself when it computes in float32, else a float32 twin with the same weights.

    A model trained under ``mixed_bfloat16``/``mixed_float16`` keeps float32 variables; its
    twin is rebuilt from the config with every dtype policy set to float32, so the exported
    graph needs no bfloat16 kernels (which ONNX runtimes and many serving CPUs lack).
    """
    import keras

    config = keras.saving.serialize_keras_object(model)
    float32_config = _float32_config(config)
    if float32_config == config:
        return model
    twin = keras.saving.deserialize_keras_object(float32_config)
    twin.set_weights(model.get_weights())
    return twin


def _float32_config(node):
    if isinstance(node, dict):
        if node.get("class_name") == "DTypePolicy" and node.get("config", {}).get("name") in MIXED_POLICIES:
            return {**node, "config": {**node["config"], "name": "float32"}}
        return {k: _float32_config(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_float32_config(v) for v in node]
    if isinstance(node, str) and node in MIXED_POLICIES:
        return "float32"
    return node


class ServingModel:
    """The model as a serving system sees it: one named image input, named float32 outputs.

    Args:
        model: a built Keras model with one image input ``(batch, H, W, C)``.
        uint8: accept raw ``uint8`` pixels of any size and preprocess inside the graph.
        preprocessing: a :class:`Preprocessing` (default: rescale by 1/255).
        dtype: ``"float32"`` (default) exports a float32 twin of a mixed-precision model;
            ``None`` keeps the model's policy (outputs are still cast to float32).
    """

    def __init__(self, model, *, uint8=False, preprocessing=None, dtype="float32"):
        import keras

        if not isinstance(model, keras.Model):
            raise TypeError(f"export needs a keras.Model, got {type(model).__name__}.")
        if not model.built or not getattr(model, "inputs", None):
            raise ValueError(
                f"{model.name} has no input shape yet (a subclassed model that was never called); "
                "call it once on a batch or build it with model.build((None, H, W, C)) before exporting.")
        if len(model.inputs) != 1:
            raise ValueError(f"{model.name} has {len(model.inputs)} inputs; export serves one image input.")
        shape = tuple(model.inputs[0].shape)
        if len(shape) != 4:
            raise ValueError(
                f"{model.name}'s input has shape {shape}; serving expects images (batch, height, width, channels).")
        if shape[-1] is None:
            raise ValueError(f"{model.name}'s input has an unknown channel count {shape}; it cannot be served. "
                             "Rebuild it with a fixed input_shape, e.g. (224, 224, 3).")
        if uint8 and None in shape[1:3]:
            raise ValueError(
                f"{model.name}'s input size {shape[1:3]} is not fixed, so a uint8 graph cannot know what to "
                "resize images to; rebuild it with a fixed input_shape, e.g. (224, 224, 3).")
        if dtype not in ("float32", None):
            raise ValueError(f"dtype must be 'float32' or None (keep the model's policy), got {dtype!r}.")
        self.source = model
        self.trained_policy = next((layer.dtype_policy.name for layer in model.layers
                                    if layer.dtype_policy.name in MIXED_POLICIES), model.dtype_policy.name)
        self.model = float32_model(model) if dtype == "float32" else model
        self.uint8 = bool(uint8)
        self.preprocessing = preprocessing or Preprocessing()
        self.input_shape = shape
        self.size = shape[1:3]
        self.channels = shape[-1]
        self.output_names, self._outputs_model, self._derive = self._plan_outputs(self.model)

    # -- outputs ---------------------------------------------------------------------------

    @staticmethod
    def _plan_outputs(model):
        import keras

        last = model.layers[-1] if model.layers else None
        single = len(model.outputs) == 1 and len(model.outputs[0].shape) == 2
        if single and isinstance(last, keras.layers.Activation) and _is_softmax(last.activation):
            logits = last.input if not isinstance(last.input, list) else last.input[0]
            both = keras.Model(model.inputs, [model.outputs[0], logits], name=model.name)
            return ("probabilities", "logits"), both, None
        if single and isinstance(last, keras.layers.Dense) and _is_linear(last.activation):
            return ("logits", "probabilities"), model, "softmax"
        names = ("outputs",) if len(model.outputs) == 1 else tuple(f"output_{i}" for i in range(len(model.outputs)))
        return names, model, None

    @property
    def variables(self):
        """Every variable the serving computation reads (the exported model's)."""
        return self._outputs_model.variables

    def input_signature(self):
        import tensorflow as tf

        if self.uint8:
            return [tf.TensorSpec((None, None, None, self.channels), tf.uint8, name="images")]
        return [tf.TensorSpec((None, *self.input_shape[1:]), tf.float32, name="images")]

    def __call__(self, images):
        """The serving computation on a TensorFlow tensor; a dict of float32 tensors."""
        import tensorflow as tf

        x = self.preprocessing.apply(images, self.size) if self.uint8 else images
        outs = self._outputs_model(x, training=False)
        outs = list(outs) if isinstance(outs, (list, tuple)) else [outs]
        outs = [tf.cast(o, tf.float32) for o in outs]
        if self._derive == "softmax":
            outs.append(tf.nn.softmax(outs[0], axis=-1))
        return dict(zip(self.output_names, outs))

    def tf_function(self):
        import tensorflow as tf

        return tf.function(self.__call__, input_signature=self.input_signature(), autograph=False)

    # -- reference outputs and parity --------------------------------------------------------

    def sample_images(self, n=4, seed=0):
        """Deterministic test images in the signature's format (used when no real ones are given)."""
        h, w = (s or 32 for s in self.size)
        rng = np.random.default_rng(seed)
        pixels = rng.integers(0, 256, size=(n, h, w, self.channels), dtype=np.uint8)
        return self.as_input(pixels)

    def as_input(self, images):
        """Images (uint8 pixels, or floats already preprocessed) in the signature's dtype."""
        images = np.asarray(images)
        if images.ndim == 3:
            images = images[None]
        if self.uint8:
            if images.dtype != np.uint8:
                raise ValueError(f"this export takes uint8 pixels, got {images.dtype} images.")
            return images
        if images.dtype == np.uint8:
            return np.asarray(self.preprocessing.apply(images, self.size), np.float32)
        return images.astype(np.float32)

    def reference(self, images, model=None):
        """Keras's own outputs for ``images`` (from ``model``, default the exported twin)."""
        import tensorflow as tf

        model = model or self.model
        x = images
        if self.uint8:
            x = self.preprocessing.apply(images, self.size)
        x = np.asarray(x, np.float32)
        if model is self.model:
            return {k: v.numpy() for k, v in self(tf.constant(images)).items()}
        out = model.predict(x, verbose=0)
        return {self.output_names[0]: np.asarray(out, np.float32)}

    def metadata(self, class_names=None):
        import kerasarch

        return {
            "kerasarch_version": kerasarch.__version__, "model": self.source.name,
            "input_shape": [None if s is None else int(s) for s in self.input_shape],
            "input_name": "images", "input_dtype": "uint8" if self.uint8 else "float32",
            "preprocessing": self.preprocessing.to_json(), "outputs": list(self.output_names),
            "trained_dtype_policy": self.trained_policy,
            "class_names": list(class_names) if class_names is not None else None,
        }


def _is_softmax(fn):
    import keras

    return fn is keras.activations.softmax or getattr(fn, "__name__", "") == "softmax"


def _is_linear(fn):
    import keras

    return fn is keras.activations.linear or getattr(fn, "__name__", "") == "linear"


def max_scaled_diff(outputs, reference):
    """Max |a - b| / max(1, max |b|) over the outputs both have: absolute for probabilities."""
    worst = 0.0
    for name, ref in reference.items():
        ref = np.asarray(ref, np.float64)
        got = np.asarray(outputs[name], np.float64)
        if got.shape != ref.shape:
            raise ExportError(f"output {name!r} has shape {got.shape}, Keras gives {ref.shape}.")
        if not np.all(np.isfinite(got)):
            raise ExportError(f"output {name!r} holds non-finite values.")
        worst = max(worst, float(np.max(np.abs(got - ref))) / max(1.0, float(np.max(np.abs(ref)))))
    return worst


def parity_report(serving, run_artifact, check_data=None, tolerance=1e-4):
    """Run the written artifact and Keras on the same images; raise ExportError past ``tolerance``.

    The checked output is the model's own: ``probabilities`` for a softmax classifier (an
    absolute difference), else every output, scaled by ``max(1, max |Keras|)``. Returns
    ``{"max_diff", "checked_output", "checked_images", "max_diff_logits"?, "max_diff_vs_trained"?}``:
    ``max_diff`` against the exported (float32) model, which must be within ``tolerance``;
    ``max_diff_logits`` the scaled logits difference (reported: a deep randomly initialised
    net's logits carry float32 reordering noise near 1e-4); ``max_diff_vs_trained``, for a
    mixed-precision model, against the model as trained (bfloat16 rounding, reported).
    """
    images = serving.sample_images() if check_data is None else serving.as_input(check_data)
    expected = serving.reference(images)
    got = run_artifact(images)
    checked = serving.output_names[0]
    if checked == "probabilities":
        diff = max_scaled_diff(got, {checked: expected[checked]})
        report = {"max_diff": diff, "checked_output": checked, "checked_images": int(len(images)),
                  "max_diff_logits": max_scaled_diff(got, {"logits": expected["logits"]})}
    else:
        checked = "all outputs"
        diff = max_scaled_diff(got, expected)
        report = {"max_diff": diff, "checked_output": checked, "checked_images": int(len(images))}
    if diff > tolerance:
        raise ExportError(
            f"the exported {serving.source.name} differs from Keras by {diff:.3g} (> {tolerance:g}) in "
            f"{checked} on {len(images)} images; nothing was written. Please report this with the model's name.")
    if serving.model is not serving.source:
        trained = serving.reference(images, model=serving.source)
        name = serving.output_names[0]
        report["max_diff_vs_trained"] = max_scaled_diff({name: got[name]}, trained)
    return report


@contextlib.contextmanager
def quiet(verbose=False):
    """Hide what TensorFlow and tf2onnx print while tracing (file descriptors 1 and 2).

    On an exception the hidden text is written to stderr, so nothing useful is lost.
    """
    if verbose:
        yield
        return
    import logging

    loggers = [logging.getLogger(n) for n in ("tf2onnx", "tensorflow", "absl")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        failed = False
        try:
            yield
        except (ExportError, ValueError):
            raise  # explained errors: the hidden tracing text would only bury the message
        except BaseException:
            failed = True
            raise
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            for lg, level in zip(loggers, levels):
                lg.setLevel(level)
            if failed:
                sink.seek(0)
                tail = sink.read()[-20000:].decode(errors="replace")
                if tail.strip():
                    sys.stderr.write(tail)


def human_size(path):
    total = os.path.getsize(path) if os.path.isfile(path) else sum(
        os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)
    for unit in ("B", "KB", "MB", "GB"):
        if total < 1024 or unit == "GB":
            return f"{total:.0f} {unit}" if unit == "B" else f"{total:.1f} {unit}"
        total /= 1024


def write_json(path, data):
    with open(path, "w") as f:
        json.dump(data, f, indent=2)
