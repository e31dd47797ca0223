"""Decoding a sequence-to-sequence model: greedy and beam search in one compiled loop.

:func:`generate` turns source ids into target ids with a trained
:mod:`~kerasarch.models.seq2seq` model. The loop is a :class:`Seq2SeqSearch`, a Keras model
whose ``call`` runs the encoder once and then ``keras.ops.while_loop`` over the target steps
(one :meth:`~kerasarch.layers.AttentionDecoder.step` each), so ``predict`` compiles the
whole search (XLA on TensorFlow, ``jax.jit`` on JAX; eager on torch, whose compiler takes
minutes per shape on a CPU). Every hypothesis stops at the end token (what follows it is
padding); the loop stops when all have, or after ``max_length`` tokens.

Beam search keeps the ``beam_width`` best partial targets of each source by total
log-probability; a finished one stays in the beam with its score (it can only be extended by
padding, at no cost). The winner is the best by ``score / ((5 + length) / 6) ** alpha``
(Wu et al. 2016's length penalty; ``length_penalty=0``, the default, compares total
log-probabilities). ``beam_width=1`` is greedy search.

Why not KerasHub's samplers: they decode a decoder-only model's fixed prompt buffer, and the
package requires ``tensorflow-text`` (which pins TensorFlow) and Kaggle's clients; this loop
carries what a sequence-to-sequence decoder needs (the encoder's memory and its mask, the
recurrent states) in about a hundred lines.
"""

import weakref

import keras
import numpy as np
from keras import ops

__all__ = ["Seq2SeqSearch", "generate", "attention_weights", "decoding_inputs", "teacher_forcing", "error_rates"]

NEG = -1e9  # a finite "impossible" score: -inf would turn into NaN in 0 * -inf


def _check_seq2seq(model, what):
    from kerasarch.contract import contract_of

    contract = contract_of(model)
    if contract.input.kind != "token_pair" or contract.output.kind != "sequence_logits":
        raise ValueError(f"{what}: {model.name} takes {contract.describe()}; decoding needs a sequence-to-sequence "
                         "model with its next-token head (kerasarch.create_model('seq2seq_lstm_attention', ...), "
                         "include_top=True).")
    return contract


class Seq2SeqSearch(keras.Model):
    """Source ids (batch, length) -> ``{"tokens": (batch, max_length) int32, "scores":
    (batch,), "lengths": (batch,) int32}``: the best target of each source (end token
    included, padding after it), its log-probability, and its length in tokens.

    Args:
        model: a trained sequence-to-sequence model (its layers are shared, not copied).
        beam_width: hypotheses kept per source; 1 is greedy search.
        max_length: the most target tokens (default the model's ``max_target_length``).
        length_penalty: ``alpha`` of the length normalisation that picks the winner.
    """

    def __init__(self, model, beam_width=1, max_length=None, length_penalty=0.0, **kwargs):
        super().__init__(name=kwargs.pop("name", f"{model.name}_search"), **kwargs)
        contract = _check_seq2seq(model, "Seq2SeqSearch")
        spec = contract.input
        if not isinstance(beam_width, (int, np.integer)) or isinstance(beam_width, bool) or beam_width < 1:
            raise ValueError(f"beam_width must be a positive integer (1: greedy search), got {beam_width!r}.")
        if beam_width > spec.target_vocab_size:
            raise ValueError(f"beam_width={beam_width} exceeds the target vocabulary ({spec.target_vocab_size} ids).")
        max_length = spec.max_target_length if max_length is None else max_length
        if not isinstance(max_length, (int, np.integer)) or isinstance(max_length, bool) or max_length < 1:
            raise ValueError(f"max_length must be a positive integer (target tokens), got {max_length!r}.")
        if not isinstance(length_penalty, (int, float)) or isinstance(length_penalty, bool) or length_penalty < 0:
            raise ValueError(f"length_penalty must be a number >= 0 (Wu et al.'s alpha; 0: none), got {length_penalty!r}.")
        self.spec = spec
        self.beam_width = int(beam_width)
        self.max_length = int(max_length)
        self.length_penalty = float(length_penalty)
        levels = model.arch.get("encoder_levels")
        self.encoder = keras.Model(model.get_layer(spec.input_name).output,
                                   [model.get_layer(f"encoder{levels}").output,
                                    model.get_layer("encoder_summary").output,
                                    model.get_layer("source_mask").output], name="encoder")
        self.embed = model.get_layer("target_embed")
        self.decoder = model.get_layer("decoder")
        self.logits = model.get_layer("logits")

    def _step(self, tokens, states, memory, projected, mask):
        out, states, _ = self.decoder.step(self.embed(tokens), states, memory, mask, projected)
        logits = ops.cast(self.logits(out), "float32")
        return ops.log_softmax(logits, axis=-1), states

    def call(self, source):
        spec, beam, steps = self.spec, self.beam_width, self.max_length
        source = ops.cast(source, "int32")
        memory, summary, mask = self.encoder(source)
        batch = ops.shape(source)[0]
        if beam > 1:
            memory, summary, mask = (ops.repeat(t, beam, axis=0) for t in (memory, summary, mask))
        states = self.decoder.initial_states(summary)
        shape = [len(s) for s in states]
        flat_states = [s for level in states for s in level]
        projected = self.decoder.attention.project_memory(memory)
        rows = batch * beam
        vocab = spec.target_vocab_size
        tokens = ops.full((rows, steps), spec.padding_id, dtype="int32")
        previous = ops.full((rows,), spec.start_id, dtype="int32")
        finished = ops.zeros((rows,), dtype="bool")
        lengths = ops.zeros((rows,), dtype="int32")
        # Only the first of a source's beams is live at the start: the others would repeat it.
        first = ops.tile(ops.convert_to_tensor([0.0] + [NEG] * (beam - 1), dtype="float32"), (batch,))
        scores = first if beam > 1 else ops.zeros((rows,), dtype="float32")
        padding_only = ops.where(ops.arange(vocab) == spec.padding_id, 0.0, NEG)
        # Padding and the start marker are never a target token (the labels hold neither), so
        # a live hypothesis may not pick them, however an untrained model scores them.
        banned = ops.where(ops.logical_or(ops.arange(vocab) == spec.padding_id, ops.arange(vocab) == spec.start_id),
                           NEG, 0.0)

        def regroup(flat):
            it = iter(flat)
            return [[next(it) for _ in range(n)] for n in shape]

        def cond(i, tokens, previous, finished, lengths, scores, *flat):
            return ops.logical_and(i < steps, ops.logical_not(ops.all(finished)))

        def body(i, tokens, previous, finished, lengths, scores, *flat):
            logp, new_states = self._step(previous, regroup(flat), memory, projected, mask)
            flat = [s for level in new_states for s in level]
            allowed = logp + ops.expand_dims(banned, 0)
            if beam == 1:
                chosen = ops.cast(ops.argmax(allowed, axis=-1), "int32")
                gain = ops.max(allowed, axis=-1)
                chosen = ops.cast(ops.where(finished, spec.padding_id, chosen), "int32")
                scores = scores + ops.where(finished, 0.0, gain)
            else:
                # A finished hypothesis continues with padding at no cost and nothing else.
                logp = ops.where(ops.expand_dims(finished, 1), ops.expand_dims(padding_only, 0), allowed)
                total = ops.reshape(ops.expand_dims(scores, 1) + logp, (batch, beam * vocab))
                top, index = ops.top_k(total, beam)
                index = ops.cast(index, "int32")
                offsets = ops.expand_dims(ops.arange(batch, dtype="int32") * beam, 1)
                parent = ops.reshape(index // vocab + offsets, (-1,))
                chosen = ops.cast(ops.reshape(index % vocab, (-1,)), "int32")
                scores = ops.reshape(top, (-1,))
                tokens, finished, lengths = (ops.take(t, parent, axis=0) for t in (tokens, finished, lengths))
                flat = [ops.take(s, parent, axis=0) for s in flat]
            tokens = ops.slice_update(tokens, (0, i), ops.expand_dims(chosen, 1))
            lengths = lengths + ops.cast(ops.logical_not(finished), "int32")
            finished = ops.logical_or(finished, chosen == spec.end_id)
            return (i + 1, tokens, chosen, finished, lengths, scores, *flat)

        loop = ops.while_loop(cond, body, (ops.convert_to_tensor(0, "int32"), tokens, previous, finished, lengths,
                                           scores, *flat_states))
        tokens, lengths, scores = loop[1], loop[4], loop[5]
        if beam > 1:
            ranked = scores
            if self.length_penalty:
                ranked = scores / ops.power((5.0 + ops.cast(lengths, "float32")) / 6.0, self.length_penalty)
            best = ops.argmax(ops.reshape(ranked, (batch, beam)), axis=-1)
            pick = ops.cast(best, "int32") + ops.arange(batch, dtype="int32") * beam
            tokens, lengths, scores = (ops.take(t, pick, axis=0) for t in (tokens, lengths, scores))
        return {"tokens": tokens, "scores": scores, "lengths": lengths}

    def compute_output_spec(self, source):
        batch = source.shape[0]
        return {"tokens": keras.KerasTensor((batch, self.max_length), "int32"),
                "scores": keras.KerasTensor((batch,), "float32"),
                "lengths": keras.KerasTensor((batch,), "int32")}


# One compiled search per model and settings: predict() keeps its compiled function.
_SEARCHES = weakref.WeakKeyDictionary()


def _search(model, beam_width, max_length, length_penalty):
    key = (beam_width, max_length, length_penalty)
    cache = _SEARCHES.setdefault(model, {})
    if key not in cache:
        search = Seq2SeqSearch(model, beam_width, max_length, length_penalty)
        search.compile(jit_compile=keras.backend.backend() != "torch")
        cache[key] = search
    return cache[key]


def decoding_inputs(model, source):
    """``source`` as int32 ids the model takes, or a ValueError that says what is wrong."""
    spec = _check_seq2seq(model, "generate").input
    ids = np.asarray(source)
    if ids.ndim == 1:
        ids = ids[None]
    if ids.ndim != 2 or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"source must be integer token ids (batch, length), got {ids.dtype} {ids.shape}.")
    if ids.shape[1] > spec.max_length:
        raise ValueError(f"source has {ids.shape[1]} tokens; {model.name} takes at most {spec.max_length}.")
    bad = ids[(ids < 0) | (ids >= spec.vocab_size)]
    if bad.size:
        raise ValueError(f"source id {int(bad[0])} is outside the source vocabulary [0, {spec.vocab_size}).")
    empty = np.flatnonzero((ids != spec.padding_id).sum(axis=1) == 0)
    if empty.size:
        raise ValueError(f"source row {int(empty[0])} is all padding; there is nothing to decode.")
    return ids.astype("int32")


def generate(model, source, *, beam_width=1, max_length=None, length_penalty=0.0, batch_size=256,
             return_scores=False):
    """Decode ``source`` ids (batch, length) with ``model``: the target ids (batch,
    max_length), each ending with the end token (unless cut at ``max_length``) and padded
    after it; with ``return_scores`` also ``(scores, lengths)``. See :class:`Seq2SeqSearch`."""
    ids = decoding_inputs(model, source)
    search = _search(model, beam_width, max_length, length_penalty)
    out = search.predict(ids, batch_size=batch_size, verbose=0)
    tokens = np.asarray(out["tokens"]).astype("int32")
    if return_scores:
        return tokens, np.asarray(out["scores"]), np.asarray(out["lengths"]).astype("int32")
    return tokens


def attention_weights(model, source, target):
    """The decoder's attention weights (batch, target steps, source steps) under teacher
    forcing on ``target`` (the start token and the tokens so far): what an alignment plot shows."""
    spec = _check_seq2seq(model, "attention_weights").input
    probe = keras.Model(model.input, model.get_layer("decoder").output[1])
    weights = probe({spec.input_name: np.asarray(source, "int32"), spec.target_name: np.asarray(target, "int32")},
                    training=False)
    return np.asarray(ops.convert_to_numpy(weights))


def teacher_forcing(ids, start_id, end_id, padding_id=0):
    """Target ids (n, length), padded at the end -> ``(decoder inputs, labels)``, both (n,
    length + 1): the inputs are the start id and the target, the labels the target and the end
    id (what the model learns to predict at each step), padded alike."""
    ids = np.asarray(ids, dtype="int32")
    n, length = ids.shape
    real = (ids != padding_id).sum(axis=1)
    inputs = np.full((n, length + 1), padding_id, dtype="int32")
    inputs[:, 0] = start_id
    inputs[:, 1:] = ids
    labels = np.full((n, length + 1), padding_id, dtype="int32")
    labels[:, :length] = ids
    labels[np.arange(n), real] = end_id
    return inputs, labels


def error_rates(hypotheses, references):
    """Phoneme (token) and word error rates, as G2P papers report them: each hypothesis (a
    sequence of tokens, or a space-separated string) is scored against the closest of its
    references (a word may have several pronunciations). PER is the summed edit distance
    over the summed length of those references; WER the fraction of hypotheses equal to none
    of their references. Returns ``{"per": %, "wer": %, "words": n}``."""
    from rapidfuzz.distance import Levenshtein

    hypotheses, references = list(hypotheses), list(references)
    if len(hypotheses) != len(references) or not hypotheses:
        raise ValueError(f"error_rates: {len(hypotheses)} hypotheses for {len(references)} reference lists; "
                         "give one list of references per hypothesis, at least one.")
    split = lambda t: t.split() if isinstance(t, str) else list(t)  # noqa: E731
    edits = length = wrong = 0
    for hyp, refs in zip(hypotheses, references):
        hyp = split(hyp)
        refs = [split(r) for r in ([refs] if isinstance(refs, str) else refs)]
        # The closest reference, the shorter on a tie: one distance per reference.
        distance, best_length = min((Levenshtein.distance(hyp, r), len(r)) for r in refs)
        edits, length, wrong = edits + distance, length + best_length, wrong + (distance > 0)
    return {"per": 100.0 * edits / max(length, 1), "wer": 100.0 * wrong / len(hypotheses), "words": len(hypotheses)}
