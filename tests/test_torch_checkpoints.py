"""What load_torch_weights promises besides parity: every problem is found before anything is
assigned and named with both shapes; heads of another size are handled only as asked; pickles
are read as tensors only; known checkpoint files carry their preprocessing and class names."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import kerasarch
from kerasarch.preprocessing import Preprocessing
from torch_twins import TOLERANCE, build, images, kerasarch_logits, randomize, relative_diff, write_checkpoints

torch = pytest.importorskip("torch", reason="needs torch (make install)")
torchvision = pytest.importorskip("torchvision")

from kerasarch.weights import CheckpointError, load_torch_weights, read_state_dict  # noqa: E402
from kerasarch.weights.reference import build_reference, reference_logits  # noqa: E402

SIZE = 32


@pytest.fixture(scope="module")
def resnet18_state():
    ref = randomize(build_reference("resnet18", num_classes=5), seed=1)
    return ref, {k: v.detach().clone() for k, v in ref.state_dict().items()}


def _values(model):
    return [np.array(keras.ops.convert_to_numpy(v)) for v in model.weights]


def _unchanged(before, model):
    return all(np.array_equal(a, b) for a, b in zip(before, _values(model)))


def test_a_state_dict_in_memory_loads_and_matches(resnet18_state):
    ref, state = resnet18_state
    model = build("resnet18", SIZE, num_classes=5)
    report = load_torch_weights(model, state)
    x = images(SIZE)
    assert relative_diff(kerasarch_logits(model, x), reference_logits(ref, x)) <= TOLERANCE
    assert report.source == "torchvision" and report.loaded == 102 and not report.skipped and not report.dropped


def test_a_missing_tensor_is_named_and_nothing_is_assigned(resnet18_state):
    _, state = resnet18_state
    state = dict(state)
    del state["layer2.0.downsample.1.running_var"]
    model = build("resnet18", SIZE, num_classes=5)
    before = _values(model)
    with pytest.raises(CheckpointError) as err:
        load_torch_weights(model, state)
    message = str(err.value)
    assert "layer2.0.downsample.1.running_var" in message and "stage2_block1/downsample/bn/moving_variance" in message
    assert "nothing was loaded" in message
    assert _unchanged(before, model)


def test_a_mis_shaped_and_an_unexpected_tensor_are_named_with_both_shapes(resnet18_state):
    _, state = resnet18_state
    state = dict(state)
    state["layer1.0.conv1.weight"] = torch.zeros(64, 64, 5, 5)
    state["layer9.extra.weight"] = torch.zeros(3)
    model = build("resnet18", SIZE, num_classes=5)
    before = _values(model)
    with pytest.raises(CheckpointError) as err:
        load_torch_weights(model, state)
    message = str(err.value)
    assert "layer1.0.conv1.weight: checkpoint (64, 64, 5, 5), model stage1_block1/conv1/conv/kernel (3, 3, 64, 64)" \
        in message, message
    assert "layer9.extra.weight (3,)" in message
    assert _unchanged(before, model)


def test_another_number_of_classes_is_an_error_unless_skip_mismatch(resnet18_state):
    ref, state = resnet18_state
    model = build("resnet18", SIZE, num_classes=3)
    head_before = np.array(keras.ops.convert_to_numpy(model.get_layer("fc").kernel))
    with pytest.raises(CheckpointError, match=r"checkpoint has 5 classes.*num_classes=5.*include_top=False.*"
                                              r"skip_mismatch=True"):
        load_torch_weights(model, state)
    report = load_torch_weights(model, state, skip_mismatch=True)
    assert [k for k, _ in report.skipped] == ["fc.weight", "fc.bias"]
    assert np.array_equal(head_before, keras.ops.convert_to_numpy(model.get_layer("fc").kernel))
    # The body did load: its pooled features are the reference's.
    backbone = keras.Model(model.input, model.get_layer("avg_pool").output)
    ref_body = torch.nn.Sequential(*list(ref.children())[:-1]).eval()
    x = images(SIZE)
    want = reference_logits(ref_body, x).reshape(len(x), -1)
    assert relative_diff(kerasarch_logits(backbone, x), want) <= TOLERANCE


def test_skip_mismatch_never_skips_a_body_tensor(resnet18_state):
    _, state = resnet18_state
    state = dict(state, **{"layer4.1.bn2.weight": torch.ones(7)})
    with pytest.raises(CheckpointError, match="layer4.1.bn2.weight: checkpoint \\(7,\\)"):
        load_torch_weights(build("resnet18", SIZE, num_classes=5), state, skip_mismatch=True)


def test_a_model_without_top_leaves_the_head_out_and_says_so(resnet18_state):
    ref, state = resnet18_state
    model = kerasarch.create_model("resnet18", include_top=False, pooling="avg", input_shape=(SIZE, SIZE, 3))
    report = load_torch_weights(model, state)
    assert sorted(k for k, _ in report.dropped) == ["fc.bias", "fc.weight"]
    assert "left out 2 checkpoint tensors (the model has no classifier)" in str(report)
    ref_body = torch.nn.Sequential(*list(ref.children())[:-1]).eval()
    x = images(SIZE)
    assert relative_diff(kerasarch_logits(model, x), reference_logits(ref_body, x).reshape(len(x), -1)) <= TOLERANCE


def test_a_cnn_checkpoint_fits_another_input_size(resnet18_state, tmp_path):
    ref, _ = resnet18_state
    pth, _ = write_checkpoints(ref, str(tmp_path))
    for size in (48, 96):
        model = build("resnet18", size, num_classes=5, weights=pth)
        x = images(size)
        assert relative_diff(kerasarch_logits(model, x), reference_logits(ref, x)) <= TOLERANCE


def test_training_checkpoints_are_unwrapped(resnet18_state, tmp_path):
    ref, state = resnet18_state
    path = str(tmp_path / "train_state.pth")
    torch.save({"epoch": 3, "state_dict": {f"module.{k}": v for k, v in state.items()}, "lr": 0.1}, path)
    model = build("resnet18", SIZE, num_classes=5, weights=path)
    x = images(SIZE)
    assert relative_diff(kerasarch_logits(model, x), reference_logits(ref, x)) <= TOLERANCE


class _Payload:
    def __reduce__(self):
        return (os.mkdir, (os.environ["KERASARCH_TEST_SENTINEL"],))


def test_a_pickle_with_objects_is_refused_and_never_runs(tmp_path, monkeypatch):
    sentinel = tmp_path / "ran"
    monkeypatch.setenv("KERASARCH_TEST_SENTINEL", str(sentinel))
    path = str(tmp_path / "evil.pth")
    torch.save({"conv1.weight": torch.zeros(1), "payload": _Payload()}, path)
    assert not sentinel.exists()
    with pytest.raises(CheckpointError, match=r"weights_only=True.*never arbitrary pickled objects"):
        read_state_dict(path)
    assert not sentinel.exists()


def test_safetensors_are_read_without_torch(resnet18_state, tmp_path):
    ref, _ = resnet18_state
    _, st = write_checkpoints(ref, str(tmp_path))
    code = ("import sys; from kerasarch.weights import read_state_dict; s = read_state_dict(sys.argv[1]); "
            "assert 'torch' not in sys.modules, 'torch was imported'; print(len(s))")
    out = subprocess.run([sys.executable, "-c", code, st], capture_output=True, text=True,
                         env=dict(os.environ, KERAS_BACKEND="jax"), timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == str(len(ref.state_dict()))


def test_unreadable_and_misnamed_files_are_clear(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        read_state_dict(str(tmp_path / "nothing.pth"))
    bad = tmp_path / "broken.safetensors"
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(CheckpointError, match="not a readable .safetensors file"):
        read_state_dict(str(bad))
    with pytest.raises(ValueError, match=r"must end in .keras or .weights.h5.*\.pth"):
        kerasarch.create_model("resnet18", input_shape=(SIZE, SIZE, 3), weights=str(tmp_path / "w.npz"))


def test_families_and_variants_without_a_twin_say_which_have_one():
    with pytest.raises(CheckpointError, match="resnet20 has no torchvision or timm twin.*resnet18"):
        load_torch_weights(kerasarch.create_model("resnet20"), {"x": np.zeros(1)})
    with pytest.raises(CheckpointError, match="the lenet family has no torch twin.*resnet"):
        load_torch_weights(kerasarch.create_model("lenet5"), {"x": np.zeros(1)})


def test_a_known_torchvision_file_records_its_preprocessing_and_classes(tmp_path):
    ref = randomize(build_reference("resnet18", num_classes=1000), seed=2)
    torch.save(ref.state_dict(), str(tmp_path / "resnet18-f37072fd.pth"))
    path = str(tmp_path / "resnet18-f37072fd.pth")
    with pytest.raises(CheckpointError, match=r"the torchvision checkpoint of resnet18 \(IMAGENET1K_V1\), not of resnet34"):
        kerasarch.create_model("resnet34", input_shape=(SIZE, SIZE, 3), weights=path)
    model = kerasarch.create_model("resnet18", input_shape=(SIZE, SIZE, 3), weights=path)
    assert model.arch["weights"] == {"source": "torchvision", "file": "resnet18-f37072fd.pth", "tag": "IMAGENET1K_V1"}
    assert Preprocessing.of(model) == Preprocessing(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225),
                                                    resize=256, crop=224, interpolation="bilinear")
    names = model.arch["class_names"]
    assert len(names) == 1000 and names[0] == "tench" and names[999] == "toilet tissue"
    saved = str(tmp_path / "r18.keras")
    model.save(saved)
    loaded = keras.saving.load_model(saved)
    assert list(loaded.arch["class_names"]) == list(names) and Preprocessing.of(loaded) == Preprocessing.of(model)


def test_a_timm_hub_download_is_known_by_its_config_json(tmp_path):
    ref = randomize(build_reference("resnet18", num_classes=1000, source="timm"), seed=3)
    folder = tmp_path / "models--timm--resnet18.a1_in1k" / "snapshots" / "abc"
    folder.mkdir(parents=True)
    _, st = write_checkpoints(ref, str(folder))
    config = {"architecture": "resnet18", "num_classes": 1000, "pretrained_cfg": {
        "tag": "a1_in1k", "input_size": [3, 224, 224], "interpolation": "bicubic", "crop_pct": 0.95,
        "crop_mode": "center", "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225], "num_classes": 1000}}
    (folder / "config.json").write_text(json.dumps(config))
    model = kerasarch.create_model("resnet18", input_shape=(SIZE, SIZE, 3), weights=st, classifier_activation=None)
    assert model.arch["weights"]["source"] == "timm" and model.arch["weights"]["tag"] == "resnet18.a1_in1k"
    assert model.arch["preprocessing"]["resize"] == 235 and model.arch["preprocessing"]["crop"] == 224
    assert model.arch["preprocessing"]["interpolation"] == "bicubic"
    x = images(SIZE)
    want = reference_logits(ref, x)
    assert relative_diff(kerasarch_logits(model, x), want) <= TOLERANCE


def test_a_features_only_model_takes_the_levels_it_has(resnet18_state):
    ref, state = resnet18_state
    model = kerasarch.create_model("resnet18", features_only=True, out_indices=(0, 1), input_shape=(SIZE, SIZE, 3))
    report = load_torch_weights(model, state)
    assert report.dropped and all("features_only" in why or "classifier" in why for _, why in report.dropped)
    assert any(k.startswith("layer4.") for k, _ in report.dropped)
