"""The main job: train a CIFAR-style ResNet on Fashion-MNIST with kerasarch's recipe, keep the
best, test it, export it.

    python examples/train_fashion_mnist.py                 # ResNet-20, 6 epochs
    python examples/train_fashion_mnist.py --quick         # a one-minute smoke run
    python examples/train_fashion_mnist.py --model resnet56 --epochs 30

It is ``kerasarch.train.run.train_model`` (the same path as ``kerasarch train`` and
benchmarks/time_to_accuracy.py) followed by the export:
  * Fashion-MNIST from the Debian package (60k train / 10k test, 28x28 grey), a stratified
    validation split of 10% carved from the training set (never from the test set);
  * the "resnet" recipe: SGD momentum 0.9, peak lr 0.1, linear warmup over 5% of the steps then
    cosine decay to 0, weight decay 1e-4 (not on norms or biases), label smoothing 0.1,
    gradient clipping at norm 1, mixed_bfloat16 with a float32 head where the CPU has bfloat16
    arithmetic (float32 elsewhere), and no XLA (on this CPU
    the graph executor is faster than XLA for both training and prediction);
  * pad-and-crop augmentation; the best model on validation accuracy saved atomically to
    OUT/best.keras; a run killed half-way resumes when started again with the same --out;
  * test accuracy of that best model with per-class accuracy and a confusion matrix
    (OUT/confusion_matrix.png), then the two exports a server takes, both fed raw uint8
    pixels (rescaling and resizing are inside the graph):
      - a SavedModel for TF Serving at OUT/serving/<name>/<n>/ (+ OUT/serving/models.config),
      - an ONNX file at OUT/<name>.onnx,
    each loaded back (TensorFlow / onnxruntime) and compared with Keras on 256 real test images.
"""

import argparse
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

from kerasarch import data  # noqa: E402
from kerasarch.export import export_onnx, export_saved_model  # noqa: E402
from kerasarch.train.run import train_model  # noqa: E402

EPOCHS = 6


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="resnet20", help="a registered model name (default resnet20)")
    p.add_argument("--epochs", type=int, default=EPOCHS)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=0.1, help="peak learning rate")
    p.add_argument("--dtype", default=None, help="dtype policy (default: the recipe's: mixed_bfloat16 where the CPU has bfloat16 arithmetic, else float32)")
    p.add_argument("--quick", action="store_true", help="2,000 training images, 1 epoch: a smoke run")
    p.add_argument("--out", default="runs/fashion_mnist", help="output folder")
    p.add_argument("--seed", type=int, default=0, help="the run's seed: the same one gives the same weights")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    report = train_model(
        args.model, args.out, dataset="fashion_mnist", epochs=1 if args.quick else args.epochs,
        batch_size=args.batch_size, limit=2000 if args.quick else None, dtype=args.dtype, seed=args.seed,
        learning_rate=args.lr, verbose=2)
    print(f"best epoch {report['best_epoch']}: val accuracy {report['best_val_accuracy']}; "
          f"test accuracy {report['test_accuracy']:.4f}")

    best = keras.saving.load_model(os.path.join(args.out, "best.keras"))
    _, (x_test, _) = data.load_fashion_mnist()
    names = report["class_names"]  # the data set's, as the run recorded them
    saved = export_saved_model(best, os.path.join(args.out, "serving"), uint8=True, class_names=names,
                               check_data=x_test[:256])
    onnx_file = export_onnx(best, os.path.join(args.out, f"{best.name}.onnx"), uint8=True, class_names=names,
                            check_data=x_test[:256], overwrite=True)

    summary = {**{k: v for k, v in report.items() if k != "recipe_text"},
               "saved_model": saved, "saved_model_parity": saved.parity,
               "onnx": onnx_file, "onnx_parity": onnx_file.parity}
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    return summary


if __name__ == "__main__":
    main()
