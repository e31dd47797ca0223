"""ViT weights from torchvision and timm beyond the plain parity check (tests/test_torch_weights.py):
a checkpoint saved at another image size, the packed q/k/v projection, and timm's build options
(average pooling with ``fc_norm``, layer scale) that kerasarch's ViT also has."""

import keras
import numpy as np
import pytest

import kerasarch
from helpers import slow_off_tensorflow
from torch_twins import TOLERANCE, build, images, kerasarch_logits, randomize, relative_diff, write_checkpoints

torch = pytest.importorskip("torch", reason="the ViT weight tests need torch (make install)")
timm = pytest.importorskip("timm", reason="the ViT weight tests need timm")

from kerasarch.layers.embedding import resample_grid_embedding  # noqa: E402
from kerasarch.weights import CheckpointError, load_torch_weights  # noqa: E402
from kerasarch.weights.maps.vit import split_packed_qkv  # noqa: E402
from kerasarch.weights.reference import reference_logits  # noqa: E402

CLASSES = 7


def _np(variable):
    return np.asarray(keras.ops.convert_to_numpy(variable))


def _timm_tiny(size, **kwargs):
    return randomize(timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=CLASSES, img_size=size,
                                       **kwargs))


def test_a_checkpoint_of_another_size_has_its_position_grid_resampled(tmp_path):
    # Trained at 32 px (a 2x2 grid of 16-px patches), loaded into a 64-px model (4x4).
    small = _timm_tiny(32)
    pth, _ = write_checkpoints(small, str(tmp_path))
    stored = small.state_dict()["pos_embed"][0].numpy()
    model = build("vit_ti16", 64, weights=pth)
    got = _np(model.get_layer("pos_embed").embeddings)
    assert got.shape == (17, 192)
    np.testing.assert_array_equal(got, resample_grid_embedding(stored, 1, (4, 4)))
    np.testing.assert_array_equal(got[0], stored[0])  # the class token's row is kept
    # timm's own route to a 64-px model from this file gives the same table (its default
    # resampling is the one kerasarch uses) and the same logits.
    from timm.models.vision_transformer import checkpoint_filter_fn

    large = timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=CLASSES, img_size=64).eval()
    large.load_state_dict(checkpoint_filter_fn(dict(small.state_dict()), large))
    np.testing.assert_allclose(got, large.pos_embed[0].detach().numpy(), atol=1e-5)
    x = images(64)
    diff = relative_diff(kerasarch_logits(model, x), reference_logits(large, x))
    assert diff <= TOLERANCE, f"vit_ti16 32 px -> 64 px on {keras.backend.backend()}: {diff:.2e}"
    # A kerasarch weights file saved at 32 px and loaded at 64 px resamples with the same function.
    saved = tmp_path / "vit_ti16_32.weights.h5"
    build("vit_ti16", 32, weights=pth).save_weights(saved)
    from_keras = build("vit_ti16", 64, weights=str(saved))
    np.testing.assert_array_equal(_np(from_keras.get_layer("pos_embed").embeddings), got)


def test_split_packed_qkv_gives_heads_in_the_order_the_fused_layer_reads_them():
    dim, heads = 6, 2
    weight = np.arange(3 * dim * dim, dtype="float32").reshape(3 * dim, dim)
    q, k, v = split_packed_qkv(weight, heads)
    assert q.shape == (heads, dim // heads, dim)
    np.testing.assert_array_equal(k[1, 0], weight[dim + dim // heads])
    # kerasarch's fused qkv Dense reshapes its outputs (3, heads, head_dim): the same order.
    fused = weight.T.reshape(dim, 3, heads, dim // heads)
    np.testing.assert_array_equal(fused[:, 2].transpose(1, 2, 0), v)
    bq, _, _ = split_packed_qkv(np.arange(3 * dim), heads)
    np.testing.assert_array_equal(bq, np.arange(dim).reshape(heads, dim // heads))


def test_timm_average_pooling_and_layer_scale_match_the_reference(tmp_path):
    ref = _timm_tiny(64, global_pool="avg", class_token=False, init_values=1e-5)
    _, st = write_checkpoints(ref, str(tmp_path))
    x = images(64)
    model = build("vit_ti16", 64, weights=st, token_pooling="avg", layer_scale_init=1e-5)
    diff = relative_diff(kerasarch_logits(model, x), reference_logits(ref, x))
    assert diff <= TOLERANCE, f"vit_ti16 avg + layer scale on {keras.backend.backend()}: {diff:.2e}"
    # Without a top, fc_norm (part of kerasarch's head) is left out with the classifier.
    backbone = kerasarch.create_model("vit_ti16", include_top=False, input_shape=(64, 64, 3), token_pooling="avg",
                                      layer_scale_init=1e-5)
    report = load_torch_weights(backbone, st)
    assert {k for k, _ in report.dropped} == {"fc_norm.weight", "fc_norm.bias", "head.weight", "head.bias"}


@pytest.mark.slow
def test_torchvision_pre_logits_match_the_reference(tmp_path):
    import torchvision

    ref = randomize(torchvision.models.get_model("vit_b_32", num_classes=CLASSES, image_size=64,
                                                 representation_size=32))
    pth, _ = write_checkpoints(ref, str(tmp_path))
    x = images(64)
    model = build("vit_b32", 64, weights=pth, representation_size=32)
    diff = relative_diff(kerasarch_logits(model, x), reference_logits(ref, x))
    assert diff <= TOLERANCE, f"vit_b32 pre-logits on {keras.backend.backend()}: {diff:.2e}"


@slow_off_tensorflow
def test_a_build_option_one_source_lacks_leaves_the_choice_to_the_other():
    # torchvision's ViT has no average pooling: its map refuses the model, and timm's is chosen.
    model = kerasarch.create_model("vit_b32", token_pooling="avg", input_shape=(32, 32, 3), num_classes=CLASSES)
    ref = timm.create_model("vit_base_patch32_224", pretrained=False, num_classes=CLASSES, img_size=32,
                            global_pool="avg", class_token=False)
    assert load_torch_weights(model, ref.state_dict()).source == "timm"
    del ref
    with pytest.raises(CheckpointError, match="token_pooling='cls'"):
        load_torch_weights(model, {"encoder.ln.weight": np.zeros(768, "float32")})
