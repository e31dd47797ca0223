"""Losses the recipes need that Keras lacks."""

import keras
from keras import ops

__all__ = ["MaskedTokenAccuracy", "SequenceCrossentropy", "SmoothedSparseCategoricalCrossentropy"]


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


@keras.saving.register_keras_serializable(package="kerasarch")
class SequenceCrossentropy(keras.losses.Loss):
    """Per-token cross-entropy of a sequence model's logits (batch, steps, vocabulary) against
    integer targets (batch, steps), averaged over the real tokens: steps whose target is
    ``padding_id`` count for nothing, so a batch of short targets padded to a long one has
    the loss of its tokens, not a smaller one. ``label_smoothing`` as in
    :class:`SmoothedSparseCategoricalCrossentropy` (Vaswani et al. 2017 smooth 0.1)."""

    def __init__(self, label_smoothing=0.0, from_logits=True, padding_id=0, reduction="sum_over_batch_size",
                 name="sequence_crossentropy", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        if not 0.0 <= float(label_smoothing) < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing!r}.")
        self.label_smoothing = float(label_smoothing)
        self.from_logits = bool(from_logits)
        self.padding_id = int(padding_id)

    def call(self, y_true, y_pred):
        labels = ops.cast(y_true, "int32")
        one_hot = ops.one_hot(labels, ops.shape(y_pred)[-1], dtype=y_pred.dtype)
        loss = keras.losses.categorical_crossentropy(one_hot, y_pred, from_logits=self.from_logits,
                                                     label_smoothing=self.label_smoothing)
        real = ops.cast(ops.not_equal(labels, self.padding_id), loss.dtype)
        # The reduction averages over every step; scaling by steps / real tokens turns that
        # into the mean over real tokens (and a batch of padding only into 0).
        scale = ops.cast(ops.size(real), loss.dtype) / ops.maximum(ops.sum(real), 1.0)
        return loss * real * scale

    def get_config(self):
        config = super().get_config()
        config.update(label_smoothing=self.label_smoothing, from_logits=self.from_logits, padding_id=self.padding_id)
        return config


@keras.saving.register_keras_serializable(package="kerasarch")
class MaskedTokenAccuracy(keras.metrics.SparseCategoricalAccuracy):
    """The fraction of real target tokens (not ``padding_id``) predicted exactly: a sequence
    model's accuracy, which Keras's would inflate with every padded step."""

    def __init__(self, padding_id=0, name="accuracy", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.padding_id = int(padding_id)

    def update_state(self, y_true, y_pred, sample_weight=None):
        real = ops.cast(ops.not_equal(ops.cast(y_true, "int32"), self.padding_id), "float32")
        if sample_weight is not None:
            real = real * ops.cast(sample_weight, "float32")
        return super().update_state(y_true, y_pred, sample_weight=real)

    def get_config(self):
        return {"padding_id": self.padding_id, "name": self.name, "dtype": self.dtype}
