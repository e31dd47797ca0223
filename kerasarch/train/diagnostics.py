"""Gradient-flow diagnostics: per-layer gradient and weight norms, for one batch or during training.

A PyTorch script registers backward hooks to print each layer's gradient norm; in Keras the
same numbers come from one gradient of the loss with respect to every kernel. A deep sigmoid
network shows the first layers' gradients orders of magnitude below the last's (vanishing
gradients); a residual network does not.
"""

import json
import os

import keras
import numpy as np
from keras import ops

from kerasarch._atomic import atomic_path
from kerasarch.train.recipe import classifier_from_logits

__all__ = ["GradientFlow", "gradient_norms", "plot_gradient_flow"]


def _gradients(model, loss_fn, x, y, variables):
    backend = keras.backend.backend()
    x = ops.convert_to_tensor(x)
    y = ops.convert_to_tensor(y)
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        return [ops.convert_to_numpy(g) for g in tape.gradient(loss, [v.value for v in variables])], loss
    if backend == "jax":
        import jax

        trainable = [v.value for v in model.trainable_variables]
        frozen = [v.value for v in model.non_trainable_variables]
        index = {id(v): i for i, v in enumerate(model.trainable_variables)}

        def loss_of(tv):
            pred, _ = model.stateless_call(tv, frozen, x, training=True)
            return loss_fn(y, pred)

        loss, grads = jax.value_and_grad(loss_of)(trainable)
        return [np.asarray(grads[index[id(v)]]) for v in variables], loss
    if backend == "torch":
        loss = loss_fn(y, model(x, training=True))
        model.zero_grad()
        loss.backward()
        return [ops.convert_to_numpy(v.value.grad) for v in variables], loss
    raise NotImplementedError(backend)


def _kernel_layers(model):
    """(layer path, kernel variable) in depth order: every weight matrix or convolution kernel."""
    return [(v.path.rsplit("/", 1)[0], v) for v in model.trainable_variables if len(v.shape) >= 2]


def gradient_norms(model, x, y, loss=None):
    """L2 norms of the gradient and of the weights of every kernel (rank >= 2), in depth order.

    Args:
        model: a Keras model.
        x, y: one batch (arrays); ``y`` integer labels for the default loss.
        loss: a Keras loss (default: sparse categorical cross-entropy, from the model's
            probabilities or logits as its contract says).

    Returns ``{"layers": [...], "grad_norm": [...], "weight_norm": [...], "loss": float,
    "first_to_last": grad_norm[0] / grad_norm[-1]}``.
    """
    if loss is None:
        from_logits = classifier_from_logits(model, "gradient_norms")
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits)
    pairs = _kernel_layers(model)
    # The probe runs the model in training mode (the gradient training sees); a TensorFlow or
    # PyTorch call then moves BatchNorm's statistics toward the probe batch. Put them back, so
    # probing never changes the model.
    state = [(v, ops.convert_to_numpy(v.value)) for v in model.non_trainable_variables]
    try:
        grads, value = _gradients(model, loss, x, y, [v for _, v in pairs])
    finally:
        for v, saved in state:
            v.assign(saved)
    grad_norm = [float(np.linalg.norm(g)) for g in grads]
    weight_norm = [float(np.linalg.norm(ops.convert_to_numpy(v))) for _, v in pairs]
    return {
        "layers": [name for name, _ in pairs], "grad_norm": grad_norm, "weight_norm": weight_norm,
        "loss": float(ops.convert_to_numpy(value)),
        "first_to_last": grad_norm[0] / grad_norm[-1] if grad_norm[-1] else float("inf"),
    }


class GradientFlow(keras.callbacks.Callback):
    """Records :func:`gradient_norms` on a fixed batch before training and every ``every`` steps.

    ``records`` holds ``{"step", "epoch", **gradient_norms}`` dicts; with ``out_dir`` they are
    written to ``gradient_flow.json`` (and ``gradient_flow.csv``: step, layer, norms) at the
    end, and plotted to ``gradient_flow.png``.
    """

    def __init__(self, x, y, every=100, out_dir=None, loss=None):
        super().__init__()
        self.x, self.y, self.every, self.out_dir, self.loss = x, y, int(every), out_dir, loss
        self.records = []
        self._step, self._epoch = 0, 0

    def _record(self):
        self.records.append({"step": self._step, "epoch": self._epoch,
                             **gradient_norms(self.model, self.x, self.y, self.loss)})

    def on_train_begin(self, logs=None):
        self._record()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        self._step += 1
        if self._step % self.every == 0:
            self._record()

    def on_train_end(self, logs=None):
        if self.out_dir is None:
            return
        os.makedirs(self.out_dir, exist_ok=True)
        with atomic_path(os.path.join(self.out_dir, "gradient_flow.json")) as tmp:
            with open(tmp, "w") as f:
                json.dump(self.records, f)
        with atomic_path(os.path.join(self.out_dir, "gradient_flow.csv")) as tmp:
            with open(tmp, "w") as f:
                f.write("step,depth,layer,grad_norm,weight_norm\n")
                for r in self.records:
                    for depth, (name, g, w) in enumerate(zip(r["layers"], r["grad_norm"], r["weight_norm"])):
                        f.write(f"{r['step']},{depth},{name},{g:.6g},{w:.6g}\n")
        plot_gradient_flow(self.records, os.path.join(self.out_dir, "gradient_flow.png"), title=self.model.name)


def plot_gradient_flow(records, path, title="gradient flow", labels=None):
    """Gradient norm against depth, log scale, one line per record (matplotlib, PNG).

    ``records``: dicts from :func:`gradient_norms` (or :class:`GradientFlow`); ``labels``
    default to their ``step``.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("plots need matplotlib: pip install matplotlib (or 'kerasarch[plot]').") from None
    fig, ax = plt.subplots(figsize=(7, 4))
    for i, r in enumerate(records):
        label = labels[i] if labels else f"step {r.get('step', i)}"
        ax.semilogy(range(1, len(r["grad_norm"]) + 1), np.maximum(r["grad_norm"], 1e-30), marker=".", label=label)
    ax.set_xlabel("depth (weight layer, input side first)")
    ax.set_ylabel("gradient L2 norm")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
