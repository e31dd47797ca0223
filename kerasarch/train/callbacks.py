"""Callbacks that keep what matters safe: the best model written atomically, a backup a killed
run resumes from, early stopping that survives a restart, and a stop on a diverged loss that
leaves the last good checkpoint alone.

The callbacks of one run share a :class:`RunState`, given to each at construction (a
diverged loss, where a resumed epoch starts), rather than talking through the model.
"""

import dataclasses
import glob
import json
import math
import os
import shutil

import keras
import numpy as np

from kerasarch import _keras_compat
from kerasarch._atomic import atomic_path

__all__ = ["BestCheckpoint", "PatienceStop", "Position", "ResumableBackup", "RunState", "StopOnNaN", "training_callbacks"]


@dataclasses.dataclass
class RunState:
    """What the callbacks of one run share.

    Attributes:
        diverged_at: ``(epoch, batch)`` (1-based) of the first non-finite loss, or None.
        stopped_early_at: the epoch (1-based) after which :class:`PatienceStop` stopped, or None.
        batch_offset: ``(epoch, n)``: in that epoch (0-based), fit's batch 0 is the data's batch
            ``n`` (a run resumed mid-epoch that feeds only the batches it has not trained on).
        resumes: where each restart of the run went on, ``{"epoch", "batch"}`` (1-based, the
            first batch trained after the restart), oldest first.
    """

    diverged_at: tuple = None
    stopped_early_at: int = None
    batch_offset: tuple = None
    resumes: list = dataclasses.field(default_factory=list)

    def batches_done(self, epoch, batch):
        """Batches of ``epoch`` trained once fit's batch ``batch`` (0-based) has run."""
        offset = self.batch_offset[1] if self.batch_offset and self.batch_offset[0] == epoch else 0
        return batch + 1 + offset


class BestCheckpoint(keras.callbacks.Callback):
    """Save the model whenever ``monitor`` improves, never leaving a half-written file.

    Like ``keras.callbacks.ModelCheckpoint(save_best_only=True)``, but each save goes to a
    temporary file beside ``filepath`` that is renamed over it once complete, so a kill
    during the write leaves the previous best intact. ``filepath`` ends in ``.keras``
    (whole model) or ``.weights.h5`` (weights only).

    After training, ``best`` holds the best value and ``best_epoch`` its epoch (1-based).
    The two are also written beside the file (``<filepath>.json``), and with ``resume=True``
    read back, so a resumed run only replaces the checkpoint with a better one. Nothing is
    saved once the loss has diverged (``state.diverged_at``, set by :class:`StopOnNaN`).
    """

    def __init__(self, filepath, monitor="val_accuracy", mode="auto", verbose=1, resume=False, *, state=None):
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
        self.state = state if state is not None else RunState()
        self.best = math.inf if mode == "min" else -math.inf
        self.best_epoch = None
        self.resume = resume
        self._state_path = filepath + ".json"
        if resume and os.path.exists(self._state_path) and os.path.exists(filepath):
            with open(self._state_path) as f:
                saved = json.load(f)
            if saved.get("monitor") == monitor:
                self.best, self.best_epoch = float(saved["best"]), saved["best_epoch"]

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
        if math.isnan(value) or not self._improved(value) or self.state.diverged_at is not None:
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


class PatienceStop(keras.callbacks.Callback):
    """Stop when ``checkpoint``'s monitored value has not improved for ``patience`` epochs,
    and load the best weights back from the checkpoint file.

    ``keras.callbacks.EarlyStopping`` with ``restore_best_weights=True``, counted from the
    best epoch the :class:`BestCheckpoint` records (and reads back on resume) instead of from
    the start of ``fit``, so a run restarted half-way stops where an uninterrupted one does.
    """

    def __init__(self, checkpoint, patience, *, restore_best_weights=True, verbose=1, state=None):
        super().__init__()
        if not (isinstance(patience, int) and not isinstance(patience, bool) and patience > 0):
            raise ValueError(f"patience must be a positive integer (epochs without improvement), got {patience!r}.")
        self.checkpoint = checkpoint
        self.patience = patience
        self.restore_best_weights = restore_best_weights
        self.verbose = verbose
        self.state = state if state is not None else checkpoint.state

    def should_stop(self, epochs_done):
        """Whether a run that has finished ``epochs_done`` epochs is over."""
        return epochs_done - (self.checkpoint.best_epoch or 0) >= self.patience

    def on_epoch_end(self, epoch, logs=None):
        if self.state.diverged_at is not None or not self.should_stop(epoch + 1):
            return
        self.model.stop_training = True
        self.state.stopped_early_at = epoch + 1
        best = self.checkpoint.best_epoch
        restored = ""
        if self.restore_best_weights and best is not None and os.path.exists(self.checkpoint.filepath):
            self.model.load_weights(self.checkpoint.filepath)
            restored = f"; restored the weights of epoch {best} from {self.checkpoint.filepath}"
        if self.verbose:
            since = f"since epoch {best}" if best else "at all"
            print(f"\nEpoch {epoch + 1}: early stopping, {self.checkpoint.monitor} has not improved {since} "
                  f"(patience {self.patience}){restored}.")


class StopOnNaN(keras.callbacks.Callback):
    """Stop training at the first batch whose loss is NaN or infinite, and say so.

    Like ``keras.callbacks.TerminateOnNaN``, but it also records the divergence in the run's
    :class:`RunState`, so :class:`BestCheckpoint` and :class:`ResumableBackup` write nothing
    more: the last good checkpoint stays what it was. ``diverged_at`` is ``(epoch, batch)``
    (1-based) afterwards.
    """

    def __init__(self, checkpoint=None, *, state=None):
        super().__init__()
        self.checkpoint = checkpoint
        self.state = state if state is not None else (checkpoint.state if checkpoint is not None else RunState())
        self._epoch = 0

    @property
    def diverged_at(self):
        return self.state.diverged_at

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None or math.isfinite(float(loss)) or self.state.diverged_at is not None:
            return
        self.state.diverged_at = (self._epoch + 1, self.state.batches_done(self._epoch, batch))
        self.model.stop_training = True
        where = (f"the last good checkpoint is {self.checkpoint.filepath} (epoch {self.checkpoint.best_epoch})"
                 if self.checkpoint is not None and self.checkpoint.best_epoch else "no checkpoint was saved before it")
        print(f"\nLoss became {float(loss)} at epoch {self.diverged_at[0]}, batch {self.diverged_at[1]}: training "
              f"stopped; {where}. Lower the learning rate or enable gradient clipping.")


@dataclasses.dataclass(frozen=True)
class Position:
    """Where a backup stands: ``epochs_done`` whole epochs and ``batches_done`` batches of the next."""

    epochs_done: int
    batches_done: int


class ResumableBackup(keras.callbacks.Callback):
    """Back up the whole training state so that a killed run resumes where it stopped.

    At the end of every epoch, and every ``save_freq`` batches when that is an integer, it
    writes into ``backup_dir``: the weights with the optimizer state (``model.save_weights``),
    the states of the layers' random generators (dropout, stochastic depth: the part of
    ``model.variables`` that ``save_weights`` leaves out), mid-epoch the running training
    metrics, and the position, ``position.json`` (epochs done, batches of the next one
    done). Each file is written to a temporary name and renamed, and ``position.json`` names
    the weights file it goes with, so a kill at any moment leaves the previous complete backup. Nothing is written once the loss has
    diverged (``state.diverged_at``): a restart does not resume from NaN weights.

    Resuming: :meth:`restore` loads the latest backup into a model and returns its
    :class:`Position`; ``kerasarch.train.run.train_model`` calls it and feeds fit only the
    batches not yet trained on (``state.batch_offset``), so its runs resume exactly, down to
    the logged training averages of the interrupted epoch. Given to a plain ``model.fit``, the
    callback restores the backup itself at the start and fit goes on at the backed-up epoch;
    a backup taken mid-epoch then has fit replay that epoch from its first batch (as
    ``keras.callbacks.BackupAndRestore`` does), since fit cannot skip batches.

    ``backup_dir`` is removed at the end of training unless the loss diverged; with
    ``delete_on_end=False`` it stays (``train_model`` removes it after its report).
    """

    POSITION = "position.json"

    def __init__(self, backup_dir, save_freq="epoch", *, state=None, delete_on_end=True, verbose=1):
        super().__init__()
        if save_freq != "epoch" and not (isinstance(save_freq, int) and not isinstance(save_freq, bool)
                                         and save_freq > 0):
            raise ValueError(f"save_freq must be 'epoch' or a positive number of batches, got {save_freq!r}.")
        self.backup_dir = os.fspath(backup_dir)
        self.save_freq = save_freq
        self.state = state if state is not None else RunState()
        self.delete_on_end = delete_on_end
        self.verbose = verbose
        self._checked = False  # whether this callback has looked for a backup to restore
        self._set_initial_epoch = False
        self._metric_states = None  # restored running metrics, for a fit that starts mid-epoch
        self._epoch = 0

    # --- reading and restoring ---------------------------------------------------------------------------------

    def position(self):
        """The :class:`Position` of the latest complete backup, or None (without loading it)."""
        meta = self._read()
        return None if meta is None else Position(meta["epochs_done"], meta["batches_done"])

    def _read(self):
        path = os.path.join(self.backup_dir, self.POSITION)
        if not os.path.isfile(path):
            return None
        with open(path) as f:
            meta = json.load(f)
        if not os.path.isfile(os.path.join(self.backup_dir, meta["weights"])):
            raise FileNotFoundError(f"{path} names {meta['weights']}, which is not in {self.backup_dir}: the backup "
                                    "was altered by hand. Delete the folder to start the run over.")
        return meta

    def restore(self, model=None):
        """Load the latest backup into ``model`` (default: the callback's); return its
        :class:`Position`, or None when there is no backup."""
        model = model if model is not None else self.model
        self._checked = True
        meta = self._read()
        if meta is None:
            return None
        if not model.built:
            raise ValueError(f"{model.name} must be built before its backup can be restored "
                             "(call it on a batch, or build it with an input shape).")
        if model.optimizer is not None and not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)  # so the optimizer state loads too
        model.load_weights(os.path.join(self.backup_dir, meta["weights"]))
        generators = _generator_states(model)
        saved = meta.get("generator_states", [])
        if len(saved) != len(generators):
            raise ValueError(f"the backup in {self.backup_dir} holds {len(saved)} random-generator states but "
                             f"{model.name} has {len(generators)}: it was written by another model. Delete the "
                             "folder to start the run over.")
        for variable, value in zip(generators, saved):
            variable.assign(np.asarray(value, dtype=variable.dtype))
        self.state.resumes = [*meta.get("resumes", [])]
        self._metric_states = meta.get("metric_states") or None
        return Position(meta["epochs_done"], meta["batches_done"])

    # --- writing ------------------------------------------------------------------------------------------------

    def _save(self, epochs_done, batches_done):
        if self.state.diverged_at is not None:
            return
        os.makedirs(self.backup_dir, exist_ok=True)
        name = f"epoch{epochs_done:04d}-batch{batches_done:06d}.weights.h5"
        with atomic_path(os.path.join(self.backup_dir, name), suffix=".weights.h5") as tmp:
            self.model.save_weights(tmp)
        # Mid-epoch, the running training metrics too: a run resumed there logs the epoch's full averages.
        metrics = [np.asarray(v).tolist() for v in self.model.metrics_variables] if batches_done else []
        meta = {"epochs_done": epochs_done, "batches_done": batches_done, "weights": name,
                "generator_states": [np.asarray(v).tolist() for v in _generator_states(self.model)],
                "metric_states": metrics, "resumes": self.state.resumes}
        with atomic_path(os.path.join(self.backup_dir, self.POSITION)) as tmp:
            with open(tmp, "w") as f:
                json.dump(meta, f)
        for old in glob.glob(os.path.join(self.backup_dir, "*.weights.h5")):
            if os.path.basename(old) != name:
                os.remove(old)

    # --- callback hooks -----------------------------------------------------------------------------------------

    def on_train_begin(self, logs=None):
        if self._checked:
            return
        position = self.restore()
        if position is None:
            return
        _keras_compat.start_fit_at_epoch(self.model, position.epochs_done)
        self._set_initial_epoch = True
        self.state.resumes = [*self.state.resumes, {"epoch": position.epochs_done + 1, "batch": 1}]
        if self.verbose:
            replay = (f" (the backup is from batch {position.batches_done} of it; fit replays the epoch from its "
                      "first batch)" if position.batches_done else "")
            print(f"Resuming from {self.backup_dir} at epoch {position.epochs_done + 1}{replay}.")

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        offset = self.state.batch_offset
        if self._metric_states is not None and offset and offset[0] == epoch:
            # fit has just reset the metrics; they go on from the backed-up batch (the model's metrics are
            # built by then: train_model evaluates a batch first).
            variables = self.model.metrics_variables
            if [np.shape(v) for v in self._metric_states] == [tuple(v.shape) for v in variables]:
                for variable, value in zip(variables, self._metric_states):
                    variable.assign(np.asarray(value, dtype=variable.dtype))
        self._metric_states = None
        if self._set_initial_epoch:  # fit has read it: later fit() calls start where they are told
            _keras_compat.start_fit_at_epoch(self.model, None)
            self._set_initial_epoch = False

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq == "epoch":
            return
        done = self.state.batches_done(self._epoch, batch)
        steps = self.params.get("steps")
        if steps is not None:
            steps += done - batch - 1  # the epoch's own length when fit started part-way into it
        # The epoch-end backup follows the last batch at once; writing it twice costs a save.
        if done % self.save_freq == 0 and (steps is None or done < steps):
            self._save(self._epoch, done)

    def on_epoch_end(self, epoch, logs=None):
        self._save(epoch + 1, 0)

    def on_train_end(self, logs=None):
        if self._set_initial_epoch:
            _keras_compat.start_fit_at_epoch(self.model, None)
            self._set_initial_epoch = False
        if self.delete_on_end and self.state.diverged_at is None:
            shutil.rmtree(self.backup_dir, ignore_errors=True)


def _generator_states(model):
    """The random generators' state variables: in ``model.variables``, not in ``model.weights``."""
    weights = {id(w) for w in model.weights}
    return [v for v in model.variables if id(v) not in weights]


def _tensorboard_available():
    import importlib.util

    return keras.backend.backend() == "tensorflow" and importlib.util.find_spec("tensorboard") is not None


def training_callbacks(out_dir, *, monitor="val_accuracy", patience=None, tensorboard="auto", backup=True,
                       backup_every=None, resume=True, verbose=1, state=None, keep_backup=False):
    """The callbacks of a well-kept run, writing into ``out_dir``:

    :class:`StopOnNaN`, ``best.keras`` (:class:`BestCheckpoint`, atomic), early stopping
    with the best weights restored when ``patience`` is set (:class:`PatienceStop`),
    ``log.csv`` (``CSVLogger``, appended on resume), ``backup/`` (:class:`ResumableBackup`,
    every epoch and every ``backup_every`` batches; kept after training with
    ``keep_backup=True``) and ``tensorboard/`` (``TensorBoard``). ``tensorboard="auto"`` logs
    when the ``tensorboard`` package is installed (``pip install tensorboard``; TensorFlow
    backend). All share ``state`` (a :class:`RunState`; a new one by default).
    """
    if tensorboard == "auto":
        tensorboard = _tensorboard_available()
    elif tensorboard and not _tensorboard_available():
        raise ImportError("TensorBoard logs need the tensorboard package and the TensorFlow backend: "
                          "pip install tensorboard, or pass tensorboard=False.")
    state = state if state is not None else RunState()
    os.makedirs(out_dir, exist_ok=True)
    best = BestCheckpoint(os.path.join(out_dir, "best.keras"), monitor=monitor, verbose=verbose, resume=resume,
                          state=state)
    callbacks = [StopOnNaN(best, state=state), best]
    if patience:
        callbacks.append(PatienceStop(best, patience, verbose=verbose, state=state))
    callbacks.append(keras.callbacks.CSVLogger(os.path.join(out_dir, "log.csv"), append=resume))
    if backup:
        # After the checkpoint and the log: an epoch's backup means its epoch-end work is done.
        callbacks.append(ResumableBackup(os.path.join(out_dir, "backup"), save_freq=backup_every or "epoch",
                                         state=state, delete_on_end=not keep_backup, verbose=verbose))
    if tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(os.path.join(out_dir, "tensorboard")))
    return callbacks
