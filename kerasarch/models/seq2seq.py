"""Sequence-to-sequence models with attention (Sutskever et al. 2014; Bahdanau et al. 2015;
Luong et al. 2015): a recurrent encoder reads the source tokens, an attention decoder writes
the target a token at a time.

| name                   | cell | encoder        | decoder  | attention | embedding | vocabularies    | params    |
|------------------------|------|----------------|----------|-----------|-----------|-----------------|-----------|
| seq2seq_lstm_attention | lstm | 2 x bi 128     | 1 x 256  | additive  | 128       | 10,000 / 10,000 | 6,575,888 |
| seq2seq_gru_attention  | gru  | 2 x bi 128     | 1 x 256  | additive  | 128       | 10,000 / 10,000 | 6,249,488 |

The layout: source ids (batch, length) -> an embedding -> ``encoder_levels`` x
:class:`~kerasarch.layers.RecurrentLayer` (bidirectional by default, padded steps masked) ->
the memory (batch, length, 2 x 128); its final state (the forward cell's at the last real
step, the backward cell's at the first) starts the decoder. Target ids so far (batch, steps),
the reference shifted right behind the start token -> an embedding ->
:class:`~kerasarch.layers.AttentionDecoder` (recurrent levels, attention over the memory,
Luong's attentional state) -> dropout -> float32 logits over the target vocabulary at every
step. ``attention="general"`` or ``"dot"`` swaps Bahdanau's additive score for Luong's.

Training is teacher forcing (:func:`kerasarch.train.compile_for_training` picks a
cross-entropy that skips padded steps); :func:`kerasarch.decoding.generate` decodes greedily
or by beam search in a compiled loop that stops at the end token. Build the model for its
tokenizers: ``vocab_size=`` / ``target_vocab_size=`` and the lengths (:mod:`kerasarch.text`
builds the vocabularies from a training split; ``start_id`` / ``end_id`` are the target
vocabulary's markers).
"""

import dataclasses

import keras

from kerasarch.contract import Contract, Output, TokenPairInput
from kerasarch.layers import _checks
from kerasarch.layers.embedding import PaddingMask
from kerasarch.layers.recurrent import SCORES, AttentionDecoder, LastStepPooling
from kerasarch.models.base import TokenPairModelBuilder
from kerasarch.models.rnn import stack_recurrent
from kerasarch.registry import export_constructors, register_model

__all__ = ["Seq2SeqVariant", "VARIANTS", "build_seq2seq"]


@dataclasses.dataclass(frozen=True)
class Seq2SeqVariant:
    name: str
    cell: str
    encoder_units: int = 128
    encoder_levels: int = 2
    bidirectional: bool = True
    decoder_units: int = 256
    decoder_levels: int = 1
    attention: str = "additive"
    embed_dim: int = 128
    vocab_size: int = 10_000
    target_vocab_size: int = 10_000
    max_length: int = 64
    max_target_length: int = 64


VARIANTS = (
    Seq2SeqVariant("seq2seq_lstm_attention", "lstm"),
    Seq2SeqVariant("seq2seq_gru_attention", "gru"),
)


def _contract(v, vocab_size=None, target_vocab_size=None, max_length=None, max_target_length=None, start_id=2,
              end_id=3, padding_id=0):
    target_vocab_size = target_vocab_size or v.target_vocab_size
    return Contract(TokenPairInput(vocab_size or v.vocab_size, max_length or v.max_length, target_vocab_size,
                                   max_target_length or v.max_target_length, start_id, end_id, padding_id),
                    Output("sequence_logits", target_vocab_size))


def build_seq2seq(variant, *, vocab_size=None, target_vocab_size=None, max_length=None, max_target_length=None,
                  start_id=2, end_id=3, padding_id=0, embed_dim=None, encoder_units=None, encoder_levels=None,
                  bidirectional=None, decoder_units=None, decoder_levels=None, attention=None, attention_units=None,
                  dropout=0.2, residual=False, layer_norm=False, **kwargs):
    """Build a sequence-to-sequence model from a row of ``VARIANTS``.

    Args:
        vocab_size, target_vocab_size: the source and target tokenizers' vocabularies
            (padding and the markers included); ``max_length``, ``max_target_length``: the
            longest source and target, in tokens (decoding stops there at the latest).
        start_id, end_id, padding_id: the target vocabulary's markers (the start token begins
            every decoder input; decoding stops at the end token); ``padding_id`` pads both.
        embed_dim: width of both embeddings.
        encoder_units, encoder_levels, bidirectional: the encoder (units per direction).
        decoder_units, decoder_levels: the decoder.
        attention: "additive" (Bahdanau), "general" or "dot" (Luong; "dot" needs the memory
            as wide as the decoder); ``attention_units``: the additive score's width.
        dropout: on the embeddings, between levels and (``drop_rate``) before the logits.
        residual, layer_norm: between encoder levels of equal width.
        **kwargs: the common builder arguments (:mod:`kerasarch.models.base`): ``input_shape``
            (the source's; default (None,), any length up to ``max_length``), ``include_top``
            (False: the decoder's attentional states), ``features_only`` (each encoder level's
            sequence and the decoder's), ``drop_rate`` (default ``dropout``), ``weights``,
            ``dtype``, ``name``. ``num_classes`` does not apply (``target_vocab_size`` does).
    """
    v = variant
    who = v.name
    for arg, value in (("vocab_size", vocab_size), ("target_vocab_size", target_vocab_size),
                       ("max_length", max_length), ("max_target_length", max_target_length),
                       ("embed_dim", embed_dim), ("encoder_units", encoder_units), ("encoder_levels", encoder_levels),
                       ("decoder_units", decoder_units), ("decoder_levels", decoder_levels)):
        if value is not None:
            _checks.positive_int(who, arg, value)
    attention = _checks.one_of(who, "attention", attention or v.attention, SCORES)
    bidirectional = v.bidirectional if bidirectional is None else _checks.flag(who, "bidirectional", bidirectional)
    dropout = _checks.rate(who, "dropout", dropout)
    kwargs.setdefault("drop_rate", dropout)
    try:
        contract = _contract(v, vocab_size, target_vocab_size, max_length, max_target_length, start_id, end_id,
                             padding_id)
    except ValueError as err:
        raise ValueError(f"{who}: {err}") from None
    b = TokenPairModelBuilder(v.name, kwargs, family="seq2seq", head_name="logits", contract=contract)
    spec = b.contract.input
    embed_dim = embed_dim or v.embed_dim
    encoder_units, encoder_levels = encoder_units or v.encoder_units, encoder_levels or v.encoder_levels
    decoder_units, decoder_levels = decoder_units or v.decoder_units, decoder_levels or v.decoder_levels
    memory_width = encoder_units * (2 if bidirectional else 1)
    if attention == "dot" and memory_width != decoder_units:
        raise ValueError(f"{who}: attention='dot' compares decoder and encoder states one to one, so decoder_units "
                         f"({decoder_units}) must equal the encoder's output width ({memory_width}"
                         f"{' = 2 directions x encoder_units' if bidirectional else ''}); use attention='general'.")
    b.arch_extra.update(vocab_size=spec.vocab_size, target_vocab_size=spec.target_vocab_size,
                        max_length=spec.max_length, max_target_length=spec.max_target_length, cell=v.cell,
                        encoder_units=encoder_units, encoder_levels=encoder_levels, bidirectional=bidirectional,
                        decoder_units=decoder_units, decoder_levels=decoder_levels, attention=attention)
    with b.policy():
        source, target = b.inputs[spec.input_name], b.inputs[spec.target_name]
        source_mask = PaddingMask(spec.padding_id, name="source_mask")(source)
        target_mask = PaddingMask(spec.padding_id, name="target_mask")(target)
        x = keras.layers.Embedding(spec.vocab_size, embed_dim, name="source_embed")(source)
        if dropout:
            x = keras.layers.Dropout(dropout, name="source_drop")(x)
        memory = stack_recurrent(b, x, source_mask, cell=v.cell, units=encoder_units, levels=encoder_levels,
                                 bidirectional=bidirectional, dropout=dropout, residual=residual,
                                 layer_norm=layer_norm, prefix="encoder")
        summary = LastStepPooling(bidirectional, name="encoder_summary")(memory, mask=source_mask)
        y = keras.layers.Embedding(spec.target_vocab_size, embed_dim, name="target_embed")(target)
        states, _ = AttentionDecoder(decoder_units, cell=v.cell, levels=decoder_levels, score=attention,
                                     attention_units=attention_units, dropout=dropout,
                                     name="decoder")(y, memory, summary, target_mask=target_mask,
                                                     memory_mask=source_mask)
        b.add_feature(states, "decoder", 1)
        b.mask = target_mask
        if b.features_only or not b.include_top:
            return b.finish(states)
        return b.finish(states, head=b.sequence_head)


# Test tiers (tests/tiers.py): the GRU twin, the smaller, is the one every backend walks in CI;
# the LSTM's two-state cell is decoded in tests/test_seq2seq.py on every backend and compiled
# in the XLA tier.
TAGS = {"seq2seq_gru_attention": ("ci", "ci_jax"), "seq2seq_lstm_attention": ("ci_xla",)}

for _v in VARIANTS:
    register_model(_v.name, build_seq2seq, _v, family="seq2seq", contract=_contract(_v), tags=TAGS.get(_v.name, ()))

__all__ += export_constructors(globals(), "seq2seq")
