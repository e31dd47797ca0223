"""Vocabularies for the text and sequence models, built from a training split only.

Words and characters: Keras's ``TextVectorization``. The same lookup runs in the ``tf.data``
pipeline that feeds training and inside an exported SavedModel's string signature, so what a
served model does with a raw string is what training did, by construction. Subwords
(:class:`SubwordVocabulary`, WordPiece): Hugging Face ``tokenizers``, which learns and applies
the pieces in Python; a model trained on them serves token ids (a second, TensorFlow-graph
copy of its rules would be needed for strings). A vocabulary is saved as JSON beside the
model (``vocabulary.json``), so a checkpoint is usable on its own.

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

__all__ = ["SubwordVocabulary", "Vocabulary", "VOCABULARY_FILE"]

VOCABULARY_FILE = "vocabulary.json"
LEVELS = {"word": "whitespace", "char": "character"}
PADDING, UNKNOWN = "", "[UNK]"


class Vocabulary:
    """A token vocabulary: ``level`` "word" (lower-cased, punctuation stripped, split on
    whitespace) or "char" (lower-cased characters, spaces kept), ``tokens`` in id order (id 0
    padding, id 1 ``[UNK]``), and the ``max_length`` the model takes."""

    def __init__(self, tokens, level="word", max_length=64, lowercase=True, strip_punctuation=None):
        if level not in self._levels:
            raise ValueError(f"Vocabulary: level must be one of {sorted(LEVELS)} (or build level='subword'), got "
                             f"{level!r}.")
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
    # Whether a SavedModel can hold this tokenizer (a string signature).
    in_graph = True
    _levels = tuple(LEVELS)

    @classmethod
    def build(cls, texts, level="word", max_tokens=20_000, min_count=1, max_length=None, lowercase=True,
              strip_punctuation=None, reserved=()):
        """The vocabulary of ``texts`` (the training split): its most frequent tokens, at most
        ``max_tokens`` ids in all (padding and ``[UNK]`` included), each seen ``min_count``
        times or more (``TextVectorization.adapt`` counts them). ``max_length`` defaults to
        the longest training text. ``reserved``: tokens given the ids right after ``[UNK]``
        whether or not the texts have them (a decoder's start and end markers: 2 and 3).
        ``level="subword"`` gives a :class:`SubwordVocabulary` (WordPiece)."""
        if level == "subword":
            return SubwordVocabulary.build(texts, max_tokens=max_tokens, min_count=min_count, max_length=max_length,
                                           lowercase=lowercase, strip_punctuation=strip_punctuation, reserved=reserved)
        texts = _as_texts(texts, "Vocabulary.build")
        reserved = _reserved(reserved)
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
        _check_lengths(texts, ragged.row_lengths().numpy(), self.max_length, self.level, too_long)
        dense = ragged[:, :self.max_length].to_tensor(0, shape=(len(texts), self.max_length))
        return dense.numpy().astype("int32")

    def decode(self, ids, separator=None, stop_at=None):
        """Ids -> texts (padding dropped); words joined by spaces, characters by nothing
        (subwords: ``##`` pieces onto the one before). ``stop_at``: an id (a decoder's end
        marker) that ends each row, itself not included."""
        ids = np.asarray(ids)
        bad = ids[(ids < 0) | (ids >= self.size)]
        if bad.size:
            raise ValueError(f"token id {int(bad[0])} is outside this vocabulary's [0, {self.size}).")
        texts = []
        for row in np.atleast_2d(ids):
            if stop_at is not None and (row == stop_at).any():
                row = row[:int(np.argmax(row == stop_at))]
            texts.append(self._join([int(i) for i in row if i != 0], separator))
        return texts

    def _join(self, ids, separator):
        separator = (" " if self.level == "word" else "") if separator is None else separator
        return separator.join(self.tokens[i] for i in ids)

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
        if data.get("level") == "subword":
            return SubwordVocabulary.from_json(data)
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


class SubwordVocabulary(Vocabulary):
    """A WordPiece vocabulary (Schuster & Nakajima 2012; BERT's): whole words where the training
    split has them often, pieces (``##``-prefixed after a word's first) otherwise, so a word
    the training split never had is spelled from pieces instead of becoming ``[UNK]``.

    Learned and applied by Hugging Face ``tokenizers`` (its WordPiece trainer and model: the
    well-kept implementation, Rust, the one BERT checkpoints ship with). It tokenizes in
    Python, so a SavedModel cannot hold it: a model trained on it exports with the token-id
    signature only (the string signature needs a "word" or "char" :class:`Vocabulary`, whose
    ``TextVectorization`` is a TensorFlow graph). Same ids, errors and files as a
    :class:`Vocabulary`: 0 padding, 1 ``[UNK]``, then ``reserved``.
    """

    in_graph = False
    _levels = ("subword",)

    def __init__(self, tokenizer_json, max_length=64, lowercase=True, strip_punctuation=False):
        self._tokenizer = _tokenizers().Tokenizer.from_str(tokenizer_json)
        vocab = self._tokenizer.get_vocab()
        tokens = [t for t, _ in sorted(vocab.items(), key=lambda item: item[1])]
        if tokens[:2] != [_PAD_PIECE, UNKNOWN] or sorted(vocab.values()) != list(range(len(tokens))):
            raise ValueError("SubwordVocabulary: the tokenizer must have ids 0..n-1 with '[PAD]' and '[UNK]' first.")
        super().__init__([PADDING, *tokens[1:]], "subword", max_length, lowercase, bool(strip_punctuation))
        self._json = tokenizer_json

    @classmethod
    def build(cls, texts, max_tokens=8_000, min_count=1, max_length=None, lowercase=True, strip_punctuation=None,
              reserved=()):
        """The WordPiece vocabulary of ``texts`` (the training split): at most ``max_tokens``
        ids, pieces seen ``min_count`` times or more. ``max_length`` defaults to the longest
        training text in pieces."""
        hf = _tokenizers()
        Regex, Tokenizer, decoders, models = hf.Regex, hf.Tokenizer, hf.decoders, hf.models
        normalizers, pre_tokenizers, trainers = hf.normalizers, hf.pre_tokenizers, hf.trainers
        texts = _as_texts(texts, "SubwordVocabulary.build")
        reserved = _reserved(reserved)
        strip = bool(strip_punctuation)
        tokenizer = Tokenizer(models.WordPiece(unk_token=UNKNOWN))
        steps = [normalizers.NFKC()] + ([normalizers.Lowercase()] if lowercase else [])
        if strip:
            steps.append(normalizers.Replace(Regex(r"[^\w\s]"), ""))
        tokenizer.normalizer = normalizers.Sequence(steps)
        tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()  # whitespace, punctuation its own word
        tokenizer.decoder = decoders.WordPiece()
        trainer = trainers.WordPieceTrainer(vocab_size=max_tokens, min_frequency=min_count,
                                            special_tokens=[_PAD_PIECE, UNKNOWN, *reserved], show_progress=False)
        tokenizer.train_from_iterator(texts, trainer=trainer)
        longest = max((len(e.ids) for e in tokenizer.encode_batch(texts)), default=1)
        return cls(tokenizer.to_str(), max_length or max(1, longest), lowercase, strip)

    def _pieces(self, texts):
        return [e.ids for e in self._tokenizer.encode_batch(texts, add_special_tokens=False)]

    def layer(self):
        raise ValueError("a subword vocabulary tokenizes with Hugging Face tokenizers, in Python, which a SavedModel "
                         "cannot hold: export the token-id signature (export_saved_model without vocabulary=), or "
                         "train with a 'word' or 'char' Vocabulary for a string signature.")

    def encode(self, texts, too_long="error"):
        if too_long not in ("error", "truncate"):
            raise ValueError(f"too_long must be 'error' or 'truncate', got {too_long!r}.")
        texts = _as_texts(texts, "SubwordVocabulary.encode")
        pieces = self._pieces(texts)
        _check_lengths(texts, [len(p) for p in pieces], self.max_length, "subword", too_long)
        out = np.zeros((len(texts), self.max_length), dtype="int32")
        for row, ids in zip(out, pieces):
            row[:min(len(ids), self.max_length)] = ids[:self.max_length]
        return out

    def _join(self, ids, separator):
        return self._tokenizer.decode(ids, skip_special_tokens=False)

    def unknown_rate(self, texts):
        flat = [i for ids in self._pieces(_as_texts(texts, "unknown_rate")) for i in ids]
        return float(np.mean(np.asarray(flat) == 1)) if flat else 0.0

    def to_json(self):
        return {"level": "subword", "max_length": self.max_length, "lowercase": self.lowercase,
                "strip_punctuation": self.strip_punctuation, "tokenizer": self._json}

    @classmethod
    def from_json(cls, data):
        return cls(data["tokenizer"], data["max_length"], data["lowercase"], data["strip_punctuation"])

    def __repr__(self):
        return f"SubwordVocabulary(size={self.size}, max_length={self.max_length})"


def _tokenizers():
    try:
        import tokenizers
    except ImportError:
        raise ImportError("subword vocabularies need Hugging Face tokenizers: pip install tokenizers (or "
                          "pip install 'kerasarch[data]').") from None
    return tokenizers


# tokenizers' name for id 0 (a Vocabulary's padding token is the empty string, which it cannot hold).
_PAD_PIECE = "[PAD]"


def _reserved(reserved):
    reserved = [str(t) for t in reserved]
    clash = [t for t in reserved if t in (PADDING, UNKNOWN, _PAD_PIECE)]
    if clash or len(set(reserved)) != len(reserved):
        raise ValueError(f"Vocabulary.build: reserved tokens must be unique and not '', '[PAD]' or '[UNK]', "
                         f"got {reserved}.")
    return reserved


def _check_lengths(texts, lengths, max_length, level, too_long):
    """The errors of encode: an empty text always, one over max_length unless truncating."""
    lengths = np.asarray(lengths)
    empty = np.flatnonzero(lengths == 0)
    if empty.size:
        raise ValueError(f"text {int(empty[0])} ({texts[empty[0]]!r}) has no {level} tokens after "
                         "standardization; a model needs at least one. Drop empty texts before encoding.")
    long = np.flatnonzero(lengths > max_length)
    if long.size and too_long == "error":
        i = int(long[0])
        raise ValueError(f"text {i} has {int(lengths[i])} {level} tokens, more than max_length="
                         f"{max_length} ({long.size} such text(s)); pass too_long='truncate' to keep the "
                         "first max_length tokens, or build the vocabulary and model with a larger max_length.")


def _as_texts(texts, what):
    if isinstance(texts, str):
        texts = [texts]
    texts = list(texts)
    bad = [t for t in texts if not isinstance(t, str)]
    if bad:
        raise TypeError(f"{what}: texts must be strings, got {type(bad[0]).__name__} ({bad[0]!r}).")
    return texts
