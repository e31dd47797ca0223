"""The contract every registered model keeps, on tiny inputs, on every backend CI runs.

For each name in ``kerasarch.list_models()``: output shape and finite values in training
and inference mode, a non-zero gradient for every trainable weight, ``get_config`` /
``from_config`` reproducing the outputs, float32 output under ``mixed_bfloat16``, and
``features_only`` outputs that match ``feature_info``.

Some checks cost seconds to a minute per model: the ``.keras`` file round trip (it writes
every weight: 800 MB for ConvNeXt-L), the ``mixed_bfloat16`` build, ``features_only`` and
``out_indices`` (the dtype policy and the feature taps are the shared builder's, not a
variant's) and an XLA-compiled training step (compile time grows with depth: 50 s for
EfficientNet-B7). They run for every model too, but in CI (``make test``) only for the
variants in ``CI_TIER``: the smallest of each family and the variants in ``CODE_PATHS``,
which together reach every layer type and code path; the other variants of a family only
repeat those layers with other widths and depths. The XLA step runs in CI for one model
per kind of op (``XLA_TIER``). ``make test-all`` runs every check for every model. On JAX,
CI runs the whole contract for five models that reach every kind of layer
(``OTHER_BACKEND_TIER``).
"""

import keras
import numpy as np
import pytest

import kerasarch
from anchors import ANCHORS, OVER_100M
from helpers import as_list, slow_unless, trainable_gradients
from kerasarch.registry import model_entry

MODELS = kerasarch.list_models()
NUM_CLASSES = 7


# Variants that reach a code path their family's smallest member does not.
CODE_PATHS = {
    "resnet50": "bottleneck block, ImageNet stem",
    "resnext50_32x4d": "grouped 3x3 convolution",
    "plain20": "blocks without shortcuts",
    "vgg11_bn": "VGG with BatchNorm",
    "inception_v3": "Inception-v3 blocks A-E, valid padding",
    "efficientnet_v2_s": "FusedMBConv",
    "mobilenet_v1": "depthwise-separable units",
    "mobilenet_v2": "inverted residual without squeeze-excite",
}


def _ci_tier():
    smallest = {}
    for name in MODELS:
        family = model_entry(name).family
        if family not in smallest or ANCHORS[name] < ANCHORS[smallest[family]]:
            smallest[family] = name
    return set(smallest.values()) | set(CODE_PATHS)


CI_TIER = _ci_tier()
TIERED = slow_unless(MODELS, CI_TIER)
# On the other backends every first call of an op compiles it (building ResNet-50 takes
# 6 s on JAX against 1.5 s on TensorFlow, DenseNet-121's contract 2.5 minutes), so there CI
# runs the whole contract for five models that together reach the kinds of layer the zoo is
# made of: LeNet-5 (tanh, average pooling), ResNet-20 (basic block, option-A shortcut),
# ResNeXt-50 (bottleneck, grouped convolution, ImageNet stem), ConvNeXt-T (depthwise 7x7,
# LayerNorm, layer scale) and ViT-CIFAR (attention, tokens). The blocks of the other families
# (VGGBlock, the depthwise-separable unit, InceptionModule, InceptionV3Block A-E, DenseNet's
# layers, Res2NetBlock, SqueezeExcite, InvertedResidual, MBConv, FusedMBConv) are round-tripped
# on JAX by tests/test_layers.py (`make test-jax`): seconds instead of the minutes a whole deep
# model's JAX compilation takes on two cores. `make test-all` runs the contract for every
# model on JAX.
OTHER_BACKEND_TIER = {"lenet5", "resnet20", "resnext50_32x4d", "convnext_tiny", "vit_cifar"}
# On TensorFlow CI walks every model except those over 100M parameters outside CI_TIER
# (VGG-13/16/19, ViT-L, ConvNeXt-L, EfficientNetV2-L, Wide ResNet-101), whose families keep
# smaller members in CI; building them for each check cost minutes. `make test-all` walks them.
HEAVY = OVER_100M - CI_TIER
# The XLA-compiled training step costs 20-70 s of compilation per model on two cores (DenseNet-121
# 72 s, EfficientNetV2-S 70 s, GoogLeNet 56 s). XLA lowers the same few ops for every family, so CI
# compiles one model per kind of op: plain and strided convolutions with BatchNorm (ResNet-20),
# grouped convolution (ResNeXt-50), depthwise convolution (MobileNet-V1), squeeze-excite, hard-swish
# and the inverted residual (MobileNetV3-Small), MBConv's drop path, a random op inside the
# compiled step (EfficientNet-B0), LayerNorm, 7x7 depthwise and layer scale (ConvNeXt-T),
# attention (ViT-CIFAR), tanh and average pooling (LeNet-5). `make test-all` compiles every model.
XLA_TIER = {"lenet5", "resnet20", "resnext50_32x4d", "mobilenet_v1", "mobilenet_v3_small", "efficientnet_b0",
            "convnext_tiny", "vit_cifar"}
if keras.backend.backend() == "tensorflow":
    EVERY = slow_unless(MODELS, set(MODELS) - HEAVY)
else:
    CI_TIER = XLA_TIER = OTHER_BACKEND_TIER
    TIERED = EVERY = slow_unless(MODELS, CI_TIER)
XLA_TIERED = slow_unless(MODELS, XLA_TIER)


def _np(tensor):
    return np.asarray(keras.ops.convert_to_numpy(tensor))


def _tiny_shape(name, channels=3):
    """32x32, or the smallest input the architecture takes when that is larger."""
    size = max(32, model_entry(name).min_size)
    return (size, size, channels)


def _input(shape, batch=2, seed=0):
    return np.random.default_rng(seed).normal(size=(batch, *shape)).astype("float32")


def _build(name, **kwargs):
    shape = _tiny_shape(name)
    model = kerasarch.create_model(name, num_classes=NUM_CLASSES, input_shape=shape, classifier_activation=None,
                                   **kwargs)
    return model, _input(shape)


@pytest.mark.parametrize("name", EVERY)
def test_forward_gradients_and_config_round_trip(name):
    model, x = _build(name)
    assert model.name == name
    # A training-mode pass runs and is finite (it also updates the BatchNorm statistics).
    assert np.isfinite(_np(model(x, training=True))).all()
    # Gradients in inference mode: at tiny inputs, batch statistics cancel per-channel
    # offsets exactly (a BatchNorm beta before a 1x1 map and another BatchNorm gets a true
    # zero gradient), which would hide the dead weights this check is for.
    weights = np.random.default_rng(1).normal(size=(2, NUM_CLASSES)).astype("float32")
    grads = trainable_gradients(model, x, weights, training=False)
    dead = [v.path for v, g in zip(model.trainable_variables, grads) if g is None or not np.any(g)]
    assert not dead, f"trainable weights with zero gradient: {dead[:5]}"

    # Eager calls rather than predict(): the same numbers without tracing a graph per model.
    y = _np(model(x, training=False))
    assert y.shape == (2, NUM_CLASSES)
    assert np.isfinite(y).all()

    clone = type(model).from_config(model.get_config())
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(_np(clone(x, training=False)), y, rtol=1e-5, atol=1e-5)
    assert clone.feature_info == model.feature_info and clone.arch == model.arch


@pytest.mark.parametrize("name", TIERED)
def test_keras_file_round_trip(name, tmp_path):
    model, x = _build(name)
    y = _np(model(x, training=False))
    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, kerasarch.ArchModel)
    np.testing.assert_allclose(_np(loaded(x, training=False)), y, rtol=1e-5, atol=1e-5)
    assert loaded.feature_info == model.feature_info


@pytest.mark.parametrize("name", TIERED)
def test_mixed_bfloat16_output_is_float32(name):
    model, x = _build(name, dtype="mixed_bfloat16")
    assert any(layer.compute_dtype == "bfloat16" for layer in model.layers)
    y = model(x, training=False)
    assert keras.backend.standardize_dtype(y.dtype) == "float32"
    assert np.isfinite(_np(y)).all()


@pytest.mark.parametrize("name", XLA_TIERED)
def test_xla_train_step_under_mixed_bfloat16(name):
    shape = _tiny_shape(name)
    model = kerasarch.create_model(name, num_classes=NUM_CLASSES, input_shape=shape, dtype="mixed_bfloat16")
    x = _input(shape, batch=4)
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="sparse_categorical_crossentropy", jit_compile=True)
    before = [np.array(w) for w in model.trainable_weights[:3]]
    logs = model.train_on_batch(x, np.arange(4) % NUM_CLASSES, return_dict=True)
    assert np.isfinite(logs["loss"])
    assert any(not np.array_equal(b, np.array(w)) for b, w in zip(before, model.trainable_weights[:3]))


@pytest.mark.parametrize("name", TIERED)
def test_out_indices_picks_levels(name):
    # The selection is the builder's, shared by all families: the CI tier exercises it.
    shape = _tiny_shape(name, channels=1)
    full = kerasarch.create_model(name, input_shape=shape, features_only=True)
    last = kerasarch.create_model(name, input_shape=shape, features_only=True, out_indices=(0, -1))
    n = len(full.feature_info)
    assert [f["index"] for f in last.feature_info] == [0, n - 1]
    assert [f["num_chs"] for f in last.feature_info] == [full.feature_info[0]["num_chs"], full.feature_info[-1]["num_chs"]]
    assert len(as_list(last(_input(shape), training=False))) == 2


# Channels in feature_info are read off the feature tensors and reductions are the family
# builder's, so the CI tier (every family, every code path) checks them; `make test-all` walks all.
@pytest.mark.parametrize("name", TIERED)
def test_features_only_matches_feature_info_and_one_channel_input(name):
    shape = _tiny_shape(name, channels=1)
    size = shape[0]
    model = kerasarch.create_model(name, input_shape=shape, features_only=True)
    outputs = as_list(model(_input(shape), training=False))
    assert len(outputs) == len(model.feature_info) >= 2
    previous = size
    for out, info in zip(outputs, model.feature_info):
        # Channels exact; the spatial size is at most size / reduction (exact for "same"
        # padding, smaller where the reference pads "valid"), and shrinks level by level.
        assert out.ndim == 4 and out.shape[0] == 2 and out.shape[3] == info["num_chs"], info
        assert 1 <= out.shape[1] <= -(-size // info["reduction"]) and out.shape[1] <= previous, (out.shape, info)
        assert out.shape[1] == out.shape[2]
        previous = out.shape[1]
        assert np.isfinite(out).all()
