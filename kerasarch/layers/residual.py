"""Residual blocks of He et al. 2016, "Deep Residual Learning for Image Recognition".

One layer covers the ResNet family: the basic block (two 3x3 convolutions) and the
bottleneck (1x1 reduce, 3x3, 1x1 expand); grouped 3x3 convolutions make it the ResNeXt
block (Xie et al. 2017) and a larger ``width_per_group`` the Wide ResNet block
(Zagoruyko & Komodakis 2016). The stride sits on the 3x3 convolution (ResNet v1.5, as
torchvision builds it).
"""

import keras
from keras import ops

from kerasarch.layers import _checks
from kerasarch.layers.conv import BN_EPSILON, BN_MOMENTUM, ConvBNAct
from kerasarch.layers.drop_path import StochasticDepth

__all__ = ["ResidualBlock"]

_EXPANSION = {"basic": 1, "bottleneck": 4}
_SHORTCUTS = ("projection", "zero_pad")


@keras.saving.register_keras_serializable(package="kerasarch")
class ResidualBlock(keras.layers.Layer):
    """``activation(F(x) + shortcut(x))``.

    Args:
        filters: the block's base width ("planes" in torchvision); the output has
            ``filters * expansion`` channels (expansion 1 for basic, 4 for bottleneck).
        block_type: ``"basic"`` or ``"bottleneck"``.
        strides: stride of the block (on the 3x3 convolution).
        groups: groups of the bottleneck's 3x3 convolution (ResNeXt cardinality).
        width_per_group: channels per group of the bottleneck's 3x3 convolution; the
            3x3 width is ``int(filters * width_per_group / 64) * groups`` (64 is ResNet,
            128 Wide ResNet-2, 4 with 32 groups ResNeXt 32x4d).
        shortcut: what the shortcut does when the shape changes: ``"projection"``
            (1x1 convolution + BatchNorm, option B of the paper) or ``"zero_pad"``
            (parameter-free option A of the CIFAR nets: stride-``s`` subsampling and
            zero channels appended evenly on both sides).
        use_shortcut: ``False`` removes the shortcut (the "plain" nets of the paper).
        zero_init_last: start the last BatchNorm's scale at zero so the block begins
            as the identity (Goyal et al. 2017).
        drop_path_rate: stochastic depth probability of the residual branch.
        activation: activation name.
        bn_momentum, bn_epsilon: BatchNorm settings.

    Input ``(batch, H, W, C)``; output ``(batch, ceil(H / strides), ceil(W / strides),
    filters * expansion)``.
    """

    def __init__(
        self,
        filters,
        block_type="basic",
        strides=1,
        groups=1,
        width_per_group=64,
        shortcut="projection",
        use_shortcut=True,
        zero_init_last=False,
        drop_path_rate=0.0,
        activation="relu",
        bn_momentum=BN_MOMENTUM,
        bn_epsilon=BN_EPSILON,
        **kwargs,
    ):
        super().__init__(**kwargs)
        who = _checks.owner(self, kwargs)
        self.filters = _checks.positive_int(who, "filters", filters)
        self.block_type = _checks.one_of(who, "block_type", block_type, tuple(_EXPANSION))
        self.strides = _checks.positive_int(who, "strides", strides)
        self.groups = _checks.positive_int(who, "groups", groups)
        self.width_per_group = _checks.positive_int(who, "width_per_group", width_per_group)
        if block_type == "basic" and (groups != 1 or width_per_group != 64):
            raise ValueError(
                f"{who}: the basic block has no grouped or widened 3x3 convolution (groups=1, "
                f"width_per_group=64), got groups={groups!r}, width_per_group={width_per_group!r}; widen it "
                "through `filters`, or use block_type='bottleneck'."
            )
        self.shortcut = _checks.one_of(who, "shortcut", shortcut, _SHORTCUTS)
        self.use_shortcut = _checks.flag(who, "use_shortcut", use_shortcut)
        self.zero_init_last = _checks.flag(who, "zero_init_last", zero_init_last)
        self.drop_path_rate = _checks.rate(who, "drop_path_rate", drop_path_rate)
        self._act = _checks.activation(who, "activation", activation)
        _checks.batch_norm(who, bn_momentum, bn_epsilon)
        self.activation = activation
        self.bn_momentum = bn_momentum
        self.bn_epsilon = bn_epsilon
        self.out_channels = self.filters * _EXPANSION[block_type]

        unit = dict(bn_momentum=bn_momentum, bn_epsilon=bn_epsilon, dtype=self.dtype_policy)
        if block_type == "basic":
            self.convs = [
                ConvBNAct(self.filters, 3, self.strides, activation=activation, name="conv1", **unit),
                ConvBNAct(self.filters, 3, activation=None, zero_init_gamma=self.zero_init_last,
                          name="conv2", **unit),
            ]
        else:
            width = int(self.filters * (self.width_per_group / 64.0)) * self.groups
            if width < 1:
                raise ValueError(
                    f"{who}: bottleneck width int(filters * width_per_group / 64) * groups is 0 for "
                    f"filters={filters}, width_per_group={width_per_group}, groups={groups}; "
                    "raise filters or width_per_group (64 is a plain ResNet)."
                )
            self.convs = [
                ConvBNAct(width, 1, activation=activation, name="conv1", **unit),
                ConvBNAct(width, 3, self.strides, groups=self.groups, activation=activation,
                          name="conv2", **unit),
                ConvBNAct(self.out_channels, 1, activation=None, zero_init_gamma=self.zero_init_last,
                          name="conv3", **unit),
            ]
        self.drop_path = (
            StochasticDepth(self.drop_path_rate, dtype=self.dtype_policy, name="drop_path")
            if self.drop_path_rate > 0 else None
        )
        self.projection = None  # made in build(), once the input channels are known

    def _needs_reshape(self, in_channels):
        return self.strides != 1 or in_channels != self.out_channels

    def build(self, input_shape):
        in_channels = input_shape[-1]
        shape = input_shape
        for conv in self.convs:
            conv.build(shape)
            shape = conv.compute_output_shape(shape)
        if self.use_shortcut and self.shortcut == "projection" and self._needs_reshape(in_channels):
            self.projection = ConvBNAct(
                self.out_channels, 1, self.strides, activation=None, bn_momentum=self.bn_momentum,
                bn_epsilon=self.bn_epsilon, dtype=self.dtype_policy, name="downsample",
            )
            self.projection.build(input_shape)
        elif self.use_shortcut and self.shortcut == "zero_pad" and in_channels > self.out_channels:
            raise ValueError(
                f"{_checks.owner(self)}: a zero-padding shortcut can only add channels: input has {in_channels}, "
                f"the block outputs {self.out_channels}. Use shortcut='projection'."
            )

    def _zero_pad_shortcut(self, x):
        if self.strides != 1:
            x = x[:, :: self.strides, :: self.strides, :]
        extra = self.out_channels - x.shape[-1]
        if extra:
            x = ops.pad(x, [[0, 0], [0, 0], [0, 0], [extra // 2, extra - extra // 2]])
        return x

    def call(self, x, training=None):
        y = x
        for conv in self.convs:
            y = conv(y, training=training)
        if self.drop_path is not None:
            y = self.drop_path(y, training=training)
        if self.use_shortcut:
            if self.projection is not None:
                y = y + self.projection(x, training=training)
            elif self.shortcut == "zero_pad" and self._needs_reshape(x.shape[-1]):
                y = y + self._zero_pad_shortcut(x)
            else:
                y = y + x
        return self._act(y)

    def compute_output_shape(self, input_shape):
        shape = input_shape
        for conv in self.convs:
            shape = conv.compute_output_shape(shape)
        return shape

    def get_config(self):
        config = super().get_config()
        config.update(
            filters=self.filters,
            block_type=self.block_type,
            strides=self.strides,
            groups=self.groups,
            width_per_group=self.width_per_group,
            shortcut=self.shortcut,
            use_shortcut=self.use_shortcut,
            zero_init_last=self.zero_init_last,
            drop_path_rate=self.drop_path_rate,
            activation=self.activation,
            bn_momentum=self.bn_momentum,
            bn_epsilon=self.bn_epsilon,
        )
        return config
