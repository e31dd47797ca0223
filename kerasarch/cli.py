"""The ``kerasarch`` command.

    kerasarch list [PATTERN]              registered models (wildcards, e.g. 'resnet*')
    kerasarch summary [PATTERN] [--json]  parameters and GMACs; one model: also its layer table
    kerasarch train NAME --out DIR        train on a bundled data set (images, sentences, CMUdict, demand),
                                          keep the best, evaluate on test
    kerasarch evaluate DIR                evaluate a run's best checkpoint on its test split again
    kerasarch plot NAME [--out FILE]      the model's graph as an image (keras.utils.plot_model)
    kerasarch export RUN_OR_FILE --format saved_model|onnx --out PATH [--uint8]
                                          a SavedModel for TF Serving or an ONNX file, checked
    kerasarch predict ARTIFACT IMAGE...   run an exported artifact on image files, top classes

Every command takes --help. A mistake (an unknown model, a missing folder) prints one line
starting with "kerasarch: error:" and exits with status 2; a bug shows its traceback.
TensorFlow's start-up log lines are hidden; KERASARCH_VERBOSE=1 shows them.
"""

import argparse
import json
import os
import sys

from kerasarch.export.serving import ExportError


def _list(args):
    from kerasarch.registry import list_models, model_entry

    names = list_models(args.pattern)
    if not names:
        from kerasarch.registry import closest_names

        raise CommandError(f"no registered model matches {args.pattern!r}.{closest_names(args.pattern)}")
    for name in names:
        entry = model_entry(name)
        print(f"{name:24s} {entry.family:14s} {entry.contract.describe()}")
    return 0


def _summary(args):
    from kerasarch.registry import create_model, list_models
    from kerasarch.summary import format_table, summary_table

    rows = summary_table(args.pattern, macs=not args.no_macs)
    print(json.dumps(rows, indent=2) if args.json else format_table(rows))
    if len(rows) == 1 and not args.json and list_models(args.pattern) == [args.pattern]:
        create_model(args.pattern).summary(line_length=110)
    return 0


def _train(args):
    from kerasarch.train.run import train_model

    overrides = {"learning_rate": args.lr} if args.lr is not None else {}
    augment = {None: "default", "none": None}.get(args.augment, args.augment)
    report = train_model(
        args.name, args.out, dataset=args.data, epochs=args.epochs, batch_size=args.batch_size, recipe=args.recipe,
        image_size=args.image_size, augment=augment, tokenizer=args.tokenizer, val_fraction=args.val_fraction, limit=args.limit,
        test_limit=args.test_limit, model_kwargs=_model_kwargs(args.model_kwargs), dtype=args.dtype,
        patience=args.patience, backup_every=args.backup_every, seed=args.seed,
        deterministic=not args.nondeterministic, verbose=2 if args.quiet else 1, **overrides)
    _print_report(report, args.out)
    return 0


def _model_kwargs(pairs):
    """``["units=64", "cell=\"gru\""]`` -> ``{"units": 64, "cell": "gru"}``: each value read as JSON, else a string."""
    kwargs = {}
    for pair in pairs or ():
        key, sep, value = pair.partition("=")
        if not sep or not key.isidentifier():
            raise CommandError(f"--model-kwargs takes KEY=VALUE pairs (e.g. units=64 dropout=0.2), got {pair!r}")
        try:
            kwargs[key] = json.loads(value)
        except ValueError:
            kwargs[key] = value
    return kwargs


def _print_report(report, out):
    best = next(((k, v) for k, v in report.items() if k.startswith("best_val")), (None, None))
    print(f"\n{report['model']} on {report['dataset']} (seed {report.get('seed')}): {report['test_summary']} "
          f"(best {best[0][5:] if best[0] else 'validation'} {best[1]} at epoch {report['best_epoch']}, "
          f"{report['epochs_completed']} epochs)")
    for resumed in report.get("resumed_from") or []:
        print(f"resumed at epoch {resumed['epoch']}, batch {resumed['batch']}")
    if report.get("diverged_at"):
        print(f"training stopped: the loss diverged at epoch {report['diverged_at'][0]}, batch "
              f"{report['diverged_at'][1]}")
    if report.get("stopped_early_at"):
        print(f"early stopping after epoch {report['stopped_early_at']}")
    if report.get("per_class_accuracy"):
        print("per class: " + ", ".join(f"{k} {v:.3f}" for k, v in report["per_class_accuracy"].items()))
    print(f"wrote {out}/best.keras, report.json, evaluation.json, log.csv, run.json")


def _evaluate(args):
    import keras

    from kerasarch.train.run import RUN_FILE
    from kerasarch.train.tasks import task_for

    path = os.path.join(args.run_dir, "best.keras")
    if not os.path.isfile(path):
        raise CommandError(f"{args.run_dir!r} has no best.keras; pass the --out folder of `kerasarch train`")
    run_file = os.path.join(args.run_dir, RUN_FILE)
    if not os.path.isfile(run_file):
        raise CommandError(f"{args.run_dir!r} has no {RUN_FILE} to say how it was trained; pass the --out folder "
                           "of `kerasarch train`")
    with open(run_file) as f:
        arguments = dict(json.load(f)["arguments"])
    if args.data is not None and args.data != arguments["dataset"]:
        if task_for(args.data).input_kind != "image" or task_for(arguments["dataset"]).input_kind != "image":
            raise CommandError(f"--data {args.data} differs from the run's {arguments['dataset']}; only an image "
                               "classifier can be scored on another data set (of the same classes)")
        arguments["dataset"] = args.data
    task = task_for(arguments["dataset"])
    arguments.setdefault("val_fraction", task.default_val_fraction)
    data = task.prepare(arguments, args.run_dir, training=False)
    model = keras.saving.load_model(path)
    result = data.evaluate(model, args.run_dir)
    print(f"{model.name} on the {task.name} test split: {result['summary']}")
    if result.get("per_class_accuracy"):
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


def _load_checkpoint(source):
    """A model and its class names from a .keras file or a `kerasarch train` folder."""
    import keras

    from kerasarch.train.run import class_names_of

    if os.path.isdir(source):
        path = os.path.join(source, "best.keras")
        if not os.path.isfile(path):
            raise CommandError(f"{source!r} has no best.keras; pass a .keras file or the --out folder of "
                               "`kerasarch train`")
    elif os.path.isfile(source):
        if not source.endswith(".keras"):
            raise CommandError(f"{source!r} is not a .keras file; export needs a whole saved model "
                               "(model.save('name.keras')) or a `kerasarch train` folder")
        path = source
    else:
        raise CommandError(f"{source!r} does not exist; pass a .keras file or a `kerasarch train` folder")
    class_names = None
    report = os.path.join(os.path.dirname(path), "report.json")
    if os.path.isfile(report):
        with open(report) as f:
            recorded = json.load(f)
        # The run's own names; a report from before they were recorded names its data set.
        class_names = recorded.get("class_names") or (class_names_of(recorded["dataset"])
                                                      if recorded.get("dataset") else None)
    return keras.saving.load_model(path), class_names


def _vocabularies(model, source):
    """The vocabularies a run saved beside its checkpoint (kerasarch.train.tasks): None, one, or a pair."""
    from kerasarch.contract import contract_of
    from kerasarch.text import Vocabulary
    from kerasarch.train.tasks import PronunciationTask, SentenceTask

    folder = source if os.path.isdir(source) else os.path.dirname(os.path.abspath(source))
    kind = contract_of(model).input.kind
    names = {"tokens": (SentenceTask.vocabulary_file,),
             "token_pair": (PronunciationTask.source_file, PronunciationTask.target_file)}.get(kind)
    if names is None:
        return None
    paths = [os.path.join(folder, n) for n in names]
    if not all(os.path.isfile(p) for p in paths):
        return None
    vocabularies = [Vocabulary.load(p) for p in paths]
    return vocabularies[0] if len(vocabularies) == 1 else tuple(vocabularies)


def _export(args):
    from kerasarch.export import export_onnx, export_saved_model

    model, class_names = _load_checkpoint(args.source)
    vocabularies = _vocabularies(model, args.source)
    if args.format == "saved_model":
        if args.opset is not None:
            raise CommandError("--opset is an ONNX option; a SavedModel has none")
        if isinstance(vocabularies, tuple):
            from kerasarch.export import export_seq2seq_saved_model
            from kerasarch.train.tasks import PronunciationTask

            # Beside the id signature, one that takes words: the beam search and both vocabularies in the graph.
            export_seq2seq_saved_model(model, args.out, *vocabularies, beam_width=PronunciationTask.BEAM_WIDTH,
                                       version=args.version, overwrite=args.overwrite, verbose=args.verbose)
            return 0
        if vocabularies is not None and not vocabularies.in_graph:
            print(f"note: {args.source} tokenizes with a subword vocabulary (Hugging Face tokenizers, in Python), "
                  "which a SavedModel cannot hold: serving_default takes token ids (SubwordVocabulary.encode); "
                  "train with --tokenizer word for a signature that takes strings.")
            vocabularies = None
        export_saved_model(model, args.out, version=args.version, overwrite=args.overwrite, uint8=args.uint8,
                           warmup=False if args.no_warmup else None, class_names=class_names, verbose=args.verbose,
                           vocabulary=vocabularies)
    else:
        if args.version is not None:
            raise CommandError("--version numbers SavedModel folders; an ONNX export is one file (--out FILE.onnx)")
        out = args.out
        if os.path.isdir(out) or not out.endswith(".onnx"):
            out = os.path.join(out, f"{model.name}.onnx")
        export_onnx(model, out, opset=args.opset, uint8=args.uint8, class_names=class_names,
                    overwrite=args.overwrite, verbose=args.verbose)
    return 0


def _predict(args):
    from kerasarch.export.artifact import load_artifact, read_images

    artifact = load_artifact(args.artifact)
    kind = artifact.metadata.get("input_kind", "image")
    if kind != "image":
        raise CommandError(f"{args.artifact} takes {kind} (input {artifact.metadata.get('input_name')!r}), not "
                           "images; run it from Python: kerasarch.export.artifact.load_artifact(path).run(batch)")
    shape = artifact.input_shape
    images = read_images(args.images, shape[-1] if shape else None)
    outputs = artifact.predict(images)
    key = "probabilities" if "probabilities" in outputs else next(iter(outputs))
    print(f"{artifact.kind} {artifact.path} ({key}):")
    for path, scores in zip(args.images, outputs[key]):
        top = ", ".join(f"{name} {score:.3f}" for name, score in artifact.top_classes(scores, args.top))
        print(f"  {path}: {top}")
    return 0


def _convert(args):
    import importlib.util

    import numpy as np

    import kerasarch
    from kerasarch import weights
    from kerasarch._atomic import atomic_path

    out = os.path.abspath(args.out)
    if not out.endswith(".keras"):
        raise CommandError(f"--out must name a .keras file, got {args.out!r}")
    if os.path.exists(out) and not args.overwrite:
        raise CommandError(f"{args.out} exists; pass --overwrite to replace it")
    if not os.path.isdir(os.path.dirname(out)):
        raise CommandError(f"the folder of --out ({os.path.dirname(out)}) does not exist")
    if not os.path.isfile(args.checkpoint):
        raise CommandError(f"checkpoint {args.checkpoint!r} does not exist")
    if not weights.is_checkpoint_path(args.checkpoint):
        raise CommandError(f"{args.checkpoint!r} is not a .pth, .pt, .bin or .safetensors checkpoint")
    kwargs = {} if args.input_size is None else {"input_shape": (args.input_size, args.input_size, 3)}
    model = kerasarch.create_model(args.name, **kwargs)
    classes = args.num_classes or weights.checkpoint_classes(model, args.checkpoint, args.source)
    if classes is not None and classes != model.arch.get("num_classes"):
        model = kerasarch.create_model(args.name, num_classes=classes, **kwargs)
    report = weights.load_torch_weights(model, args.checkpoint, source=args.source, skip_mismatch=args.skip_mismatch)
    print(f"{args.name}: {report}")
    if report.checkpoint is not None:
        print(f"recognised {report.checkpoint.describe()}")
    else:
        print("not a checkpoint kerasarch knows by name: no preprocessing or class names recorded "
              "(export with --uint8 uses kerasarch's default x/255)")
    needs = ("torch", "torchvision" if report.source == "torchvision" else "timm")
    if args.no_parity:
        print("parity: not checked (--no-parity)")
    elif not all(importlib.util.find_spec(m) for m in needs):
        print(f"parity: not checked ({' and '.join(needs)} not installed)")
    else:
        from kerasarch.weights.reference import reference_logits_in_subprocess

        size = int(model.input_shape[1] or 224)
        x = np.random.default_rng(0).normal(size=(2, size, size, 3)).astype("float32")
        num_classes = model.arch.get("num_classes")
        try:
            want = reference_logits_in_subprocess(args.name, args.checkpoint, report.source, num_classes, x, size=size)
        except RuntimeError as err:
            raise CommandError(f"{err}; nothing was written (--no-parity skips the check)") from None
        got = np.asarray(_logits(model, x), np.float64)
        diff = float(np.abs(got - want).max() / max(1.0, float(np.abs(want).max())))
        backend = __import__("keras").backend.backend()
        print(f"parity with {report.source}'s {args.name} on 2 random {size}x{size} inputs ({backend}): "
              f"max |diff| / max(1, max |logit|) = {diff:.2e}")
        if not diff <= 1e-4:
            raise CommandError(f"the converted model differs from the reference by {diff:.2e} (> 1e-4); "
                               "nothing was written. Please report it with the checkpoint's name.")
    with atomic_path(out, suffix=".keras", overwrite=args.overwrite) as tmp:
        model.save(tmp)
    print(f"wrote {args.out}")
    return 0


def _logits(model, x):
    """The classifier's outputs before its softmax (what the reference returns)."""
    import keras

    from kerasarch.contract import contract_of

    if contract_of(model).output.kind == "probabilities":
        model = keras.Model(model.input, model.get_layer("predictions").input)
    return keras.ops.convert_to_numpy(model(x, training=False))


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
    p.add_argument("name", help="registered model name, e.g. resnet20, bilstm_classifier, seq2seq_lstm_attention")
    p.add_argument("--data", default="fashion_mnist",
                   help="images: fashion_mnist (default), mnist_5k, digits; sentence polarity: movie_sentences; "
                        "grapheme to phoneme: cmudict; day-ahead demand: elecdemand")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--recipe", default=None, help="resnet, adamw or keras (default: resnet for images, adamw for "
                                                  "the sequence tasks)")
    p.add_argument("--model-kwargs", nargs="+", default=None, metavar="KEY=VALUE",
                   help="more create_model arguments, e.g. units=64 dropout=0.2 (values read as JSON)")
    p.add_argument("--lr", type=float, default=None, help="peak learning rate (default: the recipe's)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--image-size", type=int, default=None, help="resize to this side (default: data or model minimum)")
    p.add_argument("--augment", default=None, choices=["crop", "crop_flip", "none"],
                   help="images only (default crop)")
    p.add_argument("--dtype", default=None, help="dtype policy (default: mixed_bfloat16 where the CPU has bfloat16 arithmetic, else float32)")
    p.add_argument("--limit", type=int, default=None, help="use only this many training examples")
    p.add_argument("--tokenizer", default=None, choices=["word", "subword"],
                   help="movie_sentences: word (default; its SavedModel takes strings) or subword (WordPiece)")
    p.add_argument("--test-limit", type=int, default=None, help="score only this many test examples (smoke runs)")
    p.add_argument("--val-fraction", type=float, default=None,
                   help="share of the training data kept for validation (default 0.1; cmudict 0.05)")
    p.add_argument("--patience", type=int, default=None, help="early stopping patience in epochs")
    p.add_argument("--backup-every", type=int, default=None,
                   help="back up every N batches as well as every epoch (a resumed run goes on at that batch)")
    p.add_argument("--seed", type=int, default=0,
                   help="draws the validation split, the initial weights, the data order and the augmentation "
                        "(default 0); the same seed on the same machine gives the same weights")
    p.add_argument("--nondeterministic", action="store_true",
                   help="let TensorFlow pick faster nondeterministic kernels (GPUs); runs are then not bitwise "
                        "reproducible")
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

    p = sub.add_parser("export", help="export a trained model as a SavedModel (TF Serving) or ONNX file",
                       description="Write the model to a temporary path, load it back (TensorFlow or onnxruntime), "
                                   "compare with Keras, then move it into place and print one summary line.")
    p.add_argument("source", help="a .keras file or the --out folder of `kerasarch train` (its best.keras)")
    p.add_argument("--format", required=True, choices=["saved_model", "onnx"])
    p.add_argument("--out", required=True,
                   help="saved_model: the base folder (writes OUT/<name>/<version>/); onnx: a .onnx file or a folder")
    p.add_argument("--uint8", action="store_true", help="take raw uint8 pixels of any size; preprocess in the graph")
    p.add_argument("--version", type=int, default=None, help="SavedModel version (default: the next free one)")
    p.add_argument("--opset", type=int, default=None, help="ONNX opset (13-18, default 17)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing version or file")
    p.add_argument("--no-warmup", action="store_true", help="no TF Serving warmup records")
    p.add_argument("--verbose", action="store_true", help="show TensorFlow's and tf2onnx's tracing output")
    p.set_defaults(run=_export)

    p = sub.add_parser("convert", help="a torchvision or timm checkpoint (.pth, .safetensors) to a .keras file",
                       description="Build the model, load the checkpoint (every tensor checked), compare it with "
                                   "the torchvision/timm reference when torch is installed, then write the file.")
    p.add_argument("name", help="registered model name, e.g. resnet50")
    p.add_argument("checkpoint", help="a .pth/.pt/.bin (read with torch.load(weights_only=True)) or .safetensors file")
    p.add_argument("--out", required=True, help="the .keras file to write")
    p.add_argument("--source", default=None, choices=["torchvision", "timm"],
                   help="whose layout the checkpoint has (default: read off its tensor names)")
    p.add_argument("--num-classes", type=int, default=None,
                   help="classifier size (default: the checkpoint's)")
    p.add_argument("--input-size", type=int, default=None, help="input side in pixels (default: the model's)")
    p.add_argument("--skip-mismatch", action="store_true",
                   help="with --num-classes other than the checkpoint's: keep a new, randomly initialised head")
    p.add_argument("--no-parity", action="store_true", help="do not compare with the torch reference")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    p.set_defaults(run=_convert)

    p = sub.add_parser("predict", help="run an exported SavedModel or ONNX file, or a .keras model, on images, "
                                       "print top classes")
    p.add_argument("artifact", help="a SavedModel folder (version or model folder), an .onnx file or a .keras file")
    p.add_argument("images", nargs="+", help="PNG/JPEG/BMP/GIF files")
    p.add_argument("--top", type=int, default=3, help="how many classes to print per image (default 3)")
    p.set_defaults(run=_predict)

    args = parser.parse_args(argv)
    for arg in ("epochs", "batch_size", "limit", "test_limit", "image_size", "patience", "backup_every", "version", "top",
                "num_classes", "input_size"):
        value = getattr(args, arg, None)
        if value is not None and value < 1:
            parser.error(f"--{arg.replace('_', '-')} must be a positive integer, got {value}")
    try:
        return args.run(args)
    except CommandError as err:
        print(f"kerasarch: error: {err}", file=sys.stderr)
        return 2
    except (ValueError, FileNotFoundError, ImportError, ExportError) as err:
        # The library's errors for a user's mistake (ValueError and its kin: unknown names, bad
        # arguments, missing files or packages) already say what was wrong and what would be
        # right. A TypeError, KeyError or anything else is a bug: it keeps its traceback.
        lines = str(err).strip().splitlines() or [type(err).__name__]
        # A checkpoint that does not fit lists its tensors and their shapes: all of it is the message.
        message = "\n".join(lines) if type(err).__name__ == "CheckpointError" else lines[0]
        print(f"kerasarch: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
