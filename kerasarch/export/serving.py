"""The serving contract SavedModel and ONNX exports share, read off the model's own contract.

The serving function takes one named input and returns a dict of float32 outputs named for
what they are:

* input ``images`` for an image model: float32 ``(batch, H, W, C)`` already preprocessed, or
  with ``uint8=True`` raw pixels of any size that the graph preprocesses with the model's
  :class:`~kerasarch.preprocessing.Preprocessing`, the same function the training pipeline runs;
  input ``tokens`` for a token model: int32 ids ``(batch, length)``; input ``sequence`` for a
  model of real-valued sequences;
* outputs ``probabilities`` and the ``logits`` that feed the softmax for a model whose
  contract says it returns probabilities; ``logits`` and their softmax ``probabilities`` for
  one that returns logits; ``outputs`` (or ``output_0``, ``output_1``, ...) for anything else
  (features, several heads).
"""

import numpy as np

from kerasarch.contract import contract_of
from kerasarch.export.twin import float32_model, trained_policy
from kerasarch.preprocessing import Preprocessing

__all__ = ["ExportError", "ExportedPath", "ServingModel"]

# The serving input's name per input kind: plural, as a batch of them.
INPUT_NAMES = {"image": "images", "tokens": "tokens", "sequence": "sequence"}


class ExportError(RuntimeError):
    """An export that could not produce an artifact equal to the Keras model; nothing was written."""


class ExportedPath(str):
    """The path of a written export (a ``str``) that also carries what its check measured.

    ``parity``: ``{"max_diff", "checked_inputs", "max_diff_vs_trained"?}`` (empty when the
    check was skipped); ``outputs``: the output names; ``input_dtype``: "float32", "uint8" or
    "int32"; ``input_name``: "images", "tokens" or "sequence".
    """

    def __new__(cls, path, parity, serving):
        self = super().__new__(cls, path)
        self.parity = dict(parity)
        self.outputs = list(serving.output_names)
        self.input_dtype = serving.input_dtype
        self.input_name = serving.input_name
        return self


class ServingModel:
    """The model as a serving system sees it: one named input, named float32 outputs.

    Args:
        model: a built Keras model with one input.
        uint8: (image models) accept raw ``uint8`` pixels of any size and preprocess inside the graph.
        preprocessing: a :class:`~kerasarch.preprocessing.Preprocessing` (default: what ``model.arch`` records for its weights, else rescale by 1/255).
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
        contract = getattr(model, "contract", None)
        if contract is not None and contract.input.kind == "token_pair":
            raise ValueError(
                f"{model.name} is a sequence-to-sequence model, which decodes a token at a time in a loop over its "
                "two inputs; export it with kerasarch.export.export_seq2seq_saved_model (strings in, strings out: "
                "the loop inside the SavedModel). ONNX export covers the one-input classifiers and forecasters.")
        if len(model.inputs) != 1:
            raise ValueError(f"{model.name} has {len(model.inputs)} inputs; export serves one-input models.")
        if dtype not in ("float32", None):
            raise ValueError(f"dtype must be 'float32' or None (keep the model's policy), got {dtype!r}.")
        self.contract = contract_of(model)
        self.kind = self.contract.input.kind
        shape = tuple(model.inputs[0].shape)
        self._check_input(model.name, shape, uint8)
        self.source = model
        self.trained_policy = trained_policy(model)
        self.model = float32_model(model) if dtype == "float32" else model
        self.uint8 = bool(uint8)
        # What the model's weights expect when kerasarch.weights recorded it (a torchvision
        # checkpoint's resize, crop and mean/std), else kerasarch's training pipeline.
        self.preprocessing = preprocessing or Preprocessing.of(model)
        self.input_shape = shape
        self.input_name = INPUT_NAMES[self.kind]
        self.input_dtype = "uint8" if self.uint8 else self.contract.input.dtype
        self.size = shape[1:3] if self.kind == "image" else None
        self.channels = shape[-1] if self.kind == "image" else None
        self.output_names, self._outputs_model, self._derive = self._plan_outputs(self.model, self.contract.output)

    def _check_input(self, name, shape, uint8):
        if self.kind == "image":
            if len(shape) != 4:
                raise ValueError(f"{name}'s input has shape {shape}; an image model takes (batch, height, width, "
                                 "channels).")
            if shape[-1] is None:
                raise ValueError(f"{name}'s input has an unknown channel count {shape}; it cannot be served. "
                                 "Rebuild it with a fixed input_shape, e.g. (224, 224, 3).")
            if uint8 and None in shape[1:3]:
                raise ValueError(
                    f"{name}'s input size {shape[1:3]} is not fixed, so a uint8 graph cannot know what to "
                    "resize images to; rebuild it with a fixed input_shape, e.g. (224, 224, 3).")
        elif uint8:
            raise ValueError(f"uint8=True serves raw image pixels; {name} takes {self.contract.input.kind} "
                             f"({self.contract.describe()}), so export it without uint8.")

    # -- outputs ---------------------------------------------------------------------------

    @staticmethod
    def _plan_outputs(model, output):
        import keras

        single = len(model.outputs) == 1 and len(model.outputs[0].shape) == 2
        last = model.layers[-1] if model.layers else None
        if single and output.kind == "probabilities":
            if isinstance(last, keras.layers.Activation):  # kerasarch's head: the logits feed it
                logits = last.input if not isinstance(last.input, list) else last.input[0]
                both = keras.Model(model.inputs, [model.outputs[0], logits], name=model.name)
                return ("probabilities", "logits"), both, None
            return ("probabilities",), model, None
        if single and output.kind == "logits":
            return ("logits", "probabilities"), model, "softmax"
        if output.kind == "forecast" and len(model.outputs) == 1:
            return ("forecast",), model, None
        names = ("outputs",) if len(model.outputs) == 1 else tuple(f"output_{i}" for i in range(len(model.outputs)))
        return names, model, None

    @property
    def variables(self):
        """Every variable the serving computation reads (the exported model's)."""
        return self._outputs_model.variables

    def input_signature(self):
        import tensorflow as tf

        if self.uint8:
            return [tf.TensorSpec((None, None, None, self.channels), tf.uint8, name=self.input_name)]
        return [tf.TensorSpec((None, *self.input_shape[1:]), tf.as_dtype(self.input_dtype), name=self.input_name)]

    def __call__(self, inputs):
        """The serving computation on a TensorFlow tensor; a dict of float32 tensors."""
        import tensorflow as tf

        x = self.preprocessing.apply(inputs, self.size) if self.uint8 else inputs
        outs = self._outputs_model(x, training=False)
        outs = list(outs) if isinstance(outs, (list, tuple)) else [outs]
        outs = [tf.cast(o, tf.float32) for o in outs]
        if self._derive == "softmax":
            outs.append(tf.nn.softmax(outs[0], axis=-1))
        return dict(zip(self.output_names, outs))

    # -- reference outputs and parity --------------------------------------------------------

    def sample_inputs(self, n=4, seed=0):
        """Deterministic inputs in the signature's format (used when no real ones are given):
        random pixels for an image model, ids from the contract's vocabulary for a token model."""
        if self.kind != "image":
            return self.contract.sample_inputs(batch=n, seed=seed)
        h, w = (s or 32 for s in self.size)
        rng = np.random.default_rng(seed)
        pixels = rng.integers(0, 256, size=(n, h, w, self.channels), dtype=np.uint8)
        return self.as_input(pixels)

    def as_input(self, data):
        """Inputs in the signature's dtype: for images, uint8 pixels (preprocessed here for a
        float signature) or floats already preprocessed; for tokens, integer ids."""
        data = np.asarray(data)
        if self.kind != "image":
            if data.ndim == len(self.input_shape) - 1:
                data = data[None]
            return data.astype(self.input_dtype)
        if data.ndim == 3:
            data = data[None]
        if self.uint8:
            if data.dtype != np.uint8:
                raise ValueError(f"this export takes uint8 pixels, got {data.dtype} images.")
            return data
        if data.dtype == np.uint8:
            return np.asarray(self.preprocessing.apply(data, self.size), np.float32)
        return data.astype(np.float32)

    def reference(self, inputs, model=None):
        """Keras's own outputs for ``inputs`` (from ``model``, default the exported twin)."""
        import tensorflow as tf

        model = model or self.model
        if model is self.model:
            return {k: v.numpy() for k, v in self(tf.constant(inputs)).items()}
        x = self.preprocessing.apply(inputs, self.size) if self.uint8 else inputs
        out = model.predict(np.asarray(x), verbose=0)
        return {self.output_names[0]: np.asarray(out, np.float32)}

    def _recorded_class_names(self):
        names = (getattr(self.source, "arch", None) or {}).get("class_names")
        return list(names) if names else None

    def metadata(self, class_names=None):
        import kerasarch

        return {
            "kerasarch_version": kerasarch.__version__, "model": self.source.name,
            "input_kind": self.kind, "contract": self.contract.to_json(),
            "input_shape": [None if s is None else int(s) for s in self.input_shape],
            "input_name": self.input_name, "input_dtype": self.input_dtype,
            "preprocessing": self.preprocessing.to_json() if self.kind == "image" else None,
            "outputs": list(self.output_names), "trained_dtype_policy": self.trained_policy,
            "class_names": list(class_names) if class_names is not None else self._recorded_class_names(),
        }
