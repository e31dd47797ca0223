"""SavedModel export of a sequence-to-sequence model: the decoding loop inside the graph.

A client sends raw strings and gets strings back (G2P: a word in, its phonemes out). The
folder layout and the promises are :mod:`kerasarch.export.saved_model`'s (``base/<name>/<version>/``,
written beside the target, loaded back, compared, renamed into place only then). Signatures:

* ``serving_default``: input ``text``, tf.string (batch,) -> ``output_text`` (tf.string: the
  target tokens joined by spaces, or by nothing for a character vocabulary), ``tokens``
  (int32 (batch, max_length): the end id, then padding, closes each), ``scores`` (the
  hypothesis' log-probability), ``lengths``, and per input ``num_tokens``, ``num_unknown``
  and ``truncated`` (a graph cannot refuse a request: an empty or too long text comes back
  flagged, check them);
* ``serving_tokens``: input ``source``, int32 (batch, length) ids -> ``tokens``, ``scores``,
  ``lengths``.

Search (greedy or ``beam_width``), ``max_length`` and the length penalty are fixed at export:
:class:`kerasarch.decoding.Seq2SeqSearch`. Both vocabularies go to ``assets.extra``.
"""

import os

import numpy as np

from kerasarch._atomic import atomic_path
from kerasarch.export._files import human_size, write_json
from kerasarch.export._quiet import quiet
from kerasarch.export.serving import ExportError

__all__ = ["export_seq2seq_saved_model"]

SOURCE_VOCABULARY = os.path.join("assets.extra", "source_vocabulary.json")
TARGET_VOCABULARY = os.path.join("assets.extra", "target_vocabulary.json")


class _Outputs:
    """What :class:`~kerasarch.export.ExportedPath` reports of the string signature."""

    input_name, input_dtype = "text", "string"
    output_names = ("output_text", "tokens", "scores", "lengths", "num_tokens", "num_unknown", "truncated")


def _check_vocabularies(model, spec, source, target):
    from kerasarch.text import Vocabulary

    for what, vocab, size in (("source", source, spec.vocab_size), ("target", target, spec.target_vocab_size)):
        if not isinstance(vocab, Vocabulary):
            raise TypeError(f"{what}_vocabulary must be a kerasarch.text.Vocabulary, got {type(vocab).__name__}.")
        if not vocab.in_graph:
            vocab.layer()  # the error that says why a subword vocabulary cannot be in the graph, and what can
        if vocab.size > size:
            raise ValueError(f"the {what} vocabulary has {vocab.size} ids but {model.name} embeds {size}; export with "
                             "the vocabularies the model was trained with.")
    if spec.padding_id != 0:
        raise ValueError(f"{model.name} pads with id {spec.padding_id}; a Vocabulary pads with 0.")
    for marker in ("start_id", "end_id"):
        if getattr(spec, marker) >= target.size:
            raise ValueError(f"{model.name}'s {marker}={getattr(spec, marker)} is not an id of the target vocabulary "
                             f"({target.size} tokens); build its vocabulary with reserved=(start, end) markers.")


class Seq2SeqServing:
    """The two signatures as TensorFlow functions over a :class:`~kerasarch.decoding.Seq2SeqSearch`."""

    def __init__(self, search, source, target):
        self.search, self.source, self.target = search, source, target
        self.length = min(source.max_length, search.spec.max_length)
        self.separator = " " if target.level == "word" else ""
        self.layer = source.layer()

    def signatures(self):
        import tensorflow as tf

        return {"serving_default": [tf.TensorSpec((None,), tf.string, name="text")],
                "serving_tokens": [tf.TensorSpec((None, None), tf.int32, name="source")]}

    def tokens(self, source):
        import tensorflow as tf

        out = self.search(tf.cast(source, tf.int32))
        return {k: tf.convert_to_tensor(v) for k, v in out.items()}

    def text(self, text):
        import tensorflow as tf

        ragged = self.layer(text)
        count = tf.cast(ragged.row_lengths(), tf.int32)
        ids = tf.cast(ragged[:, :self.length].to_tensor(0, shape=[None, self.length]), tf.int32)
        outs = self.tokens(ids)
        spec = self.search.spec
        words = tf.gather(tf.constant(self.target.tokens), outs["tokens"])
        keep = tf.logical_and(tf.not_equal(outs["tokens"], spec.padding_id), tf.not_equal(outs["tokens"], spec.end_id))
        outs["output_text"] = tf.strings.reduce_join(tf.ragged.boolean_mask(words, keep), axis=1,
                                                     separator=self.separator)
        outs.update(num_tokens=count, truncated=count > self.length,
                    num_unknown=tf.reduce_sum(tf.cast(tf.equal(ragged, 1), tf.int32), axis=1))
        return outs


def export_seq2seq_saved_model(model, base_dir, source_vocabulary, target_vocabulary, *, beam_width=1,
                               max_length=None, length_penalty=0.0, version=None, overwrite=False, check_texts=None,
                               models_config=True, verbose=False, quiet_summary=False):
    """Write a sequence-to-sequence ``model`` with its decoding loop and vocabularies to
    ``base_dir/<model.name>/<version>/`` (module docstring); return the path.

    ``check_texts``: inputs the reloaded string signature must answer exactly as
    :func:`kerasarch.decoding.generate` does in Keras (default: 8 source-vocabulary words);
    a difference raises :class:`~kerasarch.export.ExportError` and writes nothing.
    """
    import keras

    from kerasarch.decoding import Seq2SeqSearch, _check_seq2seq, generate
    from kerasarch.export.saved_model import next_version, serving_instructions, write_models_config
    from kerasarch.export.serving import ExportedPath

    if keras.backend.backend() != "tensorflow":
        raise ValueError("SavedModel export runs on the TensorFlow backend; set KERAS_BACKEND=tensorflow "
                         f"(this process runs {keras.backend.backend()}).")
    spec = _check_seq2seq(model, "export_seq2seq_saved_model").input
    _check_vocabularies(model, spec, source_vocabulary, target_vocabulary)
    search = Seq2SeqSearch(model, beam_width, max_length, length_penalty)  # checks the search settings
    base_dir = os.path.abspath(os.fspath(base_dir))
    if os.path.isfile(base_dir):
        raise ValueError(f"{base_dir!r} is a file; the export needs a folder (it is created if missing).")
    model_dir = os.path.join(base_dir, model.name)
    version = next_version(model_dir) if version is None else version
    if not isinstance(version, (int, np.integer)) or isinstance(version, bool) or version < 1:
        raise ValueError(f"version must be a positive integer (TF Serving's numbered folders), got {version!r}.")
    target = os.path.join(model_dir, str(int(version)))
    if os.path.exists(target) and not overwrite:
        raise ValueError(f"{target} already exists; pass version={next_version(model_dir)} or overwrite=True.")
    texts = list(check_texts) if check_texts is not None else [
        t for t in source_vocabulary.tokens[2:] if t.strip()][:8] or ["a"]
    ids = source_vocabulary.encode(texts, too_long="truncate")
    serving = Seq2SeqServing(search, source_vocabulary, target_vocabulary)
    ids = ids[:, :serving.length]
    expected, expected_scores, _ = generate(model, ids, beam_width=beam_width, max_length=max_length,
                                            length_penalty=length_penalty, return_scores=True)
    expected_text = target_vocabulary.decode(expected, stop_at=spec.end_id)

    with atomic_path(target, is_dir=True, overwrite=True) as tmp:
        with quiet(verbose):
            archive = keras.export.ExportArchive()
            archive.track(model)
            archive.track(serving.layer)
            signatures = serving.signatures()
            archive.add_endpoint("serving_default", serving.text, input_signature=signatures["serving_default"])
            archive.add_endpoint("serving_tokens", serving.tokens, input_signature=signatures["serving_tokens"])
            os.makedirs(tmp, exist_ok=True)
            archive.write_out(tmp, verbose=verbose)
            os.makedirs(os.path.join(tmp, "assets.extra"), exist_ok=True)
            source_vocabulary.save(os.path.join(tmp, SOURCE_VOCABULARY))
            target_vocabulary.save(os.path.join(tmp, TARGET_VOCABULARY))
            write_json(os.path.join(tmp, "assets.extra", "kerasarch.json"), {
                "input_kind": spec.kind, "contract": model.contract.to_json(), "model": model.name,
                "search": {"beam_width": int(beam_width), "max_length": search.max_length,
                           "length_penalty": float(length_penalty)},
                "text_input": {"name": "text", "signature": "serving_default", "length": int(serving.length),
                               "source_vocabulary": SOURCE_VOCABULARY, "target_vocabulary": TARGET_VOCABULARY,
                               "tokens_signature": "serving_tokens"}})
            report = _parity(tmp, texts, ids, expected, expected_scores, expected_text, model.name)
    if models_config:
        write_models_config(base_dir)
    if not quiet_summary:
        print(f"SavedModel {target} ({human_size(target)}): serving_default(text: string (batch,)) -> output_text, "
              f"tokens, scores; {'greedy' if beam_width == 1 else f'beam {beam_width}'} search in the graph; "
              f"{report['checked_texts']} texts decoded as in Keras (max score diff {report['max_diff']:.1e})")
        print(serving_instructions(target, "text"))
    return ExportedPath(target, report, _Outputs)


def _parity(path, texts, ids, expected, expected_scores, expected_text, name):
    import tensorflow as tf

    loaded = tf.saved_model.load(path)
    by_ids = loaded.signatures["serving_tokens"](source=tf.constant(ids))
    by_text = loaded.signatures["serving_default"](text=tf.constant(texts))
    got_text = [t.decode("utf-8") for t in by_text["output_text"].numpy()]
    same_tokens = np.array_equal(by_ids["tokens"].numpy(), expected) and np.array_equal(by_text["tokens"].numpy(),
                                                                                        expected)
    diff = float(np.max(np.abs(by_ids["scores"].numpy() - expected_scores)))
    if not same_tokens or got_text != expected_text or diff > 1e-3:
        wrong = [i for i, (g, e) in enumerate(zip(got_text, expected_text)) if g != e]
        detail = f"text {wrong[0]}: {got_text[wrong[0]]!r} vs {expected_text[wrong[0]]!r}" if wrong else \
            f"score diff {diff:.3g}"
        raise ExportError(f"the SavedModel of {name} decodes differently from Keras ({detail}); nothing was written.")
    return {"max_diff": diff, "checked_texts": len(texts), "checked_inputs": len(texts)}
