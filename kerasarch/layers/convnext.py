"""ConvNeXt's block and downsampling layer (Liu et al. 2022), torchvision's layout."""

import keras
from keras import ops

from kerasarch.layers import _checks
from kerasarch.layers.drop_path import StochasticDepth

__all__ = ["ConvNeXtBlock", "ConvNeXtDownsample", "LN_EPSILON"]

LN_EPSILON = 1e-6


def _trunc_normal():
    # torchvision initialises ConvNeXt's convolutions and linears with trunc_normal(std=0.02).
    return keras.initializers.TruncatedNormal(stddev=0.02)


@keras.saving.register_keras_serializable(package="kerasarch")
class ConvNeXtBlock(keras.layers.Layer):
    """7x7 depthwise conv -> LayerNorm -> dense 4C -> GELU -> dense C -> layer scale -> drop path, + input.

    Args:
        kernel_size: depthwise kernel (7).
        mlp_ratio: hidden width of the inverted MLP, as a multiple of the channels (4).
        layer_scale_init: initial value of the per-channel scale ``gamma`` (1e-6); 0 or
            ``None`` disables layer scale.
        drop_path_rate: stochastic depth probability of the residual branch.
        epsilon: LayerNorm epsilon (1e-6).
    """

    def __init__(self, kernel_size=7, mlp_ratio=4, layer_scale_init=1e-6, drop_path_rate=0.0, epsilon=LN_EPSILON,
                 **kwargs):
        super().__init__(**kwargs)
        who = _checks.owner(self, kwargs)
        # "same" padding equals torchvision's k // 2 on each side only for odd kernels.
        self.kernel_size = _checks.odd_int(who, "kernel_size", kernel_size, hint="ConvNeXt uses 7.")
        self.mlp_ratio = _checks.positive_number(who, "mlp_ratio", mlp_ratio)
        self.layer_scale_init = _checks.number(who, "layer_scale_init", layer_scale_init, 0, allow_none=True,
                                               hint="0 or None disables layer scale.") or 0.0
        self.drop_path_rate = _checks.rate(who, "drop_path_rate", drop_path_rate)
        self.epsilon = _checks.positive_number(who, "epsilon", epsilon)
        self.dwconv = keras.layers.DepthwiseConv2D(self.kernel_size, padding="same",
                                                   depthwise_initializer=_trunc_normal(),
                                                   dtype=self.dtype_policy, name="dwconv")
        self.norm = keras.layers.LayerNormalization(epsilon=self.epsilon, dtype=self.dtype_policy, name="norm")
        self.fc1 = self.fc2 = None
        self.gamma = None
        self.drop_path = (StochasticDepth(self.drop_path_rate, dtype=self.dtype_policy, name="drop_path")
                          if self.drop_path_rate > 0 else None)

    def build(self, input_shape):
        channels = input_shape[-1]
        hidden = int(channels * self.mlp_ratio)
        if hidden < 1:
            raise ValueError(f"{_checks.owner(self)}: mlp_ratio={self.mlp_ratio} leaves no hidden units for "
                             f"{channels} channels; int(channels * mlp_ratio) must be at least 1.")
        self.dwconv.build(input_shape)
        self.norm.build(input_shape)
        self.fc1 = keras.layers.Dense(hidden, kernel_initializer=_trunc_normal(), dtype=self.dtype_policy, name="fc1")
        self.fc1.build(input_shape)
        self.fc2 = keras.layers.Dense(channels, kernel_initializer=_trunc_normal(), dtype=self.dtype_policy,
                                      name="fc2")
        self.fc2.build((*input_shape[:3], hidden))
        if self.layer_scale_init:
            self.gamma = self.add_weight(shape=(channels,), name="gamma",
                                         initializer=keras.initializers.Constant(self.layer_scale_init))

    def call(self, x, training=None):
        y = self.norm(self.dwconv(x))
        # Exact GELU, as torch.nn.GELU(); the tanh approximation differs by up to 1e-3.
        y = self.fc2(keras.activations.gelu(self.fc1(y), approximate=False))
        if self.gamma is not None:
            y = y * ops.cast(self.gamma, y.dtype)
        if self.drop_path is not None:
            y = self.drop_path(y, training=training)
        return x + y

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(kernel_size=self.kernel_size, mlp_ratio=self.mlp_ratio, layer_scale_init=self.layer_scale_init,
                      drop_path_rate=self.drop_path_rate, epsilon=self.epsilon)
        return config


@keras.saving.register_keras_serializable(package="kerasarch")
class ConvNeXtDownsample(keras.layers.Layer):
    """LayerNorm -> 2x2 convolution with stride 2 (with bias) to ``filters`` channels."""

    def __init__(self, filters, epsilon=LN_EPSILON, **kwargs):
        super().__init__(**kwargs)
        who = _checks.owner(self, kwargs)
        self.filters = _checks.positive_int(who, "filters", filters)
        self.epsilon = _checks.positive_number(who, "epsilon", epsilon)
        self.norm = keras.layers.LayerNormalization(epsilon=self.epsilon, dtype=self.dtype_policy, name="norm")
        self.conv = keras.layers.Conv2D(self.filters, 2, strides=2, kernel_initializer=_trunc_normal(),
                                        dtype=self.dtype_policy, name="conv")

    def build(self, input_shape):
        self.norm.build(input_shape)
        self.conv.build(input_shape)

    def call(self, x):
        return self.conv(self.norm(x))

    def compute_output_shape(self, input_shape):
        return self.conv.compute_output_shape(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, epsilon=self.epsilon)
        return config
