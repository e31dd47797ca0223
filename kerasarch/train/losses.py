"""Losses the recipes need that Keras lacks."""

import keras
from keras import ops

__all__ = ["SmoothedSparseCategoricalCrossentropy"]


@keras.saving.register_keras_serializable(package="kerasarch")
class SmoothedSparseCategoricalCrossentropy(keras.losses.Loss):
    """Cross-entropy for integer labels with label smoothing (Szegedy et al. 2016).

    Keras's ``SparseCategoricalCrossentropy`` has no ``label_smoothing``; this one turns
    the integer labels into one-hot rows and calls Keras's ``categorical_crossentropy``
    with it, so the target for the true class is ``1 - s + s / K`` and for each other class
    ``s / K``. With ``label_smoothing=0`` it equals the sparse loss.
    """

    def __init__(self, label_smoothing=0.1, from_logits=False, reduction="sum_over_batch_size",
                 name="smoothed_sparse_categorical_crossentropy", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        if not 0.0 <= float(label_smoothing) < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing!r}.")
        self.label_smoothing = float(label_smoothing)
        self.from_logits = bool(from_logits)

    def call(self, y_true, y_pred):
        labels = ops.cast(ops.reshape(y_true, (-1,)), "int32")
        one_hot = ops.one_hot(labels, ops.shape(y_pred)[-1], dtype=y_pred.dtype)
        return keras.losses.categorical_crossentropy(one_hot, y_pred, from_logits=self.from_logits,
                                                     label_smoothing=self.label_smoothing)

    def get_config(self):
        config = super().get_config()
        config.update(label_smoothing=self.label_smoothing, from_logits=self.from_logits)
        return config
