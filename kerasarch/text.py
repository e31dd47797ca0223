"""Vocabularies for the text and sequence models, built from a training split only.

The tokenizer is Keras's ``TextVectorization``: the same lookup runs in the ``tf.data``
pipeline that feeds training and inside an exported SavedModel's string signature, so what a
served model does with a raw string is what training did, by construction (Hugging Face
``tokenizers`` would need a second, TensorFlow-graph copy of its rules for serving). A
:class:`Vocabulary` is saved as JSON beside the model (``vocabulary.json``), so a checkpoint
is usable on its own.

Ids: 0 is padding, 1 the out-of-vocabulary token (``[UNK]``): a word (or character) the
training split never had maps to 1, which the model has seen in training (the rare words that
did not make the vocabulary). An empty text, or one longer than ``max_length`` tokens, is an
error by default (``too_long="truncate"`` keeps its first ``max_length`` tokens).

TensorFlow is imported when a vocabulary is built or used, never by ``import kerasarch``.
"""

import json
import os

import numpy as np

from kerasarch._atomic import atomic_path

__all__ = ["Vocabulary", "VOCABULARY_FILE"]

VOCABULARY_FILE = "vocabulary.json"
LEVELS = {"word": "whitespace", "char": "character"}
PADDING, UNKNOWN = "", "[UNK]"


class Vocabulary:
    """A token vocabulary: ``level`` "word" (lower-cased, punctuation stripped, split on
    whitespace) or "char" (lower-cased characters, spaces kept), ``tokens`` in id order (id 0
    padding, id 1 ``[UNK]``), and the ``max_length`` the model takes."""

    def __init__(self, tokens, level="word", max_length=64, lowercase=True, strip_punctuation=None):
        if level not in LEVELS:
            raise ValueError(f"Vocabulary: level must be one of {sorted(LEVELS)}, got {level!r}.")
        tokens = [str(t) for t in tokens]
        if tokens[:2] != [PADDING, UNKNOWN]:
            raise ValueError("Vocabulary: tokens must start with the padding token '' and '[UNK]' (ids 0 and 1).")
        if len(set(tokens)) != len(tokens):
            raise ValueError("Vocabulary: tokens must be unique.")
        if not isinstance(max_length, int) or isinstance(max_length, bool) or max_length < 1:
            raise ValueError(f"Vocabulary: max_length must be a positive integer, got {max_length!r}.")
        self.tokens = tokens
        self.level = level
        self.max_length = max_length
        self.lowercase = bool(lowercase)
        self.strip_punctuation = (level == "word") if strip_punctuation is None else bool(strip_punctuation)
        self._layer = None

    # -- building --------------------------------------------------------------------------
    @classmethod
    def build(cls, texts, level="word", max_tokens=20_000, min_count=1, max_length=None, lowercase=True,
              strip_punctuation=None, reserved=()):
        """The vocabulary of ``texts`` (the training split): its most frequent tokens, at most
        ``max_tokens`` ids in all (padding and ``[UNK]`` included), each seen ``min_count``
        times or more (``TextVectorization.adapt`` counts them). ``max_length`` defaults to
        the longest training text. ``reserved``: tokens given the ids right after ``[UNK]``
        whether or not the texts have them (a decoder's start and end markers: 2 and 3)."""
        texts = _as_texts(texts, "Vocabulary.build")
        reserved = [str(t) for t in reserved]
        clash = [t for t in reserved if t in (PADDING, UNKNOWN)]
        if clash or len(set(reserved)) != len(reserved):
            raise ValueError(f"Vocabulary.build: reserved tokens must be unique and not '' or '[UNK]', got {reserved}.")
        probe = cls([PADDING, UNKNOWN], level, 1, lowercase, strip_punctuation)
        layer = probe._make_layer(max_tokens=max_tokens)
        layer.adapt(texts, batch_size=1024)
        tokens = layer.get_vocabulary(include_special_tokens=True)
        import tensorflow as tf

        # One pass over the texts gives both the lengths (unknown words count as tokens) and,
        # for min_count, each id's count.
        ids = probe._make_layer(vocabulary=tokens[2:])(tf.constant(texts))
        if min_count > 1:
            counts = np.bincount(ids.flat_values.numpy(), minlength=len(tokens))
            tokens = tokens[:2] + [t for i, t in enumerate(tokens) if i >= 2 and counts[i] >= min_count]
        longest = int(max(ids.row_lengths().numpy(), default=1))
        if reserved:
            tokens = tokens[:2] + reserved + [t for t in tokens[2:] if t not in reserved]
        return cls(tokens, level, max_length or max(1, longest), lowercase, strip_punctuation)

    def id(self, token):
        """The id of ``token`` (a KeyError that says so when the vocabulary lacks it)."""
        if not hasattr(self, "_ids"):
            self._ids = {t: i for i, t in enumerate(self.tokens)}
        if token not in self._ids:
            raise KeyError(f"{token!r} is not in this vocabulary ({self.size} tokens).")
        return self._ids[token]

    @property
    def size(self):
        return len(self.tokens)

    @property
    def _standardize(self):
        if self.lowercase and self.strip_punctuation:
            return "lower_and_strip_punctuation"
        if self.strip_punctuation:
            return "strip_punctuation"
        return "lower" if self.lowercase else None

    def _make_layer(self, vocabulary=None, max_tokens=None):
        import keras

        return keras.layers.TextVectorization(
            max_tokens=max_tokens, standardize=self._standardize, split=LEVELS[self.level], vocabulary=vocabulary,
            ragged=True, name="text_vectorization")

    def layer(self):
        """The Keras ``TextVectorization`` layer of this vocabulary: strings -> ragged int64
        ids (a TensorFlow graph, which a SavedModel's string signature contains)."""
        if self._layer is None:
            self._layer = self._make_layer(vocabulary=self.tokens[2:])
            # A SavedModel tracks only built layers; with its vocabulary given it needs no data.
            self._layer.build(None)
        return self._layer

    # -- using -----------------------------------------------------------------------------
    def encode(self, texts, too_long="error"):
        """Texts -> int32 ids (n, max_length), padded with 0 at the end.

        ``too_long``: "error" (a ValueError that names the first text over ``max_length``
        tokens and its length) or "truncate" (keep the first ``max_length``). An empty text
        (nothing left after standardization) is always an error: a model cannot classify it.
        """
        if too_long not in ("error", "truncate"):
            raise ValueError(f"too_long must be 'error' or 'truncate', got {too_long!r}.")
        texts = _as_texts(texts, "Vocabulary.encode")
        import tensorflow as tf

        ragged = self.layer()(tf.constant(texts))
        lengths = ragged.row_lengths().numpy()
        empty = np.flatnonzero(lengths == 0)
        if empty.size:
            raise ValueError(f"text {int(empty[0])} ({texts[empty[0]]!r}) has no {self.level} tokens after "
                             "standardization; a model needs at least one. Drop empty texts before encoding.")
        long = np.flatnonzero(lengths > self.max_length)
        if long.size and too_long == "error":
            i = int(long[0])
            raise ValueError(f"text {i} has {int(lengths[i])} {self.level} tokens, more than max_length="
                             f"{self.max_length} ({long.size} such text(s)); pass too_long='truncate' to keep the "
                             "first max_length tokens, or build the vocabulary and model with a larger max_length.")
        dense = ragged[:, :self.max_length].to_tensor(0, shape=(len(texts), self.max_length))
        return dense.numpy().astype("int32")

    def decode(self, ids, separator=None, stop_at=None):
        """Ids -> texts (padding dropped); words joined by spaces, characters by nothing.
        ``stop_at``: an id (a decoder's end marker) that ends each row, itself not included."""
        separator = (" " if self.level == "word" else "") if separator is None else separator
        ids = np.asarray(ids)
        bad = ids[(ids < 0) | (ids >= self.size)]
        if bad.size:
            raise ValueError(f"token id {int(bad[0])} is outside this vocabulary's [0, {self.size}).")
        texts = []
        for row in np.atleast_2d(ids):
            if stop_at is not None and (row == stop_at).any():
                row = row[:int(np.argmax(row == stop_at))]
            texts.append(separator.join(self.tokens[i] for i in row if i != 0))
        return texts

    def unknown_rate(self, texts):
        """The fraction of tokens in ``texts`` that map to ``[UNK]``."""
        import tensorflow as tf

        ids = self.layer()(tf.constant(_as_texts(texts, "unknown_rate"))).flat_values.numpy()
        return float(np.mean(ids == 1)) if ids.size else 0.0

    # -- files -----------------------------------------------------------------------------
    def to_json(self):
        return {"level": self.level, "max_length": self.max_length, "lowercase": self.lowercase,
                "strip_punctuation": self.strip_punctuation, "tokens": self.tokens}

    @classmethod
    def from_json(cls, data):
        return cls(data["tokens"], data["level"], data["max_length"], data["lowercase"], data["strip_punctuation"])

    def save(self, path):
        """Write ``path`` (a file, or a directory: ``<dir>/vocabulary.json``) atomically."""
        if os.path.isdir(path):
            path = os.path.join(path, VOCABULARY_FILE)
        with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
            json.dump(self.to_json(), f, ensure_ascii=False)
        return path

    @classmethod
    def load(cls, path):
        if os.path.isdir(path):
            path = os.path.join(path, VOCABULARY_FILE)
        if not os.path.exists(path):
            raise FileNotFoundError(f"no vocabulary at {path}; a text model's run folder keeps its "
                                    f"{VOCABULARY_FILE} beside the checkpoint.")
        with open(path, encoding="utf-8") as f:
            return cls.from_json(json.load(f))

    def __repr__(self):
        return f"Vocabulary(level={self.level!r}, size={self.size}, max_length={self.max_length})"


def _as_texts(texts, what):
    if isinstance(texts, str):
        texts = [texts]
    texts = list(texts)
    bad = [t for t in texts if not isinstance(t, str)]
    if bad:
        raise TypeError(f"{what}: texts must be strings, got {type(bad[0]).__name__} ({bad[0]!r}).")
    return texts
