"""One supervised run from a registry name to a tested, evaluated checkpoint (``kerasarch train``):
images, sentences, pronunciations or a demand series, whichever task the data set names
(:mod:`kerasarch.train.tasks`).

A run is a function of its arguments, recorded in ``run.json``, and of the machine: the seed
draws the validation split, the initial weights, each epoch's order and each batch's
augmentation, and the ops run deterministically. The same command gives bitwise the same
weights, and a run killed at any moment and started again with the same command ends with
the weights of one that was never killed (``tests/test_reproducible.py``).
"""

import csv
import dataclasses
import glob
import inspect
import json
import numbers
import os
import shutil
import time

import keras

from kerasarch._atomic import atomic_path
from kerasarch.registry import create_model, model_entry
from kerasarch.train.callbacks import BestCheckpoint, PatienceStop, ResumableBackup, RunState, training_callbacks
from kerasarch.train.recipe import compile_for_training, resolve_recipe
from kerasarch.train.tasks import task_for

__all__ = ["train_model", "train_classifier", "class_names_of", "RUN_FILE"]

RUN_FILE = "run.json"
# augment's default: "crop" for images; the sequence tasks have no augmentation.
DEFAULT = "default"
# Arguments that do not change what a run computes: a resumed run may differ in them.
_FREE_ARGUMENTS = ("backup_every",)
# np.random.seed, which keras.utils.set_random_seed calls, takes nothing larger.
_SEED_LIMIT = 2 ** 32


def class_names_of(dataset):
    """The class names of a named data set's classifier (None for the tasks that have none)."""
    return task_for(dataset).class_names


def train_model(model_name, out_dir, *, dataset="fashion_mnist", epochs=10, batch_size=128, recipe=None,
                image_size=None, augment=DEFAULT, tokenizer=None, val_fraction=None, limit=None, test_limit=None,
                model_kwargs=None,
                dtype=None, patience=None, backup_every=None, seed=0, deterministic=True, verbose=1,
                **recipe_overrides):
    """Train a registered model on a named data set, keep the best checkpoint, evaluate on test.

    The data set decides the task (:mod:`kerasarch.train.tasks`): image classification,
    sentence polarity (``movie_sentences``), grapheme to phoneme (``cmudict``) or day-ahead
    demand forecasting (``elecdemand``); the model's contract must fit it. The validation
    split is carved from the training data with ``seed`` (never from the test set); the test
    split is used once, at the end, on the best checkpoint. Every argument is checked before
    anything is read or written. The arguments go to ``out_dir/run.json``; running the same
    call again with the same ``out_dir`` resumes a killed run from its last backup, at the
    batch where the backup was taken, and ends with the weights an uninterrupted run ends
    with. Other arguments for an existing run folder are an error that names them; a finished
    run (``report.json``) is not trained again.

    Args:
        model_name: a registry name (``kerasarch.list_models()``) whose input and output fit the data.
        out_dir: where ``run.json``, ``best.keras``, ``last.weights.h5`` (the weights training
            ended with), ``log.csv``, ``backup/``, ``tensorboard/``, ``evaluation.json``, the
            task's files (``confusion_matrix.png``, the vocabularies) and ``report.json`` go.
        dataset: a name in :data:`kerasarch.train.tasks.TASKS`.
        recipe: a name in ``kerasarch.train.RECIPES``; default the task's ("resnet" for images,
            "adamw" for the sequence tasks).
        image_size: (images) side to resize to; default the data's own, or the model's minimum.
        augment: (images) ``"crop"`` (the default), ``"crop_flip"`` or None.
        tokenizer: (movie_sentences) ``"word"`` (the default) or ``"subword"`` (WordPiece).
        val_fraction: the share of the training data kept for validation (default the task's:
            0.1, 0.05 for cmudict; elecdemand's validation days are fixed).
        limit: use only the first ``limit`` training examples (images: before the validation
            split is carved out; the sequence tasks keep at most as many validation examples).
        test_limit: score only the first ``test_limit`` test examples (smoke runs).
        model_kwargs: more arguments for ``create_model`` (sizes, dropout); what the data
            decides (classes, vocabulary sizes, input shape) is not among them.
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
                     image_size=image_size, augment=augment, tokenizer=tokenizer, val_fraction=val_fraction,
                     limit=limit, test_limit=test_limit, model_kwargs=model_kwargs, dtype=dtype, patience=patience,
                     backup_every=backup_every, seed=seed, deterministic=deterministic,
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
    data = run.task.prepare(run.arguments, out_dir)
    model = create_model(run.entry.name, **data.model_kwargs, **(model_kwargs or {}), dtype=run.dtype)
    steps = data.steps_per_epoch
    plan = compile_for_training(model, run.plan, epochs=epochs, steps_per_epoch=steps, verbose=bool(verbose))

    state = RunState()
    callbacks = training_callbacks(out_dir, monitor=run.task.monitor, patience=patience, backup_every=backup_every,
                                   verbose=verbose, resume=previous is not None, state=state, keep_backup=True)
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

    # shuffle=False: the streams order every epoch themselves (Keras would warn and ignore it).
    fit = dict(validation_data=data.val_data, epochs=epochs, verbose=verbose, shuffle=False)
    began = time.perf_counter()
    if skip and start < epochs and state.stopped_early_at is None:
        # The rest of the interrupted epoch, alone: fit trains whole epochs of one length.
        state.batch_offset = (start, skip)
        model.test_on_batch(*_first_batch(data.val_data))  # builds the metrics the backup's averages go into
        model.fit(data.train_stream(range(start, start + 1), skip), initial_epoch=start, steps_per_epoch=steps - skip,
                  callbacks=[*callbacks, _StopAfterEpoch(start)], **fit)
        state.batch_offset = None
        start += 1
    if start < epochs and state.diverged_at is None and state.stopped_early_at is None:
        model.fit(data.train_stream(range(start, epochs)), initial_epoch=start, steps_per_epoch=steps,
                  callbacks=callbacks, **fit)
    train_seconds = time.perf_counter() - began
    # The weights training ended with, beside the best ones.
    with atomic_path(os.path.join(out_dir, "last.weights.h5"), suffix=".weights.h5") as tmp:
        model.save_weights(tmp)

    best_path = os.path.join(out_dir, "best.keras")
    if os.path.exists(best_path):
        model.load_weights(best_path)  # evaluate the kept checkpoint, not the last epoch
    evaluation = data.evaluate(model, out_dir)
    summary = evaluation.pop("summary")
    history = _logged_history(os.path.join(out_dir, "log.csv"))
    report = {
        "model": run.entry.name, "dataset": run.task.name, **data.sizes, "seed": seed, "deterministic": deterministic,
        "epochs_completed": len(history.get("epoch", [])), "epochs": epochs, "recipe": plan.name,
        "dtype": model.dtype_policy.name, "params": int(model.count_params()),
        f"best_{run.task.monitor}": None if best.best_epoch is None else round(best.best, 4),
        "best_epoch": best.best_epoch, "diverged_at": state.diverged_at, "stopped_early_at": state.stopped_early_at,
        "resumed_from": state.resumes, **evaluation, "test_summary": summary,
        "train_seconds_this_process": round(train_seconds, 1),
        "history": {k: [round(v, 5) for v in vals] for k, vals in history.items() if k != "epoch"},
        "recipe_text": plan.describe(model),
    }
    with atomic_path(report_path) as tmp:
        with open(tmp, "w") as f:
            json.dump(report, f, indent=2)
    shutil.rmtree(backup_dir, ignore_errors=True)  # the report says the run is over: nothing to resume
    return report


# The name this function had when it trained only image classifiers; scripts written against it keep working.
train_classifier = train_model


def _first_batch(data):
    """One (inputs, targets) batch of a validation set (tf.data or a PyDataset)."""
    if hasattr(data, "as_numpy_iterator"):
        return next(data.as_numpy_iterator())
    return data[0]


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
    task: object
    plan: object
    dtype: str

    def record(self):
        versions = {"kerasarch": _version(), "keras": keras.__version__, "backend": keras.backend.backend()}
        return {"arguments": self.arguments, "environment": versions}


def _version():
    import kerasarch

    return getattr(kerasarch, "__version__", None)


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check_run(model_name, out_dir, *, dataset, epochs, batch_size, recipe, image_size, augment, tokenizer, val_fraction,
               limit, test_limit, model_kwargs, dtype, patience, backup_every, seed, deterministic, recipe_overrides):
    """Every argument of a run, checked without reading data or writing anything."""
    for name, value, optional in (("epochs", epochs, False), ("batch_size", batch_size, False),
                                  ("limit", limit, True), ("test_limit", test_limit, True),
                                  ("image_size", image_size, True), ("patience", patience, True),
                                  ("backup_every", backup_every, True)):
        if (value is not None or not optional) and not (_is_int(value) and value > 0):
            raise ValueError(f"{name} must be a positive integer{' or None' if optional else ''}, got {value!r}.")
    if val_fraction is not None and (isinstance(val_fraction, bool) or not isinstance(val_fraction, numbers.Real)
                                     or not 0 < val_fraction < 1):
        raise ValueError(f"val_fraction must be a number in (0, 1), the share of the training data kept for "
                         f"validation (e.g. 0.1), got {val_fraction!r}.")
    if not (_is_int(seed) and 0 <= seed < _SEED_LIMIT):
        raise ValueError(f"seed must be an integer in [0, 2**32) (NumPy's global seed takes no more), got {seed!r}.")
    if not isinstance(deterministic, bool):
        raise ValueError(f"deterministic must be True or False, got {deterministic!r}.")
    if not isinstance(out_dir, (str, os.PathLike)):
        raise ValueError(f"out_dir must be a folder path, got {out_dir!r}.")
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise ValueError(f"out_dir {os.fspath(out_dir)!r} is a file; pass a folder (it is created if missing).")
    task = task_for(dataset)
    entry = model_entry(model_name)
    model_kwargs = _check_model_kwargs(entry, model_kwargs)
    if isinstance(augment, str) and augment == DEFAULT:
        augment = "crop" if "augment" in task.image_arguments else None
    resolved = task.check(entry, {"image_size": image_size, "augment": augment, "tokenizer": tokenizer,
                                  "val_fraction": val_fraction, "model_kwargs": model_kwargs})
    plan = resolve_recipe(recipe or task.default_recipe, **recipe_overrides)
    resolve_recipe(plan, epochs=epochs)  # the checks that need the run's length (warmup_epochs < epochs)
    policy = _dtype_name(dtype if dtype is not None else plan.dtype_policy())
    if val_fraction is None and task.default_val_fraction is not None:
        val_fraction = task.default_val_fraction
    fields = {k: v for k, v in dataclasses.asdict(plan).items() if k not in ("epochs", "steps_per_epoch")}
    # Keys a run of an older kerasarch did not record are None unless set, so its folder still resumes.
    arguments = {"model": entry.name, "dataset": task.name, "epochs": epochs, "batch_size": batch_size,
                 "image_size": resolved.get("image_size"), "augment": resolved.get("augment"), "tokenizer": tokenizer,
                 "val_fraction": None if val_fraction is None else float(val_fraction), "limit": limit,
                 "test_limit": test_limit, "model_kwargs": model_kwargs, "dtype": policy, "patience": patience,
                 "seed": seed, "deterministic": deterministic, "recipe": fields, "backup_every": backup_every}
    return _Run(json.loads(json.dumps(arguments)), entry, task, plan, policy)


def _check_model_kwargs(entry, model_kwargs):
    """``model_kwargs`` as a plain dict of JSON values the builder takes (None when empty)."""
    if model_kwargs is None or model_kwargs == {}:
        return None
    if not isinstance(model_kwargs, dict) or not all(isinstance(k, str) for k in model_kwargs):
        raise ValueError(f"model_kwargs must be a dict of create_model keyword arguments, got {model_kwargs!r}.")
    try:
        if json.loads(json.dumps(model_kwargs)) != model_kwargs:
            raise TypeError
    except (TypeError, ValueError):
        raise ValueError(f"model_kwargs must hold plain values (numbers, strings, booleans, lists), which run.json "
                         f"records; got {model_kwargs!r}.") from None
    if "dtype" in model_kwargs or "name" in model_kwargs:
        raise ValueError("model_kwargs may not set dtype or name: pass dtype= to the run; the model keeps its "
                         "registry name.")
    from kerasarch.models.base import COMMON_ARGS

    parameters = inspect.signature(entry.builder).parameters
    named = {k for k, p in parameters.items() if p.kind is inspect.Parameter.KEYWORD_ONLY}
    unknown = sorted(set(model_kwargs) - named - set(COMMON_ARGS))
    if unknown:
        raise ValueError(f"{entry.name} takes no argument {', '.join(map(repr, unknown))}; its own are "
                         f"{', '.join(sorted(named))}.")
    return dict(model_kwargs)


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
