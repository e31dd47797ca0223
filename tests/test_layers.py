"""The building-block layers: serialization contract, shapes, and the behaviour each option promises."""

import inspect

import keras
import numpy as np
import pytest
from keras import ops

from kerasarch import layers as kl

BASE_CONFIG_KEYS = {"name", "trainable", "dtype"}

LAYER_EXAMPLES = [
    (kl.ConvBNAct, dict(filters=8, kernel_size=3, strides=2, activation="relu")),
    (kl.ConvBNAct, dict(filters=8, kernel_size=(1, 7), padding=(0, 3), activation="relu")),
    (kl.DepthwiseConvBNAct, dict(kernel_size=5, strides=2, activation="hard_swish")),
    (kl.StochasticDepth, dict(rate=0.2, seed=3)),
    (kl.ResidualBlock, dict(filters=8, block_type="basic", strides=2)),
    (kl.ResidualBlock, dict(filters=8, block_type="bottleneck", strides=2, groups=2, width_per_group=16,
                            zero_init_last=True, drop_path_rate=0.1)),
    (kl.ResidualBlock, dict(filters=16, strides=2, shortcut="zero_pad")),
    (kl.ResidualBlock, dict(filters=16, strides=2, use_shortcut=False)),
    (kl.VGGBlock, dict(num_convs=2, filters=8, batch_norm=True)),
    (kl.TorchPool2D, dict(pool_size=3, strides=2, ceil_mode=True)),
    (kl.AdaptiveAvgPool2D, dict(output_size=3)),
    (kl.InceptionModule, dict(filters_1x1=4, filters_3x3_reduce=4, filters_3x3=8, filters_5x5_reduce=2,
                              filters_5x5=4, filters_pool=4, third_kernel_size=5)),
    (kl.InceptionV3Block, dict(kind="a", pool_features=8)),
    (kl.InceptionV3Block, dict(kind="b")),
    (kl.InceptionV3Block, dict(kind="c", channels_7x7=8)),
    (kl.InceptionV3Block, dict(kind="d")),
    (kl.InceptionV3Block, dict(kind="e")),
    (kl.InceptionAux, dict(num_classes=5, style="googlenet", drop_rate=0.7)),
    (kl.DenseLayer, dict(growth_rate=4, bn_size=2, drop_rate=0.1)),
    (kl.DenseBlock, dict(num_layers=2, growth_rate=4)),
    (kl.TransitionLayer, dict(filters=4)),
    (kl.SqueezeExcite, dict(squeeze_filters=2, activation="silu", gate="sigmoid")),
    (kl.DepthwiseSeparableConv, dict(filters=16, strides=2)),
    (kl.InvertedResidual, dict(filters=8, expanded_filters=48, kernel_size=3, strides=1, activation="hard_swish",
                               se_filters=16, drop_path_rate=0.1)),
    (kl.MBConv, dict(filters=8, expand_ratio=6, kernel_size=5, strides=1, drop_path_rate=0.1)),
    (kl.FusedMBConv, dict(filters=16, expand_ratio=4, kernel_size=3, strides=2)),
    (kl.Res2NetBlock, dict(filters=4, base_width=26, scale=4, strides=2)),
    (kl.ConvNeXtBlock, dict(kernel_size=7, drop_path_rate=0.1)),
    (kl.ConvNeXtDownsample, dict(filters=16)),
    (kl.PatchEmbedding, dict(patch_size=4, hidden_dim=8)),
    (kl.ClassToken, dict(initializer="zeros")),
    (kl.PositionEmbedding, dict(grid_size=(2, 2), num_prefix_tokens=1)),
    (kl.PositionEmbedding, dict(grid_size=9)),
    (kl.TokensToGrid, dict(grid_size=(2, 2), num_prefix_tokens=1)),
    (kl.TakeToken, dict(index=0)),
    (kl.DropPrefixTokens, dict(num_prefix_tokens=1)),
    (kl.MaskedGlobalMaxPooling1D, dict()),
    (kl.MultiHeadSelfAttention, dict(num_heads=2, dropout=0.1)),
    (kl.TransformerEncoderLayer, dict(num_heads=2, mlp_dim=16, norm_first=True, activation="gelu",
                                      drop_path_rate=0.1, layer_scale_init=1e-5)),
    (kl.TransformerEncoderLayer, dict(num_heads=4, mlp_dim=16, attention_dropout=0.1)),
    (kl.RecurrentLayer, dict(units=4, cell="lstm", bidirectional=True, dropout=0.1, residual=True, layer_norm=True)),
    (kl.RecurrentLayer, dict(units=6, cell="gru", return_sequences=False)),
    (kl.RecurrentLayer, dict(units=8, cell="rnn", residual=True)),
    (kl.LastStepPooling, dict(bidirectional=True)),
    (kl.AttentionPooling, dict(units=6)),
]
# Token layers take (batch, tokens, channels): 1 class token + a 2x2 grid of 8 channels.
TOKEN_LAYERS = (kl.ClassToken, kl.PositionEmbedding, kl.TokensToGrid, kl.TakeToken, kl.MultiHeadSelfAttention,
                kl.TransformerEncoderLayer, kl.DropPrefixTokens, kl.MaskedGlobalMaxPooling1D, kl.RecurrentLayer,
                kl.LastStepPooling, kl.AttentionPooling)
# Layers whose input is not a float tensor, tested where they are used.
OWN_TESTS = {kl.PaddingMask: "int token ids in; tests/test_transformer.py (padding never changes the output)",
             kl.SequenceAttention: "a query and a memory in; tests/test_recurrent.py",
             kl.AttentionDecoder: "target embeddings, a memory and its summary in; tests/test_seq2seq.py and the "
                                  "seq2seq models' contract test (config, .keras file, decoding)"}
# Off TensorFlow, CI round-trips the blocks of the families whose whole models the JAX contract tier does
# not build (tests/tiers.py: minutes of JAX compilation each); `make test-all` round-trips every layer.
JAX_ROUND_TRIP = {kl.DenseLayer, kl.DenseBlock, kl.TransitionLayer, kl.InceptionModule, kl.InceptionV3Block,
                  kl.InceptionAux, kl.Res2NetBlock, kl.MBConv, kl.SqueezeExcite, kl.InvertedResidual, kl.VGGBlock,
                  kl.DepthwiseSeparableConv, kl.RecurrentLayer, kl.LastStepPooling, kl.AttentionPooling}


def _round_trip_params():
    if keras.backend.backend() == "tensorflow":
        return LAYER_EXAMPLES
    return [p if p[0] in JAX_ROUND_TRIP else pytest.param(*p, marks=pytest.mark.slow) for p in LAYER_EXAMPLES]


def test_every_layer_has_an_example():
    classes = {getattr(kl, name) for name in kl.__all__ if isinstance(getattr(kl, name), type)}
    missing = classes - {cls for cls, _ in LAYER_EXAMPLES} - set(OWN_TESTS)
    assert not missing, f"layers without a LAYER_EXAMPLES row: {sorted(c.__name__ for c in missing)}"


def _shape(cls):
    return (2, 5, 8) if cls in TOKEN_LAYERS else (2, 8, 8, 8)


def _x(shape=(2, 8, 8, 8), seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


@pytest.mark.parametrize("cls,kwargs", LAYER_EXAMPLES, ids=lambda v: getattr(v, "__name__", ""))
def test_get_config_is_exactly_the_init_arguments(cls, kwargs):
    layer = cls(**kwargs)
    config = layer.get_config()
    params = {p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "kwargs")}
    assert set(config) - BASE_CONFIG_KEYS == params
    for key, value in kwargs.items():
        assert config[key] == value
    # The config rebuilds an equal layer with equal outputs.
    x = _x(_shape(cls))
    layer(x)
    clone = cls.from_config(config)
    assert clone.get_config() == config
    clone(x)
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(ops.convert_to_numpy(clone(x)), ops.convert_to_numpy(layer(x)), atol=1e-6)


@pytest.mark.parametrize("cls,kwargs", _round_trip_params(), ids=lambda v: getattr(v, "__name__", ""))
def test_layers_survive_keras_file_round_trip(cls, kwargs, tmp_path):
    shape = _shape(cls)
    inputs = keras.Input(shape[1:])
    model = keras.Model(inputs, cls(**kwargs)(inputs))
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded.layers[1]) is cls
    x = _x(shape)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def test_conv_bn_act_has_no_bias_and_he_initialisation():
    layer = kl.ConvBNAct(64, kernel_size=3)
    layer.build((None, 32, 32, 64))
    names = sorted(w.path.split("/")[-1] for w in layer.trainable_weights)
    assert names == ["beta", "gamma", "kernel"]
    kernel = ops.convert_to_numpy(layer.conv.kernel)
    fan_out = 3 * 3 * 64
    assert kernel.std() == pytest.approx(np.sqrt(2.0 / fan_out), rel=0.03)


@pytest.mark.parametrize("size,kernel,stride", [(32, 7, 2), (31, 3, 2), (224, 7, 2), (9, 1, 2), (8, 3, 1)])
def test_conv_bn_act_output_size_follows_pytorch_padding(size, kernel, stride):
    layer = kl.ConvBNAct(4, kernel_size=kernel, strides=stride)
    y = layer(_x((1, size, size, 3)))
    expected = (size + 2 * (kernel // 2) - kernel) // stride + 1
    assert tuple(y.shape) == (1, expected, expected, 4)


def test_conv_bn_act_strided_padding_is_symmetric():
    # An impulse in the top-left corner: with symmetric padding k//2, the output at (0, 0)
    # of a 3x3 stride-2 conv sees input rows/cols -1..1, so the impulse at (0,0) hits the
    # kernel's centre tap (1, 1). TensorFlow's "same" padding would use tap (0, 0).
    layer = kl.ConvBNAct(1, kernel_size=3, strides=2, activation=None)
    x = np.zeros((1, 8, 8, 1), "float32")
    x[0, 0, 0, 0] = 1.0
    layer(x)
    kernel = np.zeros((3, 3, 1, 1), "float32")
    kernel[1, 1] = 5.0
    layer.conv.kernel.assign(kernel)
    y = ops.convert_to_numpy(layer(x, training=False))
    assert y[0, 0, 0, 0] == pytest.approx(5.0 / np.sqrt(1 + 1e-5), rel=1e-4)


def test_stochastic_depth_is_identity_at_inference_and_drops_whole_samples_in_training():
    layer = kl.StochasticDepth(0.5, seed=1)
    x = np.ones((512, 4, 4, 3), "float32")
    np.testing.assert_array_equal(ops.convert_to_numpy(layer(x, training=False)), x)
    y = ops.convert_to_numpy(layer(x, training=True))
    per_sample = y.reshape(512, -1)
    # Each sample is either dropped entirely or kept and scaled by 1 / (1 - rate).
    assert set(np.unique(per_sample)) <= {0.0, 2.0}
    assert np.all(per_sample.min(axis=1) == per_sample.max(axis=1))
    kept = (per_sample[:, 0] > 0).mean()
    assert 0.4 < kept < 0.6
    assert y.mean() == pytest.approx(1.0, abs=0.15)


def test_stochastic_depth_rejects_bad_rate():
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        kl.StochasticDepth(1.0)


def _count(layer, input_shape):
    layer.build(input_shape)
    return sum(int(np.prod(w.shape)) for w in layer.trainable_weights)


@pytest.mark.parametrize("c", [64, 128, 256])
def test_residual_block_parameter_counts(c):
    # Basic block C->C: two 3x3 convolutions (18 C^2) and two BatchNorms (2 x 2C).
    assert _count(kl.ResidualBlock(c), (None, 8, 8, c)) == 18 * c * c + 4 * c
    # Bottleneck 4C->4C with width C: 1x1 4C->C, 3x3 C->C, 1x1 C->4C = 17 C^2, BN 2(C + C + 4C).
    assert _count(kl.ResidualBlock(c, block_type="bottleneck"), (None, 8, 8, 4 * c)) == 17 * c * c + 12 * c
    # Projection shortcut when the shape changes: 1x1 conv + BN.
    block = kl.ResidualBlock(c, strides=2)
    assert _count(block, (None, 8, 8, c // 2)) == 9 * c * c // 2 + 9 * c * c + 4 * c + c * c // 2 + 2 * c
    # Option A adds nothing.
    block = kl.ResidualBlock(c, strides=2, shortcut="zero_pad")
    assert _count(block, (None, 8, 8, c // 2)) == 9 * c * c // 2 + 9 * c * c + 4 * c


def test_resnext_and_wide_widths():
    # ResNeXt-50 32x4d stage 1: 3x3 width 128 in 32 groups; Wide ResNet-50-2: 3x3 width 128.
    rx = kl.ResidualBlock(64, block_type="bottleneck", groups=32, width_per_group=4)
    rx.build((None, 8, 8, 256))
    assert tuple(rx.convs[1].conv.kernel.shape) == (3, 3, 4, 128)
    wide = kl.ResidualBlock(64, block_type="bottleneck", width_per_group=128)
    wide.build((None, 8, 8, 256))
    assert tuple(wide.convs[1].conv.kernel.shape) == (3, 3, 128, 128)


def test_zero_pad_shortcut_subsamples_and_pads_channels_evenly():
    block = kl.ResidualBlock(16, strides=2, shortcut="zero_pad")
    x = _x((2, 8, 8, 8))
    block(x)
    # Silence the residual branch: what is left is relu(shortcut(x)).
    block.convs[1].bn.gamma.assign(np.zeros(16, "float32"))
    block.convs[1].bn.beta.assign(np.zeros(16, "float32"))
    y = ops.convert_to_numpy(block(x, training=False))
    expected = np.zeros((2, 4, 4, 16), "float32")
    expected[..., 4:12] = np.maximum(x[:, ::2, ::2, :], 0)
    np.testing.assert_allclose(y, expected, atol=1e-6)


def test_zero_init_last_starts_as_identity_and_plain_block_has_no_shortcut():
    x = np.abs(_x((2, 8, 8, 32)))
    block = kl.ResidualBlock(8, block_type="bottleneck", zero_init_last=True)
    y = ops.convert_to_numpy(block(x, training=False))
    np.testing.assert_allclose(y, x, atol=1e-6)  # relu(0 + x) == x for x >= 0
    plain = kl.ResidualBlock(8, block_type="bottleneck", zero_init_last=True, use_shortcut=False)
    np.testing.assert_allclose(ops.convert_to_numpy(plain(x, training=False)), 0.0, atol=1e-6)


def test_residual_block_errors_are_clear():
    with pytest.raises(ValueError, match="block_type"):
        kl.ResidualBlock(8, block_type="bottle")
    with pytest.raises(ValueError, match="shortcut"):
        kl.ResidualBlock(8, shortcut="identity")
    with pytest.raises(ValueError, match="width_per_group"):
        kl.ResidualBlock(4, block_type="bottleneck", width_per_group=8)
    with pytest.raises(ValueError, match="only add channels"):
        kl.ResidualBlock(8, shortcut="zero_pad").build((None, 8, 8, 16))
