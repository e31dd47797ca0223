"""Knowledge distillation (Hinton et al. 2015): a student learns from a frozen teacher's softened outputs."""

import os

import keras
from keras import ops

from kerasarch._atomic import atomic_path
from kerasarch.train.recipe import classifier_from_logits

__all__ = ["Distiller"]


def _logits(output, is_probabilities):
    # A model that ends in softmax hands back probabilities; their log is a valid logit
    # vector (softmax is shift-invariant), so either kind of model can teach or learn.
    output = ops.cast(output, "float32")
    return ops.log(ops.clip(output, 1e-7, 1.0)) if is_probabilities else output


@keras.saving.register_keras_serializable(package="kerasarch")
class Distiller(keras.Model):
    """Trains ``student`` to match a frozen ``teacher``:

        loss = alpha * KL(softmax(t / T) || softmax(s / T)) * T**2 + (1 - alpha) * CE(y, s)

    (``alpha=0.7``, the hard cross-entropy at 0.3, is the common setting after Hinton et al.; the ``T**2`` keeps the soft
    term's gradients on the scale of the hard one's as ``T`` changes). Both models may end in
    softmax or in logits. ``distiller(x)`` is the student's output, so ``compile(metrics=...)``
    and ``evaluate`` measure the student. Any backend: only ``compute_loss`` is overridden.

    Args:
        student, teacher: Keras models with the same number of outputs.
        temperature: ``T`` (> 0).
        alpha: weight of the distillation term, in [0, 1].
    """

    def __init__(self, student, teacher, temperature=4.0, alpha=0.7, **kwargs):
        super().__init__(**kwargs)
        if not temperature > 0:
            raise ValueError(f"Distiller temperature must be positive, got {temperature!r}.")
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"Distiller alpha must be in [0, 1], got {alpha!r}.")
        s_out, t_out = student.output_shape[-1], teacher.output_shape[-1]
        if s_out != t_out:
            raise ValueError(f"student has {s_out} outputs, teacher {t_out}: they must predict the same classes.")
        self.student, self.teacher = student, teacher
        self.teacher.trainable = False
        self.temperature, self.alpha = float(temperature), float(alpha)
        self._student_probs = not classifier_from_logits(student, "Distiller student")
        self._teacher_probs = not classifier_from_logits(teacher, "Distiller teacher")

    def call(self, x, training=None):
        return self.student(x, training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        t = self.temperature
        student_logits = _logits(y_pred, self._student_probs)
        teacher_logits = _logits(self.teacher(x, training=False), self._teacher_probs)
        soft_teacher = ops.softmax(teacher_logits / t, axis=-1)
        log_soft_student = ops.log_softmax(student_logits / t, axis=-1)
        log_soft_teacher = ops.log_softmax(teacher_logits / t, axis=-1)
        kl = ops.sum(soft_teacher * (log_soft_teacher - log_soft_student), axis=-1)
        hard = keras.losses.sparse_categorical_crossentropy(y, student_logits, from_logits=True)
        per_example = self.alpha * kl * (t * t) + (1.0 - self.alpha) * hard
        if sample_weight is not None:
            per_example = per_example * ops.cast(ops.reshape(sample_weight, (-1,)), per_example.dtype)
        loss = ops.mean(per_example)
        losses = self.losses  # e.g. regularisers of the student
        return loss + ops.sum(ops.stack(losses)) if losses else loss

    def save_student(self, path):
        """Save the student alone (a normal Keras model file), atomically."""
        path = os.fspath(path)
        suffix = ".weights.h5" if path.endswith(".weights.h5") else ".keras"
        with atomic_path(path, suffix=suffix) as tmp:
            if suffix == ".keras":
                self.student.save(tmp)
            else:
                self.student.save_weights(tmp)

    def get_config(self):
        return {"student": keras.saving.serialize_keras_object(self.student),
                "teacher": keras.saving.serialize_keras_object(self.teacher),
                "temperature": self.temperature, "alpha": self.alpha, "name": self.name}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["student"] = keras.saving.deserialize_keras_object(config["student"])
        config["teacher"] = keras.saving.deserialize_keras_object(config["teacher"])
        return cls(**config)
