"""SavedModel and ONNX exports, checked the way a serving system sees them: loaded back in a
fresh process (TensorFlow, onnxruntime, saved_model_cli) and compared with Keras on real
Fashion-MNIST images. Every registered model goes through ONNX (slow variants in `make test-all`).
"""

import json
import os
import re
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

import kerasarch
import tiers
from helpers import slow_unless
from kerasarch.data import load_fashion_mnist
from kerasarch.export import (MAX_OPSET, ExportError, Preprocessing, export, export_onnx, export_saved_model,
                              float32_model)
from kerasarch.export.onnx import NOT_EXPORTABLE
from kerasarch.registry import model_entry
from test_contract import MODELS

pytestmark = pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="export is TensorFlow's")

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "KERAS_BACKEND": "tensorflow"}


@pytest.fixture(scope="module")
def pixels():
    """Real test images, uint8 (n, 28, 28, 1), and their labels."""
    _, (x, y) = load_fashion_mnist()
    return x[:32], y[:32]


@pytest.fixture(scope="module")
def trained():
    """A ResNet-20 under mixed_bfloat16, as `kerasarch train` leaves it (weights: seeded init;
    training first would only cost CI time: parity does not depend on the weights' values)."""
    keras.utils.set_random_seed(0)
    return kerasarch.ResNet20(num_classes=10, input_shape=(28, 28, 1), dtype="mixed_bfloat16")


def _fresh_process(code, *args):
    out = subprocess.run([sys.executable, "-c", code, *map(str, args)], env=ENV, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


SERVE_IN_FRESH_PROCESS = """
import sys, numpy as np, tensorflow as tf
path, images, out = sys.argv[1:]
served = tf.saved_model.load(path).signatures["serving_default"]
result = served(images=tf.constant(np.load(images)))
np.savez(out, **{k: v.numpy() for k, v in result.items()})
print(sorted(result), sorted({v.dtype.name for v in result.values()}))
"""


@pytest.mark.parametrize("uint8", [False, True], ids=["float32", "uint8"])
def test_saved_model_served_in_a_fresh_process_equals_keras(trained, pixels, tmp_path, uint8, capfd):
    x, _ = pixels
    path = export_saved_model(trained, tmp_path / "serving", uint8=uint8, class_names=list("abcdefghij"))
    assert path == str(tmp_path / "serving" / "resnet20" / "1")
    lines = [ln for ln in capfd.readouterr().out.splitlines() if ln.strip()]
    # Quiet: one summary line (path, size, signature, parity) and the serving instructions, nothing traced.
    assert lines[0].startswith(f"SavedModel {path} (") and "max |diff| vs Keras" in lines[0], lines
    assert len(lines) <= 4 and not any("Captures" in ln or "captured" in ln for ln in lines), lines

    images = x if uint8 else (x / 255.0).astype("float32")
    np.save(tmp_path / "images.npy", images)
    printed = _fresh_process(SERVE_IN_FRESH_PROCESS, path, tmp_path / "images.npy", tmp_path / "out.npz")
    assert "['logits', 'probabilities'] ['float32']" in printed
    served = np.load(tmp_path / "out.npz")

    twin = float32_model(trained)
    assert twin is not trained and all(layer.dtype_policy.name == "float32" for layer in twin.layers)
    x_float = (x / 255.0).astype("float32")
    expected = twin.predict(x_float, verbose=0)
    np.testing.assert_allclose(served["probabilities"], expected, atol=1e-4, rtol=0)
    logits = keras.Model(twin.inputs, twin.layers[-1].input).predict(x_float, verbose=0)
    np.testing.assert_allclose(served["logits"], logits, atol=1e-4 * max(1, np.abs(logits).max()), rtol=0)
    # Against the model as trained (bfloat16 compute): the float32 export differs by bf16 rounding only.
    as_trained = trained.predict(x_float, verbose=0)
    assert np.abs(served["probabilities"] - as_trained).max() < 1e-2
    assert (served["probabilities"].argmax(1) == as_trained.argmax(1)).mean() >= 0.9

    # What TF Serving sees: the signature, its named input and outputs, the dynamic batch.
    cli = subprocess.run(["saved_model_cli", "show", "--dir", path, "--all"], env=ENV, capture_output=True,
                         text=True, timeout=120)
    assert cli.returncode == 0, cli.stderr[-2000:]
    default = cli.stdout.split("signature_def['serving_default']")[1].split("signature_def[")[0]
    assert "inputs['images']" in default and "outputs['probabilities']" in default and "outputs['logits']" in default
    assert ("DT_UINT8" if uint8 else "DT_FLOAT") in default
    assert ("shape: (-1, -1, -1, 1)" if uint8 else "shape: (-1, 28, 28, 1)") in default
    assert ("signature_def['serving_float']" in cli.stdout) == uint8
    with open(os.path.join(path, "assets.extra", "kerasarch.json")) as f:
        meta = json.load(f)
    assert meta["input_dtype"] == ("uint8" if uint8 else "float32") and meta["class_names"][0] == "a"
    assert meta["trained_dtype_policy"] == "mixed_bfloat16"


def test_warmup_records_are_prediction_logs_the_model_answers(trained, tmp_path):
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    path = export_saved_model(trained, tmp_path, uint8=True, warmup=True, quiet_summary=True)
    records = list(tf.data.TFRecordDataset(os.path.join(path, "assets.extra", "tf_serving_warmup_requests")))
    assert len(records) >= 1
    log = prediction_log_pb2.PredictionLog.FromString(records[0].numpy())
    request = log.predict_log.request
    assert request.model_spec.name == "resnet20" and request.model_spec.signature_name == "serving_default"
    images = tf.make_ndarray(request.inputs["images"])
    assert images.dtype == np.uint8 and images.shape[1:] == (28, 28, 1)
    served = tf.saved_model.load(path).signatures["serving_default"](images=tf.constant(images))
    assert served["probabilities"].shape == (images.shape[0], 10)
    assert export_saved_model(trained, tmp_path, warmup=False, quiet_summary=True) == str(tmp_path / "resnet20" / "2")
    assert not os.path.exists(os.path.join(tmp_path, "resnet20", "2", "assets.extra", "tf_serving_warmup_requests"))


def test_models_config_lists_every_exported_model(tmp_path, capfd):
    a = kerasarch.LeNet5(num_classes=10)
    b = kerasarch.create_model("resnet20", num_classes=10, input_shape=(32, 32, 3))
    export_saved_model(a, tmp_path, check=False)
    export_saved_model(b, tmp_path, check=False)
    out = capfd.readouterr().out
    assert f"-v {tmp_path / 'resnet20'}:/models/resnet20 -e MODEL_NAME=resnet20 tensorflow/serving" in out
    text = (tmp_path / "models.config").read_text()
    assert text.count("config {") == 2
    assert f'name: "lenet5"\n    base_path: "{tmp_path / "lenet5"}"' in text
    assert 'model_platform: "tensorflow"' in text


def test_keep_policy_export_matches_the_mixed_model(trained, pixels, tmp_path):
    import tensorflow as tf

    x = (pixels[0] / 255.0).astype("float32")
    path = export_saved_model(trained, tmp_path, dtype=None, quiet_summary=True)
    served = tf.saved_model.load(path).signatures["serving_default"](images=tf.constant(x))
    assert served["probabilities"].dtype == tf.float32
    np.testing.assert_allclose(served["probabilities"].numpy(), trained.predict(x, verbose=0), atol=1e-4)


def test_existing_versions_and_bad_arguments_are_clear_errors(tmp_path):
    model = kerasarch.LeNet5(num_classes=10)
    assert export_saved_model(model, tmp_path, check=False, quiet_summary=True).endswith("lenet5/1")
    with pytest.raises(ValueError, match=r"lenet5/1 already exists.*version=2"):
        export_saved_model(model, tmp_path, version=1, quiet_summary=True)
    assert export_saved_model(model, tmp_path, version=1, overwrite=True, check=False, quiet_summary=True)
    (tmp_path / "afile").write_text("")
    with pytest.raises(ValueError, match="is a file"):
        export_saved_model(model, tmp_path / "afile")
    with pytest.raises(ValueError, match="positive integer"):
        export_saved_model(model, tmp_path, version=0)
    with pytest.raises(ValueError, match="unknown export format 'tflite'; use one of saved_model, onnx"):
        export(model, tmp_path, format="tflite")
    with pytest.raises(ValueError, match=f"opset must be an integer from 13 to {MAX_OPSET}.*got 99"):
        export_onnx(model, tmp_path / "m.onnx", opset=99)
    with pytest.raises(ValueError, match="is a folder"):
        export_onnx(model, tmp_path)
    with pytest.raises(ValueError, match="end in .onnx"):
        export_onnx(model, tmp_path / "m.pb")
    with pytest.raises(ValueError, match="opset is an ONNX option"):
        export(model, tmp_path, format="saved_model", opset=13)
    # An input size that is not fixed cannot be the target of the uint8 graph's resize.
    inputs = keras.Input((None, None, 3))
    free = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(inputs)))
    with pytest.raises(ValueError, match=r"input size \(None, None\) is not fixed.*input_shape"):
        export_saved_model(free, tmp_path, uint8=True)
    # A subclassed model that was never called has no input shape to serve.

    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(3)

        def call(self, x):
            return self.dense(x)

    with pytest.raises(ValueError, match="never called.*model.build"):
        export_onnx(Net(), tmp_path / "net.onnx")
    with pytest.raises(ValueError, match="Preprocessing needs both mean and std"):
        Preprocessing(mean=(0.5,))
    assert sorted(os.listdir(tmp_path)) == ["afile", "lenet5", "models.config"]


def test_a_killed_export_leaves_nothing_at_the_target(tmp_path):
    """SIGKILL in the middle of writing: no version folder appears, and the next export is version 1."""
    code = ("import kerasarch; from kerasarch.export import export_saved_model; "
            "m = kerasarch.create_model('vgg11', num_classes=10, input_shape=(32, 32, 3)); "
            f"export_saved_model(m, {str(tmp_path)!r})")
    proc = subprocess.Popen([sys.executable, "-c", code], env=ENV, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    model_dir = tmp_path / "vgg11"
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if model_dir.is_dir() and any(n.startswith(".1.tmp-") for n in os.listdir(model_dir)):
            time.sleep(0.5)  # inside the write
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the export finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (model_dir / "1").exists()
    assert [n for n in os.listdir(model_dir) if not n.startswith(".")] == []
    model = kerasarch.LeNet5(num_classes=10, name="vgg11")
    assert export_saved_model(model, tmp_path, check=False, quiet_summary=True) == str(model_dir / "1")


@keras.saving.register_keras_serializable(package="kerasarch_tests")
class Erfinv(keras.layers.Layer):
    """A layer whose op (TensorFlow's Erfinv) tf2onnx cannot convert."""

    def call(self, x):
        return keras.ops.erfinv(keras.ops.sigmoid(x) - 0.5)


def test_an_op_tf2onnx_lacks_is_a_clear_error_and_no_file(tmp_path):
    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, Erfinv()(inputs), name="uses_erfinv")
    target = tmp_path / "m.onnx"
    with pytest.raises(ExportError, match=r"no ONNX conversion for the TensorFlow op\(s\) Erfinv .*no file"):
        export_onnx(model, target)
    assert os.listdir(tmp_path) == []


def _real_images(size, channels, n=8):
    import tensorflow as tf

    _, (x, _) = load_fashion_mnist()
    x = tf.image.resize(x[:n].astype("float32") / 255.0, (size, size))
    return np.repeat(x.numpy(), channels, axis=-1) if channels == 3 else x.numpy()


def _tiny(name):
    keras.utils.set_random_seed(0)
    spec = model_entry(name).contract.input
    head = {"num_classes": 7} if model_entry(name).contract.output.is_classifier else {}
    return kerasarch.create_model(name, input_shape=spec.tiny_shape(3 if spec.kind == "image" else None), **head)


def _real_inputs(model):
    """Real Fashion-MNIST images for an image model, the contract's ids for a token model."""
    contract = model.contract
    if contract.input.kind == "image":
        return _real_images(contract.input_shape[0], contract.input_shape[2])
    return contract.sample_inputs(batch=8, seed=3)


# The ONNX walk's CI tier (tests/tiers.py, `ci_onnx`): one model per block family, so every layer
# type's ops pass through tf2onnx and onnxruntime in CI (grouped convolution, depthwise,
# squeeze-excite, hard-swish, GELU, attention, masking, concatenation, padding stems, ...); the other
# variants repeat those ops at other widths and depths and run in `make test-all` (conversion time
# grows with depth: 20 s for plain20, 4 minutes for plain110).
@pytest.mark.parametrize("name", slow_unless(MODELS, tiers.ONNX))
def test_every_registered_model_exports_to_onnx_equal_to_keras(name, tmp_path):
    import onnxruntime as ort

    model = _tiny(name)
    if name in NOT_EXPORTABLE:  # refused up front, with the reason, and nothing written
        with pytest.raises(ExportError, match=f"{name} cannot be exported to ONNX: "):
            export_onnx(model, tmp_path / f"{name}.onnx", quiet_summary=True)
        assert not list(tmp_path.iterdir())
        return
    path = export_onnx(model, tmp_path / f"{name}.onnx", quiet_summary=True)
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    (inp,) = session.get_inputs()
    # The serving input is named and typed after the contract, with a dynamic batch.
    assert inp.name == path.input_name == {"image": "images", "tokens": "tokens",
                                           "sequence": "sequence"}[model.contract.input.kind]
    assert inp.shape[0] == "batch" and inp.type == f"tensor({'float' if path.input_dtype == 'float32' else 'int32'})"
    assert inp.shape[1:] == [s if s is not None else "length" for s in model.contract.input_shape]
    x = _real_inputs(model)
    got = dict(zip([o.name for o in session.get_outputs()], session.run(None, {inp.name: x})))
    expected = model.predict(x, verbose=0)
    if model.contract.output.kind == "forecast":
        assert got["forecast"].dtype == np.float32 and got["forecast"].shape == expected.shape
        np.testing.assert_allclose(got["forecast"], expected, atol=1e-4, rtol=0)
        assert session.run(None, {inp.name: x[:1]})[0].shape[0] == 1
        return
    assert got["probabilities"].dtype == np.float32
    np.testing.assert_allclose(got["probabilities"], expected, atol=1e-4, rtol=0)
    np.testing.assert_allclose(got["probabilities"], _softmax(got["logits"]), atol=1e-6)
    assert session.run(None, {inp.name: x[:1]})[0].shape[0] == 1  # the batch dimension is dynamic


def _softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_onnx_uint8_graph_and_feature_outputs(trained, pixels, tmp_path):
    import onnxruntime as ort

    x, _ = pixels
    path = export_onnx(trained, tmp_path / "u8.onnx", uint8=True, opset=13, quiet_summary=True)
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].type == "tensor(uint8)"
    assert session.get_inputs()[0].shape == ["batch", "height", "width", 1]
    probs = dict(zip([o.name for o in session.get_outputs()], session.run(None, {"images": x})))["probabilities"]
    np.testing.assert_allclose(probs, float32_model(trained).predict(x / 255.0, verbose=0), atol=1e-4, rtol=0)
    # Larger pixels are resized in the graph, bilinearly, as the training pipeline resizes.
    big = np.repeat(np.repeat(x[:4], 2, axis=1), 2, axis=2)
    resized = session.run(None, {"images": big})
    assert resized[0].shape == (4, 10)
    meta = json.loads(session.get_modelmeta().custom_metadata_map["kerasarch"])
    assert meta["preprocessing"]["rescale"] == pytest.approx(1 / 255) and meta["input_dtype"] == "uint8"

    features = kerasarch.create_model("resnet20", include_top=False, pooling="avg", input_shape=(32, 32, 3))
    path = export_onnx(features, tmp_path / "features.onnx", quiet_summary=True)
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == ["outputs"]
    x3 = _real_images(32, 3)
    expected = features.predict(x3, verbose=0)
    np.testing.assert_allclose(session.run(None, {"images": x3})[0], expected, atol=1e-4 * max(1, np.abs(expected).max()))


def _run_cli(*args):
    return subprocess.run([sys.executable, "-m", "kerasarch.cli", *map(str, args)], env=ENV, capture_output=True,
                          text=True, timeout=300)


def test_cli_export_and_predict_both_formats(trained, pixels, tmp_path):
    import tensorflow as tf

    run = tmp_path / "run"
    run.mkdir()
    trained.save(run / "best.keras")
    (run / "report.json").write_text(json.dumps({"dataset": "fashion_mnist"}))
    x, _ = pixels
    files = []
    for i in range(3):
        files.append(tmp_path / f"img{i}.png")
        tf.io.write_file(str(files[-1]), tf.io.encode_png(x[i]))
    names = kerasarch.data.FASHION_MNIST_CLASSES
    expected = float32_model(trained).predict(x[:3] / 255.0, verbose=0)

    out = _run_cli("export", run, "--format", "saved_model", "--out", tmp_path / "serving", "--uint8")
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.startswith(f"SavedModel {tmp_path / 'serving' / 'resnet20' / '1'}") and "docker run" in out.stdout
    assert out.stderr.strip() == "", out.stderr[-2000:]  # quiet: no tracing lines
    out = _run_cli("export", run, "--format", "onnx", "--out", tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.startswith(f"ONNX {tmp_path / 'resnet20.onnx'}")

    for artifact in (tmp_path / "serving", tmp_path / "resnet20.onnx"):
        out = _run_cli("predict", artifact, *files, "--top", "2")
        assert out.returncode == 0, out.stderr[-2000:]
        lines = {ln.split(": ", 1)[0].strip(): ln.split(": ", 1)[1] for ln in out.stdout.splitlines()[1:]}
        for path, row in zip(files, expected):
            printed = [item.rsplit(" ", 1) for item in lines[str(path)].split(", ")]
            assert len(printed) == 2
            for name, score in printed:  # each printed class with Keras's probability for it
                assert abs(float(score) - row[names.index(name)]) <= 1e-3, (name, score, row)
            assert float(printed[0][1]) >= float(printed[1][1]) >= np.sort(row)[-3] - 1e-3



def test_cli_export_mistakes_are_one_line_errors(trained, tmp_path, capsys):
    from kerasarch.cli import main

    trained.save(tmp_path / "m.keras")
    (tmp_path / "m.onnx").write_bytes(b"")
    cases = [
        (["export", tmp_path / "m.keras", "--format", "onnx", "--out", tmp_path / "m.onnx"],
         "already exists; pass overwrite=True (--overwrite)"),
        (["predict", tmp_path / "nothing.onnx", tmp_path / "x.png"], "does not exist"),
        (["export", tmp_path / "m.keras", "--format", "saved_model", "--out", tmp_path / "s", "--opset", "13"],
         "--opset is an ONNX option"),
        (["export", tmp_path / "nothing", "--format", "onnx", "--out", tmp_path], "does not exist"),
        (["export", tmp_path / "m.onnx", "--format", "onnx", "--out", tmp_path], "is not a .keras file"),
    ]
    for argv, message in cases:
        assert main([str(a) for a in argv]) == 2
        err = capsys.readouterr().err
        assert err.startswith("kerasarch: error: ") and message in err and err.count("\n") == 1, err
    with pytest.raises(SystemExit) as exit_:
        main(["export", str(tmp_path / "m.keras"), "--format", "tflite", "--out", "x"])
    assert exit_.value.code == 2 and re.search(r"invalid choice: 'tflite'", capsys.readouterr().err)


SERVE_TOKENS_IN_FRESH_PROCESS = """
import sys, numpy as np, tensorflow as tf
path, ids, out = sys.argv[1:]
served = tf.saved_model.load(path).signatures["serving_default"]
result = served(tokens=tf.constant(np.load(ids)))
np.savez(out, **{k: v.numpy() for k, v in result.items()})
"""


def test_a_token_model_serves_int32_ids_in_saved_model_and_onnx(tmp_path):
    """The text classifier, registered like any model, exports with an int32 ``tokens`` input of
    any length; the served probabilities equal Keras's at 1e-4, padding included."""
    import onnxruntime as ort

    keras.utils.set_random_seed(0)
    model = kerasarch.create_model("transformer_text_tiny", vocab_size=500, max_length=64, num_classes=4)
    path = export_saved_model(model, tmp_path / "serving", quiet_summary=True)
    assert path.input_name == "tokens" and path.input_dtype == "int32" and path.parity["max_diff"] <= 1e-4
    ids = model.contract.sample_inputs(batch=6, seed=5)  # the second row ends in padding
    longer = np.concatenate([ids, np.zeros((6, 20), "int32")], axis=1)  # any length up to max_length
    expected = model.predict(ids, verbose=0)
    for batch in (ids, longer):
        np.save(tmp_path / "ids.npy", batch)
        _fresh_process(SERVE_TOKENS_IN_FRESH_PROCESS, path, tmp_path / "ids.npy", tmp_path / "out.npz")
        np.testing.assert_allclose(np.load(tmp_path / "out.npz")["probabilities"], expected, atol=1e-4, rtol=0)
    with open(os.path.join(path, "assets.extra", "kerasarch.json")) as f:
        meta = json.load(f)
    assert meta["input_kind"] == "tokens" and meta["contract"]["input"]["vocab_size"] == 500

    onnx_path = export_onnx(model, tmp_path / "text.onnx", quiet_summary=True)
    session = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    assert [(i.name, i.type, i.shape) for i in session.get_inputs()] == [("tokens", "tensor(int32)", ["batch", "length"])]
    for batch in (ids, longer):
        got = dict(zip([o.name for o in session.get_outputs()], session.run(None, {"tokens": batch})))
        np.testing.assert_allclose(got["probabilities"], expected, atol=1e-4, rtol=0)
    with pytest.raises(ValueError, match="uint8=True serves raw image pixels"):
        export_onnx(model, tmp_path / "u8.onnx", uint8=True)
    assert not os.path.exists(tmp_path / "u8.onnx")


def test_recurrent_onnx_needs_fixed_steps_and_refuses_bidirectional_with_the_reason(tmp_path):
    any_length = kerasarch.create_model("gru_forecaster", units=4, horizon=3)
    with pytest.raises(ExportError, match=r"fixed number of steps.*input_shape=\(336, features\)"):
        export_onnx(any_length, tmp_path / "f.onnx", quiet_summary=True)
    # A bidirectional model built outside the registry's names is refused by what it holds.
    bi = kerasarch.models.rnn.build_recurrent_classifier(
        kerasarch.models.rnn.RecurrentVariant("my_bigru", "gru", 4, bidirectional=True, vocab_size=20, max_length=8))
    with pytest.raises(ExportError, match="bidirectional recurrent layers .*rnn1"):
        export_onnx(bi, tmp_path / "b.onnx", quiet_summary=True)
    assert not list(tmp_path.iterdir())


def test_a_forecaster_at_fixed_steps_exports_to_onnx_with_parity(tmp_path):
    import onnxruntime as ort

    model = kerasarch.create_model("lstm_forecaster", num_features=3, horizon=6, units=8, input_shape=(24, 3))
    window = np.random.default_rng(0).normal(size=(5, 24, 3)).astype("float32")
    expected = np.asarray(model(window, training=False))
    path = export_onnx(model, tmp_path / "forecast.onnx", quiet_summary=True)
    assert path.parity["max_diff"] <= 1e-4
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    (name,) = [i.name for i in session.get_inputs()]
    got = session.run(None, {name: window})[0]
    assert got.shape == (5, 6, 1)
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)


SERVE_TEXT_IN_FRESH_PROCESS = """
import json, sys, numpy as np, tensorflow as tf
path, texts, out = sys.argv[1:]
served = tf.saved_model.load(path).signatures["serving_default"]
result = served(text=tf.constant(json.load(open(texts))))
np.savez(out, **{k: v.numpy() for k, v in result.items()})
"""


def test_a_recurrent_classifier_serves_raw_strings_with_its_vocabulary(tmp_path):
    """A client sends sentences: the SavedModel tokenizes them with the training vocabulary and
    answers as Keras does on the same ids; a reloaded TensorFlow answers a real request."""
    from kerasarch.seqdata import load_movie_sentences
    from kerasarch.text import Vocabulary

    data = load_movie_sentences()
    vocab = Vocabulary.build(data.train[0], min_count=2)
    keras.utils.set_random_seed(0)
    model = kerasarch.create_model("lstm_classifier", vocab_size=vocab.size, max_length=vocab.max_length,
                                   input_shape=(vocab.max_length,), units=8, embed_dim=8)
    texts = data.test[0][:6] + ["", "An unseen zzyzxq word.", "long " * 80]
    path = export_saved_model(model, tmp_path / "serving", vocabulary=vocab, check_texts=data.test[0][:16],
                              quiet_summary=True)
    assert path.parity["text"]["checked_texts"] == 16 and path.parity["text"]["max_diff"] <= 1e-4
    with open(tmp_path / "texts.json", "w") as f:
        json.dump(texts, f)
    _fresh_process(SERVE_TEXT_IN_FRESH_PROCESS, path, tmp_path / "texts.json", tmp_path / "out.npz")
    got = np.load(tmp_path / "out.npz")
    ids = np.zeros((len(texts), vocab.max_length), "int32")
    ids[:6] = vocab.encode(texts[:6], too_long="truncate")
    ids[7:] = vocab.encode(texts[7:], too_long="truncate")
    np.testing.assert_allclose(got["probabilities"], model.predict(ids, verbose=0), atol=1e-4, rtol=0)
    # What a client needs to trust an answer: the empty text, the unknown word, the cut text.
    assert got["num_tokens"][6] == 0 and got["num_unknown"][7] >= 1 and got["num_unknown"][:6].sum() < got["num_tokens"][:6].sum()
    assert got["truncated"].tolist() == [False] * 8 + [True] and got["num_tokens"][8] == 80
    with open(os.path.join(path, "assets.extra", "kerasarch.json")) as f:
        meta = json.load(f)
    assert meta["text_input"]["signature"] == "serving_default" and meta["text_input"]["length"] == vocab.max_length
    assert Vocabulary.load(os.path.join(path, "assets.extra", "vocabulary.json")).tokens == vocab.tokens
    with pytest.raises(ValueError, match="ids past 9 would index outside the embedding"):
        export_saved_model(kerasarch.create_model("lstm_classifier", vocab_size=10, units=4), tmp_path / "bad",
                           vocabulary=vocab)
    assert not os.path.exists(tmp_path / "bad" / "lstm_classifier")
