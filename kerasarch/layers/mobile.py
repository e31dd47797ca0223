"""Mobile blocks: depthwise-separable convolution (MobileNetV1), the inverted residual
(MobileNetV2/V3), squeeze-and-excitation, and EfficientNet's MBConv and FusedMBConv.

All follow torchvision's layouts: no convolution bias before BatchNorm, squeeze-excite
with biased 1x1 projections (dense layers on the pooled vector here), the residual only
where stride is 1 and the channels match.
"""

import keras
from keras import ops

from kerasarch.layers import _checks
from kerasarch.layers.conv import BN_EPSILON, BN_MOMENTUM, ConvBNAct, DepthwiseConvBNAct
from kerasarch.layers.drop_path import StochasticDepth

__all__ = ["make_divisible", "SqueezeExcite", "DepthwiseSeparableConv", "InvertedResidual", "MBConv",
           "FusedMBConv"]


def _check_block(layer, kwargs, filters, kernel_size, strides, activation, drop_path_rate, bn_momentum,
                 bn_epsilon):
    """The arguments the inverted bottlenecks share; returns (who, filters, kernel_size, strides,
    drop_path_rate), converted as the blocks store them."""
    who = _checks.owner(layer, kwargs)
    _checks.activation(who, "activation", activation)
    _checks.batch_norm(who, bn_momentum, bn_epsilon)
    return (who, _checks.positive_int(who, "filters", filters), _checks.positive_int(who, "kernel_size", kernel_size),
            _checks.positive_int(who, "strides", strides), _checks.rate(who, "drop_path_rate", drop_path_rate))


def _add_residual(block, y, x, training):
    """``y + x`` through the block's stochastic depth, where the block keeps a residual."""
    if not block._residual:
        return y
    if block.drop_path is not None:
        y = block.drop_path(y, training=training)
    return y + x


def _strided_shape(input_shape, filters, kernel_size, strides):
    size = [None if d is None else (d + 2 * (kernel_size // 2) - kernel_size) // strides + 1
            for d in input_shape[1:3]]
    return (input_shape[0], *size, filters)


def make_divisible(value, divisor=8, min_value=None):
    """Round ``value`` to a multiple of ``divisor``, never more than 10% below (the
    MobileNet/EfficientNet channel rule)."""
    min_value = min_value or divisor
    new = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if new < 0.9 * value:
        new += divisor
    return new


@keras.saving.register_keras_serializable(package="kerasarch")
class SqueezeExcite(keras.layers.Layer):
    """Channel attention (Hu et al. 2018): ``x * gate(W2 act(W1 mean(x)))``.

    Args:
        squeeze_filters: width of the bottleneck (W1's outputs).
        activation: after W1 ("relu" in MobileNetV3, "silu" in EfficientNet).
        gate: "sigmoid" (EfficientNet) or "hard_sigmoid" (MobileNetV3).
    """

    def __init__(self, squeeze_filters, activation="relu", gate="sigmoid", **kwargs):
        super().__init__(**kwargs)
        who = _checks.owner(self, kwargs)
        self.squeeze_filters = _checks.positive_int(who, "squeeze_filters", squeeze_filters)
        _checks.activation(who, "activation", activation)
        self.activation = activation
        self.gate = gate
        self.fc1 = keras.layers.Dense(self.squeeze_filters, activation=activation, dtype=self.dtype_policy,
                                      name="fc1")
        self.fc2 = None
        self._gate = _checks.activation(who, "gate", gate)

    def build(self, input_shape):
        channels = input_shape[-1]
        self.fc1.build((None, channels))
        self.fc2 = keras.layers.Dense(channels, dtype=self.dtype_policy, name="fc2")
        self.fc2.build((None, self.squeeze_filters))

    def call(self, x):
        scale = self._gate(self.fc2(self.fc1(ops.mean(x, axis=(1, 2)))))
        return x * scale[:, None, None, :]

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(squeeze_filters=self.squeeze_filters, activation=self.activation, gate=self.gate)
        return config


@keras.saving.register_keras_serializable(package="kerasarch")
class DepthwiseSeparableConv(keras.layers.Layer):
    """MobileNetV1's unit: depthwise 3x3 (stride) + BN + act, then pointwise 1x1 + BN + act."""

    def __init__(self, filters, strides=1, kernel_size=3, activation="relu6", bn_momentum=BN_MOMENTUM,
                 bn_epsilon=BN_EPSILON, **kwargs):
        super().__init__(**kwargs)
        who = _checks.owner(self, kwargs)
        self.filters = _checks.positive_int(who, "filters", filters)
        self.strides = _checks.positive_int(who, "strides", strides)
        self.kernel_size = _checks.positive_int(who, "kernel_size", kernel_size)
        _checks.activation(who, "activation", activation)
        _checks.batch_norm(who, bn_momentum, bn_epsilon)
        self.activation = activation
        self.bn_momentum = bn_momentum
        self.bn_epsilon = bn_epsilon
        bn = dict(bn_momentum=bn_momentum, bn_epsilon=bn_epsilon, dtype=self.dtype_policy)
        self.depthwise = DepthwiseConvBNAct(self.kernel_size, self.strides, activation, name="depthwise", **bn)
        self.pointwise = ConvBNAct(self.filters, 1, activation=activation, name="pointwise", **bn)

    def build(self, input_shape):
        self.depthwise.build(input_shape)
        self.pointwise.build(self.depthwise.compute_output_shape(input_shape))

    def call(self, x, training=None):
        return self.pointwise(self.depthwise(x, training=training), training=training)

    def compute_output_shape(self, input_shape):
        return self.pointwise.compute_output_shape(self.depthwise.compute_output_shape(input_shape))

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, strides=self.strides, kernel_size=self.kernel_size,
                      activation=self.activation, bn_momentum=self.bn_momentum, bn_epsilon=self.bn_epsilon)
        return config


class _InvertedBottleneck(keras.layers.Layer):
    """expand 1x1 -> depthwise kxk -> [squeeze-excite] -> project 1x1 (linear) [+ input].

    Subclasses decide the expanded width and squeeze width from the input channels.
    """

    def _setup(self, filters, kernel_size, strides, activation, se_gate, se_activation, drop_path_rate,
               bn_momentum, bn_epsilon):
        self._bn = dict(bn_momentum=bn_momentum, bn_epsilon=bn_epsilon, dtype=self.dtype_policy)
        self._spec = (int(filters), int(kernel_size), int(strides), activation, se_gate, se_activation)
        self.expand = self.depthwise = self.se = self.project = None
        self.drop_path = (StochasticDepth(drop_path_rate, dtype=self.dtype_policy, name="drop_path")
                          if drop_path_rate > 0 else None)
        self._residual = False

    def _widths(self, in_channels):  # -> (expanded, squeeze or 0)
        raise NotImplementedError

    def build(self, input_shape):
        filters, kernel_size, strides, activation, se_gate, se_activation = self._spec
        in_channels = input_shape[-1]
        expanded, squeeze = self._widths(in_channels)
        shape = input_shape
        if expanded != in_channels:
            self.expand = ConvBNAct(expanded, 1, activation=activation, name="expand", **self._bn)
            self.expand.build(shape)
            shape = self.expand.compute_output_shape(shape)
        self.depthwise = DepthwiseConvBNAct(kernel_size, strides, activation, name="depthwise", **self._bn)
        self.depthwise.build(shape)
        shape = self.depthwise.compute_output_shape(shape)
        if squeeze:
            self.se = SqueezeExcite(squeeze, activation=se_activation, gate=se_gate, dtype=self.dtype_policy,
                                    name="se")
            self.se.build(shape)
        self.project = ConvBNAct(filters, 1, activation=None, name="project", **self._bn)
        self.project.build(shape)
        self._residual = strides == 1 and in_channels == filters

    def call(self, x, training=None):
        y = x
        if self.expand is not None:
            y = self.expand(y, training=training)
        y = self.depthwise(y, training=training)
        if self.se is not None:
            y = self.se(y)
        return _add_residual(self, self.project(y, training=training), x, training)

    def compute_output_shape(self, input_shape):
        return _strided_shape(input_shape, *self._spec[:3])


@keras.saving.register_keras_serializable(package="kerasarch")
class InvertedResidual(_InvertedBottleneck):
    """MobileNetV2/V3's inverted residual (Sandler et al. 2018; Howard et al. 2019).

    Args:
        filters: output channels.
        expanded_filters: width of the expanded (depthwise) part; equal to the input
            channels means no expansion convolution (V2's first block).
        kernel_size, strides: of the depthwise convolution.
        activation: "relu6" (V2), "relu" or "hard_swish" (V3).
        se_filters: squeeze-excite bottleneck width, 0 for none (V3 uses
            ``make_divisible(expanded / 4)`` with a hard-sigmoid gate).
        se_gate: the squeeze-excite gate.
        drop_path_rate: stochastic depth on the residual branch.
    """

    def __init__(self, filters, expanded_filters, kernel_size=3, strides=1, activation="relu6", se_filters=0,
                 se_gate="hard_sigmoid", drop_path_rate=0.0, bn_momentum=BN_MOMENTUM, bn_epsilon=BN_EPSILON,
                 **kwargs):
        super().__init__(**kwargs)
        who, self.filters, self.kernel_size, self.strides, self.drop_path_rate = _check_block(
            self, kwargs, filters, kernel_size, strides, activation, drop_path_rate, bn_momentum, bn_epsilon)
        self.expanded_filters = _checks.positive_int(who, "expanded_filters", expanded_filters)
        self.se_filters = _checks.non_negative_int(who, "se_filters", se_filters, hint="0 means no squeeze-excite.")
        _checks.activation(who, "se_gate", se_gate)
        self.activation, self.se_gate = activation, se_gate
        self.bn_momentum, self.bn_epsilon = bn_momentum, bn_epsilon
        self._setup(filters, kernel_size, strides, activation, se_gate, "relu", self.drop_path_rate,
                    bn_momentum, bn_epsilon)

    def _widths(self, in_channels):
        return self.expanded_filters, self.se_filters

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, expanded_filters=self.expanded_filters, kernel_size=self.kernel_size,
                      strides=self.strides, activation=self.activation, se_filters=self.se_filters,
                      se_gate=self.se_gate, drop_path_rate=self.drop_path_rate, bn_momentum=self.bn_momentum,
                      bn_epsilon=self.bn_epsilon)
        return config


@keras.saving.register_keras_serializable(package="kerasarch")
class MBConv(_InvertedBottleneck):
    """EfficientNet's mobile inverted bottleneck (Tan & Le 2019).

    expand 1x1 (``expand_ratio``, SiLU) -> depthwise kxk (SiLU) -> squeeze-excite (bottleneck
    ``se_ratio`` of the *input* channels, SiLU, sigmoid gate) -> project 1x1 (linear); the
    residual (stride 1, same channels) passes through stochastic depth.

    Args:
        filters: output channels.
        expand_ratio: expanded width = ``make_divisible(in_channels * expand_ratio)``.
        kernel_size, strides: of the depthwise convolution.
        se_ratio: squeeze width = ``max(1, int(in_channels * se_ratio))``; 0 disables it.
        activation: "silu" (swish).
        drop_path_rate: stochastic depth probability of this block.
    """

    def __init__(self, filters, expand_ratio=6, kernel_size=3, strides=1, se_ratio=0.25, activation="silu",
                 drop_path_rate=0.0, bn_momentum=BN_MOMENTUM, bn_epsilon=BN_EPSILON, **kwargs):
        super().__init__(**kwargs)
        who, self.filters, self.kernel_size, self.strides, self.drop_path_rate = _check_block(
            self, kwargs, filters, kernel_size, strides, activation, drop_path_rate, bn_momentum, bn_epsilon)
        self.expand_ratio = _checks.positive_number(who, "expand_ratio", expand_ratio)
        self.se_ratio = _checks.number(who, "se_ratio", se_ratio, 0, 1, hint="0 means no squeeze-excite.")
        self.activation = activation
        self.bn_momentum, self.bn_epsilon = bn_momentum, bn_epsilon
        self._setup(filters, kernel_size, strides, activation, "sigmoid", activation, self.drop_path_rate,
                    bn_momentum, bn_epsilon)

    def _widths(self, in_channels):
        expanded = make_divisible(in_channels * self.expand_ratio) if self.expand_ratio != 1 else in_channels
        squeeze = max(1, int(in_channels * self.se_ratio)) if self.se_ratio > 0 else 0
        return expanded, squeeze

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, expand_ratio=self.expand_ratio, kernel_size=self.kernel_size,
                      strides=self.strides, se_ratio=self.se_ratio, activation=self.activation,
                      drop_path_rate=self.drop_path_rate, bn_momentum=self.bn_momentum, bn_epsilon=self.bn_epsilon)
        return config


@keras.saving.register_keras_serializable(package="kerasarch")
class FusedMBConv(keras.layers.Layer):
    """EfficientNetV2's fused block (Tan & Le 2021): the expansion and depthwise convolutions
    fused into one kxk convolution.

    ``expand_ratio != 1``: kxk conv (stride, expanded, SiLU) -> 1x1 project (linear).
    ``expand_ratio == 1``: one kxk conv (stride, ``filters``, SiLU). Residual with stochastic
    depth when stride is 1 and the channels match.
    """

    def __init__(self, filters, expand_ratio=4, kernel_size=3, strides=1, activation="silu", drop_path_rate=0.0,
                 bn_momentum=BN_MOMENTUM, bn_epsilon=BN_EPSILON, **kwargs):
        super().__init__(**kwargs)
        who, self.filters, self.kernel_size, self.strides, self.drop_path_rate = _check_block(
            self, kwargs, filters, kernel_size, strides, activation, drop_path_rate, bn_momentum, bn_epsilon)
        self.expand_ratio = _checks.positive_number(who, "expand_ratio", expand_ratio)
        self.activation = activation
        self.bn_momentum, self.bn_epsilon = bn_momentum, bn_epsilon
        self._bn = dict(bn_momentum=bn_momentum, bn_epsilon=bn_epsilon, dtype=self.dtype_policy)
        self.fused = self.project = None
        self.drop_path = (StochasticDepth(self.drop_path_rate, dtype=self.dtype_policy, name="drop_path")
                          if self.drop_path_rate > 0 else None)
        self._residual = False

    def build(self, input_shape):
        in_channels = input_shape[-1]
        if self.expand_ratio != 1:
            expanded = make_divisible(in_channels * self.expand_ratio)
            self.fused = ConvBNAct(expanded, self.kernel_size, self.strides, activation=self.activation,
                                   name="fused", **self._bn)
            self.fused.build(input_shape)
            self.project = ConvBNAct(self.filters, 1, activation=None, name="project", **self._bn)
            self.project.build(self.fused.compute_output_shape(input_shape))
        else:
            self.fused = ConvBNAct(self.filters, self.kernel_size, self.strides, activation=self.activation,
                                   name="fused", **self._bn)
            self.fused.build(input_shape)
        self._residual = self.strides == 1 and in_channels == self.filters

    def call(self, x, training=None):
        y = self.fused(x, training=training)
        if self.project is not None:
            y = self.project(y, training=training)
        return _add_residual(self, y, x, training)

    def compute_output_shape(self, input_shape):
        return _strided_shape(input_shape, self.filters, self.kernel_size, self.strides)

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, expand_ratio=self.expand_ratio, kernel_size=self.kernel_size,
                      strides=self.strides, activation=self.activation, drop_path_rate=self.drop_path_rate,
                      bn_momentum=self.bn_momentum, bn_epsilon=self.bn_epsilon)
        return config
