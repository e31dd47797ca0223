"""Stochastic depth (drop path), Huang et al. 2016, "Deep Networks with Stochastic Depth"."""

import keras
from keras import ops

from kerasarch.layers import _checks

__all__ = ["StochasticDepth"]


@keras.saving.register_keras_serializable(package="kerasarch")
class StochasticDepth(keras.layers.Layer):
    """Drops a whole residual branch per sample with probability ``rate`` while training.

    Kept samples are scaled by ``1 / (1 - rate)`` so the expected output is unchanged;
    at inference the layer is the identity. Apply it to the residual branch, before the
    addition of the shortcut.

    Args:
        rate: probability of dropping a sample's branch, in ``[0, 1)``.
        seed: optional integer seed.
    """

    def __init__(self, rate=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        who = _checks.owner(self, kwargs)
        rate = _checks.rate(who, "rate", rate)
        self.rate = rate
        self.seed = None if seed is None else _checks.integer(who, "seed", seed)
        self.seed_generator = keras.random.SeedGenerator(seed) if rate > 0 else None

    def call(self, x, training=None):
        if not training or self.rate == 0.0:
            return x
        # One Bernoulli draw per sample, broadcast over every other axis: this is
        # dropout with a per-sample noise shape, which Keras already provides.
        noise_shape = (ops.shape(x)[0],) + (1,) * (len(x.shape) - 1)
        return keras.random.dropout(x, self.rate, noise_shape=noise_shape, seed=self.seed_generator)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(rate=self.rate, seed=self.seed)
        return config
