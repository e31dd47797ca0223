"""SavedModel export in the folder layout TensorFlow Serving loads: ``base/<name>/<version>/``.

What a client sees (``saved_model_cli show --dir base/<name>/<version> --all``):

* signature ``serving_default``: for an image model input ``images``, float32
  ``(batch, H, W, C)`` already preprocessed (``[0, 1]`` pixels by default), or with
  ``uint8=True`` raw ``uint8`` pixels of any size ``(batch, h, w, C)`` that the graph
  rescales and resizes itself; for a token model input ``tokens``, int32 ids
  ``(batch, length)``; outputs ``probabilities`` and ``logits`` (float32) for a classifier,
  ``outputs`` otherwise (see :mod:`kerasarch.export.serving`);
* with ``uint8=True`` also ``serving_float``, the float32 signature above, for clients that
  preprocess themselves;
* ``assets.extra/tf_serving_warmup_requests``: PredictionLog records TF Serving replays on
  load so the first real request is not slow;
* ``assets.extra/kerasarch.json``: input format, preprocessing and class names, which
  ``kerasarch predict`` reads.
"""

import os
import re

import numpy as np

from kerasarch._atomic import atomic_path
from kerasarch.export._files import human_size, write_json
from kerasarch.export._quiet import quiet
from kerasarch.export.parity import parity_report
from kerasarch.export.serving import ExportedPath, ServingModel

__all__ = ["export_saved_model", "next_version", "write_models_config", "serving_instructions"]

WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")
METADATA_FILE = os.path.join("assets.extra", "kerasarch.json")


def next_version(model_dir):
    """The next free version number under ``model_dir`` (1 when there is none)."""
    if not os.path.isdir(model_dir):
        return 1
    versions = [int(n) for n in os.listdir(model_dir) if re.fullmatch(r"\d+", n)]
    return max(versions, default=0) + 1


def served_versions(model_dir):
    """The version numbers under ``model_dir`` that hold a SavedModel, newest first."""
    if not os.path.isdir(model_dir):
        return []
    return sorted((int(n) for n in os.listdir(model_dir) if re.fullmatch(r"\d+", n)
                   and os.path.isfile(os.path.join(model_dir, n, "saved_model.pb"))), reverse=True)


def export_saved_model(model, base_dir, *, version=None, overwrite=False, uint8=False, preprocessing=None,
                       dtype="float32", warmup=None, class_names=None, check_data=None, check=True,
                       models_config=True, verbose=False, quiet_summary=False):
    """Write ``model`` for TF Serving to ``base_dir/<model.name>/<version>/``; return that path.

    Args:
        model: a built Keras model with one input (images, tokens, ...: its contract says).
        base_dir: the folder TF Serving's ``--model_base_path`` parent; created if missing.
        version: a positive integer; default the next free one. An existing version is
            replaced only with ``overwrite=True``.
        uint8: serve raw uint8 pixels of any size (preprocessing and resize in the graph).
        preprocessing: a :class:`~kerasarch.export.Preprocessing` for ``uint8`` (default ``x/255``).
        dtype: ``"float32"`` (default) exports a float32 twin of a mixed-precision model, so
            any CPU serves it at full speed and outputs match a float32 Keras model within
            1e-4; ``None`` keeps the trained policy (bfloat16 kernels in the graph).
        warmup: write TF Serving warmup records (needs ``tensorflow-serving-api``); default:
            when that package is installed.
        class_names: stored in ``assets.extra/kerasarch.json`` for ``kerasarch predict``.
        check_data: images to compare the reloaded SavedModel with Keras on (default: 4
            deterministic random images); ``check=False`` skips the check.
        models_config: (re)write ``base_dir/models.config`` listing every model under it.
        verbose: show TensorFlow's tracing output; ``quiet_summary`` hides the final lines.

    The export is written to a temporary folder beside the target, loaded back and compared
    with Keras, and renamed into place only then: a failure or a kill leaves nothing at the
    target path.
    """
    import keras

    base_dir = os.path.abspath(os.fspath(base_dir))
    if os.path.isfile(base_dir):
        raise ValueError(f"{base_dir!r} is a file; export_saved_model needs a folder (it is created if missing).")
    if keras.backend.backend() != "tensorflow":
        raise ValueError("SavedModel export runs on the TensorFlow backend; set KERAS_BACKEND=tensorflow "
                         f"(this process runs {keras.backend.backend()}).")
    serving = ServingModel(model, uint8=uint8, preprocessing=preprocessing, dtype=dtype)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", model.name):
        raise ValueError(f"model name {model.name!r} cannot be a TF Serving model folder; "
                         "rename it (model.name = 'my_model') with letters, digits, '_', '-' or '.'.")
    model_dir = os.path.join(base_dir, model.name)
    if version is None:
        version = next_version(model_dir)
    if not isinstance(version, (int, np.integer)) or isinstance(version, bool) or version < 1:
        raise ValueError(f"version must be a positive integer (TF Serving's numbered folders), got {version!r}.")
    target = os.path.join(model_dir, str(int(version)))
    if os.path.exists(target) and not overwrite:
        raise ValueError(
            f"{target} already exists; TF Serving would serve the old or the new model without "
            f"saying which. Pass version={next_version(model_dir)} (the next free one) or overwrite=True (--overwrite).")
    if warmup is None:
        warmup = _has_serving_api()
    elif warmup and not _has_serving_api():
        raise ImportError("warmup records need the TF Serving protos: pip install --no-deps tensorflow-serving-api "
                          "(--no-deps keeps tensorflow-cpu; the package only adds protos).")

    with atomic_path(target, is_dir=True, overwrite=True) as tmp:
        with quiet(verbose):
            _write(serving, tmp, verbose)
            if warmup:
                _write_warmup(tmp, model.name, serving)
            write_json(os.path.join(tmp, METADATA_FILE), serving.metadata(class_names))
            report = parity_report(serving, _runner(tmp, serving.input_name), check_data) if check else {}
    if models_config:
        write_models_config(base_dir)
    if not quiet_summary:
        _print_summary(target, serving, report, warmup)
    return ExportedPath(target, report, serving)


def _write(serving, path, verbose):
    import keras

    archive = keras.export.ExportArchive()
    archive.track(serving.model)
    archive.add_endpoint("serving_default", serving.__call__, input_signature=serving.input_signature())
    if serving.uint8:
        as_float = ServingModel(serving.model, dtype=None)
        archive.add_endpoint("serving_float", as_float.__call__, input_signature=as_float.input_signature())
    os.makedirs(os.path.join(path), exist_ok=True)
    archive.write_out(path, verbose=verbose)
    os.makedirs(os.path.join(path, "assets.extra"), exist_ok=True)


def _runner(path, input_name):
    import tensorflow as tf

    signature = tf.saved_model.load(path).signatures["serving_default"]
    return lambda x: {k: v.numpy() for k, v in signature(**{input_name: tf.constant(x)}).items()}


def _has_serving_api():
    try:
        from tensorflow_serving.apis import prediction_log_pb2  # noqa: F401
    except ImportError:
        return False
    return True


def _write_warmup(path, name, serving, count=1):
    """PredictionLog records for ``assets.extra/tf_serving_warmup_requests`` (batch 1 each)."""
    import tensorflow as tf
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

    inputs = serving.sample_inputs(n=1)
    with tf.io.TFRecordWriter(os.path.join(path, WARMUP_FILE)) as writer:
        for _ in range(count):
            request = predict_pb2.PredictRequest(
                model_spec=model_pb2.ModelSpec(name=name, signature_name="serving_default"))
            request.inputs[serving.input_name].CopyFrom(tf.make_tensor_proto(inputs))
            log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
            writer.write(log.SerializeToString())


def write_models_config(base_dir):
    """Write ``base_dir/models.config`` (TF Serving's ``--model_config_file``) for every model in it.

    A model is a sub-folder holding at least one numbered version with a ``saved_model.pb``.
    Returns the config text.
    """
    base_dir = os.path.abspath(os.fspath(base_dir))
    entries = []
    for name in sorted(os.listdir(base_dir)):
        folder = os.path.join(base_dir, name)
        if served_versions(folder):
            entries.append(
                f'  config {{\n    name: "{name}"\n    base_path: "{folder}"\n    model_platform: "tensorflow"\n  }}')
    text = "model_config_list {\n" + "\n".join(entries) + "\n}\n"
    with atomic_path(os.path.join(base_dir, "models.config")) as tmp:
        with open(tmp, "w") as f:
            f.write(text)
    return text


def serving_instructions(target, input_name="images"):
    """The docker command and the REST/gRPC endpoints for an exported version folder."""
    version_dir = os.path.abspath(target)
    model_dir = os.path.dirname(version_dir)
    name = os.path.basename(model_dir)
    return (f"serve it: docker run -p 8500:8500 -p 8501:8501 -v {model_dir}:/models/{name} "
            f"-e MODEL_NAME={name} tensorflow/serving\n"
            f"  or: tensorflow_model_server --rest_api_port=8501 "
            f"--model_config_file={os.path.join(os.path.dirname(model_dir), 'models.config')}\n"
            f"  REST: POST http://localhost:8501/v1/models/{name}:predict  gRPC: localhost:8500, "
            f"model_spec.name={name!r}, signature 'serving_default', input {input_name!r}")


def _print_summary(target, serving, report, warmup):
    if serving.uint8:
        inputs = "uint8 (batch, h, w, %d) pixels" % serving.channels
    else:
        dims = ", ".join("?" if s is None else str(s) for s in serving.input_shape[1:])
        inputs = f"{serving.input_dtype} (batch, {dims})"
    parity = ""
    if report:
        parity = f"; max |diff| vs Keras {report['max_diff']:.1e}"
        if "max_diff_vs_trained" in report:
            parity += f" (vs the {serving.trained_policy} model: {report['max_diff_vs_trained']:.1e})"
    print(f"SavedModel {target} ({human_size(target)}): serving_default({serving.input_name}: {inputs}) -> "
          f"{', '.join(serving.output_names)}{parity}{'; warmup records' if warmup else ''}")
    print(serving_instructions(target, serving.input_name))
