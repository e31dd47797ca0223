"""The Transformer encoder layer (Vaswani et al. 2017) and its self-attention, ``keras.ops`` only.

One layer serves images (ViT, Dosovitskiy et al. 2021) and token sequences. Post-norm
(``norm_first=False``, the 2017 paper and PyTorch's default)::

    x = norm1(x + drop(attn(x)));  x = norm2(x + drop(mlp(x)))

Pre-norm (``norm_first=True``, ViT and most models since, stable without warmup)::

    x = x + drop(attn(norm1(x)));  x = x + drop(mlp(norm2(x)))

Weights follow torchvision's layout: one fused ``qkv`` projection (PyTorch's
``in_proj_weight`` transposed, rows q, k, v) and an output projection ``proj``; the MLP is
``fc1`` -> activation -> ``fc2``.
"""

import math

import keras
from keras import ops

from kerasarch.layers import _checks
from kerasarch.layers._config import initializer_arg, initializer_config
from kerasarch.layers.drop_path import StochasticDepth

__all__ = ["MultiHeadSelfAttention", "TransformerEncoderLayer"]

_NEG_INF = -1e9  # finite, so a fully masked row gives a uniform softmax instead of NaN



def _combine_masks(padding_mask, attention_mask):
    """One boolean mask broadcastable to (batch, heads, queries, keys); True = attend."""
    mask = None
    if padding_mask is not None:
        # (batch, keys) -> (batch, 1, 1, keys): padded keys are never attended to.
        mask = ops.expand_dims(ops.expand_dims(ops.cast(padding_mask, "bool"), 1), 1)
    if attention_mask is not None:
        extra = ops.cast(attention_mask, "bool")
        if len(extra.shape) == 2:  # (queries, keys), shared by the batch
            extra = extra[None, None]
        elif len(extra.shape) == 3:  # (batch, queries, keys)
            extra = ops.expand_dims(extra, 1)
        mask = extra if mask is None else ops.logical_and(mask, extra)
    return mask


@keras.saving.register_keras_serializable(package="kerasarch")
class MultiHeadSelfAttention(keras.layers.Layer):
    """Self-attention with one fused query/key/value projection.

    One ``(C, 3C)`` matrix product instead of three ``(C, C)`` ones: the same parameters
    as ``keras.layers.MultiHeadAttention`` with biases (and as PyTorch's
    ``nn.MultiheadAttention``), fewer and larger kernels. Without attention dropout in
    training and without returned scores it calls ``keras.ops.dot_product_attention``,
    which each backend maps to its fused kernel (cuDNN flash attention on JAX/GPU).

    Args:
        num_heads: attention heads; the channels must divide by it.
        dropout: dropout on the attention probabilities while training.
        use_bias: biases on the projections (True, as the references).
        kernel_initializer: initializer of both projections (Glorot uniform, as PyTorch's
            ``xavier_uniform_`` for ``in_proj_weight``).

    Call arguments: ``x`` (batch, tokens, channels); ``padding_mask`` (batch, tokens),
    True for real tokens; ``attention_mask`` (queries, keys) or (batch, queries, keys),
    True where attention is allowed; ``return_attention_scores`` also returns the
    probabilities (batch, heads, queries, keys).
    """

    def __init__(self, num_heads, dropout=0.0, use_bias=True, kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        who = _checks.owner(self, kwargs)
        self.num_heads = _checks.positive_int(who, "num_heads", num_heads)
        self.dropout = _checks.rate(who, "dropout", dropout)
        self.use_bias = _checks.flag(who, "use_bias", use_bias)
        self.kernel_initializer = initializer_arg(_checks.initializer(who, "kernel_initializer", kernel_initializer))
        self.qkv = self.proj = None
        self.attn_drop = keras.layers.Dropout(self.dropout, dtype=self.dtype_policy, name="attn_drop")
        self.supports_masking = True

    def build(self, input_shape):
        channels = input_shape[-1]
        _checks.heads_split(_checks.owner(self), self.num_heads, channels)
        dense = dict(use_bias=self.use_bias, kernel_initializer=self.kernel_initializer, dtype=self.dtype_policy)
        self.qkv = keras.layers.Dense(3 * channels, name="qkv", **dense)
        self.qkv.build(input_shape)
        self.proj = keras.layers.Dense(channels, name="proj", **dense)
        self.proj.build(input_shape)

    def call(self, x, padding_mask=None, attention_mask=None, training=None, return_attention_scores=False):
        channels = x.shape[-1]
        head_dim = channels // self.num_heads
        batch, tokens = ops.shape(x)[0], ops.shape(x)[1]
        qkv = ops.reshape(self.qkv(x), (batch, tokens, 3, self.num_heads, head_dim))
        q, k, v = ops.unstack(qkv, 3, axis=2)  # (batch, tokens, heads, head_dim)
        mask = _combine_masks(padding_mask, attention_mask)
        dropping = bool(training) and self.dropout > 0
        if not (dropping or return_attention_scores):
            out = ops.dot_product_attention(q, k, v, mask=mask, scale=1.0 / math.sqrt(head_dim))
            scores = None
        else:
            logits = ops.einsum("bqhd,bkhd->bhqk", q, k) * ops.cast(1.0 / math.sqrt(head_dim), q.dtype)
            # The softmax in float32: under bfloat16 its sums lose the small probabilities.
            logits = ops.cast(logits, "float32")
            if mask is not None:
                logits = ops.where(mask, logits, _NEG_INF)
            scores = ops.softmax(logits, axis=-1)
            probs = self.attn_drop(ops.cast(scores, v.dtype), training=training)
            out = ops.einsum("bhqk,bkhd->bqhd", probs, v)
        out = self.proj(ops.reshape(out, (batch, tokens, channels)))
        return (out, scores) if return_attention_scores else out

    def compute_output_shape(self, input_shape):
        return input_shape

    def compute_mask(self, x, mask=None):
        return mask

    def get_config(self):
        config = super().get_config()
        config.update(num_heads=self.num_heads, dropout=self.dropout, use_bias=self.use_bias,
                      kernel_initializer=initializer_config(self.kernel_initializer))
        return config


@keras.saving.register_keras_serializable(package="kerasarch")
class TransformerEncoderLayer(keras.layers.Layer):
    """Multi-head self-attention and a two-layer MLP, each with a residual connection and LayerNorm.

    The defaults are PyTorch's ``nn.TransformerEncoderLayer``: post-norm,
    ReLU, ``mlp_dim=2048``, dropout 0.1, LayerNorm epsilon 1e-5. ViT uses ``norm_first=True``,
    ``activation="gelu"``, ``dropout=0``, ``norm_epsilon=1e-6``.

    Args:
        num_heads: attention heads.
        mlp_dim: hidden width of the MLP.
        dropout: dropout after the attention and after each MLP dense layer (the residual
            branches), as torchvision.
        attention_dropout: dropout on the attention probabilities.
        activation: MLP activation: "relu", "gelu" (exact, as PyTorch's) or any Keras name.
        norm_first: pre-norm (True) or post-norm (False).
        norm_epsilon: LayerNorm epsilon.
        drop_path_rate: stochastic depth on both residual branches (pre-norm only makes
            sense of it, but it is applied in either form).
        layer_scale_init: if set (e.g. 1e-5, CaiT), each branch is multiplied by a learned
            per-channel scale starting at this value; None disables it.
        kernel_initializer: initializer of the dense layers (Glorot uniform).

    Call: ``layer(x, padding_mask=None, attention_mask=None, training=None,
    return_attention_scores=False)`` with ``x`` (batch, tokens, channels); see
    :class:`MultiHeadSelfAttention` for the masks. A Keras mask (from
    ``Embedding(mask_zero=True)``) is used as the padding mask when none is given.
    """

    def __init__(self, num_heads, mlp_dim=2048, dropout=0.1, attention_dropout=0.0, activation="relu",
                 norm_first=False, norm_epsilon=1e-5, drop_path_rate=0.0, layer_scale_init=None,
                 kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        who = _checks.owner(self, kwargs)
        self.num_heads = _checks.positive_int(who, "num_heads", num_heads)
        self.mlp_dim = _checks.positive_int(who, "mlp_dim", mlp_dim)
        self.dropout = _checks.rate(who, "dropout", dropout)
        self.attention_dropout = _checks.rate(who, "attention_dropout", attention_dropout)
        self.activation = activation
        self._act = self._activation_fn(activation, who)
        self.norm_first = _checks.flag(who, "norm_first", norm_first)
        self.norm_epsilon = _checks.positive_number(who, "norm_epsilon", norm_epsilon)
        self.drop_path_rate = _checks.rate(who, "drop_path_rate", drop_path_rate)
        # 0 would start both branches switched off; None is the way to have no layer scale.
        self.layer_scale_init = _checks.number(who, "layer_scale_init", layer_scale_init, 0, low_open=True,
                                               allow_none=True, hint="None disables layer scale.")
        self.kernel_initializer = initializer_arg(_checks.initializer(who, "kernel_initializer", kernel_initializer))
        policy = self.dtype_policy
        self.norm1 = keras.layers.LayerNormalization(epsilon=self.norm_epsilon, dtype=policy, name="norm1")
        self.attn = MultiHeadSelfAttention(self.num_heads, dropout=self.attention_dropout,
                                           kernel_initializer=self.kernel_initializer, dtype=policy, name="attn")
        self.norm2 = keras.layers.LayerNormalization(epsilon=self.norm_epsilon, dtype=policy, name="norm2")
        self.fc1 = self.fc2 = None
        self.drop = keras.layers.Dropout(self.dropout, dtype=policy, name="drop")
        self.drop_path = (StochasticDepth(self.drop_path_rate, dtype=policy, name="drop_path")
                          if self.drop_path_rate > 0 else None)
        self.gamma1 = self.gamma2 = None
        self.supports_masking = True

    @staticmethod
    def _activation_fn(activation, who):
        if activation == "gelu":
            # Exact GELU, as torch.nn.GELU() and torchvision's ViT; Keras's string "gelu"
            # is also exact, but say it where a reader checks the port.
            return lambda t: keras.activations.gelu(t, approximate=False)
        return _checks.activation(who, "activation", activation,
                                  hint="'relu', 'gelu', another Keras activation name or a callable")

    def build(self, input_shape):
        channels = input_shape[-1]
        # Checked here too so that the error names this layer, not its inner "attn".
        _checks.heads_split(_checks.owner(self), self.num_heads, channels)
        self.norm1.build(input_shape)
        self.attn.build(input_shape)
        self.norm2.build(input_shape)
        dense = dict(kernel_initializer=self.kernel_initializer, dtype=self.dtype_policy)
        self.fc1 = keras.layers.Dense(self.mlp_dim, name="fc1", **dense)
        self.fc1.build(input_shape)
        self.fc2 = keras.layers.Dense(channels, name="fc2", **dense)
        self.fc2.build((*input_shape[:-1], self.mlp_dim))
        if self.layer_scale_init is not None:
            init = keras.initializers.Constant(self.layer_scale_init)
            self.gamma1 = self.add_weight(shape=(channels,), initializer=init, name="gamma1")
            self.gamma2 = self.add_weight(shape=(channels,), initializer=init, name="gamma2")

    def _branch(self, y, gamma, training):
        y = self.drop(y, training=training)
        if gamma is not None:
            y = y * ops.cast(gamma, y.dtype)
        if self.drop_path is not None:
            y = self.drop_path(y, training=training)
        return y

    def _mlp(self, x, training):
        return self.fc2(self.drop(self._act(self.fc1(x)), training=training))

    def call(self, x, padding_mask=None, attention_mask=None, training=None, return_attention_scores=False,
             mask=None):
        if padding_mask is None:
            padding_mask = mask
        attend = dict(padding_mask=padding_mask, attention_mask=attention_mask, training=training,
                      return_attention_scores=return_attention_scores)
        if self.norm_first:
            y = self.attn(self.norm1(x), **attend)
            y, scores = y if return_attention_scores else (y, None)
            x = x + self._branch(y, self.gamma1, training)
            x = x + self._branch(self._mlp(self.norm2(x), training), self.gamma2, training)
        else:
            y = self.attn(x, **attend)
            y, scores = y if return_attention_scores else (y, None)
            x = self.norm1(x + self._branch(y, self.gamma1, training))
            x = self.norm2(x + self._branch(self._mlp(x, training), self.gamma2, training))
        return (x, scores) if return_attention_scores else x

    def compute_output_shape(self, input_shape):
        return input_shape

    def compute_mask(self, x, mask=None):
        return mask

    def get_config(self):
        config = super().get_config()
        config.update(num_heads=self.num_heads, mlp_dim=self.mlp_dim, dropout=self.dropout,
                      attention_dropout=self.attention_dropout, activation=self.activation,
                      norm_first=self.norm_first, norm_epsilon=self.norm_epsilon,
                      drop_path_rate=self.drop_path_rate, layer_scale_init=self.layer_scale_init,
                      kernel_initializer=initializer_config(self.kernel_initializer))
        return config
