"""Recurrent sequence classifiers: LSTM (Hochreiter & Schmidhuber 1997), GRU (Cho et al. 2014)
and bidirectional LSTM (Schuster & Paliwal 1997; Graves & Schmidhuber 2005) over token ids.

| name              | cell | directions | levels | units | embedding | pooling | vocabulary | classes | params    |
|-------------------|------|------------|--------|-------|-----------|---------|------------|---------|-----------|
| rnn_classifier    | rnn  | 1          | 2      | 128   | 128       | last    | 20,000     | 2       | 2,626,050 |
| lstm_classifier   | lstm | 1          | 2      | 128   | 128       | last    | 20,000     | 2       | 2,823,426 |
| gru_classifier    | gru  | 1          | 2      | 128   | 128       | last    | 20,000     | 2       | 2,758,402 |
| bilstm_classifier | lstm | 2          | 2      | 128   | 128       | last    | 20,000     | 2       | 3,217,922 |
| bigru_classifier  | gru  | 2          | 2      | 128   | 128       | last    | 20,000     | 2       | 3,055,106 |

The layout: token ids (batch, tokens), id ``padding_id`` (0) marks padding; an embedding,
``levels`` x :class:`~kerasarch.layers.RecurrentLayer` (the padded steps leave each cell's state
unchanged, so padding never changes a sentence's prediction), dropout between levels, a residual
and LayerNorm between levels of equal width when asked, pooling over time (``time_pooling``: the
last real step's state, the masked mean or max, or attention pooling), dropout and the
classifier. The parameter counts are Keras's cells: an LSTM level has
``4 * (units * (units + input) + units)`` weights, a GRU level (``reset_after``, cuDNN's form)
``3 * (units * (units + input) + 2 * units)``, a bidirectional level twice that.

A text model is built for its tokenizer: pass ``vocab_size=`` (and ``max_length=``) to match it
(:mod:`kerasarch.text` builds vocabularies from a training split).
"""

import dataclasses

import keras

from kerasarch.contract import Contract, Output, TokenInput
from kerasarch.layers import _checks
from kerasarch.layers.embedding import PaddingMask
from kerasarch.layers.recurrent import AttentionPooling, LastStepPooling, RecurrentLayer
from kerasarch.models.base import TokenModelBuilder
from kerasarch.registry import export_constructors, register_model

__all__ = ["RecurrentVariant", "VARIANTS", "TIME_POOLING", "build_recurrent_classifier", "stack_recurrent",
           "pool_over_time"]

TIME_POOLING = ("last", "mean", "max", "attention")


@dataclasses.dataclass(frozen=True)
class RecurrentVariant:
    name: str
    cell: str
    units: int
    levels: int = 2
    bidirectional: bool = False
    embed_dim: int = 128
    vocab_size: int = 20_000
    max_length: int = 512
    num_classes: int = 2


VARIANTS = (
    RecurrentVariant("rnn_classifier", "rnn", 128),
    RecurrentVariant("lstm_classifier", "lstm", 128),
    RecurrentVariant("gru_classifier", "gru", 128),
    RecurrentVariant("bilstm_classifier", "lstm", 128, bidirectional=True),
    RecurrentVariant("bigru_classifier", "gru", 128, bidirectional=True),
)


def stack_recurrent(b, x, mask, *, cell, units, levels, bidirectional=False, dropout=0.0, residual=False,
                    layer_norm=False, prefix="rnn"):
    """``levels`` recurrent levels on ``x`` (batch, steps, C) under ``mask``, each tapped as a
    feature; dropout between levels (not after the last: the head has its own), residual and
    LayerNorm only between levels of equal width. Every recurrent family stacks with this."""
    for i in range(levels):
        width = x.shape[-1]
        out_width = units * (2 if bidirectional else 1)
        x = RecurrentLayer(units, cell=cell, bidirectional=bidirectional,
                           dropout=dropout if i < levels - 1 else 0.0,
                           residual=residual and width == out_width, layer_norm=layer_norm,
                           name=f"{prefix}{i + 1}")(x, mask=mask)
        b.add_feature(x, f"{prefix}{i + 1}", 1)
    return x


def pool_over_time(b, x, mode, bidirectional, attention_units=64):
    """One vector per sequence from the last level's outputs, over the real steps only."""
    if mode == "last":
        return LastStepPooling(bidirectional, name="last_step")(x, mask=b.mask)
    if mode == "attention":
        return AttentionPooling(attention_units, name="attention_pool")(x, mask=b.mask)
    return b.pool_tokens(x, "avg" if mode == "mean" else "max")


def _contract(v, vocab_size=None, max_length=None, padding_id=0):
    return Contract(TokenInput(vocab_size or v.vocab_size, max_length or v.max_length, padding_id),
                    Output("probabilities", v.num_classes))


def build_recurrent_classifier(variant, *, vocab_size=None, max_length=None, embed_dim=None, units=None,
                               levels=None, time_pooling="last", dropout=0.2, embed_dropout=0.0,
                               residual=False, layer_norm=False, padding_id=0, **kwargs):
    """Build a recurrent classifier from a row of ``VARIANTS``.

    Args:
        vocab_size, max_length: the tokenizer's vocabulary (padding id included) and the
            longest sequence (default the variant's).
        embed_dim, units, levels: override the variant's embedding width, cell width and depth.
        time_pooling: "last" (the final state), "mean", "max" or "attention" (over real steps).
        dropout: between recurrent levels; ``embed_dropout`` after the embedding.
        residual, layer_norm: between levels of equal width.
        padding_id: the id that marks padding.
        **kwargs: the common builder arguments (:mod:`kerasarch.models.base`): ``input_shape``
            ((None,): any length up to ``max_length``), ``num_classes``, ``include_top``
            (False: the last level's sequence; ``pooling="avg"``/``"max"`` over real steps),
            ``features_only`` (every level's sequence), ``drop_rate`` (before the classifier),
            ``weights``, ``dtype``, ``name``.
    """
    v = variant
    who = v.name
    for arg, value in (("vocab_size", vocab_size), ("max_length", max_length), ("embed_dim", embed_dim),
                       ("units", units), ("levels", levels)):
        if value is not None:
            _checks.positive_int(who, arg, value)
    time_pooling = _checks.one_of(who, "time_pooling", time_pooling, TIME_POOLING)
    embed_dropout = _checks.rate(who, "embed_dropout", embed_dropout)
    b = TokenModelBuilder(v.name, kwargs, family="rnn", head_name="classifier",
                          contract=_contract(v, vocab_size, max_length, padding_id))
    spec = b.contract.input
    units, levels, embed_dim = units or v.units, levels or v.levels, embed_dim or v.embed_dim
    b.arch_extra.update(vocab_size=spec.vocab_size, max_length=spec.max_length, cell=v.cell, units=units,
                        levels=levels, bidirectional=v.bidirectional, time_pooling=time_pooling)
    with b.policy():
        b.mask = PaddingMask(spec.padding_id, name="padding_mask")(b.inputs)
        x = keras.layers.Embedding(spec.vocab_size, embed_dim, name="token_embed")(b.inputs)
        if embed_dropout:
            x = keras.layers.SpatialDropout1D(embed_dropout, name="embed_drop")(x)
        x = stack_recurrent(b, x, b.mask, cell=v.cell, units=units, levels=levels, bidirectional=v.bidirectional,
                            dropout=_checks.rate(who, "dropout", dropout), residual=residual, layer_norm=layer_norm)
        if b.features_only or not b.include_top:
            return b.finish(x)
        return b.finish(x, head=lambda t: b.classifier(b.dropout(pool_over_time(b, t, time_pooling,
                                                                                 v.bidirectional))))


# Test tiers (tests/tiers.py): the LSTM and the bidirectional GRU reach every code path the
# others do (a cell with one state and one with two, one and two directions); the plain RNN is
# the smallest and so in CI by default.
TAGS = {"bilstm_classifier": ("ci", "ci_jax"), "gru_classifier": ("ci_xla", "ci_onnx")}

for _v in VARIANTS:
    register_model(_v.name, build_recurrent_classifier, _v, family="rnn", contract=_contract(_v),
                   tags=TAGS.get(_v.name, ()))

__all__ += export_constructors(globals(), "rnn")
