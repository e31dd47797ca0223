"""Test accuracy against training wall time on Fashion-MNIST: kerasarch's default recipe beside
plain Keras defaults (Adam 1e-3, constant rate, no smoothing, no clipping), same model, same
epochs, same data pipeline, in one run.

    python benchmarks/time_to_accuracy.py                       # resnet20, 6 epochs each
    python benchmarks/time_to_accuracy.py --epochs 3 --recipes resnet

Prints one JSON document. Per recipe: the test accuracy after every epoch against the
training seconds spent so far (the test evaluation itself is not counted), the seconds to
reach --target (default 0.92) if reached, and the final figures. 54,000 training images,
6,000 validation (carved from train with a fixed seed), 10,000 test; pad-and-crop
augmentation; the recipe's dtype policy (mixed_bfloat16 on this CPU for "resnet", float32 for
"keras").
"""

import argparse
import json
import os
import platform
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import kerasarch  # noqa: E402
from kerasarch import data  # noqa: E402
from kerasarch.train import resolve_recipe  # noqa: E402


class TestCurve(keras.callbacks.Callback):
    """Test accuracy after each epoch, against training time only."""

    def __init__(self, test_ds, y_test):
        super().__init__()
        self.test_ds, self.y_test = test_ds, y_test
        self.points, self._train_seconds, self._start = [], 0.0, None

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        # Keras runs validation before on_epoch_end: it is counted, as in any real run.
        self._train_seconds += time.perf_counter() - self._start
        probs = self.model.predict(self.test_ds, verbose=0)
        accuracy = float((probs.argmax(-1) == self.y_test).mean())
        self.points.append({"epoch": epoch + 1, "train_seconds": round(self._train_seconds, 1),
                            "test_accuracy": round(accuracy, 4), "val_accuracy": round(float(logs["val_accuracy"]), 4)})
        print(json.dumps(self.points[-1]), flush=True)


def run(recipe_name, args, splits):
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = splits
    recipe = resolve_recipe(recipe_name)
    model = kerasarch.create_model(args.model, input_shape=(28, 28, 1), num_classes=10, dtype=recipe.dtype_policy())
    steps = -(-len(x_train) // args.batch_size)
    kerasarch.compile_for_training(model, recipe, epochs=args.epochs, steps_per_epoch=steps, verbose=False)
    train = data.make_dataset(x_train, y_train, batch_size=args.batch_size, training=True, augment="crop")
    val = data.make_dataset(x_val, y_val, batch_size=512)
    test = data.make_dataset(x_test, None, batch_size=512)
    curve = TestCurve(test, y_test)
    model.fit(train, validation_data=val, epochs=args.epochs, callbacks=[curve], verbose=0, shuffle=False)
    reached = next((p["train_seconds"] for p in curve.points if p["test_accuracy"] >= args.target), None)
    keras.backend.clear_session()
    return {"recipe": recipe_name, "dtype": recipe.dtype_policy(), "recipe_text": recipe.describe(),
            "curve": curve.points, "final_test_accuracy": curve.points[-1]["test_accuracy"],
            "train_seconds": curve.points[-1]["train_seconds"], "seconds_to_target": reached}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="resnet20")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--target", type=float, default=0.92)
    parser.add_argument("--recipes", nargs="+", default=["resnet", "keras"])
    parser.add_argument("--limit", type=int, default=None, help="training images (smoke runs)")
    args = parser.parse_args()
    (x, y), (x_test, y_test) = data.load_fashion_mnist()
    if args.limit:
        x, y = x[:args.limit], y[:args.limit]
    train, val = data.train_val_split(x, y, 0.1, seed=0)
    results = [run(name, args, (train, val, (x_test, y_test))) for name in args.recipes]
    report = {
        "benchmark": "time_to_accuracy", "model": args.model, "data": "fashion_mnist", "epochs": args.epochs,
        "batch_size": args.batch_size, "target": args.target, "backend": keras.backend.backend(),
        "keras": keras.__version__, "machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
        "results": results,
    }
    if len(results) == 2:
        report["accuracy_gain"] = round(results[0]["final_test_accuracy"] - results[1]["final_test_accuracy"], 4)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
