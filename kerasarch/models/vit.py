"""Vision Transformer (Dosovitskiy et al. 2021, "An Image is Worth 16x16 Words"), torchvision's layout.

| name      | patch | width | depth | heads | MLP  | input | params (1000 classes) |
|-----------|-------|-------|-------|-------|------|-------|-----------------------|
| vit_ti16  | 16    | 192   | 12    | 3     | 768  | 224   | 5,717,416             |
| vit_s16   | 16    | 384   | 12    | 6     | 1536 | 224   | 22,050,664            |
| vit_b16   | 16    | 768   | 12    | 12    | 3072 | 224   | 86,567,656            |
| vit_b32   | 32    | 768   | 12    | 12    | 3072 | 224   | 88,224,232            |
| vit_l16   | 16    | 1024  | 24    | 16    | 4096 | 224   | 304,326,632           |
| vit_l32   | 32    | 1024  | 24    | 16    | 4096 | 224   | 306,535,400           |
| vit_cifar | 4     | 192   | 6     | 3     | 384  | 32    | 1,806,538 (10 classes)|

B and L are the paper's Table 1; Ti and S are DeiT's widths (Touvron et al. 2021), as timm
names them; ``vit_cifar`` is a small ViT for 32x32 images (64 patches of 4x4) that trains on
a CPU. Layout: patch embedding (convolution, kernel = stride = patch), class token, learned
position embeddings, pre-norm encoder layers (GELU, LayerNorm epsilon 1e-6), final
LayerNorm, head on the class token.
"""

import dataclasses

import keras

from kerasarch.layers.embedding import ClassToken, PatchEmbedding, PositionEmbedding, TokensToGrid
from kerasarch.layers.transformer import TransformerEncoderLayer
from kerasarch.models.base import ImageModelBuilder, token_pooling_arg
from kerasarch.registry import export_constructors, image_contract, register_model

__all__ = ["ViTVariant", "VARIANTS", "build_vit"]

LN_EPSILON = 1e-6


@dataclasses.dataclass(frozen=True)
class ViTVariant:
    name: str
    patch_size: int
    hidden_dim: int
    depth: int
    num_heads: int
    mlp_dim: int
    input_size: int = 224
    num_classes: int = 1000


VARIANTS = (
    ViTVariant("vit_ti16", 16, 192, 12, 3, 768),
    ViTVariant("vit_s16", 16, 384, 12, 6, 1536),
    ViTVariant("vit_b16", 16, 768, 12, 12, 3072),
    ViTVariant("vit_b32", 32, 768, 12, 12, 3072),
    ViTVariant("vit_l16", 16, 1024, 24, 16, 4096),
    ViTVariant("vit_l32", 32, 1024, 24, 16, 4096),
    ViTVariant("vit_cifar", 4, 192, 6, 3, 384, input_size=32, num_classes=10),
)


def _contract(v):
    return image_contract(input_shape=(v.input_size, v.input_size, 3), num_classes=v.num_classes, min_size=v.patch_size)


def build_vit(variant, *, token_pooling="cls", representation_size=None, dropout=0.0, attention_dropout=0.0,
              layer_scale_init=None, **kwargs):
    """Build a Vision Transformer.

    Args:
        token_pooling: "cls" (the class token's output feeds the head, as the paper and
            torchvision) or "avg" (no class token; the head reads the mean of the patch
            tokens, the paper's "GAP" alternative, then a LayerNorm: timm's ``fc_norm``;
            "gap" is accepted too).
        representation_size: if set, a dense layer of this width with tanh before the
            head (the paper's pre-logits layer for ImageNet-21k pre-training).
        dropout: dropout in the encoder layers' residual branches and after the
            position embeddings (0 in the references).
        attention_dropout: dropout on attention probabilities.
        layer_scale_init: per-channel layer scale on both branches of every layer (None).
        **kwargs: the common builder arguments (:mod:`kerasarch.models.base`).
            ``drop_path_rate`` rises linearly over the layers; ``drop_rate`` is dropout
            before the head.

    The input sides must be multiples of the patch size and fixed: the position embeddings
    are sized to the patch grid. A weights file saved at another size still loads: its
    position embeddings are resampled bicubically to this model's grid.

    Feature levels: every encoder layer's patch tokens as an (H/patch, W/patch, C) map
    (reduction = patch size). With ``include_top=False`` the output is the final normed
    patch-token map, so ``pooling="avg"`` / ``"max"`` work as for the CNNs.
    """
    v = variant
    token_pooling = token_pooling_arg(v.name, token_pooling)
    b = ImageModelBuilder(v.name, kwargs, contract=_contract(v), family="vit", head_name="head")
    height, width = b.input_shape[:2]
    if height is None or width is None:
        raise ValueError(
            f"{v.name}: a ViT needs a fixed input size (its position embeddings are sized to the patch grid), "
            f"got input_shape={b.input_shape}. Build it at the size you train or serve at, e.g. "
            f"input_shape=({v.input_size}, {v.input_size}, 3); weights saved at another size load into it."
        )
    for side in (height, width):
        if side % v.patch_size:
            raise ValueError(
                f"{v.name}: input {height}x{width} is not a multiple of the patch size {v.patch_size}; use a side "
                f"such as {side // v.patch_size * v.patch_size or v.patch_size} or "
                f"{-(-side // v.patch_size) * v.patch_size}."
            )
    grid = (height // v.patch_size, width // v.patch_size)
    prefix = 1 if token_pooling == "cls" else 0
    b.arch_extra.update(patch_size=v.patch_size, token_pooling=token_pooling)
    with b.policy():
        x = PatchEmbedding(v.patch_size, v.hidden_dim, name="patch_embed")(b.inputs)
        if prefix:
            x = ClassToken(name="class_token")(x)
        x = PositionEmbedding(grid, num_prefix_tokens=prefix, name="pos_embed")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name="pos_drop")(x)
        for i in range(v.depth):
            x = TransformerEncoderLayer(
                v.num_heads, mlp_dim=v.mlp_dim, dropout=dropout, attention_dropout=attention_dropout,
                activation="gelu", norm_first=True, norm_epsilon=LN_EPSILON,
                drop_path_rate=b.drop_path_at(i, v.depth), layer_scale_init=layer_scale_init,
                name=f"encoder_layer{i + 1}")(x)
            if b.features_only:
                b.add_feature(TokensToGrid(grid, prefix, name=f"encoder_layer{i + 1}_grid")(x),
                              f"encoder_layer{i + 1}", v.patch_size)
            else:
                b.add_feature(x, f"encoder_layer{i + 1}", v.patch_size)
        if b.features_only:
            return b.finish(x)
        if token_pooling == "cls":
            x = keras.layers.LayerNormalization(epsilon=LN_EPSILON, name="norm")(x)
        if not b.include_top:
            # The patch tokens as a map, for pooling="avg"/"max" or dense prediction.
            return b.finish(TokensToGrid(grid, prefix, name="patch_tokens")(x))
        # "avg" reads the mean of the patch tokens, then a LayerNorm (timm's fc_norm).
        return b.finish(x, head=lambda t: b.token_head(t, token_pooling, norm=LN_EPSILON,
                                                       pre_logits=representation_size))


# Test tiers (tests/tiers.py): attention and tokens on every backend, at 32x32.
TAGS = {"vit_cifar": ("ci_jax", "ci_xla", "ci_onnx")}

for _v in VARIANTS:
    register_model(_v.name, build_vit, _v, family="vit", contract=_contract(_v),
                   tags=TAGS.get(_v.name, ()))

__all__ += export_constructors(globals(), "vit")
