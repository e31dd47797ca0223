"""A residual temporal-convolution block (Bai et al. 2018, "An Empirical Evaluation of Generic
Convolutional and Recurrent Networks"), small: what a new family's layers file looks like."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kerasarch_tests")
class TemporalBlock(keras.layers.Layer):
    """Two dilated causal 1D convolutions with ReLU and a residual (1x1 projection when the
    width changes). (batch, steps, C) -> (batch, steps, filters)."""

    def __init__(self, filters, kernel_size=3, dilation_rate=1, **kwargs):
        super().__init__(**kwargs)
        for arg, value in (("filters", filters), ("kernel_size", kernel_size), ("dilation_rate", dilation_rate)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"TemporalBlock: {arg} must be a positive integer, got {value!r}.")
        self.filters, self.kernel_size, self.dilation_rate = filters, kernel_size, dilation_rate
        conv = dict(kernel_size=kernel_size, dilation_rate=dilation_rate, padding="causal", activation="relu")
        self.conv1 = keras.layers.Conv1D(filters, name="conv1", **conv)
        self.conv2 = keras.layers.Conv1D(filters, name="conv2", **conv)
        self.proj = None

    def build(self, input_shape):
        self.conv1.build(input_shape)
        self.conv2.build((*input_shape[:-1], self.filters))
        if input_shape[-1] != self.filters:
            self.proj = keras.layers.Conv1D(self.filters, 1, name="proj")
            self.proj.build(input_shape)

    def call(self, x):
        shortcut = self.proj(x) if self.proj is not None else x
        return ops.relu(self.conv2(self.conv1(x)) + shortcut)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.filters)

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, kernel_size=self.kernel_size, dilation_rate=self.dilation_rate)
        return config
