"""The residual blocks' parameter formulas, checked exactly against kerasarch (the numbers of
examples/parameter_formulas.py, recomputed here without importing it).

Block with C input and C output channels, stride 1 (identity shortcut, no projection):
  basic       3x3 C->C, 3x3 C->C                     weights 18 C^2
  bottleneck  1x1 C->C/4, 3x3 C/4->C/4, 1x1 C/4->C   weights 17 C^2 / 16
ResidualBlock always puts a BatchNorm after each bias-free convolution: +2 trainable (gamma,
beta) and +2 non-trainable (moving mean, variance) numbers per channel, i.e. basic +4C / +4C,
bottleneck +3C / +3C. The weights-only count is count_params() minus the BatchNorm variables.
"""

import keras
import numpy as np
import pytest

import kerasarch
from kerasarch.layers import ResidualBlock

WIDTHS = (64, 128, 256, 512)
BN_VARIABLES = ("gamma", "beta", "moving_mean", "moving_variance")


def _size(variable):
    return int(np.prod(variable.shape))


def _block(c, block_type):
    block = ResidualBlock(c if block_type == "basic" else c // 4, block_type=block_type)
    block.build((None, 8, 8, c))
    assert block.out_channels == c and block.projection is None
    return block


def _bn_count(layer):
    return sum(_size(w) for w in layer.weights if w.path.split("/")[-1] in BN_VARIABLES)


@pytest.mark.parametrize("c", WIDTHS)
def test_basic_block_is_18_c_squared(c):
    block = _block(c, "basic")
    assert block.count_params() - _bn_count(block) == 18 * c * c
    assert sum(_size(w) for w in block.weights if w.path.endswith("/kernel")) == 18 * c * c
    assert sum(_size(w) for w in block.trainable_weights) == 18 * c * c + 4 * c
    assert block.count_params() == 18 * c * c + 8 * c


@pytest.mark.parametrize("c", WIDTHS)
def test_bottleneck_is_17_c_squared_over_16(c):
    block = _block(c, "bottleneck")
    weights = 17 * c * c // 16
    assert 16 * weights == 17 * c * c
    assert block.count_params() - _bn_count(block) == weights
    assert sum(_size(w) for w in block.weights if w.path.endswith("/kernel")) == weights
    assert sum(_size(w) for w in block.trainable_weights) == weights + 3 * c
    assert block.count_params() == weights + 6 * c


@pytest.mark.parametrize("block_type, specs, weights, biases", [
    ("basic", [(1, 3), (1, 3)], lambda c: 18 * c * c, lambda c: 2 * c),
    ("bottleneck", [(4, 1), (4, 3), (1, 1)], lambda c: 17 * c * c // 16, lambda c: 3 * c // 2),
])
def test_formulas_with_and_without_bias_on_plain_conv2d(block_type, specs, weights, biases):
    # specs: (C divided by the output channels, kernel size) of each convolution.
    for c in WIDTHS:
        for use_bias in (False, True):
            stack = keras.Sequential([keras.layers.Conv2D(c // d, k, padding="same", use_bias=use_bias)
                                      for d, k in specs])
            stack.build((None, 8, 8, c))
            assert stack.count_params() == weights(c) + (biases(c) if use_bias else 0), (block_type, c, use_bias)


def test_seed_claims_at_256():
    assert 18 * 256 ** 2 == 1_179_648  # "1.18M": right
    assert 17 * 256 ** 2 // 16 == 69_632  # not "0.53M", and not 0.81 C^2 (= 53,248)
    block = _block(256, "bottleneck")
    assert block.count_params() - _bn_count(block) == 69_632


def test_resnet34_stages_add_up_to_the_model():
    model = kerasarch.create_model("resnet34")
    groups = {}
    for layer in model.layers:
        if layer.name == "image":
            continue
        group = (layer.name.split("_")[0] if layer.name.startswith("stage")
                 else "stem" if layer.name.startswith("stem") else "head")
        total, trainable = groups.get(group, (0, 0))
        groups[group] = (total + layer.count_params(), trainable + sum(_size(w) for w in layer.trainable_weights))
    assert list(groups) == ["stem", "stage1", "stage2", "stage3", "stage4", "head"]
    assert sum(t for t, _ in groups.values()) == model.count_params() == 21_814_696
    model_trainable = sum(_size(w) for w in model.trainable_weights)
    assert sum(tr for _, tr in groups.values()) == model_trainable == 21_797_672
    # The per-stage formulas: 7x7 stem + BN; blocks 18C^2 + 4C (first block of stages 2-4:
    # 9*C_in*C + 9C^2 + 4C, plus the 1x1 projection C_in*C + its BN 2C); fc 512*1000 + 1000.
    expected = {
        "stem": 7 * 7 * 3 * 64 + 2 * 64,
        "stage1": 3 * (18 * 64 ** 2 + 4 * 64),
        "head": 512 * 1000 + 1000,
    }
    for k, (blocks, c) in enumerate(((4, 128), (6, 256), (3, 512)), start=2):
        first = 9 * (c // 2) * c + 9 * c * c + 4 * c + (c // 2) * c + 2 * c
        expected[f"stage{k}"] = first + (blocks - 1) * (18 * c * c + 4 * c)
    assert {g: tr for g, (_, tr) in groups.items()} == expected
