"""The Res2Net bottleneck (Gao et al. 2019): multi-scale features inside one residual block."""

import keras
from keras import ops

from kerasarch.layers import _checks
from kerasarch.layers.conv import BN_EPSILON, BN_MOMENTUM, ConvBNAct
from kerasarch.layers.drop_path import StochasticDepth
from kerasarch.layers.pooling import TorchPool2D

__all__ = ["Res2NetBlock"]


@keras.saving.register_keras_serializable(package="kerasarch")
class Res2NetBlock(keras.layers.Layer):
    """A bottleneck whose 3x3 stage is split into ``scale`` groups of ``width`` channels.

    1x1 conv to ``width * scale``; split; group 1 goes through its 3x3 conv, each next group
    adds the previous group's output before its own 3x3 conv (so the receptive fields grow
    group by group), the last group passes unchanged; concatenate; 1x1 conv to
    ``4 * filters``; add the shortcut; ReLU. In the first block of a stage (stride 2 or a
    channel change) every group convolves its own split, and the last one is average-pooled
    (3x3, the block's stride) instead, as timm's Bottle2neck.

    Args:
        filters: base width ("planes"); output channels ``4 * filters``.
        base_width: ``width = floor(filters * base_width / 64) * groups`` (26 in res2net50_26w_4s).
        scale: number of groups (4).
        strides: the block's stride (on the 3x3 convolutions and the shortcut).
        groups: grouped 3x3 convolutions (cardinality, for Res2NeXt).
        zero_init_last, drop_path_rate, bn_momentum, bn_epsilon: as :class:`ResidualBlock`.
    """

    def __init__(self, filters, base_width=26, scale=4, strides=1, groups=1, zero_init_last=False,
                 drop_path_rate=0.0, bn_momentum=BN_MOMENTUM, bn_epsilon=BN_EPSILON, **kwargs):
        super().__init__(**kwargs)
        who = _checks.owner(self, kwargs)
        self.filters = _checks.positive_int(who, "filters", filters)
        self.base_width = _checks.positive_int(who, "base_width", base_width)
        self.scale = _checks.integer(who, "scale", scale)
        if self.scale < 2:
            raise ValueError(f"{who}: scale must be >= 2 (scale 1 is a plain bottleneck: ResidualBlock with "
                             f"block_type='bottleneck'), got {scale!r}.")
        self.strides = _checks.positive_int(who, "strides", strides)
        self.groups = _checks.positive_int(who, "groups", groups)
        self.zero_init_last = _checks.flag(who, "zero_init_last", zero_init_last)
        self.drop_path_rate = _checks.rate(who, "drop_path_rate", drop_path_rate)
        _checks.batch_norm(who, bn_momentum, bn_epsilon)
        self.bn_momentum, self.bn_epsilon = bn_momentum, bn_epsilon
        self.width = (self.filters * self.base_width // 64) * self.groups
        if self.width < 1:
            raise ValueError(f"{who}: width floor(filters * base_width / 64) * groups is 0 for "
                             f"filters={filters}, base_width={base_width}; raise either.")
        self.out_channels = 4 * self.filters
        unit = dict(bn_momentum=bn_momentum, bn_epsilon=bn_epsilon, dtype=self.dtype_policy)
        self.conv1 = ConvBNAct(self.width * self.scale, 1, name="conv1", **unit)
        self.convs = [ConvBNAct(self.width, 3, self.strides, groups=self.groups, name=f"convs_{i}", **unit)
                      for i in range(self.scale - 1)]
        self.conv3 = ConvBNAct(self.out_channels, 1, activation=None, zero_init_gamma=self.zero_init_last,
                               name="conv3", **unit)
        self.drop_path = (StochasticDepth(self.drop_path_rate, dtype=self.dtype_policy, name="drop_path")
                          if self.drop_path_rate > 0 else None)
        self.pool = self.downsample = None
        self._is_first = False

    def build(self, input_shape):
        in_channels = input_shape[-1]
        self._is_first = self.strides > 1 or in_channels != self.out_channels
        self.conv1.build(input_shape)
        mid = self.conv1.compute_output_shape(input_shape)
        split = (*mid[:3], self.width)
        for conv in self.convs:
            conv.build(split)
        out = self.convs[0].compute_output_shape(split)
        if self._is_first:
            self.pool = TorchPool2D(3, self.strides, padding=1, mode="avg", dtype=self.dtype_policy, name="pool")
            self.downsample = ConvBNAct(self.out_channels, 1, self.strides, activation=None,
                                        bn_momentum=self.bn_momentum, bn_epsilon=self.bn_epsilon,
                                        dtype=self.dtype_policy, name="downsample")
            self.downsample.build(input_shape)
        self.conv3.build((*out[:3], self.width * self.scale))

    def call(self, x, training=None):
        y = self.conv1(x, training=training)
        splits = ops.split(y, self.scale, axis=-1)
        outs, sp = [], None
        for i, conv in enumerate(self.convs):
            sp = splits[i] if i == 0 or self._is_first else sp + splits[i]
            sp = conv(sp, training=training)
            outs.append(sp)
        outs.append(self.pool(splits[-1]) if self._is_first else splits[-1])
        y = self.conv3(ops.concatenate(outs, axis=-1), training=training)
        if self.drop_path is not None:
            y = self.drop_path(y, training=training)
        shortcut = self.downsample(x, training=training) if self.downsample is not None else x
        return ops.relu(y + shortcut)

    def compute_output_shape(self, input_shape):
        s = self.strides
        size = [None if d is None else (d - 1) // s + 1 for d in input_shape[1:3]]
        return (input_shape[0], *size, self.out_channels)

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, base_width=self.base_width, scale=self.scale, strides=self.strides,
                      groups=self.groups, zero_init_last=self.zero_init_last, drop_path_rate=self.drop_path_rate,
                      bn_momentum=self.bn_momentum, bn_epsilon=self.bn_epsilon)
        return config
