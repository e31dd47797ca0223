"""One supervised run from a registry name to a tested, evaluated checkpoint (``kerasarch train``)."""

import json
import os
import time

from kerasarch import data as data_lib
from kerasarch._atomic import atomic_path
from kerasarch.registry import create_model, model_entry
from kerasarch.train.callbacks import training_callbacks
from kerasarch.train.evaluate import evaluate_classifier
from kerasarch.train.recipe import compile_for_training, resolve_recipe

__all__ = ["train_classifier", "class_names_of"]


def class_names_of(dataset):
    return list(data_lib.FASHION_MNIST_CLASSES) if dataset == "fashion_mnist" else [str(i) for i in range(10)]


def train_classifier(model_name, out_dir, *, dataset="fashion_mnist", epochs=10, batch_size=128, recipe="resnet",
                     image_size=None, augment="crop", val_fraction=0.1, limit=None, dtype=None, patience=None,
                     backup_every=None, seed=0, verbose=1, **recipe_overrides):
    """Train a registered model on a named data set, keep the best checkpoint, evaluate on test.

    The validation split is carved from the training data with ``seed`` (never from the
    test set); the test split is used once, at the end, on the best checkpoint. Running the
    same call again with the same ``out_dir`` resumes a killed run (from its last backup)
    instead of starting over.

    Args:
        model_name: a registry name (``kerasarch.list_models()``).
        out_dir: where ``best.keras``, ``log.csv``, ``backup/``, ``tensorboard/``,
            ``evaluation.json``, ``confusion_matrix.png`` and ``report.json`` go.
        dataset: a name in ``kerasarch.data.DATASETS``.
        image_size: side to resize to; default the data's own, or the model's minimum.
        augment: ``"crop"``, ``"crop_flip"`` or None (see ``kerasarch.data.make_dataset``).
        limit: use only the first ``limit`` training images (smoke runs).
        dtype: the model's dtype policy; default the recipe's (``mixed_bfloat16`` on a CPU with bfloat16 arithmetic, else float32).
        patience: early stopping patience in epochs (None: no early stopping).
        backup_every: back up every this many batches instead of every epoch.
        **recipe_overrides: :class:`~kerasarch.train.Recipe` fields.

    Returns the report dict (also written to ``report.json``).
    """
    entry = model_entry(model_name)
    plan = resolve_recipe(recipe, **recipe_overrides)
    (x_train, y_train), (x_test, y_test) = data_lib.load_dataset(dataset)
    if limit:
        x_train, y_train = x_train[:limit], y_train[:limit]
    (x_train, y_train), (x_val, y_val) = data_lib.train_val_split(x_train, y_train, val_fraction, seed=seed)
    side = image_size or max(x_train.shape[1], entry.min_size)
    num_classes = int(max(y_train.max(), y_test.max()) + 1)
    model = create_model(entry.name, input_shape=(side, side, x_train.shape[-1]), num_classes=num_classes,
                         dtype=dtype or plan.dtype_policy())
    steps = -(-len(x_train) // batch_size)
    plan = compile_for_training(model, plan, epochs=epochs, steps_per_epoch=steps, verbose=bool(verbose))
    pipeline = dict(batch_size=batch_size, image_size=(side, side))
    train_ds = data_lib.make_dataset(x_train, y_train, training=True, augment=augment, seed=seed, **pipeline)
    val_ds = data_lib.make_dataset(x_val, y_val, **pipeline)
    callbacks = training_callbacks(out_dir, patience=patience, backup_every=backup_every, verbose=verbose)
    start = time.perf_counter()
    # shuffle=False: the pipeline reshuffles every epoch itself (Keras would warn and ignore it).
    history = model.fit(train_ds, validation_data=val_ds, epochs=epochs, callbacks=callbacks, verbose=verbose,
                        shuffle=False)
    train_seconds = time.perf_counter() - start
    nan_guard, best = callbacks[0], callbacks[0].checkpoint
    best_path = os.path.join(out_dir, "best.keras")
    if os.path.exists(best_path):
        model.load_weights(best_path)  # evaluate the kept checkpoint, not the last epoch
    test_ds = data_lib.make_dataset(x_test, None, **pipeline)
    evaluation = evaluate_classifier(model, test_ds, y_test, class_names=class_names_of(dataset), out_dir=out_dir)
    report = {
        "model": entry.name, "dataset": dataset, "image_size": side, "epochs_completed": _logged_epochs(out_dir),
        "epochs": epochs, "recipe": plan.name, "dtype": model.dtype_policy.name,
        "train_images": int(len(x_train)), "val_images": int(len(x_val)), "test_images": int(len(x_test)),
        "best_val_accuracy": None if best.best_epoch is None else round(best.best, 4),
        "best_epoch": best.best_epoch, "diverged_at": nan_guard.diverged_at,
        "test_accuracy": round(evaluation["accuracy"], 4),
        "per_class_accuracy": evaluation["per_class_accuracy"],
        "train_seconds_this_process": round(train_seconds, 1),
        "history": {k: [round(float(v), 5) for v in vals] for k, vals in history.history.items()},
        "recipe_text": plan.describe(model),
    }
    with atomic_path(os.path.join(out_dir, "report.json")) as tmp:
        with open(tmp, "w") as f:
            json.dump(report, f, indent=2)
    return report


def _logged_epochs(out_dir):
    """Epochs in ``log.csv``: over a killed and resumed run, every epoch once."""
    path = os.path.join(out_dir, "log.csv")
    if not os.path.exists(path):
        return 0
    with open(path) as f:
        return max(0, sum(1 for line in f if line.strip()) - 1)
