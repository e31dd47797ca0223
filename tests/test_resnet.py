"""The ResNet family at full size: exact parameter counts, layout, and every user error."""

import keras
import numpy as np
import pytest

import kerasarch

from anchors import ANCHORS as ALL_ANCHORS

ANCHORS = {name: ALL_ANCHORS[name] for name in kerasarch.list_models(family="resnet")}


def trainable_count(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def test_cifar_formula_and_plain_twins():
    for n, name in [(3, "resnet20"), (5, "resnet32"), (9, "resnet56"), (18, "resnet110")]:
        assert ANCHORS[name] == 97_216 * n - 21_926
    plain = kerasarch.create_model("plain20")
    assert all(not layer.use_shortcut for layer in plain.layers if isinstance(layer, kerasarch.layers.ResidualBlock))


def test_resnet50_layout_follows_torchvision():
    model = kerasarch.ResNet50()
    assert model.output_shape == (None, 1000)
    # v1.5: the stride sits on the 3x3 convolution of the first block of stages 2-4.
    block = model.get_layer("stage2_block1")
    assert block.convs[0].strides == 1 and block.convs[1].strides == 2
    assert [f["num_chs"] for f in model.feature_info] == [64, 256, 512, 1024, 2048]
    assert [f["reduction"] for f in model.feature_info] == [2, 4, 8, 16, 32]
    # No bias on any convolution; BatchNorm statistics are non-trainable extras.
    assert not any(w.path.endswith("conv/bias") for w in model.weights)
    assert model.count_params() - trainable_count(model) == 53_120


@pytest.mark.parametrize("size", [32, 33, 100, 224, 257])
def test_any_input_size_down_to_the_minimum(size):
    model = kerasarch.ResNet18(input_shape=(size, size, 3), num_classes=3)
    x = np.zeros((1, size, size, 3), "float32")
    assert model(x).shape == (1, 3)


def test_dynamic_spatial_size():
    model = kerasarch.ResNet18(input_shape=(None, None, 3), num_classes=4)
    for size in (32, 48, 97):
        assert model(np.zeros((1, size, size, 3), "float32")).shape == (1, 4)


def test_include_top_pooling_and_input_tensor():
    assert kerasarch.ResNet18(include_top=False, input_shape=(64, 64, 3)).output_shape == (None, 2, 2, 512)
    assert kerasarch.ResNet18(include_top=False, pooling="avg", input_shape=(64, 64, 3)).output_shape == (None, 512)
    assert kerasarch.ResNet18(include_top=False, pooling="max", input_shape=(64, 64, 3)).output_shape == (None, 512)
    tensor = keras.Input((48, 48, 3))
    model = kerasarch.ResNet18(input_tensor=tensor, num_classes=2)
    assert model.inputs[0] is tensor and model.output_shape == (None, 2)


def test_classes_alias_and_classifier_activation():
    assert kerasarch.ResNet20(classes=4).output_shape == (None, 4)
    x = np.random.default_rng(0).normal(size=(3, 32, 32, 3)).astype("float32")
    probs = np.asarray(kerasarch.ResNet20(num_classes=5)(x))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    keras.utils.set_random_seed(0)
    logits_model = kerasarch.ResNet20(num_classes=5, classifier_activation=None)
    assert logits_model.layers[-1].name == "fc"
    sig = kerasarch.ResNet20(num_classes=5, classifier_activation="sigmoid")
    y = np.asarray(sig(x))
    assert ((y > 0) & (y < 1)).all()


def test_drop_rate_and_drop_path_rate_are_used():
    model = kerasarch.ResNet20(drop_rate=0.3, drop_path_rate=0.2)
    assert model.get_layer("head_drop").rate == 0.3
    rates = [layer.drop_path_rate for layer in model.layers if isinstance(layer, kerasarch.layers.ResidualBlock)]
    assert rates[0] == 0.0 and rates[-1] == pytest.approx(0.2) and rates == sorted(rates)


def test_he_initialisation_of_convolutions():
    model = kerasarch.ResNet50()
    kernel = np.asarray(model.get_layer("stage3_block2").convs[1].conv.kernel)
    assert kernel.std() == pytest.approx(np.sqrt(2.0 / (3 * 3 * 256)), rel=0.02)


def test_mixed_precision_head_is_float32():
    model = kerasarch.ResNet20(dtype="mixed_bfloat16")
    assert model.get_layer("stage1_block1").compute_dtype == "bfloat16"
    y = model(np.zeros((2, 32, 32, 3), "float32"))
    assert keras.backend.standardize_dtype(y.dtype) == "float32"
    assert keras.config.dtype_policy().name == "float32"  # the global policy is left alone


# -- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [0, -3, 2.5, "10", True])
def test_num_classes_must_be_a_positive_int(bad):
    with pytest.raises(ValueError, match="num_classes must be a positive integer"):
        kerasarch.ResNet18(num_classes=bad)


def test_num_classes_and_classes_must_agree():
    with pytest.raises(ValueError, match="disagree"):
        kerasarch.ResNet18(num_classes=10, classes=5)


def test_input_too_small_names_the_minimum():
    with pytest.raises(ValueError, match=r"31x31 is too small.*at least 32x32"):
        kerasarch.ResNet50(input_shape=(31, 31, 3))
    with pytest.raises(ValueError, match=r"at least 4x4"):
        kerasarch.ResNet20(input_shape=(3, 3, 3))


@pytest.mark.parametrize("bad", [(224, 224), (224, 224, 3, 1), (224, -1, 3), (224, 224, None), "224x224", 224])
def test_bad_input_shape(bad):
    with pytest.raises(ValueError, match=r"input_shape must be \(height, width, channels\)"):
        kerasarch.ResNet18(input_shape=bad)


def test_include_top_with_pooling():
    with pytest.raises(ValueError, match="include_top=False"):
        kerasarch.ResNet18(pooling="avg")
    with pytest.raises(ValueError, match="pooling must be None, 'avg' or 'max'"):
        kerasarch.ResNet18(include_top=False, pooling="mean")


def test_out_indices_out_of_range():
    with pytest.raises(ValueError, match=r"out_indices \[5\] out of range.*5 feature levels, 0..4"):
        kerasarch.ResNet18(features_only=True, out_indices=(1, 5))


def test_bad_dtype_policy():
    with pytest.raises(ValueError, match="not a dtype policy"):
        kerasarch.ResNet20(dtype="mixed_float8")
    with pytest.raises(ValueError, match="needs floating point"):
        kerasarch.ResNet20(dtype="int32")


def test_unknown_argument_and_bad_activation():
    with pytest.raises(TypeError, match="unexpected argument.*num_class"):
        kerasarch.ResNet20(num_class=10)
    with pytest.raises(ValueError, match="unknown classifier_activation"):
        kerasarch.ResNet20(classifier_activation="softmaxx")
    with pytest.raises(ValueError, match=r"drop_rate must be a number in \[0, 1\)"):
        kerasarch.ResNet20(drop_rate=1.5)


# -- weights files ---------------------------------------------------------------------------


def test_weights_round_trip_from_weights_h5_and_keras(tmp_path):
    x = np.random.default_rng(0).normal(size=(2, 32, 32, 3)).astype("float32")
    source = kerasarch.ResNet20(num_classes=4)
    expected = source.predict(x, verbose=0)
    source.save_weights(tmp_path / "r20.weights.h5")
    source.save(tmp_path / "r20.keras")
    for path in (tmp_path / "r20.weights.h5", tmp_path / "r20.keras"):
        keras.utils.set_random_seed(123)
        model = kerasarch.ResNet20(num_classes=4, weights=str(path))
        np.testing.assert_allclose(model.predict(x, verbose=0), expected, atol=1e-6)
    backbone = kerasarch.ResNet20(include_top=False, pooling="avg", weights=str(tmp_path / "r20.weights.h5"))
    reference = keras.Model(source.input, source.get_layer("avg_pool").output)
    np.testing.assert_allclose(backbone.predict(x, verbose=0), reference.predict(x, verbose=0), atol=1e-6)


def test_weights_errors_name_layer_and_shapes(tmp_path):
    path = tmp_path / "r20.weights.h5"
    kerasarch.ResNet20(num_classes=4).save_weights(path)
    with pytest.raises(ValueError, match=r"layer 'stem/conv'.*input channels differ \(1 vs 3\).*input_shape"):
        kerasarch.ResNet20(num_classes=4, input_shape=(32, 32, 1), weights=str(path))
    with pytest.raises(ValueError, match=r"layer 'fc'.*file has 4 classes; pass num_classes=4"):
        kerasarch.ResNet20(num_classes=10, weights=str(path))
    with pytest.raises(ValueError, match="different architecture"):
        kerasarch.ResNet32(num_classes=4, weights=str(path))
    with pytest.raises(ValueError, match="does not exist"):
        kerasarch.ResNet20(weights=str(tmp_path / "missing.weights.h5"))
    with pytest.raises(ValueError, match=r"must end in .keras or .weights.h5"):
        kerasarch.ResNet20(weights=str(tmp_path / "r20.h5"))
    with pytest.raises(ValueError, match="no pretrained weights"):
        kerasarch.ResNet20(weights="imagenet")
    not_h5 = tmp_path / "junk.weights.h5"
    not_h5.write_bytes(b"not an hdf5 file")
    with pytest.raises(ValueError, match="not a readable HDF5"):
        kerasarch.ResNet20(weights=str(not_h5))
