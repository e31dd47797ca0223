"""Family-specific behaviour beyond the contract: layouts, options and their errors."""

import math

import keras
import numpy as np
import pytest
from keras import ops

import kerasarch
from kerasarch import layers as kl


def _x(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def _np(t):
    return np.asarray(ops.convert_to_numpy(t))


# -- LeNet-5 and AlexNet -------------------------------------------------------------------------


def test_lenet5_layout_and_options():
    model = kerasarch.LeNet5()
    assert model.input_shape == (None, 32, 32, 1) and model.output_shape == (None, 10)
    shapes = [model.get_layer(n).output.shape[1:] for n in ("c1", "s2", "c3", "s4", "c5")]
    assert shapes == [(28, 28, 6), (14, 14, 6), (10, 10, 16), (5, 5, 16), (1, 1, 120)]
    assert model.get_layer("c1").activation.__name__ == "tanh"
    assert isinstance(model.get_layer("s2"), keras.layers.AveragePooling2D)
    modern = kerasarch.LeNet5(activation="relu", subsampling="max")
    assert isinstance(modern.get_layer("s2"), keras.layers.MaxPooling2D)
    with pytest.raises(ValueError, match="subsampling must be 'avg' or 'max'"):
        kerasarch.LeNet5(subsampling="stride")
    with pytest.raises(ValueError, match=r"at least 32x32.*ZeroPadding|at least 32x32"):
        kerasarch.LeNet5(input_shape=(28, 28, 1))


def test_alexnet_minimum_input_and_dropout():
    with pytest.raises(ValueError, match="32x32 is too small.*at least 63x63"):
        kerasarch.AlexNet(input_shape=(32, 32, 3))
    model = kerasarch.AlexNet(input_shape=(63, 63, 3), num_classes=5)
    assert model(np.zeros((1, 63, 63, 3), "float32")).shape == (1, 5)
    assert [layer.rate for layer in model.layers if isinstance(layer, keras.layers.Dropout)] == [0.5, 0.5]


# -- VGG -----------------------------------------------------------------------------------------


def test_vgg_conv_arch_and_width_divisor_the_d2l_way():
    arch = ((1, 64), (1, 128), (2, 256), (2, 512), (2, 512))
    model = kerasarch.create_model("vgg11", conv_arch=arch, width_divisor=4, input_shape=(96, 96, 1),
                                   num_classes=10)
    widths = [layer.filters for layer in model.layers if isinstance(layer, kl.VGGBlock)]
    assert widths == [16, 32, 64, 128, 128]
    assert model.arch["conv_arch"] == [list(p) for p in arch] and model.arch["width_divisor"] == 4
    assert model.output_shape == (None, 10)
    three = kerasarch.create_model("vgg11", conv_arch=((1, 8), (1, 16), (1, 32)), input_shape=(8, 8, 3))
    assert [f["reduction"] for f in three.feature_info] == [2, 4, 8]
    with pytest.raises(ValueError, match="width_divisor"):
        kerasarch.create_model("vgg11", width_divisor=128)
    with pytest.raises(ValueError, match="conv_arch"):
        kerasarch.create_model("vgg11", conv_arch=((0, 64),))


def test_adaptive_pool_in_the_vgg_head_replicates_small_maps():
    model = kerasarch.VGG11(input_shape=(32, 32, 3), num_classes=3)
    pooled = keras.Model(model.input, model.get_layer("avg_pool").output)
    features = keras.Model(model.input, model.get_layer("block5").output)
    x = _x((1, 32, 32, 3))
    np.testing.assert_allclose(_np(pooled(x)), np.broadcast_to(_np(features(x)), (1, 7, 7, 512)), rtol=1e-5)


# -- Inception ------------------------------------------------------------------------------------


@pytest.mark.parametrize("size,k,s,p", [(112, 3, 2, 0), (57, 3, 2, 0), (14, 2, 2, 0), (7, 2, 2, 0), (5, 3, 1, 1)])
def test_torch_pool_ceil_mode_sizes_follow_pytorch(size, k, s, p):
    layer = kl.TorchPool2D(k, s, padding=p, ceil_mode=True)
    expected = math.ceil((size + 2 * p - k) / s) + 1
    if (expected - 1) * s >= size + p:
        expected -= 1
    y = layer(_x((1, size, size, 2)))
    assert y.shape == (1, expected, expected, 2)


def test_torch_pool_max_padding_never_wins_and_avg_counts_padding():
    x = -np.ones((1, 3, 3, 1), "float32")
    y = _np(kl.TorchPool2D(2, 2, ceil_mode=True)(x))
    np.testing.assert_array_equal(y, -np.ones((1, 2, 2, 1)))  # the padded cells are not 0
    avg = _np(kl.TorchPool2D(3, 1, padding=1, mode="avg")(np.ones((1, 3, 3, 1), "float32")))
    assert avg[0, 0, 0, 0] == pytest.approx(4 / 9)  # count_include_pad=True, as PyTorch


@pytest.mark.parametrize("size,out", [(10, 7), (1, 4), (14, 7), (5, 3)])
def test_adaptive_avg_pool_uses_pytorch_bins(size, out):
    x = _x((2, size, size + 1, 3))
    y = _np(kl.AdaptiveAvgPool2D(out)(x))
    for i in range(out):
        for j in range(out):
            hs, he = (i * size) // out, -((-(i + 1) * size) // out)
            ws, we = (j * (size + 1)) // out, -((-(j + 1) * (size + 1)) // out)
            np.testing.assert_allclose(y[:, i, j], x[:, hs:he, ws:we].mean(axis=(1, 2)), rtol=1e-5, atol=1e-6)
    bf16 = kl.AdaptiveAvgPool2D(out, dtype="bfloat16")(x.astype("float32"))
    assert keras.backend.standardize_dtype(bf16.dtype) == "bfloat16"


def test_googlenet_and_inception_v3_auxiliary_heads():
    model = kerasarch.GoogLeNet(aux_logits=True, num_classes=4, input_shape=(64, 64, 3))
    outs = model(_x((2, 64, 64, 3)))
    assert [tuple(o.shape) for o in outs] == [(2, 4)] * 3
    np.testing.assert_allclose(_np(outs[1]).sum(axis=1), 1.0, rtol=1e-5)  # same activation as the main head
    assert kerasarch.GoogLeNet(third_kernel_size=5).count_params() > kerasarch.GoogLeNet().count_params()
    with pytest.raises(ValueError, match="32x32 is too small.*at least 75x75"):
        kerasarch.InceptionV3(input_shape=(32, 32, 3))
    with pytest.raises(ValueError, match="at least 299x299"):
        kerasarch.InceptionV3(aux_logits=True, input_shape=(150, 150, 3))
    with pytest.raises(ValueError, match="aux_logits=True needs the classifier"):
        kerasarch.GoogLeNet(aux_logits=True, include_top=False)
    v3 = kerasarch.InceptionV3()
    assert v3.output_shape == (None, 1000)
    assert v3.get_layer("Mixed_7c").output.shape[1:] == (8, 8, 2048)


# -- DenseNet, MobileNet, EfficientNet -----------------------------------------------------------


def test_densenet_channels_follow_growth_and_compression():
    model = kerasarch.DenseNet121()
    assert [f["num_chs"] for f in model.feature_info] == [64, 256, 512, 1024, 1024]
    assert model.get_layer("denseblock1").output.shape[-1] == 64 + 6 * 32
    assert model.get_layer("transition1").output.shape[1:] == (28, 28, 128)


def test_make_divisible_matches_the_reference_rule():
    assert [kl.make_divisible(v) for v in (32 * 1.1, 16 * 0.75, 72 * 0.5, 960 // 4, 3.0)] == [32, 16, 40, 240, 8]


def test_inverted_residual_and_mbconv_keep_the_residual_only_when_shapes_match():
    x = _x((2, 8, 8, 16))
    same = kl.InvertedResidual(16, 96, 3, 1)
    same(x)
    assert same._residual and same.expand is not None
    down = kl.MBConv(24, expand_ratio=6, strides=2)
    assert down(x).shape == (2, 4, 4, 24) and not down._residual
    mb = kl.MBConv(16, expand_ratio=1, se_ratio=0.25)
    mb(x)
    assert mb.expand is None and mb.se.squeeze_filters == 4  # squeeze from the input channels
    fused = kl.FusedMBConv(16, expand_ratio=1)
    fused(x)
    assert fused.project is None and fused._residual


def test_squeeze_excite_scales_channels_in_zero_one():
    x = np.abs(_x((2, 4, 4, 8))) + 1.0
    se = kl.SqueezeExcite(2, gate="hard_sigmoid")
    y = _np(se(x))
    ratio = y / x
    assert ((ratio >= 0) & (ratio <= 1)).all()
    np.testing.assert_allclose(ratio, ratio[:, :1, :1, :].repeat(4, 1).repeat(4, 2), rtol=1e-5)


def test_mobilenet_alpha_and_efficientnet_scaling():
    half = kerasarch.MobileNetV1(alpha=0.5, input_shape=(64, 64, 3))
    assert half.feature_info[-1]["num_chs"] == 512
    with pytest.raises(ValueError, match="alpha"):
        kerasarch.MobileNetV2(alpha=0)
    assert kerasarch.MobileNetV3Small(input_shape=(64, 64, 3)).get_layer("pre_logits").units == 1024
    b0, b4 = (kerasarch.create_model(n, input_shape=(32, 32, 3)) for n in ("efficientnet_b0", "efficientnet_b4"))
    assert b0.arch["input_shape"] == [32, 32, 3]
    assert kerasarch.create_model("efficientnet_b4").input_shape == (None, 380, 380, 3)
    assert b4.get_layer("conv_head").filters == 4 * kl.make_divisible(320 * 1.4)
    blocks = [layer for layer in b4.layers if isinstance(layer, kl.MBConv)]
    assert len(blocks) == sum(math.ceil(n * 1.8) for n in (1, 2, 2, 3, 3, 4, 1))
    rates = [layer.drop_path_rate for layer in kerasarch.create_model(
        "efficientnet_b0", input_shape=(32, 32, 3), drop_path_rate=0.2).layers if isinstance(layer, kl.MBConv)]
    # kerasarch's one drop-path rule (models/base.drop_path_rate_at): 0 at the first block, the full rate at the last.
    assert rates[0] == 0 and rates == sorted(rates) and rates[-1] == pytest.approx(0.2)


# -- Res2Net and ConvNeXt ------------------------------------------------------------------------


def test_res2net_block_hierarchy():
    block = kl.Res2NetBlock(64, base_width=26, scale=4)
    y = block(_x((2, 8, 8, 256)))
    assert y.shape == (2, 8, 8, 256) and not block._is_first and block.pool is None
    first = kl.Res2NetBlock(128, strides=2)
    assert first(_x((2, 8, 8, 256))).shape == (2, 4, 4, 512) and first._is_first
    assert first.width == 52 and first.conv1.filters == 208
    with pytest.raises(ValueError, match="scale must be >= 2"):
        kl.Res2NetBlock(64, scale=1)


def test_convnext_block_starts_near_identity_and_head_layout():
    x = _x((2, 8, 8, 32))
    block = kl.ConvNeXtBlock()
    np.testing.assert_allclose(_np(block(x)), x, atol=1e-3)  # layer scale 1e-6
    model = kerasarch.ConvNeXtTiny()
    assert [f["num_chs"] for f in model.feature_info] == [96, 192, 384, 768]
    assert isinstance(model.get_layer("head_norm"), keras.layers.LayerNormalization)


@pytest.mark.parametrize("name", ["resnet20", "res2net50_26w_4s", "convnext_tiny", "efficientnet_b0", "mobilenet_v2",
                                  "mobilenet_v3_small", "vit_cifar", "transformer_text_tiny"])
def test_every_family_follows_the_one_drop_path_rule(name):
    """Stochastic depth rises linearly from 0 at the first block to the full rate at the last
    (kerasarch.models.base.drop_path_rate_at), whatever the family."""
    from kerasarch.models.base import drop_path_rate_at
    from kerasarch.registry import model_entry

    model = kerasarch.create_model(name, input_shape=model_entry(name).contract.input.tiny_shape(), drop_path_rate=0.3)
    rates = [layer.drop_path_rate for layer in model.layers if hasattr(layer, "drop_path_rate")]
    assert len(rates) >= 2
    assert rates == pytest.approx([drop_path_rate_at(0.3, i, len(rates)) for i in range(len(rates))])
    assert rates[0] == 0 and rates[-1] == pytest.approx(0.3)
