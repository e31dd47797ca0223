"""Vision Transformers from torchvision (``vit_b_16`` ... ``vit_l_32``) and timm (``vit_tiny_patch16_224``
... ``vit_large_patch32_224``); ``vit_cifar`` has no twin.

Both references store attention as one packed projection, rows q, k, v, each split into heads
in order: nn.MultiheadAttention's ``in_proj_weight`` (3D, D) in torchvision, a ``qkv`` Linear in
timm. kerasarch's fused ``qkv`` Dense reshapes its 3D outputs as (3, heads, head_dim) in the
same order, so the packed tensor only needs a transpose (:func:`packed_qkv_kernel`) and no
split. Position embeddings are (1, prefix + h*w, D) in both; a checkpoint of another image size
(a 224 checkpoint into a 384 model) has its grid resampled by kerasarch's own
:func:`~kerasarch.layers.embedding.resample_grid_embedding`, as a ``.keras`` file of another size
is on load, so both routes give the same model. Build options the references also have map
too: timm's ``global_pool="avg", class_token=False`` (kerasarch ``token_pooling="avg"``, with
``fc_norm``), timm's ``init_values`` (``layer_scale_init``) and torchvision's
``representation_size`` (``pre_logits``).
"""

import numpy as np

from kerasarch.layers.embedding import resample_grid_embedding
from kerasarch.weights.checkpoint import CheckpointError
from kerasarch.weights.layout import linear_kernel, torch_layout

_TORCHVISION = {"vit_b16": "vit_b_16", "vit_b32": "vit_b_32", "vit_l16": "vit_l_16", "vit_l32": "vit_l_32"}
_TIMM = {"vit_ti16": "vit_tiny_patch16_224", "vit_s16": "vit_small_patch16_224", "vit_b16": "vit_base_patch16_224",
         "vit_b32": "vit_base_patch32_224", "vit_l16": "vit_large_patch16_224", "vit_l32": "vit_large_patch32_224"}


def packed_qkv_kernel(value, variable):
    """A packed q/k/v projection weight (3D, D), rows q then k then v, onto kerasarch's fused
    ``qkv`` Dense kernel (D, 3D): its columns are in the same order, so this is a transpose."""
    if value.ndim != 2 or value.shape[0] != 3 * value.shape[1]:
        return value  # the shape check reports it, with both shapes
    return linear_kernel(value, variable)


def split_packed_qkv(value, num_heads):
    """A packed weight (3D, D) or bias (3D,) as ``(q, k, v)``, each (heads, head_dim[, D]): for a
    layer that stores the three projections apart (the mapping kerasarch's fused layer avoids)."""
    q, k, v = np.split(np.asarray(value), 3, axis=0)
    return tuple(p.reshape(num_heads, p.shape[0] // num_heads, *p.shape[1:]) for p in (q, k, v))


def position_embedding(layer):
    """(1, prefix + h*w, D) onto ``layer``'s (prefix + h'*w', D) table, the grid resampled
    when the checkpoint was saved at another image size."""

    def convert(value, variable):
        table = value[0] if value.ndim == 3 and value.shape[0] == 1 else value
        if table.shape == tuple(variable.shape) or table.ndim != 2 or table.shape[1] != variable.shape[1]:
            return table
        cells = table.shape[0] - layer.num_prefix_tokens
        side = int(round(max(cells, 0) ** 0.5))
        if side * side != cells:
            return table  # not a square grid with this many prefix tokens: the shape check reports it
        return resample_grid_embedding(table, layer.num_prefix_tokens, layer.grid_size, old_grid=(side, side))

    return convert


def _embeddings(t, patch, cls, pos):
    t.layer("patch_embed/proj", patch)
    if t.has("class_token"):
        t.tensor("class_token:token", cls)  # (1, 1, D) in kerasarch too
    t.tensor("pos_embed:embeddings", pos, convert=position_embedding(t.layers["pos_embed"]))


def _layers(t):
    """``(layer path, number)`` of the encoder layers; a layer owns variables of its own (and is
    a path of the model) only with layer scale."""
    return [(f"encoder_layer{m[1]}", int(m[1])) for _, m in t.find(r"encoder_layer(\d+)/norm1")]


@torch_layout("vit", "torchvision", twins={k: (v, {"sized": "image_size"}) for k, v in _TORCHVISION.items()},
              ci=("vit_b32",))
def torchvision_vit(t):
    if t.arch.get("token_pooling", "cls") != "cls":
        raise CheckpointError(f"{t.model.name}: torchvision's ViT reads the class token; build the model with "
                              "token_pooling='cls' to load its checkpoints.")
    _embeddings(t, "conv_proj", "class_token", "encoder.pos_embedding")
    for path, i in _layers(t):
        if t.has(path):
            raise CheckpointError(f"{t.model.name}: torchvision's ViT has no layer scale; build the model with "
                                  "layer_scale_init=None to load its checkpoints.")
        prefix = f"encoder.layers.encoder_layer_{i - 1}"
        t.layer(f"{path}/norm1", f"{prefix}.ln_1")
        t.tensor(f"{path}/attn/qkv:kernel", f"{prefix}.self_attention.in_proj_weight", convert=packed_qkv_kernel)
        t.tensor(f"{path}/attn/qkv:bias", f"{prefix}.self_attention.in_proj_bias")
        t.layer(f"{path}/attn/proj", f"{prefix}.self_attention.out_proj")
        t.layer(f"{path}/norm2", f"{prefix}.ln_2")
        t.layer(f"{path}/fc1", f"{prefix}.mlp.0")
        t.layer(f"{path}/fc2", f"{prefix}.mlp.3")
    t.layer("norm", "encoder.ln")
    if t.has("pre_logits"):
        t.layer("pre_logits", "heads.pre_logits", head=True)
    elif not t.has("head"):
        # Without a top the pre-logits layer goes with the classifier; with one, a checkpoint that
        # has it does not fit a model built without representation_size, and must say so.
        t.ignore(r"heads\.pre_logits\..*", "the model has no classifier")
    t.layer("head", "heads.head", head=True)


@torch_layout("vit", "timm", twins={k: (v, {"sized": "img_size"}) for k, v in _TIMM.items()}, ci=("vit_ti16",))
def timm_vit(t):
    if t.has("pre_logits"):
        raise CheckpointError(f"{t.model.name}: timm's ViT has no pre-logits layer; build the model with "
                              "representation_size=None to load its checkpoints.")
    _embeddings(t, "patch_embed.proj", "cls_token", "pos_embed")
    for path, i in _layers(t):
        prefix = f"blocks.{i - 1}"
        t.layer(f"{path}/norm1", f"{prefix}.norm1")
        t.tensor(f"{path}/attn/qkv:kernel", f"{prefix}.attn.qkv.weight", convert=packed_qkv_kernel)
        t.tensor(f"{path}/attn/qkv:bias", f"{prefix}.attn.qkv.bias")
        t.layer(f"{path}/attn/proj", f"{prefix}.attn.proj")
        t.layer(f"{path}/norm2", f"{prefix}.norm2")
        t.layer(f"{path}/fc1", f"{prefix}.mlp.fc1")
        t.layer(f"{path}/fc2", f"{prefix}.mlp.fc2")
        if t.has(path):
            t.tensor(f"{path}:gamma1", f"{prefix}.ls1.gamma")
            t.tensor(f"{path}:gamma2", f"{prefix}.ls2.gamma")
    if t.arch.get("token_pooling", "cls") == "cls":
        t.layer("norm", "norm")
    else:
        # timm's global_pool="avg" moves the final LayerNorm after the pooling (fc_norm), as kerasarch's
        # "avg" does; it is part of kerasarch's head, so a model without a top leaves it out.
        t.layer("fc_norm", "fc_norm", head=True)
    t.layer("head", "head", head=True)
