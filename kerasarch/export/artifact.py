"""Run an exported artifact (a SavedModel folder or an ONNX file) or a ``.keras`` model on image files.

This is what ``kerasarch predict`` uses to let a user check a file before shipping it: it
reads the input format and preprocessing that the export stored beside the graph, so it
feeds the artifact exactly what a serving client would.
"""

import json
import os

import numpy as np

from kerasarch.preprocessing import Preprocessing

__all__ = ["Artifact", "load_artifact", "read_images"]


class Artifact:
    """A loaded export: ``metadata`` (dict), ``kind`` ("saved_model" or "onnx"), ``run(batch)``."""

    def __init__(self, path, kind, run, metadata):
        self.path, self.kind, self._run, self.metadata = path, kind, run, metadata
        self.input_dtype = metadata.get("input_dtype", "float32")
        self.input_shape = metadata.get("input_shape")
        self.preprocessing = Preprocessing.from_json(metadata.get("preprocessing"))
        self.class_names = metadata.get("class_names")

    def prepare(self, image):
        """One uint8 ``(H, W, C)`` image as a batch of one in the artifact's input format."""
        image = np.asarray(image)
        if self.input_dtype == "uint8":
            return image[None].astype(np.uint8)
        size = tuple(self.input_shape[1:3]) if self.input_shape and None not in self.input_shape[1:3] \
            else image.shape[:2]
        return np.asarray(self.preprocessing.apply(image[None], size), np.float32)

    def run(self, batch):
        """The artifact's outputs for one batch already in its input format (a dict of arrays)."""
        return self._run(np.asarray(batch))

    def predict(self, images):
        """Outputs for a list of uint8 ``(H, W, C)`` images, one row each: a dict of arrays."""
        rows = [self._run(self.prepare(image)) for image in images]
        return {k: np.concatenate([r[k] for r in rows]) for k in rows[0]}

    def top_classes(self, scores, k=3):
        order = np.argsort(-scores)[:k]
        names = self.class_names or [str(i) for i in range(len(scores))]
        return [(names[i] if i < len(names) else str(i), float(scores[i])) for i in order]


def load_artifact(path):
    """Load a SavedModel (a version folder, or a model folder: its newest version) or an ONNX file."""
    path = os.path.abspath(os.fspath(path))
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} does not exist; pass a SavedModel folder or an .onnx file.")
    if os.path.isfile(path):
        if path.endswith(".keras"):
            return _load_keras(path)
        if not path.endswith(".onnx"):
            raise ValueError(f"{path} is neither an .onnx or .keras file nor a SavedModel folder.")
        return _load_onnx(path)
    return _load_saved_model(_version_dir(path))


def _version_dir(path):
    if os.path.isfile(os.path.join(path, "saved_model.pb")):
        return path
    from kerasarch.export.saved_model import served_versions

    versions = served_versions(path)
    if versions:
        return os.path.join(path, str(versions[0]))
    models = [n for n in sorted(os.listdir(path)) if os.path.isdir(os.path.join(path, n)) and not n.startswith(".")]
    if len(models) == 1:  # a base folder with one model in it
        return _version_dir(os.path.join(path, models[0]))
    raise ValueError(f"{path} holds no saved_model.pb and no numbered version folder"
                     + (f"; it holds {', '.join(models)}: pass one of those" if models else "") + ".")


def _load_keras(path):
    """A ``.keras`` model as an artifact: the preprocessing and class names its weights recorded
    (``kerasarch convert``), float32 input at the model's size."""
    import keras

    from kerasarch.contract import contract_of

    model = keras.saving.load_model(path)
    arch = getattr(model, "arch", None) or {}
    contract = contract_of(model)
    kind = contract.output.kind

    def run(batch):
        out = np.asarray(keras.ops.convert_to_numpy(model(batch, training=False)), np.float32)
        outputs = {kind: out}
        if kind == "logits":  # shown as probabilities, as a served classifier returns them
            e = np.exp(out - out.max(axis=-1, keepdims=True))
            outputs = {"probabilities": e / e.sum(axis=-1, keepdims=True), **outputs}
        return outputs

    metadata = {"input_kind": contract.input.kind, "input_dtype": "float32",
                "input_shape": [None, *[None if d is None else int(d) for d in model.input_shape[1:]]],
                "preprocessing": arch.get("preprocessing"), "class_names": arch.get("class_names"),
                "model": model.name}
    return Artifact(path, "keras", run, metadata)


def _load_saved_model(path):
    import tensorflow as tf

    metadata = {}
    meta_file = os.path.join(path, "assets.extra", "kerasarch.json")
    if os.path.isfile(meta_file):
        with open(meta_file) as f:
            metadata = json.load(f)
    signature = tf.saved_model.load(path).signatures["serving_default"]
    if not metadata:  # a SavedModel kerasarch did not write: read the signature
        spec = signature.structured_input_signature[1]
        (name, tensor_spec), = spec.items()
        metadata = {"input_dtype": tensor_spec.dtype.name, "input_shape": tensor_spec.shape.as_list(),
                    "input_name": name}
    name = metadata.get("input_name", "images")
    return Artifact(path, "saved_model",
                    lambda x: {k: v.numpy() for k, v in signature(**{name: tf.constant(x)}).items()}, metadata)


def _load_onnx(path):
    import onnxruntime as ort

    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map.get("kerasarch")
    metadata = json.loads(meta) if meta else {}
    inp = session.get_inputs()[0]
    if not metadata:
        metadata = {"input_dtype": "uint8" if "uint8" in inp.type else "float32",
                    "input_shape": [d if isinstance(d, int) else None for d in inp.shape]}
    names = [o.name for o in session.get_outputs()]
    return Artifact(path, "onnx", lambda x: dict(zip(names, session.run(None, {inp.name: x}))), metadata)


def read_images(paths, channels):
    """Decode PNG/JPEG/BMP/GIF files to uint8 ``(H, W, channels)`` arrays."""
    import tensorflow as tf

    images = []
    for p in paths:
        if not os.path.isfile(p):
            raise FileNotFoundError(f"image {p} does not exist.")
        try:
            image = tf.io.decode_image(tf.io.read_file(p), channels=channels or 0, expand_animations=False)
        except tf.errors.InvalidArgumentError as err:
            raise ValueError(f"{p} is not an image TensorFlow can decode (PNG, JPEG, BMP, GIF): "
                             f"{str(err).splitlines()[0]}") from None
        images.append(image.numpy())
    return images
