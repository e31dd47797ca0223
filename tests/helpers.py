"""Backend-agnostic test helpers (the contract test runs on TensorFlow, JAX and torch)."""

import keras
import numpy as np
import pytest
from keras import ops


def trainable_gradients(model, x, weights, training=True):
    """Gradients of ``sum(model(x) * weights)`` for every trainable variable, as NumPy arrays."""
    backend = keras.backend.backend()
    # A tensor, not an array: on torch `tensor * ndarray` goes through NumPy's __array__,
    # which refuses a tensor that requires grad.
    weights = ops.convert_to_tensor(weights)
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
        import torch

        loss = ops.sum(model(x, training=training) * weights)
        # autograd.grad rather than backward(): nothing accumulates in .grad across calls, and
        # an unused weight comes back as None, as on the other backends.
        grads = torch.autograd.grad(loss, [v.value for v in model.trainable_variables], allow_unused=True)
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


# jit_compile=True is XLA on TensorFlow and JAX but torch.compile on torch: dynamo traces the step
# and inductor builds C++ kernels for it. On two cores that took 27 s for LeNet-5's training step,
# 75 s for ResNet-20's and 92 s for MobileNetV3-Small's, against 2, 5 and 23 s under XLA on
# TensorFlow. CI compiles training steps on TensorFlow and JAX; on torch those tests are marked
# slow (`make test-all`), and CI trains eagerly (test_contract's fit check).
JIT_IN_CI = keras.backend.backend() != "torch"


def slow_where_jit_is_torch_compile(test):
    """Mark a test of a compiled training step slow on torch (see :data:`JIT_IN_CI`)."""
    return test if JIT_IN_CI else pytest.mark.slow(test)
