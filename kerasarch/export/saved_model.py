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
* for a token model exported with its ``vocabulary`` (:class:`kerasarch.text.Vocabulary`),
  ``serving_default`` takes raw strings instead: input ``text``, tf.string ``(batch,)``; the
  graph tokenizes them with the training vocabulary (``TextVectorization``) and returns the
  model's outputs plus ``num_tokens``, ``num_unknown`` and ``truncated`` per text (a graph
  cannot refuse a request, so an empty text comes back with ``num_tokens`` 0 and the output
  of an all-padding row, and a text over ``max_length`` tokens with ``truncated`` True: check
  them). ``serving_tokens`` is the int32 ids signature;
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
from kerasarch.text import VOCABULARY_FILE

__all__ = ["export_saved_model", "next_version", "write_models_config", "serving_instructions"]

WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")
VOCABULARY_FILE = os.path.join("assets.extra", VOCABULARY_FILE)
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
                       models_config=True, vocabulary=None, check_texts=None, verbose=False, quiet_summary=False):
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
        vocabulary: a token model's :class:`~kerasarch.text.Vocabulary`: ``serving_default``
            then takes raw strings (module docstring), ``serving_tokens`` ids; the vocabulary
            is stored in ``assets.extra/vocabulary.json``. ``check_texts``: texts the string
            signature is compared with Keras on (default: the check ids, decoded).
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
    from kerasarch.contract import contract_of

    if contract_of(model).input.kind == "token_pair":
        raise ValueError(f"{model.name} is a sequence-to-sequence model: its SavedModel decodes in the graph. Use "
                         "kerasarch.export.export_seq2seq_saved_model(model, base_dir, source_vocabulary, "
                         "target_vocabulary, beam_width=...) (strings in, strings out).")
    serving = ServingModel(model, uint8=uint8, preprocessing=preprocessing, dtype=dtype)
    text = None if vocabulary is None else TextServing(serving, vocabulary)
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
            _write(serving, tmp, verbose, text)
            if warmup:
                _write_warmup(tmp, model.name, text or serving)
            metadata = serving.metadata(class_names)
            if text is not None:
                metadata.update(text.metadata())
                vocabulary.save(os.path.join(tmp, VOCABULARY_FILE))
            write_json(os.path.join(tmp, METADATA_FILE), metadata)
            ids_signature = "serving_tokens" if text is not None else "serving_default"
            report = parity_report(serving, _runner(tmp, serving.input_name, ids_signature), check_data) if check else {}
            if check and text is not None:
                report["text"] = text.parity(_runner(tmp, text.input_name, "serving_default"), check_texts, check_data)
    if models_config:
        write_models_config(base_dir)
    if not quiet_summary:
        _print_summary(target, serving, report, warmup)
    return ExportedPath(target, report, serving)


def _write(serving, path, verbose, text=None):
    import keras

    archive = keras.export.ExportArchive()
    archive.track(serving.model)
    if text is not None:
        archive.track(text.layer)
        archive.add_endpoint("serving_default", text.__call__, input_signature=text.input_signature())
        archive.add_endpoint("serving_tokens", serving.__call__, input_signature=serving.input_signature())
    else:
        archive.add_endpoint("serving_default", serving.__call__, input_signature=serving.input_signature())
    if serving.uint8:
        as_float = ServingModel(serving.model, dtype=None)
        archive.add_endpoint("serving_float", as_float.__call__, input_signature=as_float.input_signature())
    os.makedirs(os.path.join(path), exist_ok=True)
    archive.write_out(path, verbose=verbose)
    os.makedirs(os.path.join(path, "assets.extra"), exist_ok=True)


def _runner(path, input_name, signature_name="serving_default"):
    import tensorflow as tf

    signature = tf.saved_model.load(path).signatures[signature_name]
    return lambda x: {k: v.numpy() for k, v in signature(**{input_name: tf.constant(x)}).items()}


def _has_serving_api():
    try:
        from tensorflow_serving.apis import prediction_log_pb2  # noqa: F401
    except ImportError:
        return False
    return True


def _write_warmup(path, name, serving, count=1):
    """PredictionLog records for ``assets.extra/tf_serving_warmup_requests`` (batch 1 each);
    ``serving`` is the ServingModel or TextServing behind ``serving_default``."""
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
    text = report.get("text") if report else None
    if text:
        print(f"SavedModel {target} ({human_size(target)}): serving_default(text: string (batch,)) -> "
              f"{', '.join(serving.output_names)}, num_tokens, num_unknown, truncated; max |diff| vs Keras on "
              f"{text['checked_texts']} texts {text['max_diff']:.1e}; serving_tokens({serving.input_name}: int32) "
              f"max |diff| {report['max_diff']:.1e}{'; warmup records' if warmup else ''}")
        print(serving_instructions(target, "text"))
        return
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


class TextServing:
    """A token model's string signature: raw texts -> the training vocabulary's ids (padded
    or cut to the model's length) -> the model's outputs, plus what a client needs to trust
    them (``num_tokens``, ``num_unknown``, ``truncated``)."""

    input_name = "text"

    def __init__(self, serving, vocabulary):
        from kerasarch.text import Vocabulary

        if not isinstance(vocabulary, Vocabulary):
            raise TypeError(f"vocabulary must be a kerasarch.text.Vocabulary, got {type(vocabulary).__name__}.")
        if not vocabulary.in_graph:
            vocabulary.layer()  # the error that says why a subword vocabulary cannot be in the graph, and what can
        spec = serving.contract.input
        if serving.kind != "tokens":
            raise ValueError(f"vocabulary= serves raw text for a token model; {serving.source.name} takes "
                             f"{serving.contract.describe()}.")
        if vocabulary.size > spec.vocab_size:
            raise ValueError(f"the vocabulary has {vocabulary.size} ids but {serving.source.name} embeds "
                             f"{spec.vocab_size}; ids past {spec.vocab_size - 1} would index outside the embedding. "
                             "Export with the vocabulary the model was trained with.")
        if spec.padding_id != 0:
            raise ValueError(f"{serving.source.name} pads with id {spec.padding_id}; a Vocabulary pads with 0.")
        self.serving = serving
        self.vocabulary = vocabulary
        self.length = serving.input_shape[1] or min(vocabulary.max_length, spec.max_length)
        self.layer = vocabulary.layer()

    def input_signature(self):
        import tensorflow as tf

        return [tf.TensorSpec((None,), tf.string, name=self.input_name)]

    def __call__(self, text):
        import tensorflow as tf

        ragged = self.layer(text)
        count = tf.cast(ragged.row_lengths(), tf.int32)
        ids = ragged[:, :self.length].to_tensor(0, shape=[None, self.length])
        outs = dict(self.serving(tf.cast(ids, tf.int32)))
        outs.update(num_tokens=count, truncated=count > self.length,
                    num_unknown=tf.reduce_sum(tf.cast(tf.equal(ragged, 1), tf.int32), axis=1))
        return outs

    def sample_inputs(self, n=4, seed=0):
        return np.array(self.vocabulary.decode(self.serving.sample_inputs(n=n, seed=seed)), dtype=object)

    def parity(self, run_artifact, texts=None, check_data=None):
        """The string signature against Keras on the same texts tokenized in Python."""
        from kerasarch.export.parity import max_scaled_diff

        texts = self.sample_inputs() if texts is None else np.array(list(texts), dtype=object)
        ids = self.vocabulary.encode(list(texts), too_long="truncate")
        ids = ids[:, :self.length] if ids.shape[1] >= self.length else np.pad(ids, ((0, 0), (0, self.length - ids.shape[1])))
        expected = self.serving.reference(ids.astype("int32"))
        got = run_artifact(texts)
        diff = max_scaled_diff(got, expected)
        if diff > 1e-4:
            from kerasarch.export.serving import ExportError

            raise ExportError(f"the string signature of {self.serving.source.name} differs from Keras on the same "
                              f"texts by {diff:.3g}; nothing was written.")
        return {"max_diff": diff, "checked_texts": int(len(texts))}

    def metadata(self):
        return {"text_input": {"name": self.input_name, "signature": "serving_default",
                               "vocabulary": VOCABULARY_FILE, "length": int(self.length),
                               "tokens_signature": "serving_tokens"}}
