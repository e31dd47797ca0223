"""The ``kerasarch`` command.

    kerasarch list [PATTERN]              registered models (wildcards, e.g. 'resnet*')
    kerasarch summary [PATTERN] [--json]  parameters and GMACs; one model: also its layer table
    kerasarch train NAME --out DIR        train on a bundled data set, keep the best, evaluate on test
    kerasarch evaluate DIR                evaluate a run's best checkpoint on its test split again
    kerasarch plot NAME [--out FILE]      the model's graph as an image (keras.utils.plot_model)

Every command takes --help. A mistake (an unknown model, a missing folder) prints one line
starting with "kerasarch: error:" and exits with status 2. TensorFlow's start-up log lines
are hidden; KERASARCH_VERBOSE=1 shows them.
"""

import argparse
import json
import os
import sys


def _list(args):
    from kerasarch.registry import list_models, model_entry

    for name in list_models(args.pattern):
        entry = model_entry(name)
        print(f"{name:24s} {entry.family:14s} {'x'.join(map(str, entry.input_shape))}")
    return 0


def _summary(args):
    from kerasarch.registry import create_model, list_models
    from kerasarch.summary import format_table, summary_table

    rows = summary_table(args.pattern, macs=not args.no_macs)
    if not rows:
        raise CommandError(f"no registered model matches {args.pattern!r}; see `kerasarch list`")
    print(json.dumps(rows, indent=2) if args.json else format_table(rows))
    if len(rows) == 1 and not args.json and list_models(args.pattern) == [args.pattern]:
        create_model(args.pattern).summary(line_length=110)
    return 0


def _train(args):
    from kerasarch.train.run import train_classifier

    overrides = {"learning_rate": args.lr} if args.lr is not None else {}
    report = train_classifier(
        args.name, args.out, dataset=args.data, epochs=args.epochs, batch_size=args.batch_size, recipe=args.recipe,
        image_size=args.image_size, augment=None if args.augment == "none" else args.augment, limit=args.limit,
        dtype=args.dtype, patience=args.patience, backup_every=args.backup_every, verbose=2 if args.quiet else 1,
        **overrides)
    _print_report(report, args.out)
    return 0


def _print_report(report, out):
    print(f"\n{report['model']} on {report['dataset']}: test accuracy {report['test_accuracy']:.4f} "
          f"(best validation {report['best_val_accuracy']} at epoch {report['best_epoch']}, "
          f"{report['epochs_completed']} epochs)")
    if report.get("diverged_at"):
        print(f"training stopped: the loss diverged at epoch {report['diverged_at'][0]}")
    print("per class: " + ", ".join(f"{k} {v:.3f}" for k, v in report["per_class_accuracy"].items()))
    print(f"wrote {out}/best.keras, report.json, evaluation.json, confusion_matrix.png, log.csv")


def _evaluate(args):
    import keras

    from kerasarch import data as data_lib
    from kerasarch.train.evaluate import evaluate_classifier
    from kerasarch.train.run import class_names_of

    path = os.path.join(args.run_dir, "best.keras")
    report_path = os.path.join(args.run_dir, "report.json")
    if not os.path.isfile(path):
        raise CommandError(f"{args.run_dir!r} has no best.keras; pass the --out folder of `kerasarch train`")
    dataset = args.data
    if dataset is None:
        if not os.path.isfile(report_path):
            raise CommandError(f"{args.run_dir!r} has no report.json to name its data set; pass --data")
        with open(report_path) as f:
            dataset = json.load(f)["dataset"]
    model = keras.saving.load_model(path)
    _, (x_test, y_test) = data_lib.load_dataset(dataset)
    side = model.input_shape[1]
    test = data_lib.make_dataset(x_test, None, batch_size=256, image_size=(side, side))
    result = evaluate_classifier(model, test, y_test, class_names=class_names_of(dataset), out_dir=args.run_dir)
    print(f"{model.name} on the {dataset} test split ({result['num_images']} images): accuracy {result['accuracy']:.4f}")
    print("per class: " + ", ".join(f"{k} {v:.3f}" for k, v in result["per_class_accuracy"].items()))
    return 0


def _plot(args):
    import keras

    from kerasarch.registry import create_model

    model = create_model(args.name)
    out = args.out or f"{model.name}.png"
    try:
        keras.utils.plot_model(model, to_file=out, show_shapes=True, expand_nested=args.expand_nested)
    except ImportError as err:
        raise CommandError(f"plot needs pydot and graphviz: pip install pydot; apt-get install graphviz ({err})")
    if not os.path.isfile(out):
        raise CommandError("plot_model wrote nothing: install graphviz (apt-get install graphviz) and pydot")
    print(f"wrote {out}")
    return 0


class CommandError(Exception):
    """A mistake in the command line or its inputs: reported as one line, exit status 2."""


def main(argv=None):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = argparse.ArgumentParser(prog="kerasarch", description="Classic architectures for Keras 3.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("list", help="list registered models")
    p.add_argument("pattern", nargs="?", default="*")
    p.set_defaults(run=_list)
    p = sub.add_parser("summary", help="parameters and GMACs of each model (Markdown table)")
    p.add_argument("pattern", nargs="?", default="*")
    p.add_argument("--json", action="store_true", help="JSON rows instead of a Markdown table")
    p.add_argument("--no-macs", action="store_true", help="skip the GMACs (no tracing; faster)")
    p.set_defaults(run=_summary)

    p = sub.add_parser("train", help="train a registered model on a bundled data set",
                       description="Train, keep the best checkpoint by validation accuracy, evaluate it on the "
                                   "test split. Run it again with the same --out to resume a killed run.")
    p.add_argument("name", help="registered model name, e.g. resnet20")
    p.add_argument("--data", default="fashion_mnist", help="fashion_mnist (default), mnist_5k or digits")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--recipe", default="resnet", help="resnet (default), adamw or keras")
    p.add_argument("--lr", type=float, default=None, help="peak learning rate (default: the recipe's)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--image-size", type=int, default=None, help="resize to this side (default: data or model minimum)")
    p.add_argument("--augment", default="crop", choices=["crop", "crop_flip", "none"])
    p.add_argument("--dtype", default=None, help="dtype policy (default: mixed_bfloat16 on CPU)")
    p.add_argument("--limit", type=int, default=None, help="use only this many training images")
    p.add_argument("--patience", type=int, default=None, help="early stopping patience in epochs")
    p.add_argument("--backup-every", type=int, default=None, help="back up every N batches (default: every epoch)")
    p.add_argument("--quiet", action="store_true", help="one line per epoch instead of progress bars")
    p.set_defaults(run=_train)

    p = sub.add_parser("evaluate", help="evaluate a training run's best checkpoint on the test split")
    p.add_argument("run_dir", help="the --out folder of `kerasarch train`")
    p.add_argument("--data", default=None, help="data set (default: the one the run trained on)")
    p.set_defaults(run=_evaluate)

    p = sub.add_parser("plot", help="draw a model's graph to an image (needs pydot and graphviz)")
    p.add_argument("name")
    p.add_argument("--out", default=None, help="image file (default NAME.png)")
    p.add_argument("--expand-nested", action="store_true", help="draw the layers inside each block")
    p.set_defaults(run=_plot)

    args = parser.parse_args(argv)
    for arg in ("epochs", "batch_size", "limit", "image_size", "patience", "backup_every"):
        value = getattr(args, arg, None)
        if value is not None and value < 1:
            parser.error(f"--{arg.replace('_', '-')} must be a positive integer, got {value}")
    try:
        return args.run(args)
    except CommandError as err:
        print(f"kerasarch: error: {err}", file=sys.stderr)
        return 2
    except (ValueError, KeyError, TypeError, FileNotFoundError, ImportError) as err:
        # The library's errors already say what was wrong and what would be right.
        message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        print(f"kerasarch: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
