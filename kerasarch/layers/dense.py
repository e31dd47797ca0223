"""DenseNet's blocks (Huang et al. 2017): dense layers concatenated, transitions between blocks.

Pre-activation order (BatchNorm -> ReLU -> convolution), no convolution biases, as
torchvision, so its weights port layer by layer.
"""

import keras
from keras import ops

from kerasarch.layers import _checks
from kerasarch.layers.conv import BN_EPSILON, BN_MOMENTUM, he_normal

__all__ = ["DenseLayer", "DenseBlock", "TransitionLayer"]


def _bn(layer, name):
    return keras.layers.BatchNormalization(momentum=BN_MOMENTUM, epsilon=BN_EPSILON,
                                           dtype=layer.dtype_policy, name=name)


def _conv(layer, filters, kernel_size, name):
    return keras.layers.Conv2D(filters, kernel_size, padding="same", use_bias=False,
                               kernel_initializer=he_normal(), dtype=layer.dtype_policy, name=name)


def _dense_args(layer, kwargs, growth_rate, bn_size, drop_rate):
    who = _checks.owner(layer, kwargs)
    return (_checks.positive_int(who, "growth_rate", growth_rate), _checks.positive_int(who, "bn_size", bn_size),
            _checks.rate(who, "drop_rate", drop_rate))


@keras.saving.register_keras_serializable(package="kerasarch")
class DenseLayer(keras.layers.Layer):
    """BN-ReLU-1x1 conv (``bn_size * growth_rate``) -> BN-ReLU-3x3 conv (``growth_rate``), with
    optional dropout; returns the input with the new ``growth_rate`` channels appended."""

    def __init__(self, growth_rate, bn_size=4, drop_rate=0.0, **kwargs):
        super().__init__(**kwargs)
        self.growth_rate, self.bn_size, self.drop_rate = _dense_args(self, kwargs, growth_rate, bn_size, drop_rate)
        self.norm1 = _bn(self, "norm1")
        self.conv1 = _conv(self, self.bn_size * self.growth_rate, 1, "conv1")
        self.norm2 = _bn(self, "norm2")
        self.conv2 = _conv(self, self.growth_rate, 3, "conv2")
        self.dropout = keras.layers.Dropout(self.drop_rate, name="dropout") if self.drop_rate else None

    def build(self, input_shape):
        self.norm1.build(input_shape)
        self.conv1.build(input_shape)
        mid = (*input_shape[:3], self.bn_size * self.growth_rate)
        self.norm2.build(mid)
        self.conv2.build(mid)

    def call(self, x, training=None):
        y = self.conv1(ops.relu(self.norm1(x, training=training)))
        y = self.conv2(ops.relu(self.norm2(y, training=training)))
        if self.dropout is not None:
            y = self.dropout(y, training=training)
        return ops.concatenate([x, y], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:3], input_shape[3] + self.growth_rate)

    def get_config(self):
        config = super().get_config()
        config.update(growth_rate=self.growth_rate, bn_size=self.bn_size, drop_rate=self.drop_rate)
        return config


@keras.saving.register_keras_serializable(package="kerasarch")
class DenseBlock(keras.layers.Layer):
    """``num_layers`` :class:`DenseLayer` in sequence: ``C -> C + num_layers * growth_rate`` channels."""

    def __init__(self, num_layers, growth_rate, bn_size=4, drop_rate=0.0, **kwargs):
        super().__init__(**kwargs)
        self.num_layers = _checks.positive_int(_checks.owner(self, kwargs), "num_layers", num_layers)
        self.growth_rate, self.bn_size, self.drop_rate = _dense_args(self, kwargs, growth_rate, bn_size, drop_rate)
        self.dense_layers = [
            DenseLayer(self.growth_rate, self.bn_size, self.drop_rate, dtype=self.dtype_policy,
                       name=f"denselayer{i + 1}")
            for i in range(self.num_layers)
        ]

    def build(self, input_shape):
        shape = input_shape
        for layer in self.dense_layers:
            layer.build(shape)
            shape = layer.compute_output_shape(shape)

    def call(self, x, training=None):
        for layer in self.dense_layers:
            x = layer(x, training=training)
        return x

    def compute_output_shape(self, input_shape):
        return (*input_shape[:3], input_shape[3] + self.num_layers * self.growth_rate)

    def get_config(self):
        config = super().get_config()
        config.update(num_layers=self.num_layers, growth_rate=self.growth_rate, bn_size=self.bn_size,
                      drop_rate=self.drop_rate)
        return config


@keras.saving.register_keras_serializable(package="kerasarch")
class TransitionLayer(keras.layers.Layer):
    """BN -> ReLU -> 1x1 conv (``filters``) -> 2x2 average pool / 2."""

    def __init__(self, filters, **kwargs):
        super().__init__(**kwargs)
        self.filters = _checks.positive_int(_checks.owner(self, kwargs), "filters", filters)
        self.norm = _bn(self, "norm")
        self.conv = _conv(self, self.filters, 1, "conv")
        self.pool = keras.layers.AveragePooling2D(2, dtype=self.dtype_policy, name="pool")

    def build(self, input_shape):
        self.norm.build(input_shape)
        self.conv.build(input_shape)

    def call(self, x, training=None):
        return self.pool(self.conv(ops.relu(self.norm(x, training=training))))

    def compute_output_shape(self, input_shape):
        return self.pool.compute_output_shape((*input_shape[:3], self.filters))

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters)
        return config
