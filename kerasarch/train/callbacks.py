"""Callbacks that keep what matters safe: the best model, written atomically."""

import math
import os

import keras

from kerasarch._atomic import atomic_path

__all__ = ["BestCheckpoint"]


class BestCheckpoint(keras.callbacks.Callback):
    """Save the model whenever ``monitor`` improves, never leaving a half-written file.

    Like ``keras.callbacks.ModelCheckpoint(save_best_only=True)``, but each save goes to a
    temporary file beside ``filepath`` that is renamed over it once complete, so a kill
    during the write leaves the previous best intact. ``filepath`` ends in ``.keras``
    (whole model) or ``.weights.h5`` (weights only).

    After training, ``best`` holds the best value and ``best_epoch`` its epoch (1-based).
    """

    def __init__(self, filepath, monitor="val_accuracy", mode="auto", verbose=1):
        super().__init__()
        filepath = os.fspath(filepath)
        if not (filepath.endswith(".keras") or filepath.endswith(".weights.h5")):
            raise ValueError(f"BestCheckpoint filepath must end in .keras or .weights.h5, got {filepath!r}.")
        if mode == "auto":
            mode = "min" if "loss" in monitor or "error" in monitor else "max"
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min', 'max' or 'auto', got {mode!r}.")
        self.filepath = filepath
        self.monitor = monitor
        self.mode = mode
        self.verbose = verbose
        self.best = math.inf if mode == "min" else -math.inf
        self.best_epoch = None

    def _improved(self, value):
        return value < self.best if self.mode == "min" else value > self.best

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None:
            raise KeyError(
                f"BestCheckpoint monitors {self.monitor!r} but the logs have {sorted(logs or {})}; "
                "pass validation_data to fit() for a val_ metric."
            )
        value = float(value)
        if math.isnan(value) or not self._improved(value):
            return
        previous, self.best, self.best_epoch = self.best, value, epoch + 1
        weights_only = self.filepath.endswith(".weights.h5")
        suffix = ".weights.h5" if weights_only else ".keras"
        with atomic_path(self.filepath, suffix=suffix) as tmp:
            if weights_only:
                self.model.save_weights(tmp)
            else:
                self.model.save(tmp)
        if self.verbose:
            print(f"\nEpoch {epoch + 1}: {self.monitor} improved from {previous:.4f} to {value:.4f}; "
                  f"saved {self.filepath}")
