"""Convolution + BatchNorm + activation, the unit every CNN family is made of."""

import keras
from keras import ops

__all__ = ["ConvBNAct", "he_normal", "BN_MOMENTUM", "BN_EPSILON"]

# torchvision's BatchNorm2d defaults (momentum 0.1 in PyTorch's convention, eps 1e-5), so that
# statistics ported from there give the same outputs.
BN_MOMENTUM = 0.9
BN_EPSILON = 1e-5


def he_normal():
    """He et al. 2015 initialisation as torchvision applies it to ResNets (fan_out, ReLU gain)."""
    return keras.initializers.VarianceScaling(scale=2.0, mode="fan_out", distribution="untruncated_normal")


def conv_output_size(size, kernel_size, strides, padding):
    """Spatial size after a convolution or pooling window (``None`` stays ``None``)."""
    if size is None:
        return None
    return (size + 2 * padding - kernel_size) // strides + 1


@keras.saving.register_keras_serializable(package="kerasarch")
class ConvBNAct(keras.layers.Layer):
    """``Conv2D`` (no bias) -> ``BatchNormalization`` -> activation.

    Padding follows PyTorch: ``kernel_size // 2`` zeros on every side, so a
    strided convolution samples the same pixels as torchvision's (TensorFlow's
    ``"same"`` pads unevenly when the stride is 2) and weights port one to one.

    Args:
        filters: output channels.
        kernel_size: square kernel size.
        strides: stride of the convolution.
        groups: grouped convolution (``groups == in_channels == filters`` is depthwise).
        activation: activation name or ``None`` for a linear unit.
        zero_init_gamma: start the BatchNorm scale at zero (the last unit of a residual branch).
        bn_momentum, bn_epsilon: BatchNorm settings (torchvision's by default).

    Input ``(batch, H, W, C)``; output ``(batch, H', W', filters)``.
    """

    def __init__(
        self,
        filters,
        kernel_size=3,
        strides=1,
        groups=1,
        activation="relu",
        zero_init_gamma=False,
        bn_momentum=BN_MOMENTUM,
        bn_epsilon=BN_EPSILON,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        self.strides = int(strides)
        self.groups = int(groups)
        self.activation = activation
        self.zero_init_gamma = bool(zero_init_gamma)
        self.bn_momentum = bn_momentum
        self.bn_epsilon = bn_epsilon
        # Stride 1 with an odd kernel: "same" is already symmetric and lets the backend skip a pad op.
        self._pad = 0 if self.strides == 1 else self.kernel_size // 2
        self.conv = keras.layers.Conv2D(
            self.filters,
            self.kernel_size,
            strides=self.strides,
            padding="same" if self._pad == 0 else "valid",
            groups=self.groups,
            use_bias=False,
            kernel_initializer=he_normal(),
            dtype=self.dtype_policy,
            name="conv",
        )
        self.bn = keras.layers.BatchNormalization(
            momentum=bn_momentum,
            epsilon=bn_epsilon,
            gamma_initializer="zeros" if self.zero_init_gamma else "ones",
            dtype=self.dtype_policy,
            name="bn",
        )
        self._act = keras.activations.get(activation) if activation else None

    def build(self, input_shape):
        padded = self._padded_shape(input_shape)
        self.conv.build(padded)
        self.bn.build(self.conv.compute_output_shape(padded))

    def _padded_shape(self, shape):
        p = 2 * self._pad
        return (shape[0],) + tuple(None if s is None else s + p for s in shape[1:3]) + (shape[3],)

    def call(self, x, training=None):
        if self._pad:
            p = self._pad
            x = ops.pad(x, [[0, 0], [p, p], [p, p], [0, 0]])
        x = self.bn(self.conv(x), training=training)
        return self._act(x) if self._act is not None else x

    def compute_output_shape(self, input_shape):
        return self.conv.compute_output_shape(self._padded_shape(input_shape))

    def get_config(self):
        config = super().get_config()
        config.update(
            filters=self.filters,
            kernel_size=self.kernel_size,
            strides=self.strides,
            groups=self.groups,
            activation=self.activation,
            zero_init_gamma=self.zero_init_gamma,
            bn_momentum=self.bn_momentum,
            bn_epsilon=self.bn_epsilon,
        )
        return config
