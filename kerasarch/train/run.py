"""One supervised run from a registry name to a tested, evaluated checkpoint (``kerasarch train``).

A run is a function of its arguments, recorded in ``run.json``, and of the machine: the seed
draws the validation split, the initial weights, each epoch's order and each batch's
augmentation, and the ops run deterministically. The same command gives bitwise the same
weights, and a run killed at any moment and started again with the same command ends with
the weights of one that was never killed (``tests/test_reproducible.py``).
"""

import csv
import dataclasses
import glob
import json
import numbers
import os
import shutil
import time

import keras

from kerasarch import data as data_lib
from kerasarch._atomic import atomic_path
from kerasarch.registry import create_model, model_entry
from kerasarch.train.callbacks import BestCheckpoint, PatienceStop, ResumableBackup, RunState, training_callbacks
from kerasarch.train.evaluate import evaluate_classifier
from kerasarch.train.recipe import compile_for_training, resolve_recipe

__all__ = ["train_classifier", "class_names_of", "RUN_FILE"]

RUN_FILE = "run.json"
AUGMENT_CHOICES = (None, *data_lib.AUGMENTATIONS)
# Arguments that do not change what a run computes: a resumed run may differ in them.
_FREE_ARGUMENTS = ("backup_every",)
# np.random.seed, which keras.utils.set_random_seed calls, takes nothing larger.
_SEED_LIMIT = 2 ** 32


def class_names_of(dataset):
    """The class names of a named data set (``kerasarch.data.dataset_info(dataset).class_names``)."""
    return list(data_lib.dataset_info(dataset).class_names)


def train_classifier(model_name, out_dir, *, dataset="fashion_mnist", epochs=10, batch_size=128, recipe="resnet",
                     image_size=None, augment="crop", val_fraction=0.1, limit=None, dtype=None, patience=None,
                     backup_every=None, seed=0, deterministic=True, verbose=1, **recipe_overrides):
    """Train a registered model on a named data set, keep the best checkpoint, evaluate on test.

    The validation split is carved from the training data with ``seed`` (never from the
    test set); the test split is used once, at the end, on the best checkpoint. Every
    argument is checked before anything is read or written. The arguments go to
    ``out_dir/run.json``; running the same call again with the same ``out_dir`` resumes a
    killed run from its last backup, at the batch where the backup was taken, and ends with
    the weights an uninterrupted run ends with. Other arguments for an existing run folder
    are an error that names them; a finished run (``report.json``) is not trained again.

    Args:
        model_name: a registry name (``kerasarch.list_models()``) of an image classifier.
        out_dir: where ``run.json``, ``best.keras``, ``last.weights.h5`` (the weights training
            ended with), ``log.csv``, ``backup/``, ``tensorboard/``, ``evaluation.json``,
            ``confusion_matrix.png`` and ``report.json`` go.
        dataset: a name in ``kerasarch.data.DATASETS``; its class names and number of
            classes come from ``kerasarch.data.dataset_info``.
        image_size: side to resize to; default the data's own, or the model's minimum.
        augment: ``"crop"``, ``"crop_flip"`` or None (see ``kerasarch.data.make_dataset``).
        limit: use only the first ``limit`` training images (smoke runs).
        dtype: the model's dtype policy; default the recipe's (``mixed_bfloat16`` on a CPU with bfloat16 arithmetic, else float32).
        patience: early stopping patience in epochs (None: no early stopping).
        backup_every: back up every this many batches as well as every epoch.
        seed: draws the split, the initial weights, the order of every epoch and the augmentation.
        deterministic: run deterministic kernels (TensorFlow's op determinism, on for the rest
            of the process: slower on GPUs, no cost measured on the 2-core CPU). False trades
            bitwise reproducibility for speed on GPUs.
        **recipe_overrides: :class:`~kerasarch.train.Recipe` fields.

    Returns the report dict (also written to ``report.json``).
    """
    run = _check_run(model_name, out_dir, dataset=dataset, epochs=epochs, batch_size=batch_size, recipe=recipe,
                     image_size=image_size, augment=augment, val_fraction=val_fraction, limit=limit, dtype=dtype,
                     patience=patience, backup_every=backup_every, seed=seed, deterministic=deterministic,
                     recipe_overrides=recipe_overrides)
    out_dir = os.fspath(out_dir)
    report_path = os.path.join(out_dir, "report.json")
    previous = _read_run_file(out_dir)
    if previous is not None:
        _check_same_run(previous, run, out_dir)
        if os.path.isfile(report_path):
            with open(report_path) as f:
                report = json.load(f)
            print(f"{report_path}: this run is complete; nothing to train (pass another out_dir, or remove this "
                  "one, to train again).")
            return report
    os.makedirs(out_dir, exist_ok=True)
    backup_dir = os.path.join(out_dir, "backup")
    _remove_temporaries(out_dir)
    if previous is None:
        # A fresh run: a backup here belongs to no recorded run (an older kerasarch's), so it is not resumed.
        shutil.rmtree(backup_dir, ignore_errors=True)
        with atomic_path(os.path.join(out_dir, RUN_FILE)) as tmp:
            with open(tmp, "w") as f:
                json.dump(run.record(), f, indent=2)

    _make_deterministic(seed, deterministic)
    splits = data_lib.load_dataset(dataset)
    info = splits.info
    (x_train, y_train), (x_test, y_test) = splits
    if limit:
        x_train, y_train = x_train[:limit], y_train[:limit]
    (x_train, y_train), (x_val, y_val) = data_lib.train_val_split(x_train, y_train, val_fraction, seed=seed)
    side = run.image_size
    model = create_model(run.entry.name, input_shape=(side, side, x_train.shape[-1]), num_classes=info.num_classes,
                         dtype=run.dtype)
    steps = data_lib.batches_per_epoch(len(x_train), batch_size)
    plan = compile_for_training(model, run.plan, epochs=epochs, steps_per_epoch=steps, verbose=bool(verbose))

    state = RunState()
    callbacks = training_callbacks(out_dir, patience=patience, backup_every=backup_every, verbose=verbose,
                                   resume=previous is not None, state=state, keep_backup=True)
    best = _one(callbacks, BestCheckpoint)
    backup = _one(callbacks, ResumableBackup)
    stopper = next((c for c in callbacks if isinstance(c, PatienceStop)), None)
    position = backup.restore(model)
    start, skip = (position.epochs_done, position.batches_done) if position else (0, 0)
    if stopper is not None and stopper.should_stop(start):
        state.stopped_early_at = start  # the run had stopped there; a kill came before its report
    if position and (start >= epochs or state.stopped_early_at):
        print(f"Resuming {out_dir}: training ended after {start} epochs; evaluating its best checkpoint.")
    elif position:
        state.resumes.append({"epoch": start + 1, "batch": skip + 1})
        print(f"Resuming {out_dir} from its backup: epoch {start + 1} of {epochs}, batch {skip + 1} of {steps} "
              f"({start} epochs and {skip} batches were done).")
    _forget_logged_epochs(os.path.join(out_dir, "log.csv"), start)  # they are trained (again) below

    pipeline = dict(batch_size=batch_size, image_size=(side, side))
    val_ds = data_lib.make_dataset(x_val, y_val, **pipeline)

    def train_data(first, last, skip_batches=0):
        return data_lib.make_dataset(x_train, y_train, training=True, augment=augment, seed=seed,
                                     epochs=range(first, last), skip_batches=skip_batches, **pipeline)

    # shuffle=False: the pipeline orders every epoch itself (Keras would warn and ignore it).
    fit = dict(validation_data=val_ds, epochs=epochs, verbose=verbose, shuffle=False)
    began = time.perf_counter()
    if skip and start < epochs and state.stopped_early_at is None:
        # The rest of the interrupted epoch, alone: fit trains whole epochs of one length.
        state.batch_offset = (start, skip)
        model.test_on_batch(*next(val_ds.as_numpy_iterator()))  # builds the metrics the backup's averages go into
        model.fit(train_data(start, start + 1, skip), initial_epoch=start,
                  callbacks=[*callbacks, _StopAfterEpoch(start)], **fit)
        state.batch_offset = None
        start += 1
    if start < epochs and state.diverged_at is None and state.stopped_early_at is None:
        model.fit(train_data(start, epochs), initial_epoch=start, steps_per_epoch=steps, callbacks=callbacks, **fit)
    train_seconds = time.perf_counter() - began
    # The weights training ended with, beside the best ones.
    with atomic_path(os.path.join(out_dir, "last.weights.h5"), suffix=".weights.h5") as tmp:
        model.save_weights(tmp)

    best_path = os.path.join(out_dir, "best.keras")
    if os.path.exists(best_path):
        model.load_weights(best_path)  # evaluate the kept checkpoint, not the last epoch
    test_ds = data_lib.make_dataset(x_test, None, **pipeline)
    evaluation = evaluate_classifier(model, test_ds, y_test, dataset=info, out_dir=out_dir)
    history = _logged_history(os.path.join(out_dir, "log.csv"))
    report = {
        "model": run.entry.name, "dataset": info.name, "class_names": list(info.class_names),
        "num_classes": info.num_classes, "image_size": side, "seed": seed, "deterministic": deterministic,
        "epochs_completed": len(history.get("epoch", [])), "epochs": epochs, "recipe": plan.name,
        "dtype": model.dtype_policy.name,
        "train_images": int(len(x_train)), "val_images": int(len(x_val)), "test_images": int(len(x_test)),
        "best_val_accuracy": None if best.best_epoch is None else round(best.best, 4),
        "best_epoch": best.best_epoch, "diverged_at": state.diverged_at, "stopped_early_at": state.stopped_early_at,
        "resumed_from": state.resumes,
        "test_accuracy": round(evaluation["accuracy"], 4),
        "per_class_accuracy": evaluation["per_class_accuracy"],
        "train_seconds_this_process": round(train_seconds, 1),
        "history": {k: [round(v, 5) for v in vals] for k, vals in history.items() if k != "epoch"},
        "recipe_text": plan.describe(model),
    }
    with atomic_path(report_path) as tmp:
        with open(tmp, "w") as f:
            json.dump(report, f, indent=2)
    shutil.rmtree(backup_dir, ignore_errors=True)  # the report says the run is over: nothing to resume
    return report


class _StopAfterEpoch(keras.callbacks.Callback):
    """Ends a fit once ``epoch`` is over."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            self.model.stop_training = True


@dataclasses.dataclass(frozen=True)
class _Run:
    """A checked run: what it trains (``arguments``, as recorded in run.json) and the objects behind it."""

    arguments: dict
    entry: object
    plan: object
    image_size: int
    dtype: str

    def record(self):
        versions = {"kerasarch": _version(), "keras": keras.__version__, "backend": keras.backend.backend()}
        return {"arguments": self.arguments, "environment": versions}


def _version():
    import kerasarch

    return getattr(kerasarch, "__version__", None)


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check_run(model_name, out_dir, *, dataset, epochs, batch_size, recipe, image_size, augment, val_fraction, limit,
               dtype, patience, backup_every, seed, deterministic, recipe_overrides):
    """Every argument of a run, checked without reading data or writing anything."""
    for name, value, optional in (("epochs", epochs, False), ("batch_size", batch_size, False),
                                  ("limit", limit, True), ("image_size", image_size, True),
                                  ("patience", patience, True), ("backup_every", backup_every, True)):
        if (value is not None or not optional) and not (_is_int(value) and value > 0):
            raise ValueError(f"{name} must be a positive integer{' or None' if optional else ''}, got {value!r}.")
    if isinstance(val_fraction, bool) or not isinstance(val_fraction, numbers.Real) or not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be a number in (0, 1), the share of the training images kept for "
                         f"validation (e.g. 0.1), got {val_fraction!r}.")
    if augment not in AUGMENT_CHOICES:
        raise ValueError(f"augment must be one of {AUGMENT_CHOICES}, got {augment!r}.")
    if not (_is_int(seed) and 0 <= seed < _SEED_LIMIT):
        raise ValueError(f"seed must be an integer in [0, 2**32) (NumPy's global seed takes no more), got {seed!r}.")
    if not isinstance(deterministic, bool):
        raise ValueError(f"deterministic must be True or False, got {deterministic!r}.")
    if not isinstance(out_dir, (str, os.PathLike)):
        raise ValueError(f"out_dir must be a folder path, got {out_dir!r}.")
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise ValueError(f"out_dir {os.fspath(out_dir)!r} is a file; pass a folder (it is created if missing).")
    info = data_lib.dataset_info(dataset)
    entry = model_entry(model_name)
    plan = resolve_recipe(recipe, **recipe_overrides)
    resolve_recipe(plan, epochs=epochs)  # the checks that need the run's length (warmup_epochs < epochs)
    policy = _dtype_name(dtype if dtype is not None else plan.dtype_policy())
    expected = info.input.kind
    taken = entry.contract.input.kind
    if taken != expected:
        raise ValueError(f"{entry.name} takes {taken} input, but {info.name} is {expected} data; pick a model that "
                         f"takes {expected}s (kerasarch.list_models() lists them with their inputs).")
    if not entry.contract.output.is_classifier:
        raise ValueError(f"{entry.name} returns {entry.contract.output.kind}, not class scores; train_classifier "
                         "needs a classifier.")
    smallest = entry.contract.input.min_size
    if image_size is not None and image_size < smallest:
        raise ValueError(f"image_size {image_size} is below {entry.name}'s smallest input ({smallest} pixels a side, "
                         f"its total downsampling); pass image_size={smallest} or more, or leave it out "
                         f"(default: the data's size or the model's minimum, whichever is larger).")
    side = image_size or max(max(info.input.shape[:2]), smallest)
    fields = {k: v for k, v in dataclasses.asdict(plan).items() if k not in ("epochs", "steps_per_epoch")}
    arguments = {"model": entry.name, "dataset": info.name, "epochs": epochs, "batch_size": batch_size,
                 "image_size": side, "augment": augment, "val_fraction": float(val_fraction), "limit": limit,
                 "dtype": policy, "patience": patience, "seed": seed, "deterministic": deterministic,
                 "recipe": fields, "backup_every": backup_every}
    return _Run(json.loads(json.dumps(arguments)), entry, plan, side, policy)


def _dtype_name(dtype):
    try:
        return keras.dtype_policies.get(dtype).name
    except (ValueError, TypeError) as err:
        raise ValueError(f"dtype must be a Keras dtype policy such as 'float32', 'mixed_bfloat16' or "
                         f"'mixed_float16', got {dtype!r}.") from err


def _read_run_file(out_dir):
    path = os.path.join(os.fspath(out_dir), RUN_FILE)
    if not os.path.isfile(path):
        return None
    try:
        with open(path) as f:
            record = json.load(f)
        record["arguments"]
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{path} is not a kerasarch run record ({err}); remove the folder, or pass another "
                         "out_dir, to start a new run.") from None
    return record


def _check_same_run(previous, run, out_dir):
    """A resumed run trains what the recorded run trained, or it is an error naming each difference."""
    before, now = previous["arguments"], run.arguments
    differences = []
    for key in sorted(set(before) | set(now)):
        if key in _FREE_ARGUMENTS:
            continue
        old, new = before.get(key), now.get(key)
        if isinstance(old, dict) and isinstance(new, dict):
            differences += [f"{key}.{k} {old.get(k)!r} there, {new.get(k)!r} now"
                            for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
        elif old != new:
            differences.append(f"{key} {old!r} there, {new!r} now")
    if differences:
        raise ValueError(f"{out_dir} holds a run started with other arguments ({RUN_FILE}): "
                         f"{'; '.join(differences)}. Resume it with its own arguments, or pass another out_dir "
                         f"(or remove this one) to start a new run.")
    env = run.record()["environment"]
    changed = {k: (previous.get("environment", {}).get(k), v) for k, v in env.items()
               if previous.get("environment", {}).get(k) != v}
    if changed:
        print(f"Note: {out_dir} was started with {', '.join(f'{k} {a}' for k, (a, b) in changed.items())}; now "
              f"{', '.join(f'{k} {b}' for k, (a, b) in changed.items())}. The resumed run may not end bitwise "
              "equal to an uninterrupted one.")


def _make_deterministic(seed, deterministic):
    """Seed Python, NumPy and the backend (initial weights, dropout), and ask for deterministic ops.

    TensorFlow's op determinism makes every op pick a deterministic kernel: on GPUs that means
    no atomics (scatter and segment sums, some cuDNN algorithms excluded), measurably slower,
    and ops without one raise ``UnimplementedError``; tf.data maps with stateful ops run
    serially (this pipeline's draws are stateless, so it keeps its parallelism). On the 2-core
    CPU it cost nothing measurable (LeNet-5, 3 epochs of 18,000 images: 26 s with it, 25-28 s
    without; ResNet-20 alike), and runs there were bitwise equal without it too; it stays on
    for the rest of the process.
    JAX on CPU is deterministic already; on GPUs XLA needs ``--xla_gpu_deterministic_ops``,
    which only takes effect if set before JAX starts its GPU client.
    """
    keras.utils.set_random_seed(seed)
    if not deterministic:
        return
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    elif backend == "jax":
        flags = os.environ.get("XLA_FLAGS", "")
        if "xla_gpu_deterministic_ops" not in flags:
            os.environ["XLA_FLAGS"] = f"{flags} --xla_gpu_deterministic_ops=true".strip()


def _one(callbacks, kind):
    return next(c for c in callbacks if isinstance(c, kind))


def _remove_temporaries(out_dir):
    """What a kill during an atomic write left behind (``.<name>.tmp-*`` folders)."""
    for pattern in (".*.tmp-*", ".*.old-*", os.path.join("backup", ".*.tmp-*")):
        for path in glob.glob(os.path.join(out_dir, pattern)):
            shutil.rmtree(path, ignore_errors=True)


def _forget_logged_epochs(path, first):
    """Drop the rows of epochs from ``first`` (0-based) on: a resumed run logs them (again)."""
    if not os.path.isfile(path):
        return
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        return
    kept = [rows[0]] + [r for r in rows[1:] if r and int(r[0]) < first]
    if len(kept) == len(rows):
        return
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as f:
            csv.writer(f).writerows(kept)


def _logged_history(path):
    """``log.csv`` as ``{column: [values]}``: over a killed and resumed run, every epoch once."""
    if not os.path.isfile(path):
        return {}
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return {k: [float(r[k]) for r in rows] for k in (rows[0] if rows else {})}
