"""The VGG block of Simonyan & Zisserman 2014: n 3x3 convolutions, then a 2x2 max pool."""

import keras

from kerasarch.layers import _checks
from kerasarch.layers.conv import BN_EPSILON, BN_MOMENTUM, he_normal

__all__ = ["VGGBlock"]


@keras.saving.register_keras_serializable(package="kerasarch")
class VGGBlock(keras.layers.Layer):
    """``num_convs`` x (3x3 conv with bias [+ BatchNorm] + ReLU), then max pool 2x2 / 2.

    The convolutions keep their bias also with BatchNorm, as torchvision's ``vgg*_bn``
    do (so their weights port and the parameter counts match).

    Args:
        num_convs: convolutions in the block (d2l's ``conv_arch`` first entry).
        filters: their output channels.
        batch_norm: BatchNorm after each convolution.
        pool: end with the max pool (True in every VGG).

    Input ``(batch, H, W, C)``; output ``(batch, H // 2, W // 2, filters)``.
    """

    def __init__(self, num_convs, filters, batch_norm=False, pool=True, **kwargs):
        super().__init__(**kwargs)
        who = _checks.owner(self, kwargs)
        self.num_convs = _checks.positive_int(who, "num_convs", num_convs)
        self.filters = _checks.positive_int(who, "filters", filters)
        self.batch_norm = _checks.flag(who, "batch_norm", batch_norm)
        self.pool = _checks.flag(who, "pool", pool)
        self.convs, self.norms = [], []
        for i in range(self.num_convs):
            self.convs.append(keras.layers.Conv2D(
                self.filters, 3, padding="same", kernel_initializer=he_normal(),
                dtype=self.dtype_policy, name=f"conv{i + 1}"))
            if self.batch_norm:
                self.norms.append(keras.layers.BatchNormalization(
                    momentum=BN_MOMENTUM, epsilon=BN_EPSILON, dtype=self.dtype_policy, name=f"bn{i + 1}"))
        self.pooling = keras.layers.MaxPooling2D(2, dtype=self.dtype_policy, name="pool") if self.pool else None

    def build(self, input_shape):
        shape = input_shape
        for i, conv in enumerate(self.convs):
            conv.build(shape)
            shape = conv.compute_output_shape(shape)
            if self.batch_norm:
                self.norms[i].build(shape)

    def call(self, x, training=None):
        for i, conv in enumerate(self.convs):
            x = conv(x)
            if self.batch_norm:
                x = self.norms[i](x, training=training)
            x = keras.ops.relu(x)
        return self.pooling(x) if self.pooling is not None else x

    def compute_output_shape(self, input_shape):
        shape = (*input_shape[:3], self.filters)
        return self.pooling.compute_output_shape(shape) if self.pooling is not None else shape

    def get_config(self):
        config = super().get_config()
        config.update(num_convs=self.num_convs, filters=self.filters, batch_norm=self.batch_norm, pool=self.pool)
        return config
