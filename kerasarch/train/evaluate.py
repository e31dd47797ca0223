"""Evaluation of a classifier on a test split: accuracy, per-class accuracy, confusion matrix, plot."""

import json
import os

import numpy as np

from kerasarch._atomic import atomic_path

__all__ = ["confusion_matrix", "evaluate_classifier", "plot_confusion_matrix"]


def confusion_matrix(y_true, y_pred, num_classes):
    """``m[i, j]`` = how many images of class ``i`` were predicted as ``j``."""
    y_true, y_pred = np.asarray(y_true, int).ravel(), np.asarray(y_pred, int).ravel()
    return np.bincount(y_true * num_classes + y_pred, minlength=num_classes * num_classes).reshape(num_classes,
                                                                                                   num_classes)


def plot_confusion_matrix(matrix, class_names, path, title="Confusion matrix"):
    """Save the matrix as a PNG heat map with counts (matplotlib, no display needed)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("plots need matplotlib: pip install matplotlib (or 'kerasarch[plot]').") from None
    n = len(class_names)
    fig, ax = plt.subplots(figsize=(1.0 + 0.6 * n, 0.8 + 0.6 * n))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(n), class_names, rotation=45, ha="right")
    ax.set_yticks(range(n), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    top = matrix.max() or 1
    for i in range(n):
        for j in range(n):
            ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=7,
                    color="white" if matrix[i, j] > top / 2 else "black")
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)


def evaluate_classifier(model, x, y, *, dataset=None, class_names=None, out_dir=None, batch_size=256):
    """Predict ``x`` and compare with ``y``.

    ``x`` is anything ``model.predict`` takes (arrays or a ``tf.data`` dataset of images
    only). The classes are the data set's: ``dataset`` is a
    :class:`~kerasarch.data.DatasetInfo` (a loader's ``.info``) or a name for
    :func:`~kerasarch.data.dataset_info`; ``class_names`` may name them instead (without
    either, ``"0"``, ``"1"``, ... for the model's outputs). Returns ``{"accuracy",
    "per_class_accuracy": {name: acc}, "confusion_matrix", "num_images"}``; with
    ``out_dir``, also writes ``evaluation.json`` and ``confusion_matrix.png`` there.
    """
    from kerasarch.data import DatasetInfo, dataset_info

    if dataset is not None and not isinstance(dataset, DatasetInfo):
        dataset = dataset_info(dataset)
    if class_names is None and dataset is not None:
        class_names = dataset.class_names
    if class_names is not None:
        class_names = [str(c) for c in class_names]
        if dataset is not None and len(class_names) != dataset.num_classes:
            raise ValueError(f"{len(class_names)} class names for {dataset.name}, which has {dataset.num_classes} "
                             "classes; pass one name per class.")
    y = np.asarray(y).ravel()
    probs = np.asarray(model.predict(x, batch_size=batch_size, verbose=0))
    num_classes = len(class_names) if class_names is not None else probs.shape[-1]
    where = f" {dataset.name}" if dataset is not None else ""
    if probs.shape[-1] != num_classes:
        raise ValueError(f"{model.name} has {probs.shape[-1]} outputs but the{where} data has {num_classes} classes; "
                         f"evaluate it on data with {probs.shape[-1]} classes, or build it with "
                         f"num_classes={num_classes}.")
    if len(y) != len(probs):
        raise ValueError(f"{len(probs)} predictions but {len(y)} labels; pass one label per image.")
    if len(y) and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(f"labels must be class indices in [0, {num_classes}), got values from {y.min()} to "
                         f"{y.max()}.")
    names = class_names if class_names is not None else [str(i) for i in range(num_classes)]
    pred = probs.argmax(-1)
    matrix = confusion_matrix(y, pred, num_classes)
    per_class = matrix.diagonal() / np.maximum(matrix.sum(1), 1)
    report = {
        "accuracy": float((pred == y).mean()),
        "per_class_accuracy": {name: round(float(a), 4) for name, a in zip(names, per_class)},
        "confusion_matrix": matrix.tolist(),
        "num_images": int(len(y)),
    }
    if out_dir is not None:
        os.makedirs(out_dir, exist_ok=True)
        with atomic_path(os.path.join(out_dir, "evaluation.json")) as tmp:
            with open(tmp, "w") as f:
                json.dump(report, f, indent=2)
        plot_confusion_matrix(matrix, names, os.path.join(out_dir, "confusion_matrix.png"),
                              title=f"{model.name}: test accuracy {report['accuracy']:.4f}")
    return report
