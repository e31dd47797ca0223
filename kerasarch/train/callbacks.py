"""Callbacks that keep what matters safe: the best model written atomically, a resumable
backup, and a stop on a diverged loss that leaves the last good checkpoint alone."""

import json
import math
import os

import keras

from kerasarch._atomic import atomic_path

__all__ = ["BestCheckpoint", "ResumableBackup", "StopOnNaN", "training_callbacks"]


def _diverged(model):
    return getattr(model, "_kerasarch_diverged", None) is not None


class BestCheckpoint(keras.callbacks.Callback):
    """Save the model whenever ``monitor`` improves, never leaving a half-written file.

    Like ``keras.callbacks.ModelCheckpoint(save_best_only=True)``, but each save goes to a
    temporary file beside ``filepath`` that is renamed over it once complete, so a kill
    during the write leaves the previous best intact. ``filepath`` ends in ``.keras``
    (whole model) or ``.weights.h5`` (weights only).

    After training, ``best`` holds the best value and ``best_epoch`` its epoch (1-based).
    The two are also written beside the file (``<filepath>.json``), and with ``resume=True``
    read back, so a resumed run only replaces the checkpoint with a better one. Nothing is
    saved once :class:`StopOnNaN` has seen the loss diverge.
    """

    def __init__(self, filepath, monitor="val_accuracy", mode="auto", verbose=1, resume=False):
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
        self.resume = resume
        self._state_path = filepath + ".json"
        if resume and os.path.exists(self._state_path) and os.path.exists(filepath):
            with open(self._state_path) as f:
                state = json.load(f)
            if state.get("monitor") == monitor:
                self.best, self.best_epoch = float(state["best"]), state["best_epoch"]

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
        if math.isnan(value) or not self._improved(value) or _diverged(self.model):
            return
        previous, self.best, self.best_epoch = self.best, value, epoch + 1
        weights_only = self.filepath.endswith(".weights.h5")
        suffix = ".weights.h5" if weights_only else ".keras"
        with atomic_path(self.filepath, suffix=suffix) as tmp:
            if weights_only:
                self.model.save_weights(tmp)
            else:
                self.model.save(tmp)
        with atomic_path(self._state_path) as tmp:
            with open(tmp, "w") as f:
                json.dump({"monitor": self.monitor, "best": value, "best_epoch": self.best_epoch}, f)
        if self.verbose:
            print(f"\nEpoch {epoch + 1}: {self.monitor} improved from {previous:.4f} to {value:.4f}; "
                  f"saved {self.filepath}")


class StopOnNaN(keras.callbacks.Callback):
    """Stop training at the first batch whose loss is NaN or infinite, and say so.

    Like ``keras.callbacks.TerminateOnNaN``, but it also marks the model as diverged, so
    :class:`BestCheckpoint` and :class:`ResumableBackup` write nothing more: the last good
    checkpoint stays what it was. ``diverged_at`` is ``(epoch, batch)`` (1-based) afterwards.
    """

    def __init__(self, checkpoint=None):
        super().__init__()
        self.checkpoint = checkpoint
        self.diverged_at = None
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None or math.isfinite(float(loss)) or self.diverged_at is not None:
            return
        self.diverged_at = (self._epoch + 1, batch + 1)
        self.model._kerasarch_diverged = self.diverged_at
        self.model.stop_training = True
        where = (f"the last good checkpoint is {self.checkpoint.filepath} (epoch {self.checkpoint.best_epoch})"
                 if self.checkpoint is not None and self.checkpoint.best_epoch else "no checkpoint was saved before it")
        print(f"\nLoss became {float(loss)} at epoch {self.diverged_at[0]}, batch {self.diverged_at[1]}: training "
              f"stopped; {where}. Lower the learning rate or enable gradient clipping.")

    def on_train_begin(self, logs=None):
        self.model._kerasarch_diverged = None


class ResumableBackup(keras.callbacks.BackupAndRestore):
    """``keras.callbacks.BackupAndRestore`` (resume where a killed run stopped) with Keras's
    double checkpoint (a write cut off by a kill falls back to the previous backup), that
    writes nothing once the loss has diverged, so a restart does not resume from NaN weights."""

    def __init__(self, backup_dir, save_freq="epoch"):
        super().__init__(backup_dir, save_freq=save_freq, double_checkpoint=True, delete_checkpoint=True)

    def _save_model(self):
        if not _diverged(self.model):
            super()._save_model()

    def on_train_end(self, logs=None):
        if _diverged(self.model):
            return  # keep the last good backup: a rerun resumes from it
        super().on_train_end(logs)


def _tensorboard_available():
    import importlib.util

    return keras.backend.backend() == "tensorflow" and importlib.util.find_spec("tensorboard") is not None


def training_callbacks(out_dir, *, monitor="val_accuracy", patience=None, tensorboard="auto", backup=True,
                       backup_every=None, resume=True, verbose=1):
    """The callbacks of a well-kept run, writing into ``out_dir``:

    ``best.keras`` (:class:`BestCheckpoint`, atomic), ``log.csv`` (``CSVLogger``, appended on
    resume), ``tensorboard/`` (``TensorBoard``), ``backup/`` (:class:`ResumableBackup`, every
    epoch or every ``backup_every`` batches), early stopping with the best weights restored
    when ``patience`` is set, and :class:`StopOnNaN`. ``tensorboard="auto"`` logs when the
    ``tensorboard`` package is installed (``pip install tensorboard``; TensorFlow backend).
    """
    if tensorboard == "auto":
        tensorboard = _tensorboard_available()
    elif tensorboard and not _tensorboard_available():
        raise ImportError("TensorBoard logs need the tensorboard package and the TensorFlow backend: "
                          "pip install tensorboard, or pass tensorboard=False.")
    os.makedirs(out_dir, exist_ok=True)
    best = BestCheckpoint(os.path.join(out_dir, "best.keras"), monitor=monitor, verbose=verbose, resume=resume)
    callbacks = [StopOnNaN(best)]
    if backup:
        callbacks.append(ResumableBackup(os.path.join(out_dir, "backup"), save_freq=backup_every or "epoch"))
    callbacks += [best, keras.callbacks.CSVLogger(os.path.join(out_dir, "log.csv"), append=resume)]
    if patience:
        callbacks.append(keras.callbacks.EarlyStopping(monitor=monitor, patience=patience, restore_best_weights=True,
                                                       verbose=verbose))
    if tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(os.path.join(out_dir, "tensorboard")))
    return callbacks
