"""A Transformer text classifier built from the same encoder layer as ViT.

| piece            | what it is                                                        |
|------------------|-------------------------------------------------------------------|
| input            | token ids (batch, tokens), int; id 0 is padding                    |
| embeddings       | token embedding + learned position embedding (up to max_length)   |
| mask             | padding mask from the ids: padded tokens are never attended to    |
| encoder          | ``depth`` x :class:`~kerasarch.layers.TransformerEncoderLayer`     |
| pooling          | "cls" (a learned [CLS] token in front) or "mean" over real tokens |
| head             | dropout + float32 dense classifier                                 |

Not in the image registry (its input is token ids, not an image); build it with
:func:`transformer_text_classifier`.
"""

import keras

from kerasarch.layers.embedding import ClassToken, PaddingMask, PositionEmbedding, TakeToken
from kerasarch.layers.transformer import TransformerEncoderLayer
from kerasarch.models.base import ModelBuilder

__all__ = ["transformer_text_classifier"]


class _TokenModelBuilder(ModelBuilder):
    """The common builder arguments for a model whose input is a sequence of token ids."""

    def _check_input_shape(self, input_shape):
        if self.input_tensor is not None:
            shape = tuple(self.input_tensor.shape[1:])
        else:
            shape = self.default_input_shape if input_shape is None else input_shape
        try:
            shape = tuple(shape)
        except TypeError:
            shape = None
        if shape is None or len(shape) != 1 or not (shape[0] is None or isinstance(shape[0], int) and shape[0] > 0):
            raise ValueError(
                f"{self.model_name}: input_shape must be (sequence_length,) or (None,) for any length up to "
                f"max_length, got {input_shape!r}."
            )
        return shape

    def _make_input(self):
        return keras.Input(shape=self.input_shape, dtype="int32", name="tokens")


def transformer_text_classifier(vocab_size, num_classes=2, *, max_length=512, hidden_dim=128, depth=2,
                                num_heads=4, mlp_dim=None, token_pooling="cls", norm_first=True, dropout=0.1,
                                attention_dropout=0.0, activation="gelu", padding_id=0,
                                name="transformer_text_classifier", **kwargs):
    """Build a Transformer encoder that classifies token sequences.

    Args:
        vocab_size: number of token ids (including the padding id).
        num_classes: classifier outputs.
        max_length: longest sequence (the position table's length).
        hidden_dim, depth, num_heads: width, encoder layers, attention heads.
        mlp_dim: MLP width (default ``4 * hidden_dim``).
        token_pooling: "cls" (prepend a learned [CLS] token and classify its output) or
            "mean" (average of the real tokens' outputs).
        norm_first: pre-norm (True) or the post-norm layer of the 2017 paper.
        dropout, attention_dropout, activation: as :class:`TransformerEncoderLayer`.
        padding_id: the id that marks padding.
        **kwargs: of the common builder arguments, ``input_shape`` ((None,) by default: any
            length up to ``max_length``), ``input_tensor``, ``include_top`` (False returns
            the encoded tokens), ``classifier_activation``, ``drop_rate`` (before the
            head), ``drop_path_rate``, ``dtype``, ``name``.

    The padding mask makes the output of a sequence independent of how much padding is
    appended to it.
    """
    if token_pooling not in ("cls", "mean"):
        raise ValueError(f"{name}: token_pooling must be 'cls' or 'mean', got {token_pooling!r}.")
    for arg, value in (("vocab_size", vocab_size), ("max_length", max_length), ("hidden_dim", hidden_dim),
                       ("depth", depth), ("num_heads", num_heads)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name}: {arg} must be a positive integer, got {value!r}.")
    unsupported = {"features_only", "out_indices", "pooling", "weights"} & set(kwargs)
    if unsupported:
        raise TypeError(f"{name}: {', '.join(sorted(unsupported))} do not apply to the text classifier; "
                        "include_top=False returns the encoded tokens.")
    kwargs["num_classes"] = num_classes
    b = _TokenModelBuilder(name, dict(kwargs, name=name), input_shape=(None,), num_classes=num_classes,
                           family="text", head_name="head")
    if b.input_shape[0] is not None and b.input_shape[0] > max_length:
        raise ValueError(f"{name}: sequences of {b.input_shape[0]} tokens exceed max_length={max_length}.")
    prefix = 1 if token_pooling == "cls" else 0
    b.arch_extra.update(vocab_size=vocab_size, max_length=max_length, token_pooling=token_pooling)
    with b.policy():
        mask = PaddingMask(padding_id, num_prefix_tokens=prefix, name="padding_mask")(b.inputs)
        x = keras.layers.Embedding(vocab_size, hidden_dim, name="token_embed",
                                   embeddings_initializer=keras.initializers.RandomNormal(stddev=0.02))(b.inputs)
        if prefix:
            x = ClassToken(name="cls_token")(x)
        x = PositionEmbedding(max_length, num_prefix_tokens=prefix, name="pos_embed")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name="embed_drop")(x)
        for i in range(depth):
            x = TransformerEncoderLayer(
                num_heads, mlp_dim=mlp_dim or 4 * hidden_dim, dropout=dropout, attention_dropout=attention_dropout,
                activation=activation, norm_first=norm_first, norm_epsilon=1e-6,
                drop_path_rate=b.drop_path_rate * i / max(depth - 1, 1), name=f"encoder_layer{i + 1}",
            )(x, padding_mask=mask)
        if norm_first:
            x = keras.layers.LayerNormalization(epsilon=1e-6, name="norm")(x)

        def head(t):
            if token_pooling == "cls":
                t = TakeToken(0, name="cls")(t)
            else:
                t = keras.layers.GlobalAveragePooling1D(name="mean_pool")(t, mask=mask)
            if b.drop_rate:
                t = keras.layers.Dropout(b.drop_rate, name="head_drop")(t)
            return b.classifier(t)

        return b.finish(x, head=head)
