"""Backend-agnostic test helpers (the contract test runs on TensorFlow and JAX)."""

import keras
import numpy as np
import pytest
from keras import ops


def trainable_gradients(model, x, weights, training=True):
    """Gradients of ``sum(model(x) * weights)`` for every trainable variable, as NumPy arrays."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = ops.sum(model(x, training=training) * weights)
        grads = tape.gradient(loss, model.trainable_variables)
    elif backend == "jax":
        import jax

        trainable = [v.value for v in model.trainable_variables]
        frozen = [v.value for v in model.non_trainable_variables]

        def loss_fn(tv):
            y, _ = model.stateless_call(tv, frozen, x, training=training)
            return ops.sum(y * weights)

        # Compiled once: op-by-op autodiff of a deep net is several times slower on the CPU.
        grads = jax.jit(jax.grad(loss_fn))(trainable)
    elif backend == "torch":
        loss = ops.sum(model(x, training=training) * weights)
        loss.backward()
        grads = [v.value.grad for v in model.trainable_variables]
    else:  # pragma: no cover
        raise NotImplementedError(backend)
    return [None if g is None else ops.convert_to_numpy(g) for g in grads]


def as_list(y):
    return [np.asarray(ops.convert_to_numpy(t)) for t in (y if isinstance(y, (list, tuple)) else [y])]


def slow_unless(names, fast):
    """``names`` as pytest parameters, those not in ``fast`` marked slow: ``make test`` (CI)
    deselects them, ``make test-all`` runs them."""
    return [n if n in fast else pytest.param(n, marks=pytest.mark.slow) for n in names]


def slow_off_tensorflow(test):
    """Mark a test slow on every backend but TensorFlow (CI runs it on TensorFlow only)."""
    return test if keras.backend.backend() == "tensorflow" else pytest.mark.slow(test)
