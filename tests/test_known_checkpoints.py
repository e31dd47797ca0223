"""The published torchvision checkpoints kerasarch knows, checked against torchvision's own
weight enums, and the preprocessing they record checked against torchvision's transforms on
real photographs (the two that ship with scikit-learn)."""

import inspect
import os
import subprocess
import sys

import numpy as np
import pytest

torchvision = pytest.importorskip("torchvision", reason="needs torchvision (make install)")
torch = pytest.importorskip("torch")

import kerasarch  # noqa: E402
from kerasarch.preprocessing import IMAGENET_MEAN, IMAGENET_STD, Preprocessing  # noqa: E402
from kerasarch.weights import imagenet_classes, torchvision_checkpoints, twins  # noqa: E402
from kerasarch.weights.known import _GOOGLE_INPUT  # noqa: E402

KNOWN = torchvision_checkpoints()
PHOTOS = [os.path.join(os.path.dirname(__import__("sklearn.datasets").datasets.__file__), "images", f)
          for f in ("china.jpg", "flower.jpg")]


def _torchvision_name(model):
    return next(t.name for t in twins()[model] if t.source == "torchvision")


def _weights():
    """Every torchvision ImageNet-1k weight of a kerasarch variant, by file name."""
    out = {}
    for model, refs in twins("torchvision").items():
        for w in torchvision.models.get_model_weights(refs[0].name):
            if w.meta.get("categories"):
                out[w.url.rsplit("/", 1)[-1]] = (model, w)
    return out


def test_every_torchvision_imagenet_checkpoint_of_a_twin_is_known_and_every_known_one_has_a_twin():
    assert set(KNOWN) == set(_weights())
    assert {c.model for c in KNOWN.values()} <= set(twins("torchvision"))


@pytest.mark.parametrize("file", sorted(KNOWN))
def test_each_known_file_matches_torchvision(file):
    known = KNOWN[file]
    model, w = _weights()[file]
    t = w.transforms()
    p = known.preprocessing
    assert (known.model, known.tag, known.source) == (model, w.name, "torchvision")
    assert (p.crop, p.resize, p.interpolation) == (t.crop_size[0], t.resize_size[0], t.interpolation.value)
    assert known.class_names == tuple(w.meta["categories"]) == imagenet_classes()
    if file in _GOOGLE_INPUT:
        # torchvision turns transform_input on whenever it loads these weights (its builder says so).
        source = inspect.getsource(torchvision.models.get_model_builder(_torchvision_name(model)))
        assert '"transform_input", True' in source
        assert (p.mean, p.std) == ((0.5,) * 3, (0.5,) * 3) and tuple(t.mean) == IMAGENET_MEAN
    else:
        assert (p.mean, p.std) == (tuple(t.mean), tuple(t.std))


@pytest.mark.parametrize("file", ["resnet50-11ad3fa6.pth", "efficientnet_b3_rwightman-b3899882.pth"])
def test_recorded_preprocessing_matches_torchvision_on_real_photos(file):
    p = KNOWN[file].preprocessing
    transform = _weights()[file][1].transforms()
    from PIL import Image

    for path in PHOTOS:
        image = np.array(Image.open(path).convert("RGB"))
        want = transform(torch.from_numpy(image).permute(2, 0, 1)).permute(1, 2, 0).numpy()
        got = np.asarray(p.apply(image, (p.crop, p.crop)))
        assert got.shape == want.shape
        # The same antialiased kernels and uint8 rounding: at most one grey level (1/255/std) at the
        # odd pixel where float32 sums round the other way.
        one_level = 1 / 255 / min(p.std) + 1e-6
        assert np.abs(got - want).max() <= one_level and np.abs(got - want).mean() <= 1e-4, path


def test_preprocessing_keeps_the_crop_ratio_at_other_sizes():
    p = Preprocessing(mean=IMAGENET_MEAN, std=IMAGENET_STD, resize=256, crop=224)
    image = np.zeros((300, 400, 3), np.uint8)
    assert tuple(np.asarray(p.apply(image, (384, 384))).shape) == (384, 384, 3)
    assert Preprocessing.from_json(p.to_json()) == p
    with pytest.raises(ValueError, match="both resize and crop"):
        Preprocessing(resize=256)
    with pytest.raises(ValueError, match="interpolation must be one of"):
        Preprocessing(resize=256, crop=224, interpolation="lanczos")


def _cli(*args, cwd):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, "-m", "kerasarch.cli", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=900)


def test_convert_then_predict_from_the_command_line(tmp_path):
    from torch_twins import randomize
    from kerasarch.weights.reference import build_reference

    ckpt = str(tmp_path / "resnet18-f37072fd.pth")
    torch.save(randomize(build_reference("resnet18"), seed=4).state_dict(), ckpt)
    out = str(tmp_path / "resnet18.keras")
    done = _cli("convert", "resnet18", ckpt, "--out", out, "--input-size", "64", cwd=str(tmp_path))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "loaded 102 tensors (torchvision layout)" in done.stdout
    assert "recognised torchvision resnet18 IMAGENET1K_V1" in done.stdout
    parity = float(done.stdout.split("max |diff| / max(1, max |logit|) = ")[1].split()[0])
    assert parity <= 1e-4
    done = _cli("predict", out, *PHOTOS, "--top", "2", cwd=str(tmp_path))
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    assert lines[0].startswith("keras ") and "(probabilities)" in lines[0]
    names = set(imagenet_classes())
    for line in lines[1:]:
        top = line.split(": ", 1)[1].split(", ")
        assert len(top) == 2 and all(t.rsplit(" ", 1)[0] in names for t in top), line

    # A mistake is reported before anything is written, with the whole list of what does not fit.
    again = _cli("convert", "resnet18", ckpt, "--out", out, cwd=str(tmp_path))
    assert again.returncode == 2 and "exists; pass --overwrite" in again.stderr
    other = str(tmp_path / "other.pth")
    state = torch.load(ckpt, weights_only=True)
    state["layer3.0.conv1.weight"] = state["layer3.0.conv1.weight"][:, :64]
    torch.save(state, other)
    bad = _cli("convert", "resnet18", other, "--out", str(tmp_path / "bad.keras"), "--no-parity", cwd=str(tmp_path))
    assert bad.returncode == 2
    assert "layer3.0.conv1.weight: checkpoint (256, 64, 3, 3), model stage3_block1/conv1/conv/kernel (3, 3, 128, 256)" \
        in bad.stderr, bad.stderr
    assert not os.path.exists(tmp_path / "bad.keras")


@pytest.mark.skipif(__import__("keras").backend.backend() != "tensorflow", reason="SavedModel export is TensorFlow's")
def test_a_uint8_export_of_a_known_checkpoint_preprocesses_as_torchvision_does(tmp_path):
    """The exported graph resizes, crops and normalises as the checkpoint expects, with no arguments."""
    import keras
    from PIL import Image

    from kerasarch.export import export_onnx
    from kerasarch.export.artifact import load_artifact
    from torch_twins import randomize
    from kerasarch.weights.reference import build_reference

    ckpt = str(tmp_path / "resnet18-f37072fd.pth")
    torch.save(randomize(build_reference("resnet18"), seed=5).state_dict(), ckpt)
    model = kerasarch.create_model("resnet18", input_shape=(64, 64, 3), weights=ckpt)
    path = str(tmp_path / "r18.onnx")
    export_onnx(model, path, uint8=True)
    artifact = load_artifact(path)
    assert artifact.preprocessing == Preprocessing.of(model) and artifact.preprocessing.crop == 224
    assert artifact.class_names == list(imagenet_classes())
    image = np.array(Image.open(PHOTOS[0]).convert("RGB"))
    served = artifact.predict([image])["probabilities"]
    want = keras.ops.convert_to_numpy(model(artifact.preprocessing.apply(image[None], (64, 64)), training=False))
    assert np.abs(served - want).max() <= 1e-5
