"""What a run (``kerasarch train``) does with each named data set: one task per kind of data.

| data set                        | input      | models                       | best checkpoint by        | test report                          |
|---------------------------------|------------|------------------------------|---------------------------|--------------------------------------|
| fashion_mnist, mnist_5k, digits | image      | image classifiers            | validation accuracy       | accuracy, per class, confusion matrix |
| movie_sentences                 | tokens     | text classifiers             | validation accuracy       | accuracy, per class, confusion matrix |
| cmudict                         | token_pair | sequence-to-sequence models  | validation token accuracy | PER and WER, greedy and beam search  |
| elecdemand                      | sequence   | forecasters                  | validation loss (MSE)     | MAE (GW) against the seasonal naive  |

A task reads the registered model's contract to see whether it can train it, and turns a
run's recorded arguments into a :class:`Prepared` run: the arguments the model takes from the
data (image size and classes, vocabulary sizes, features and horizon), one stream of training
batches per range of epochs (every batch a pure function of the seed and its epoch, so a
resumed run sees what an uninterrupted one sees), the validation data and the test
evaluation. What a model needs to be used on its own (the vocabularies) is written beside the
checkpoint before training starts, and read back from there by ``kerasarch evaluate``.
"""

import dataclasses
import difflib
import json
import os

import numpy as np

from kerasarch import data as data_lib
from kerasarch._atomic import atomic_path

__all__ = ["Prepared", "Task", "TASKS", "task_for", "task_names"]


@dataclasses.dataclass
class Prepared:
    """A run's data, ready: see the module docstring.

    Attributes:
        model_kwargs: what ``create_model`` gets from the data.
        steps_per_epoch: batches in one training epoch.
        train_stream: ``(epochs: range, skip: int) -> data`` for ``fit``.
        val_data: what ``fit`` validates on.
        sizes: the report's counts (``{"train_images": n, ...}``).
        evaluate: ``(model, out_dir) -> dict``, the test split's report fields; ``"summary"``
            is its one line.
    """

    model_kwargs: dict
    steps_per_epoch: int
    train_stream: object
    val_data: object
    sizes: dict
    evaluate: object


class Task:
    """What one kind of data needs of a run (subclasses below, one per row of the table)."""

    input_kind = None
    output_kinds = ()
    default_recipe = "adamw"
    monitor = "val_accuracy"
    # The share of the training data kept for validation; None where the split is fixed (in time).
    default_val_fraction = 0.1
    # The run arguments only images have.
    image_arguments = ()
    # Model arguments the data decides: a user's --model-kwargs may not set them.
    data_arguments = ()
    # The tokenizers a run may choose (the first is the default); () where the data has none to choose.
    tokenizers = ()

    def __init__(self, name):
        self.name = name

    @property
    def class_names(self):
        return None

    def check(self, entry, arguments):
        """Whether ``entry`` (a registry entry) can train here; the task's own run arguments,
        resolved. Reads no data."""
        contract = entry.contract
        if contract.input.kind != self.input_kind:
            raise ValueError(f"{entry.name} takes {contract.input.kind} input, but {self.name} is {self.input_kind} "
                             f"data; pick a model that takes {self.input_kind} input (kerasarch list shows each "
                             f"model's input, e.g. {_example_models(self.input_kind)}).")
        if contract.output.kind not in self.output_kinds:
            raise ValueError(f"{entry.name} returns {contract.output.kind}, but a {self.name} run trains models "
                             f"returning {' or '.join(self.output_kinds)}.")
        for key in ("image_size", "augment"):
            if key not in self.image_arguments and arguments.get(key) is not None:
                raise ValueError(f"{key} is an image option, but {self.name} is {self.input_kind} data; leave it out.")
        tokenizer = arguments.get("tokenizer")
        if tokenizer is not None and tokenizer not in self.tokenizers:
            raise ValueError(f"tokenizer={tokenizer!r} does not apply to {self.name}" + (
                f"; it takes one of {list(self.tokenizers)}." if self.tokenizers else
                " (it has no choice of tokenizer); leave it out."))
        if self.default_val_fraction is None and arguments.get("val_fraction") is not None:
            raise ValueError(f"{self.name} is split in time (its validation days are fixed); leave val_fraction out.")
        clash = sorted(set(arguments.get("model_kwargs") or {}) & set(self.data_arguments))
        if clash:
            raise ValueError(f"model_kwargs may not set {', '.join(clash)}: a run on {self.name} takes "
                             f"{' and '.join(clash)} from the data.")
        return {}

    def prepare(self, arguments, out_dir, training=True):
        """Read the data; with ``training`` write the assets into ``out_dir``, else read them from there."""
        raise NotImplementedError


def _example_models(kind):
    from kerasarch.registry import list_models

    return ", ".join(list_models(input_kind=kind)[:3]) or "none registered"


def _write_json(path, record):
    with atomic_path(path) as tmp:
        with open(tmp, "w") as f:
            json.dump(record, f, indent=2)


def _first(items, limit):
    return items if limit is None else items[:limit]


# --- images ---------------------------------------------------------------------------------------------------------


class ImageTask(Task):
    input_kind = "image"
    output_kinds = ("probabilities", "logits")
    default_recipe = "resnet"
    image_arguments = ("image_size", "augment")
    data_arguments = ("input_shape", "num_classes")

    @property
    def info(self):
        return data_lib.dataset_info(self.name)

    @property
    def class_names(self):
        return list(self.info.class_names)

    def check(self, entry, arguments):
        super().check(entry, arguments)
        smallest = entry.contract.input.min_size
        size = arguments.get("image_size")
        if size is not None and size < smallest:
            raise ValueError(f"image_size {size} is below {entry.name}'s smallest input ({smallest} pixels a side, its "
                             f"total downsampling); pass image_size={smallest} or more, or leave it out (default: "
                             "the data's size or the model's minimum, whichever is larger).")
        augment = arguments.get("augment", "crop")
        choices = (None, *data_lib.AUGMENTATIONS)
        if augment not in choices:
            raise ValueError(f"augment must be one of {choices}, got {augment!r}.")
        return {"image_size": size or max(max(self.info.input.shape[:2]), smallest), "augment": augment}

    def prepare(self, arguments, out_dir, training=True):
        from kerasarch.train.evaluate import evaluate_classifier

        info = self.info
        seed = arguments["seed"]
        (x_train, y_train), (x_test, y_test) = data_lib.load_dataset(info.name)
        x_train, y_train = _first(x_train, arguments["limit"]), _first(y_train, arguments["limit"])
        (x_train, y_train), (x_val, y_val) = data_lib.train_val_split(x_train, y_train, arguments["val_fraction"],
                                                                      seed=seed)
        x_test, y_test = _first(x_test, arguments.get("test_limit")), _first(y_test, arguments.get("test_limit"))
        side, batch = arguments["image_size"], arguments["batch_size"]
        pipeline = dict(batch_size=batch, image_size=(side, side))

        def train_stream(epochs, skip=0):
            return data_lib.make_dataset(x_train, y_train, training=True, augment=arguments["augment"], seed=seed,
                                         epochs=epochs, skip_batches=skip, **pipeline)

        def evaluate(model, out_dir):
            test = data_lib.make_dataset(x_test, None, **pipeline)
            result = evaluate_classifier(model, test, y_test, dataset=info, out_dir=out_dir)
            return {"test_accuracy": round(result["accuracy"], 4), "per_class_accuracy": result["per_class_accuracy"],
                    "summary": f"test accuracy {result['accuracy']:.4f} on {result['num_images']} images"}

        return Prepared(
            model_kwargs={"input_shape": (side, side, x_train.shape[-1]), "num_classes": info.num_classes},
            steps_per_epoch=data_lib.batches_per_epoch(len(x_train), batch), train_stream=train_stream,
            val_data=data_lib.make_dataset(x_val, y_val, **pipeline),
            sizes={"class_names": list(info.class_names), "num_classes": info.num_classes, "image_size": side,
                   "train_images": int(len(x_train)), "val_images": int(len(x_val)),
                   "test_images": int(len(x_test))},
            evaluate=evaluate)


# --- sentences ------------------------------------------------------------------------------------------------------


class SentenceTask(Task):
    """movie_sentences: a vocabulary from the training split, of words seen twice or more
    (``tokenizer="word"``, the default; its SavedModel takes strings) or of WordPiece subwords
    (``"subword"``, 8,000 pieces), and batches of similar lengths
    (:class:`~kerasarch.seqdata.LengthBuckets`)."""

    input_kind = "tokens"
    output_kinds = ("probabilities", "logits")
    data_arguments = ("vocab_size", "max_length", "num_classes")
    tokenizers = ("word", "subword")
    vocabulary_file = "vocabulary.json"

    @property
    def class_names(self):
        from kerasarch.seqdata import SENTIMENT_CLASSES

        return list(SENTIMENT_CLASSES)

    def prepare(self, arguments, out_dir, training=True):
        from kerasarch.seqdata import LengthBuckets, load_movie_sentences
        from kerasarch.text import Vocabulary
        from kerasarch.train.evaluate import evaluate_classifier

        seed, batch = arguments["seed"], arguments["batch_size"]
        splits = load_movie_sentences(seed=seed, val_fraction=arguments["val_fraction"])
        texts, labels = (_first(part, arguments["limit"]) for part in splits.train)
        path = os.path.join(out_dir, self.vocabulary_file)
        if training:
            level = arguments.get("tokenizer") or "word"
            vocab = Vocabulary.build(texts, level=level, min_count=2, max_tokens=20_000 if level == "word" else 8_000)
            vocab.save(path)
        else:
            vocab = Vocabulary.load(path)
        # Held-out sentences longer than the longest training one keep their first words (tested).
        encode = lambda t: vocab.encode(t, too_long="truncate")  # noqa: E731
        x_train = encode(texts)
        x_val, y_val = encode(_first(splits.val[0], arguments["limit"])), _first(splits.val[1], arguments["limit"])
        test_texts, y_test = (_first(part, arguments.get("test_limit")) for part in splits.test)
        train = LengthBuckets(x_train, labels, batch, seed=seed)

        def evaluate(model, out_dir):
            result = evaluate_classifier(model, encode(test_texts), y_test, class_names=self.class_names,
                                         out_dir=out_dir)
            return {"test_accuracy": round(result["accuracy"], 4), "per_class_accuracy": result["per_class_accuracy"],
                    "unknown_rate_test": round(vocab.unknown_rate(test_texts), 4),
                    "summary": f"test accuracy {result['accuracy']:.4f} on {result['num_images']} sentences"}

        return Prepared(
            model_kwargs={"vocab_size": vocab.size, "max_length": vocab.max_length, "num_classes": 2},
            steps_per_epoch=len(train), train_stream=train.stream,
            val_data=LengthBuckets(x_val, y_val, 256, shuffle=False).dataset(),
            sizes={"class_names": self.class_names, "num_classes": 2, "tokenizer": vocab.level, "vocabulary": vocab.size,
                   "max_length": vocab.max_length, "train_sentences": int(len(x_train)),
                   "val_sentences": int(len(x_val)), "test_sentences": len(test_texts)},
            evaluate=evaluate)


# --- pronunciations -------------------------------------------------------------------------------------------------


class PronunciationTask(Task):
    """cmudict: a letter vocabulary and a phoneme vocabulary (with start and end markers) from
    the training split, every (word, pronunciation) pair taught with teacher forcing; the test
    words decoded greedily and with a beam, scored against all their references."""

    input_kind = "token_pair"
    output_kinds = ("sequence_logits",)
    data_arguments = ("vocab_size", "target_vocab_size", "max_length", "max_target_length", "start_id", "end_id")
    source_file, target_file = "source_vocabulary.json", "target_vocabulary.json"
    START, END = "<s>", "</s>"
    MAX_LENGTH = 32
    BEAM_WIDTH = 5
    default_val_fraction = 0.05

    def prepare(self, arguments, out_dir, training=True):
        from kerasarch.decoding import error_rates, generate, teacher_forcing
        from kerasarch.seqdata import LengthBuckets, load_cmudict
        from kerasarch.text import Vocabulary

        seed, batch = arguments["seed"], arguments["batch_size"]
        splits = load_cmudict(seed=seed, val_fraction=arguments["val_fraction"])
        words, prons = (_first(part, arguments["limit"]) for part in splits.train)
        source_path, target_path = (os.path.join(out_dir, f) for f in (self.source_file, self.target_file))
        if training:
            chars = Vocabulary.build(words, level="char", max_length=self.MAX_LENGTH)
            phones = Vocabulary.build([p for refs in prons for p in refs], level="word", lowercase=False,
                                      strip_punctuation=False, reserved=(self.START, self.END),
                                      max_length=self.MAX_LENGTH)
            chars.save(source_path)
            phones.save(target_path)
        else:
            chars, phones = Vocabulary.load(source_path), Vocabulary.load(target_path)
        start, end = phones.id(self.START), phones.id(self.END)

        def pairs(words, prons):
            flat_words = [w for w, refs in zip(words, prons) for _ in refs]
            target, labels = teacher_forcing(phones.encode([p for refs in prons for p in refs], too_long="truncate"),
                                             start, end)
            return {"source": chars.encode(flat_words, too_long="truncate"), "target": target}, labels

        train = LengthBuckets(*pairs(words, prons), batch, seed=seed)
        test_words, test_prons = (_first(part, arguments.get("test_limit")) for part in splits.test)

        def evaluate(model, out_dir):
            source = chars.encode(test_words, too_long="truncate")
            rates = {}
            for name, beam in (("greedy", 1), (f"beam{self.BEAM_WIDTH}", self.BEAM_WIDTH)):
                tokens = generate(model, source, beam_width=beam, batch_size=512)
                rates[name] = error_rates(phones.decode(tokens, stop_at=end), test_prons)
            fields = {f"test_{k}_{m}": round(v[m], 2) for k, v in rates.items() for m in ("per", "wer")}
            greedy, beam = rates["greedy"], rates[f"beam{self.BEAM_WIDTH}"]
            fields["summary"] = (f"test PER / WER greedy {greedy['per']:.2f}% / {greedy['wer']:.2f}%, beam "
                                 f"{self.BEAM_WIDTH} {beam['per']:.2f}% / {beam['wer']:.2f}% on {len(test_words)} words")
            _write_json(os.path.join(out_dir, "evaluation.json"), {**fields, "words": len(test_words)})
            return fields

        val_words, val_prons = (_first(part, arguments["limit"]) for part in splits.val)
        x_val, y_val = pairs(val_words, val_prons)
        return Prepared(
            model_kwargs={"vocab_size": chars.size, "target_vocab_size": phones.size, "max_length": self.MAX_LENGTH,
                          "max_target_length": self.MAX_LENGTH + 1, "start_id": start, "end_id": end},
            steps_per_epoch=len(train), train_stream=train.stream,
            val_data=LengthBuckets(x_val, y_val, 512, shuffle=False).dataset(),
            sizes={"letters": chars.size, "phonemes": phones.size, "train_words": len(words),
                   "train_pairs": int(len(train.labels)), "val_words": len(val_words),
                   "test_words": len(test_words)},
            evaluate=evaluate)


# --- series ---------------------------------------------------------------------------------------------------------


class DemandTask(Task):
    """elecdemand: the previous week (336 half-hours of demand, temperature, workday and the time
    of day, scaled by the training split's statistics) and the next day's known inputs
    (temperature, workday, time of day: ``make_windows(known_future=)``) in, the next day's 48
    half-hours of demand out. Training windows start every second half-hour; validation and test forecasts
    are made once a day at midnight. The test MAE is in GW, beside the seasonal-naive
    forecast's (the same half-hour a week earlier) on the same days."""

    input_kind = "sequence"
    output_kinds = ("forecast",)
    monitor = "val_loss"
    default_val_fraction = None
    data_arguments = ("num_features", "horizon", "num_targets")
    LOOKBACK, HORIZON, STRIDE = 336, 48, 2
    KNOWN_FUTURE = (1, 2, 3, 4)

    def prepare(self, arguments, out_dir, training=True):
        from kerasarch.seqdata import ShuffledBatches, load_elecdemand, make_windows

        s = load_elecdemand()
        train, val, test = s.scale(s.train), s.scale(s.val), s.scale(s.test)
        windows = dict(lookback=self.LOOKBACK, horizon=self.HORIZON, known_future=self.KNOWN_FUTURE)
        x_train, y_train = make_windows(train, stride=self.STRIDE, **windows)
        x_train, y_train = _first(x_train, arguments["limit"]), _first(y_train, arguments["limit"])
        x_val, y_val = make_windows(val, stride=s.period, context=train, **windows)
        x_test, y_test = make_windows(test, stride=s.period, context=np.concatenate([train, val]), **windows)
        x_test, y_test = _first(x_test, arguments.get("test_limit")), _first(y_test, arguments.get("test_limit"))
        batches = ShuffledBatches(x_train, y_train[..., None], arguments["batch_size"], seed=arguments["seed"])

        def evaluate(model, out_dir):
            truth = s.unscale_target(y_test)
            # The same half-hours one week before each test day (its inputs hold them, scaled).
            week = s.unscale_target(x_test[:, :self.HORIZON, s.target])
            predicted = s.unscale_target(np.asarray(model.predict(x_test, batch_size=256, verbose=0))[..., 0])
            mae, naive = float(np.abs(predicted - truth).mean()), float(np.abs(week - truth).mean())
            fields = {"test_mae_gw": round(mae, 4), "seasonal_naive_mae_gw": round(naive, 4),
                      "improvement_over_seasonal_naive_pct": round(100 * (1 - mae / naive), 1),
                      "summary": f"test MAE {mae:.4f} GW against the seasonal naive's {naive:.4f} GW "
                                 f"({100 * (1 - mae / naive):+.1f}%) on {len(truth)} days"}
            _write_json(os.path.join(out_dir, "evaluation.json"), fields)
            return fields

        return Prepared(
            model_kwargs={"num_features": x_train.shape[2], "horizon": self.HORIZON},
            steps_per_epoch=len(batches), train_stream=batches.stream,
            val_data=ShuffledBatches(x_val, y_val[..., None], 256, shuffle=False).dataset(),
            sizes={"features": list(s.names), "known_future": [s.names[c] for c in self.KNOWN_FUTURE],
                   "lookback": self.LOOKBACK, "horizon": self.HORIZON,
                   "train_windows": int(len(x_train)), "val_days": int(len(x_val)), "test_days": int(len(x_test))},
            evaluate=evaluate)


TASKS = {
    **{name: ImageTask for name in data_lib.DATASETS},
    "movie_sentences": SentenceTask,
    "cmudict": PronunciationTask,
    "elecdemand": DemandTask,
}


def task_names():
    return sorted(TASKS)


def task_for(dataset):
    """The :class:`Task` of a named data set; an unknown name is an error listing the closest."""
    if isinstance(dataset, str) and dataset in TASKS:
        return TASKS[dataset](dataset)
    close = difflib.get_close_matches(str(dataset).strip().lower(), list(TASKS), n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise ValueError(f"unknown data set {dataset!r}.{hint} The named data sets are {task_names()}.")
