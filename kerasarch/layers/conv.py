"""Convolution + BatchNorm + activation, the unit every CNN family is made of."""

import keras
from keras import ops

from kerasarch.layers import _checks

__all__ = ["ConvBNAct", "DepthwiseConvBNAct", "he_normal", "BN_MOMENTUM", "BN_EPSILON"]

# torchvision's BatchNorm2d defaults (momentum 0.1 in PyTorch's convention, eps 1e-5), so that
# statistics ported from there give the same outputs.
BN_MOMENTUM = 0.9
BN_EPSILON = 1e-5


def he_normal():
    """He et al. 2015 initialisation as torchvision applies it to ResNets (fan_out, ReLU gain)."""
    return keras.initializers.VarianceScaling(scale=2.0, mode="fan_out", distribution="untruncated_normal")


def _pair(value):
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise ValueError(f"expected an int or a pair (height, width), got {value!r}")
        return tuple(int(v) for v in value)
    return (int(value), int(value))


class _PaddedConvBN(keras.layers.Layer):
    """Shared by the conv + BN units: explicit symmetric padding (PyTorch's), or "same"
    where that is equivalent. Subclasses set ``self.conv``, ``self.bn``, ``self._act`` and
    ``self._explicit`` (the (height, width) zeros to add; (0, 0) when the conv pads itself)."""

    def _padded_shape(self, shape):
        ph, pw = self._explicit
        return (shape[0], None if shape[1] is None else shape[1] + 2 * ph,
                None if shape[2] is None else shape[2] + 2 * pw, shape[3])

    def build(self, input_shape):
        padded = self._padded_shape(input_shape)
        self.conv.build(padded)
        self.bn.build(self.conv.compute_output_shape(padded))

    def call(self, x, training=None):
        ph, pw = self._explicit
        if ph or pw:
            x = ops.pad(x, [[0, 0], [ph, ph], [pw, pw], [0, 0]])
        x = self.bn(self.conv(x), training=training)
        return self._act(x) if self._act is not None else x

    def compute_output_shape(self, input_shape):
        return self.conv.compute_output_shape(self._padded_shape(input_shape))


@keras.saving.register_keras_serializable(package="kerasarch")
class ConvBNAct(_PaddedConvBN):
    """``Conv2D`` (no bias) -> ``BatchNormalization`` -> activation.

    Padding follows PyTorch: ``padding`` zeros on each side (``kernel_size // 2`` by
    default), so a strided convolution samples the same pixels as torchvision's
    (TensorFlow's ``"same"`` pads unevenly when the stride is 2) and weights port one
    to one.

    Args:
        filters: output channels.
        kernel_size: kernel size, an int or ``(height, width)`` (Inception's 1x7 and 7x1).
        strides: stride of the convolution.
        padding: zeros on each side, an int or ``(height, width)``; ``None`` means
            ``kernel_size // 2`` ("same" for odd kernels at stride 1); 0 is "valid".
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
        padding=None,
        groups=1,
        activation="relu",
        zero_init_gamma=False,
        bn_momentum=BN_MOMENTUM,
        bn_epsilon=BN_EPSILON,
        **kwargs,
    ):
        super().__init__(**kwargs)
        who = _checks.owner(self, kwargs)
        self.filters = _checks.positive_int(who, "filters", filters)
        self.kernel_size = _pair(_checks.int_or_pair(who, "kernel_size", kernel_size))
        self.strides = _checks.positive_int(who, "strides", strides)
        self.padding = None if padding is None else _pair(_checks.int_or_pair(who, "padding", padding, minimum=0))
        self.groups = _checks.positive_int(who, "groups", groups)
        _checks.divides(who, "groups", self.groups, "filters", self.filters)
        self.activation = activation
        self.zero_init_gamma = _checks.flag(who, "zero_init_gamma", zero_init_gamma)
        _checks.batch_norm(who, bn_momentum, bn_epsilon)
        self.bn_momentum = bn_momentum
        self.bn_epsilon = bn_epsilon
        self._pad = self.padding if self.padding is not None else tuple(k // 2 for k in self.kernel_size)
        # Stride 1 and "half" padding of an odd kernel: that is "same", which lets the
        # backend skip a separate pad op.
        self._same = self.strides == 1 and all(k % 2 == 1 and p == k // 2
                                               for k, p in zip(self.kernel_size, self._pad))
        self.conv = keras.layers.Conv2D(
            self.filters,
            self.kernel_size,
            strides=self.strides,
            padding="same" if self._same else "valid",
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
        self._act = _checks.activation(who, "activation", activation) if activation else None
        self._explicit = (0, 0) if self._same else self._pad

    def build(self, input_shape):
        # Keras checks this too, but its error names the inner Conv2D rather than this layer.
        if input_shape[-1] is not None:
            _checks.divides(_checks.owner(self), "groups", self.groups, "the input channels", input_shape[-1])
        super().build(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            filters=self.filters,
            kernel_size=self.kernel_size[0] if self.kernel_size[0] == self.kernel_size[1] else self.kernel_size,
            strides=self.strides,
            padding=self.padding if self.padding is None or self.padding[0] != self.padding[1] else self.padding[0],
            groups=self.groups,
            activation=self.activation,
            zero_init_gamma=self.zero_init_gamma,
            bn_momentum=self.bn_momentum,
            bn_epsilon=self.bn_epsilon,
        )
        return config


@keras.saving.register_keras_serializable(package="kerasarch")
class DepthwiseConvBNAct(_PaddedConvBN):
    """``DepthwiseConv2D`` (no bias) -> ``BatchNormalization`` -> activation.

    The depthwise half of MobileNet and EfficientNet blocks; padding ``kernel_size // 2`` on
    each side, as PyTorch. A depthwise kernel is ``(k, k, C, 1)``; torchvision's grouped
    ``Conv2d`` stores ``(C, 1, k, k)``: the same numbers, transposed.
    """

    def __init__(self, kernel_size=3, strides=1, activation="relu", bn_momentum=BN_MOMENTUM,
                 bn_epsilon=BN_EPSILON, **kwargs):
        super().__init__(**kwargs)
        who = _checks.owner(self, kwargs)
        self.kernel_size = _checks.positive_int(who, "kernel_size", kernel_size)
        self.strides = _checks.positive_int(who, "strides", strides)
        self.activation = activation
        _checks.batch_norm(who, bn_momentum, bn_epsilon)
        self.bn_momentum = bn_momentum
        self.bn_epsilon = bn_epsilon
        self._pad = 0 if self.strides == 1 else self.kernel_size // 2
        self.conv = keras.layers.DepthwiseConv2D(
            self.kernel_size, strides=self.strides, padding="same" if self._pad == 0 else "valid",
            use_bias=False, depthwise_initializer=he_normal(), dtype=self.dtype_policy, name="conv")
        self.bn = keras.layers.BatchNormalization(momentum=bn_momentum, epsilon=bn_epsilon,
                                                  dtype=self.dtype_policy, name="bn")
        self._act = _checks.activation(who, "activation", activation) if activation else None
        self._explicit = (self._pad, self._pad)

    def get_config(self):
        config = super().get_config()
        config.update(kernel_size=self.kernel_size, strides=self.strides, activation=self.activation,
                      bn_momentum=self.bn_momentum, bn_epsilon=self.bn_epsilon)
        return config
