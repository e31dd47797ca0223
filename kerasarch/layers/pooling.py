"""Pooling with PyTorch's padding rules, so torchvision layouts keep their exact sizes."""

import math

import keras
from keras import ops

from kerasarch.layers import _checks

__all__ = ["AdaptiveAvgPool2D", "MaskedGlobalMaxPooling1D", "TorchPool2D"]


@keras.saving.register_keras_serializable(package="kerasarch")
class TorchPool2D(keras.layers.Layer):
    """``nn.MaxPool2d`` / ``nn.AvgPool2d`` semantics: symmetric ``padding`` and ``ceil_mode``.

    With ``ceil_mode=True`` the output size is ``ceil((H + 2p - k) / s) + 1`` (less one if the
    last window would start in the padding), which GoogLeNet uses. Padding for a max pool
    is ``-inf``; for an average pool it is zeros and counted (``count_include_pad=True``,
    PyTorch's default), except the extra ``ceil_mode`` cells, which PyTorch leaves out.

    Args:
        pool_size, strides, padding: ints.
        ceil_mode: round the output size up.
        mode: ``"max"`` or ``"avg"``.
    """

    def __init__(self, pool_size, strides=None, padding=0, ceil_mode=False, mode="max", **kwargs):
        super().__init__(**kwargs)
        who = _checks.owner(self, kwargs)
        self.mode = _checks.one_of(who, "mode", mode, ("max", "avg"))
        self.ceil_mode = _checks.flag(who, "ceil_mode", ceil_mode)
        if mode == "avg" and ceil_mode:
            raise ValueError(f"{who}: ceil_mode is implemented for max pooling only (what the references use).")
        self.pool_size = _checks.positive_int(who, "pool_size", pool_size)
        self.strides = self.pool_size if strides is None else _checks.positive_int(
            who, "strides", strides, hint="None means pool_size.")
        # PyTorch's limit; it is what keeps every window from lying wholly in the padding.
        self.padding = _checks.non_negative_int(who, "padding", padding)
        if self.padding > self.pool_size // 2:
            raise ValueError(f"{who}: padding must be at most pool_size // 2 ({self.pool_size // 2}), "
                             f"got {padding!r}.")

    def _out_size(self, size):
        if size is None:
            return None
        k, s, p = self.pool_size, self.strides, self.padding
        span = size + 2 * p - k
        if span < 0:
            return 0
        out = (math.ceil(span / s) if self.ceil_mode else span // s) + 1
        if self.ceil_mode and (out - 1) * s >= size + p:
            out -= 1
        return out

    def _extra(self, size):
        out = self._out_size(size)
        return max((out - 1) * self.strides + self.pool_size - (size + 2 * self.padding), 0)

    def call(self, x):
        p = self.padding
        h, w = x.shape[1], x.shape[2]
        if self.ceil_mode and (h is None or w is None):
            raise ValueError("TorchPool2D(ceil_mode=True) needs a static height and width.")
        eh, ew = (self._extra(h), self._extra(w)) if self.ceil_mode else (0, 0)
        if p or eh or ew:
            if self.mode == "max":
                # The lowest finite value: -inf would survive into a window only if a whole
                # window were padding, which the size rule above never allows.
                fill = -65504.0 if keras.backend.standardize_dtype(x.dtype) == "float16" else -3.0e38
                x = ops.pad(x, [[0, 0], [p, p + eh], [p, p + ew], [0, 0]], constant_values=fill)
            else:
                x = ops.pad(x, [[0, 0], [p, p], [p, p], [0, 0]])
        if self.mode == "max":
            return ops.max_pool(x, self.pool_size, self.strides, padding="valid")
        return ops.average_pool(x, self.pool_size, self.strides, padding="valid")

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self._out_size(input_shape[1]), self._out_size(input_shape[2]), input_shape[3])

    def get_config(self):
        config = super().get_config()
        config.update(pool_size=self.pool_size, strides=self.strides, padding=self.padding,
                      ceil_mode=self.ceil_mode, mode=self.mode)
        return config


def _bin_matrix(size, out):
    """``(out, size)`` matrix averaging PyTorch's adaptive bins: bin ``i`` covers
    ``floor(i * size / out)`` to ``ceil((i + 1) * size / out)``."""
    import numpy as np

    matrix = np.zeros((out, size), "float32")
    for i in range(out):
        start, end = (i * size) // out, -((-(i + 1) * size) // out)
        matrix[i, start:end] = 1.0 / (end - start)
    return matrix


@keras.saving.register_keras_serializable(package="kerasarch")
class AdaptiveAvgPool2D(keras.layers.Layer):
    """``nn.AdaptiveAvgPool2d``: average over PyTorch's bins to a fixed ``output_size``.

    Written as two small matrix products (exact bins, any float dtype, any backend);
    ``keras.layers.AdaptiveAveragePooling2D`` fails under bfloat16 on TensorFlow when the
    input is smaller than the output (a 32x32 image through VGG gives 1x1 maps to pool
    to 7x7). With a dynamic height or width it falls back to Keras's op.
    """

    def __init__(self, output_size, **kwargs):
        super().__init__(**kwargs)
        self.output_size = _checks.positive_int(_checks.owner(self, kwargs), "output_size", output_size)

    def call(self, x):
        h, w = x.shape[1], x.shape[2]
        if h is None or w is None:  # dynamic size: Keras's own op (fine in float32)
            return ops.adaptive_average_pool(x, self.output_size)
        ph = ops.convert_to_tensor(_bin_matrix(h, self.output_size), dtype=x.dtype)
        pw = ops.convert_to_tensor(_bin_matrix(w, self.output_size), dtype=x.dtype)
        return ops.einsum("ih,bhwc,jw->bijc", ph, x, pw)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.output_size, self.output_size, input_shape[3])

    def get_config(self):
        config = super().get_config()
        config.update(output_size=self.output_size)
        return config


class PoolOverSteps(keras.layers.Layer):
    """The shape rules every masked pooling over time shares: (batch, steps, C) -> (batch, C),
    the mask taken and not passed on."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def compute_mask(self, x, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])


@keras.saving.register_keras_serializable(package="kerasarch")
class MaskedGlobalMaxPooling1D(PoolOverSteps):
    """(batch, steps, C) -> (batch, C): the maximum over the steps the mask keeps.

    Keras's ``GlobalMaxPooling1D`` ignores a mask, so a padded sequence's maximum would
    depend on the padding; here padded steps never win (a fully masked row gives zeros).
    """

    def call(self, x, mask=None):
        if mask is None:
            return ops.max(x, axis=1)
        keep = ops.expand_dims(ops.cast(mask, "bool"), -1)
        # float16's lowest value: representable in every compute dtype a policy may pick.
        lowest = ops.convert_to_tensor(-65504.0, dtype=x.dtype)
        pooled = ops.max(ops.where(keep, x, lowest), axis=1)
        return ops.where(ops.any(keep, axis=1), pooled, ops.zeros_like(pooled))
