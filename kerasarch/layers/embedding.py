"""Turning images and token sequences into the token sequences a Transformer reads.

``PatchEmbedding`` (image -> patch tokens), ``ClassToken`` (a learned token in front),
``PositionEmbedding`` (learned, added; a 2D grid is resampled when a weights file was
saved at another image size) and ``TokensToGrid`` (tokens back to an (H, W, C) map).
"""

import numpy as np

import keras
from keras import ops

from kerasarch.layers import _checks
from kerasarch.layers._config import initializer_arg, initializer_config

__all__ = ["ClassToken", "DropPrefixTokens", "PaddingMask", "PatchEmbedding", "PositionEmbedding", "TakeToken",
           "TokensToGrid", "resample_grid_embedding"]



@keras.saving.register_keras_serializable(package="kerasarch")
class PatchEmbedding(keras.layers.Layer):
    """Cuts an image into ``patch_size`` x ``patch_size`` patches and projects each to
    ``hidden_dim`` channels: a convolution with kernel = stride = patch size, flattened to
    (batch, patches, hidden_dim) in row-major order (torchvision's ``conv_proj``).

    The image sides must be multiples of ``patch_size``.
    """

    def __init__(self, patch_size, hidden_dim, kernel_initializer="lecun_normal", **kwargs):
        super().__init__(**kwargs)
        who = _checks.owner(self, kwargs)
        self.patch_size = _checks.positive_int(who, "patch_size", patch_size)
        self.hidden_dim = _checks.positive_int(who, "hidden_dim", hidden_dim)
        self.kernel_initializer = initializer_arg(_checks.initializer(who, "kernel_initializer", kernel_initializer))
        # torchvision: trunc_normal(std=sqrt(1 / fan_in)) = LeCun normal.
        self.proj = keras.layers.Conv2D(self.hidden_dim, self.patch_size, strides=self.patch_size,
                                        kernel_initializer=self.kernel_initializer, dtype=self.dtype_policy,
                                        name="proj")

    def build(self, input_shape):
        for side in input_shape[1:3]:
            if side is not None and side % self.patch_size:
                raise ValueError(
                    f"{self.name}: image side {side} is not a multiple of the patch size {self.patch_size}; "
                    f"resize to {side // self.patch_size * self.patch_size} or "
                    f"{-(-side // self.patch_size) * self.patch_size}."
                )
        self.proj.build(input_shape)

    def call(self, x):
        x = self.proj(x)
        return ops.reshape(x, (ops.shape(x)[0], -1, self.hidden_dim))

    def compute_output_shape(self, input_shape):
        h, w = input_shape[1:3]
        n = None if h is None or w is None else (h // self.patch_size) * (w // self.patch_size)
        return (input_shape[0], n, self.hidden_dim)

    def get_config(self):
        config = super().get_config()
        config.update(patch_size=self.patch_size, hidden_dim=self.hidden_dim,
                      kernel_initializer=initializer_config(self.kernel_initializer))
        return config


@keras.saving.register_keras_serializable(package="kerasarch")
class ClassToken(keras.layers.Layer):
    """Puts one learned token (BERT's [CLS], ViT's class token) in front of the sequence.

    ``mask`` (batch, tokens), when the input carries one, gains a True in front.
    """

    no_weight_decay = True  # training recipes skip it, as timm's no_weight_decay()

    def __init__(self, initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        self.initializer = initializer_arg(_checks.initializer(_checks.owner(self, kwargs), "initializer", initializer))
        self.token = None
        self.supports_masking = True

    def build(self, input_shape):
        self.token = self.add_weight(shape=(1, 1, input_shape[-1]), initializer=self.initializer, name="token")

    def call(self, x):
        token = ops.broadcast_to(ops.cast(self.token, x.dtype), (ops.shape(x)[0], 1, x.shape[-1]))
        return ops.concatenate([token, x], axis=1)

    def compute_mask(self, x, mask=None):
        if mask is None:
            return None
        return ops.concatenate([ops.ones_like(mask[:, :1]), mask], axis=1)

    def compute_output_shape(self, input_shape):
        n = None if input_shape[1] is None else input_shape[1] + 1
        return (input_shape[0], n, input_shape[2])

    def get_config(self):
        config = super().get_config()
        config.update(initializer=initializer_config(self.initializer))
        return config


def _cubic(x, a=-0.5):
    x = np.abs(x)
    return np.where(x < 1, ((a + 2) * x - (a + 3)) * x * x + 1,
                    np.where(x < 2, ((a * x - 5 * a) * x + 8 * a) * x - 4 * a, 0.0))


def _resize_matrix(old, new):
    """(new, old) weights of antialiased bicubic resizing along one axis (half-pixel centres,
    Keys a=-0.5, the kernel widened by the scale when shrinking, each window clipped to the
    input and renormalised): PIL's and ``torch.nn.functional.interpolate(mode="bicubic",
    antialias=True)``'s filter."""
    scale = old / new
    stretch = max(scale, 1.0)
    support = 2.0 * stretch
    centers = (np.arange(new) + 0.5) * scale
    src = np.arange(old)
    weights = _cubic((src[None, :] + 0.5 - centers[:, None]) / stretch)
    lo = np.maximum((centers - support + 0.5).astype(np.int64), 0)
    hi = np.minimum((centers + support + 0.5).astype(np.int64), old)
    weights = np.where((src[None] >= lo[:, None]) & (src[None] < hi[:, None]), weights, 0.0)
    return weights / weights.sum(axis=1, keepdims=True)


def resample_grid_embedding(table, num_prefix_tokens, new_grid, old_grid=None):
    """Resample a (prefix + h*w, C) position table to ``new_grid`` (h', w') by bicubic
    interpolation of its grid part; prefix rows (class token) are kept as they are.

    The interpolation is timm's ``resample_abs_pos_embed`` default (bicubic, antialiased,
    half-pixel centres), computed in NumPy so that a file resamples to the same table on
    every backend (``keras.ops.image.resize`` uses another cubic kernel on torch than on
    TensorFlow and JAX). torchvision's ``interpolate_embeddings`` (``align_corners=True``)
    gives other values. ``old_grid`` defaults to a square grid. NumPy in and out.
    """
    table = np.asarray(table)
    prefix, grid = table[:num_prefix_tokens], table[num_prefix_tokens:]
    if old_grid is None:
        side = int(round(len(grid) ** 0.5))
        if side * side != len(grid):
            raise ValueError(
                f"cannot resample {len(grid)} position embeddings: not a square grid; pass old_grid=(h, w)."
            )
        old_grid = (side, side)
    if tuple(old_grid) == tuple(new_grid):
        return table
    image = grid.reshape(*old_grid, -1).astype("float64")
    image = np.einsum("ih,hwc->iwc", _resize_matrix(old_grid[0], new_grid[0]), image)
    image = np.einsum("jw,iwc->ijc", _resize_matrix(old_grid[1], new_grid[1]), image)
    return np.concatenate([prefix, image.reshape(-1, table.shape[-1]).astype(table.dtype)], axis=0)


@keras.saving.register_keras_serializable(package="kerasarch")
class PositionEmbedding(keras.layers.Layer):
    """Adds a learned position embedding.

    Args:
        grid_size: an int ``L`` for sequences (inputs of up to ``L`` tokens; a shorter
            input gets the first rows), or ``(h, w)`` for an image's patch grid.
        num_prefix_tokens: tokens in front of the grid (1 for ViT's class token).
        initializer: normal with std 0.02, as torchvision and BERT.

    A weights file saved from a model with another grid (a ViT trained at 224x224, loaded
    into one built at 384x384) loads: the grid part is resampled bicubically to this
    layer's grid (:func:`resample_grid_embedding`, as timm's ``resample_abs_pos_embed``
    does), the same on every backend.
    """

    no_weight_decay = True

    def __init__(self, grid_size, num_prefix_tokens=0, initializer=None, **kwargs):
        super().__init__(**kwargs)
        who = _checks.owner(self, kwargs)
        grid_size = _checks.int_or_pair(who, "grid_size", grid_size)
        self.grid_size = int(grid_size) if np.ndim(grid_size) == 0 else tuple(int(g) for g in grid_size)
        self.num_prefix_tokens = _checks.non_negative_int(who, "num_prefix_tokens", num_prefix_tokens)
        initializer = _checks.initializer(who, "initializer", initializer)
        self.initializer = initializer_arg(initializer or keras.initializers.RandomNormal(stddev=0.02))
        self.embeddings = None
        self.supports_masking = True

    @property
    def resamples_stored_weights(self):
        """Whether a stored table of another grid size is resampled on load (2D grids)."""
        return not isinstance(self.grid_size, int)

    @property
    def length(self):
        grid = self.grid_size if isinstance(self.grid_size, int) else int(np.prod(self.grid_size))
        return self.num_prefix_tokens + grid

    def build(self, input_shape):
        tokens = input_shape[1]
        sequence = isinstance(self.grid_size, int)
        if tokens is not None and (tokens > self.length if sequence else tokens != self.length):
            raise ValueError(
                f"{self.name}: the input has {tokens} tokens, the position table "
                f"{'at most ' if sequence else ''}{self.length}."
            )
        self.embeddings = self.add_weight(shape=(self.length, input_shape[-1]), initializer=self.initializer,
                                          name="embeddings")

    def call(self, x):
        table = ops.cast(self.embeddings, x.dtype)
        if isinstance(self.grid_size, int):
            table = ops.slice(table, (0, 0), (ops.shape(x)[1], x.shape[-1]))
        return x + table[None]

    def load_own_variables(self, store):
        stored = np.asarray(store["0"])
        if stored.shape != tuple(self.embeddings.shape) and self.resamples_stored_weights:
            if stored.shape[-1] != self.embeddings.shape[-1]:
                raise ValueError(
                    f"{self.name}: stored position embeddings have {stored.shape[-1]} channels, "
                    f"this layer {self.embeddings.shape[-1]}."
                )
            stored = resample_grid_embedding(stored, self.num_prefix_tokens, self.grid_size)
            self.embeddings.assign(stored)
            return
        super().load_own_variables(store)

    def compute_mask(self, x, mask=None):
        return mask

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(grid_size=self.grid_size, num_prefix_tokens=self.num_prefix_tokens,
                      initializer=initializer_config(self.initializer))
        return config


@keras.saving.register_keras_serializable(package="kerasarch")
class TokensToGrid(keras.layers.Layer):
    """(batch, prefix + h*w, C) tokens -> (batch, h, w, C) map, dropping the prefix tokens:
    a ViT's token sequence in the layout CNN feature consumers expect."""

    def __init__(self, grid_size, num_prefix_tokens=0, **kwargs):
        super().__init__(**kwargs)
        who = _checks.owner(self, kwargs)
        self.grid_size = _checks.pair(who, "grid_size", grid_size)
        self.num_prefix_tokens = _checks.non_negative_int(who, "num_prefix_tokens", num_prefix_tokens)

    def call(self, x):
        x = x[:, self.num_prefix_tokens:]
        return ops.reshape(x, (ops.shape(x)[0], *self.grid_size, x.shape[-1]))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *self.grid_size, input_shape[-1])

    def get_config(self):
        config = super().get_config()
        config.update(grid_size=self.grid_size, num_prefix_tokens=self.num_prefix_tokens)
        return config


@keras.saving.register_keras_serializable(package="kerasarch")
class TakeToken(keras.layers.Layer):
    """(batch, tokens, C) -> (batch, C): the token at ``index`` (0: the class token)."""

    def __init__(self, index=0, **kwargs):
        super().__init__(**kwargs)
        # Negative indices count from the end, as in Python.
        self.index = _checks.integer(_checks.owner(self, kwargs), "index", index)

    def call(self, x):
        return x[:, self.index]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])

    def get_config(self):
        config = super().get_config()
        config.update(index=self.index)
        return config


@keras.saving.register_keras_serializable(package="kerasarch")
class PaddingMask(keras.layers.Layer):
    """Token ids (batch, tokens) -> boolean mask, True for real tokens (id != ``padding_id``).

    ``num_prefix_tokens`` Trues are put in front, for tokens a later layer prepends
    (a [CLS] token from :class:`ClassToken`).
    """

    def __init__(self, padding_id=0, num_prefix_tokens=0, **kwargs):
        super().__init__(**kwargs)
        who = _checks.owner(self, kwargs)
        # Token ids are non-negative, so a negative padding id would mask nothing.
        self.padding_id = _checks.non_negative_int(who, "padding_id", padding_id)
        self.num_prefix_tokens = _checks.non_negative_int(who, "num_prefix_tokens", num_prefix_tokens)

    def call(self, tokens):
        mask = ops.not_equal(tokens, self.padding_id)
        if self.num_prefix_tokens:
            mask = ops.concatenate([ops.ones_like(mask[:, :self.num_prefix_tokens]), mask], axis=1)
        return mask

    def compute_output_spec(self, tokens):
        n = None if tokens.shape[1] is None else tokens.shape[1] + self.num_prefix_tokens
        return keras.KerasTensor((tokens.shape[0], n), dtype="bool")

    def get_config(self):
        config = super().get_config()
        config.update(padding_id=self.padding_id, num_prefix_tokens=self.num_prefix_tokens)
        return config


@keras.saving.register_keras_serializable(package="kerasarch")
class DropPrefixTokens(keras.layers.Layer):
    """(batch, prefix + n, C) -> (batch, n, C): drop the tokens a :class:`ClassToken` put in
    front, so a sequence model's feature levels line up with its input tokens. A mask, when
    the input carries one, loses the same entries."""

    def __init__(self, num_prefix_tokens=1, **kwargs):
        who = _checks.owner(self, kwargs)
        super().__init__(**kwargs)
        self.num_prefix_tokens = _checks.non_negative_int(who, "num_prefix_tokens", num_prefix_tokens)
        self.supports_masking = True

    def call(self, x):
        return x[:, self.num_prefix_tokens:]

    def compute_mask(self, x, mask=None):
        return None if mask is None else mask[:, self.num_prefix_tokens:]

    def compute_output_shape(self, input_shape):
        n = input_shape[1]
        return (input_shape[0], None if n is None else n - self.num_prefix_tokens, input_shape[2])

    def get_config(self):
        config = super().get_config()
        config.update(num_prefix_tokens=self.num_prefix_tokens)
        return config
