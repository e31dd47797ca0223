"""Transformer text classifiers built from the same encoder layer as ViT (Vaswani et al. 2017;
the [CLS] read-out of Devlin et al. 2019).

| name                   | width | depth | heads | MLP  | positions | vocabulary | classes | params      |
|------------------------|-------|-------|-------|------|-----------|------------|---------|-------------|
| transformer_text_tiny  | 128   | 2     | 2     | 512  | 512       | 30,522     | 2       | 4,369,666   |
| transformer_text_small | 256   | 4     | 4     | 1024 | 512       | 30,522     | 2       | 11,105,282  |

The widths are BERT's Tiny and Mini (Turc et al. 2019); the vocabulary defaults to BERT's
uncased WordPiece size, but a text model is built for its tokenizer: pass ``vocab_size=``
(and ``max_length=``) to match it. The layout: token ids (batch, tokens), id ``padding_id``
(0) marks padding; token embedding, a learned [CLS] token in front, learned position
embeddings, ``depth`` x :class:`~kerasarch.layers.TransformerEncoderLayer` (pre-norm by
default) that never attend to padding, a final LayerNorm, and the classifier on the [CLS]
output (``token_pooling="cls"``) or on the mean of the real tokens (``"avg"``).
:func:`transformer_text_classifier` builds one of any size without registering it.
"""

import dataclasses

import keras

from kerasarch.contract import Contract, Output, TokenInput
from kerasarch.layers.embedding import ClassToken, DropPrefixTokens, PaddingMask, PositionEmbedding
from kerasarch.layers.transformer import TransformerEncoderLayer
from kerasarch.models.base import TokenModelBuilder, token_pooling_arg
from kerasarch.registry import export_constructors, register_model

__all__ = ["TextVariant", "VARIANTS", "build_text_transformer", "transformer_text_classifier"]

LN_EPSILON = 1e-6
BERT_VOCAB_SIZE = 30_522


@dataclasses.dataclass(frozen=True)
class TextVariant:
    name: str
    hidden_dim: int
    depth: int
    num_heads: int
    mlp_dim: int
    max_length: int = 512
    vocab_size: int = BERT_VOCAB_SIZE
    num_classes: int = 2


VARIANTS = (
    TextVariant("transformer_text_tiny", 128, 2, 2, 512),
    TextVariant("transformer_text_small", 256, 4, 4, 1024),
)


def _contract(v, vocab_size=None, max_length=None, padding_id=0):
    return Contract(TokenInput(vocab_size or v.vocab_size, max_length or v.max_length, padding_id),
                    Output("probabilities", v.num_classes))


def build_text_transformer(variant, *, vocab_size=None, max_length=None, token_pooling="cls", norm_first=True,
                           dropout=0.1, attention_dropout=0.0, activation="gelu", padding_id=0, contract=None,
                           **kwargs):
    """Build a Transformer text classifier from a row of ``VARIANTS``.

    Args:
        vocab_size: number of token ids, the padding id included (default the variant's).
        max_length: longest sequence, the position table's length (default the variant's).
        token_pooling: "cls" (classify the [CLS] token's output) or "avg" (the mean of the
            real tokens' outputs; "mean" is accepted too).
        norm_first: pre-norm (True) or the post-norm layer of the 2017 paper.
        dropout, attention_dropout, activation: as :class:`TransformerEncoderLayer`.
        padding_id: the id that marks padding.
        **kwargs: the common builder arguments (:mod:`kerasarch.models.base`): ``input_shape``
            ((None,) by default: any length up to ``max_length``), ``num_classes``,
            ``include_top`` (False: the encoded tokens; with ``pooling="avg"``/``"max"`` one
            vector per sequence over its real tokens), ``features_only`` (every encoder
            layer's token outputs, [CLS] dropped), ``drop_rate`` (before the head),
            ``drop_path_rate``, ``weights``, ``dtype``, ``name``.

    The padding mask makes the output of a sequence independent of how much padding is
    appended to it.
    """
    v = variant
    token_pooling = token_pooling_arg(v.name, token_pooling)
    for arg, value in (("vocab_size", vocab_size), ("max_length", max_length)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise ValueError(f"{v.name}: {arg} must be a positive integer, got {value!r}.")
    contract = contract or _contract(v, vocab_size, max_length, padding_id)
    b = TokenModelBuilder(v.name, kwargs, family="text", head_name="head", contract=contract)
    spec = b.contract.input
    prefix = 1 if token_pooling == "cls" else 0
    b.arch_extra.update(vocab_size=spec.vocab_size, max_length=spec.max_length, token_pooling=token_pooling)
    with b.policy():
        b.mask = PaddingMask(spec.padding_id, name="padding_mask")(b.inputs)
        # Attention sees the [CLS] token too; pooling and the features see the input tokens only.
        mask = PaddingMask(spec.padding_id, num_prefix_tokens=1, name="padding_mask_cls")(b.inputs) \
            if prefix else b.mask
        x = keras.layers.Embedding(spec.vocab_size, v.hidden_dim, name="token_embed",
                                   embeddings_initializer=keras.initializers.RandomNormal(stddev=0.02))(b.inputs)
        if prefix:
            x = ClassToken(name="cls_token")(x)
        x = PositionEmbedding(spec.max_length, num_prefix_tokens=prefix, name="pos_embed")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name="embed_drop")(x)
        for i in range(v.depth):
            x = TransformerEncoderLayer(
                v.num_heads, mlp_dim=v.mlp_dim, dropout=dropout, attention_dropout=attention_dropout,
                activation=activation, norm_first=norm_first, norm_epsilon=LN_EPSILON,
                drop_path_rate=b.drop_path_at(i, v.depth), name=f"encoder_layer{i + 1}",
            )(x, padding_mask=mask)
            tokens = DropPrefixTokens(prefix, name=f"encoder_layer{i + 1}_tokens")(x) if prefix else x
            b.add_feature(tokens, f"encoder_layer{i + 1}", 1)
        if norm_first:
            x = keras.layers.LayerNormalization(epsilon=LN_EPSILON, name="norm")(x)
        if b.features_only:
            return b.finish(x)
        if not b.include_top:
            # The encoded input tokens (the [CLS] token dropped), pooled over the real ones on request.
            return b.finish(DropPrefixTokens(prefix, name="encoded_tokens")(x) if prefix else x)
        return b.finish(x, head=lambda t: b.token_head(t, token_pooling))


def transformer_text_classifier(vocab_size, num_classes=2, *, max_length=512, hidden_dim=128, depth=2,
                                num_heads=4, mlp_dim=None, token_pooling="cls", norm_first=True, dropout=0.1,
                                attention_dropout=0.0, activation="gelu", padding_id=0,
                                name="transformer_text_classifier", **kwargs):
    """A Transformer text classifier of any size, not registered (the registered ones are
    ``VARIANTS``): ``hidden_dim``, ``depth``, ``num_heads``, ``mlp_dim`` (default
    ``4 * hidden_dim``) as in the table, the other arguments as :func:`build_text_transformer`.
    """
    for arg, value in (("vocab_size", vocab_size), ("max_length", max_length), ("hidden_dim", hidden_dim),
                       ("depth", depth), ("num_heads", num_heads)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name}: {arg} must be a positive integer, got {value!r}.")
    variant = TextVariant(name, hidden_dim, depth, num_heads, mlp_dim or 4 * hidden_dim, max_length=max_length,
                          vocab_size=vocab_size, num_classes=2)
    return build_text_transformer(
        variant, token_pooling=token_pooling, norm_first=norm_first, dropout=dropout,
        attention_dropout=attention_dropout, activation=activation, padding_id=padding_id,
        contract=_contract(variant, padding_id=padding_id), **dict(kwargs, name=name, num_classes=num_classes))


# Test tiers (tests/tiers.py): the tiny one everywhere; the small one only repeats its layers.
TAGS = {"transformer_text_tiny": ("ci", "ci_jax", "ci_xla", "ci_onnx")}

for _v in VARIANTS:
    register_model(_v.name, build_text_transformer, _v, family="text", contract=_contract(_v),
                   tags=TAGS.get(_v.name, ()))

__all__ += export_constructors(globals(), "text")
