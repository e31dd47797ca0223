"""The Transformer encoder layer, ViT's options, position-embedding resampling and the text classifier.

Runs on TensorFlow, JAX and torch (``make test`` runs this file on all three)."""

import keras
import numpy as np
import pytest
from keras import ops

import kerasarch
from helpers import slow_off_tensorflow, slow_unless, slow_where_jit_is_torch_compile
from kerasarch import layers as kl
from kerasarch.layers.embedding import resample_grid_embedding


def _np(t):
    return np.asarray(ops.convert_to_numpy(t))


def _x(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def _numpy_attention(layer, x, key_mask=None):
    """Multi-head self-attention written out in NumPy from the layer's weights."""
    kernel, bias = (_np(w) for w in layer.qkv.weights)
    b, t, c = x.shape
    h = layer.num_heads
    qkv = (x @ kernel + bias).reshape(b, t, 3, h, c // h)
    q, k, v = (qkv[:, :, i].transpose(0, 2, 1, 3) for i in range(3))  # (b, h, t, d)
    logits = q @ k.transpose(0, 1, 3, 2) / np.sqrt(c // h)
    if key_mask is not None:
        logits = np.where(key_mask[:, None, None, :], logits, -1e9)
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    out = (probs @ v).transpose(0, 2, 1, 3).reshape(b, t, c)
    pk, pb = (_np(w) for w in layer.proj.weights)
    return out @ pk + pb, probs


def test_attention_equals_the_numpy_formula_on_both_paths():
    layer = kl.MultiHeadSelfAttention(num_heads=4)
    x = _x((2, 6, 16))
    mask = np.array([[True] * 6, [True] * 4 + [False] * 2])
    layer(x)  # builds the weights
    expected, probs = _numpy_attention(layer, x, mask)
    fused = _np(layer(x, padding_mask=mask))
    explicit, scores = layer(x, padding_mask=mask, return_attention_scores=True)
    np.testing.assert_allclose(fused, expected, atol=1e-5)
    np.testing.assert_allclose(_np(explicit), expected, atol=1e-5)
    np.testing.assert_allclose(_np(scores), probs, atol=1e-6)
    assert _np(scores).shape == (2, 4, 6, 6)
    np.testing.assert_allclose(_np(scores).sum(-1), 1.0, atol=1e-6)
    assert np.all(_np(scores)[1, :, :, 4:] == 0)  # padded keys get no attention


def test_padding_leaves_real_tokens_unchanged_and_causal_mask_hides_the_future():
    layer = kl.TransformerEncoderLayer(num_heads=2, mlp_dim=32, dropout=0.0)
    x = _x((1, 5, 8))
    short = _np(layer(x[:, :3]))
    padded = _np(layer(x, padding_mask=np.array([[True, True, True, False, False]])))
    np.testing.assert_allclose(padded[:, :3], short, atol=1e-5)
    causal = np.tril(np.ones((5, 5), bool))
    full = _np(layer(x, attention_mask=causal))
    changed = x.copy()
    changed[:, 3:] += 1.0
    np.testing.assert_allclose(_np(layer(changed, attention_mask=causal))[:, :3], full[:, :3], atol=1e-5)


def test_post_norm_and_pre_norm_forms():
    x = _x((2, 4, 8)) * 3 + 1
    post = kl.TransformerEncoderLayer(num_heads=2, mlp_dim=16, dropout=0.0, norm_first=False)
    pre = kl.TransformerEncoderLayer(num_heads=2, mlp_dim=16, dropout=0.0, norm_first=True)
    y_post, y_pre = _np(post(x)), _np(pre(x))
    # Post-norm ends in a LayerNorm: every token has mean 0 and variance 1.
    np.testing.assert_allclose(y_post.mean(-1), 0, atol=1e-5)
    np.testing.assert_allclose(y_post.var(-1), 1, atol=1e-3)
    # Pre-norm keeps the residual stream: with the branches' output layers at zero it is the identity.
    for dense in (pre.attn.proj, pre.fc2):
        dense.set_weights([np.zeros_like(_np(w)) for w in dense.weights])
    np.testing.assert_allclose(_np(pre(x)), x, atol=1e-6)
    assert not np.allclose(y_pre, x)


def test_layer_scale_starts_near_identity_and_drop_path_drops_only_in_training():
    x = _x((8, 4, 8))
    layer = kl.TransformerEncoderLayer(num_heads=2, mlp_dim=16, dropout=0.0, norm_first=True, layer_scale_init=1e-6,
                                       drop_path_rate=0.5)
    np.testing.assert_allclose(_np(layer(x, training=False)), x, atol=1e-4)
    assert {w.name for w in layer.trainable_weights} >= {"gamma1", "gamma2"}
    np.testing.assert_array_equal(_np(layer(x, training=False)), _np(layer(x, training=False)))


def test_encoder_layer_errors_are_clear():
    with pytest.raises(ValueError, match="do not split into 3 heads"):
        kl.TransformerEncoderLayer(num_heads=3)(_x((1, 2, 8)))
    with pytest.raises(ValueError, match="unknown activation 'swishy'"):
        kl.TransformerEncoderLayer(num_heads=2, activation="swishy")


# Configuration and weight-layout logic (the same NumPy on every backend): on TensorFlow in CI,
# everywhere in `make test-all`; the attention arithmetic and masks above run on every backend.
@slow_off_tensorflow
def test_vit_options_change_exactly_what_they_should():
    cls = kerasarch.create_model("vit_cifar")
    gap = kerasarch.create_model("vit_cifar", token_pooling="gap")
    rep = kerasarch.create_model("vit_cifar", representation_size=64)
    assert cls.count_params() - gap.count_params() == 2 * 192  # the class token and its position
    assert rep.count_params() - cls.count_params() == 192 * 64 + 64 + (64 - 192) * 10
    assert cls.get_layer("pos_embed").embeddings.shape == (1 + 64, 192)
    assert gap.get_layer("pos_embed").embeddings.shape == (64, 192)
    x = _x((2, 32, 32, 3))
    for model in (cls, gap, rep):
        y = _np(model(x, training=False))
        assert y.shape == (2, 10)
        np.testing.assert_allclose(y.sum(-1), 1, atol=1e-5)
    backbone = kerasarch.create_model("vit_cifar", include_top=False)
    assert backbone.output_shape == (None, 8, 8, 192)
    pooled = kerasarch.create_model("vit_cifar", include_top=False, pooling="avg")
    assert pooled.output_shape == (None, 192)
    features = kerasarch.create_model("vit_b16", input_shape=(64, 96, 3), features_only=True, out_indices=(2, -1))
    assert [tuple(o.shape) for o in features.outputs] == [(None, 4, 6, 768)] * 2
    assert [f["module"] for f in features.feature_info] == ["encoder_layer3", "encoder_layer12"]
    assert {f["reduction"] for f in features.feature_info} == {16}


@pytest.mark.parametrize("kwargs,match", [
    (dict(input_shape=(30, 32, 3)), "not a multiple of the patch size 4"),
    (dict(input_shape=(None, None, 3)), "needs a fixed input size"),
    (dict(input_shape=(2, 2, 3)), "needs at least 4x4"),
    (dict(token_pooling="max"), "token_pooling must be 'cls'"),
])
def test_vit_errors_are_clear(kwargs, match):
    with pytest.raises(ValueError, match=match):
        kerasarch.create_model("vit_cifar", **kwargs)


def test_resampling_keeps_the_class_token_and_smooth_grids():
    rows, cols = np.meshgrid(np.arange(4.0), np.arange(4.0), indexing="ij")
    table = np.concatenate([np.full((1, 2), 7.0), np.stack([rows, cols], -1).reshape(16, 2)]).astype("float32")
    out = resample_grid_embedding(table, 1, (8, 8))
    assert out.shape == (65, 2)
    np.testing.assert_array_equal(out[0], [7.0, 7.0])
    grid = out[1:].reshape(8, 8, 2)
    assert np.all(np.diff(grid[:, 0, 0]) > 0) and np.all(np.diff(grid[0, :, 1]) > 0)  # the order survives
    np.testing.assert_allclose(grid[:, :, 0].mean(), rows.mean(), atol=0.05)
    np.testing.assert_array_equal(resample_grid_embedding(table, 1, (4, 4)), table)
    with pytest.raises(ValueError, match="not a square grid"):
        resample_grid_embedding(table[:-1], 1, (8, 8))


@slow_off_tensorflow
def test_weights_saved_at_32_load_into_a_vit_built_at_64(tmp_path):
    small = kerasarch.create_model("vit_cifar")
    path = tmp_path / "vit32.weights.h5"
    small.save_weights(path)
    large = kerasarch.create_model("vit_cifar", input_shape=(64, 64, 3), weights=path)
    stored = _np(small.get_layer("pos_embed").embeddings)
    np.testing.assert_allclose(_np(large.get_layer("pos_embed").embeddings),
                               resample_grid_embedding(stored, 1, (16, 16)), atol=1e-6)
    for layer in ("patch_embed", "encoder_layer6", "head"):
        for a, b in zip(small.get_layer(layer).weights, large.get_layer(layer).weights):
            np.testing.assert_array_equal(_np(a), _np(b))
    assert np.isfinite(_np(large(_x((1, 64, 64, 3)), training=False))).all()
    # A different width is still refused, naming the layer.
    with pytest.raises(ValueError, match="does not fit layer"):
        kerasarch.create_model("vit_ti16", input_shape=(32, 32, 3), num_classes=10, weights=path)


def _tokens(length, pad, seed=0):
    seq = np.random.default_rng(seed).integers(1, 50, size=(3, length))
    seq[1, length - 2:] = 0  # a shorter sequence inside the batch
    return np.concatenate([seq, np.zeros((3, pad), "int64")], axis=1).astype("int32")


# Off TensorFlow, CI runs the pre-norm pair (10-20 s of compilation each); `make test-all` all four.
_NORM_FIRST_IN_CI = {True, False} if keras.backend.backend() == "tensorflow" else {True}


@pytest.mark.parametrize("token_pooling", ["cls", "mean"])
@pytest.mark.parametrize("norm_first", slow_unless([True, False], _NORM_FIRST_IN_CI))
def test_text_classifier_output_does_not_depend_on_appended_padding(token_pooling, norm_first):
    model = kerasarch.transformer_text_classifier(50, 4, max_length=64, depth=2, hidden_dim=32, num_heads=4,
                                                  token_pooling=token_pooling, norm_first=norm_first)
    reference = _np(model(_tokens(12, 0), training=False))
    assert reference.shape == (3, 4)
    for pad in (1, 9, 52):
        np.testing.assert_allclose(_np(model(_tokens(12, pad), training=False)), reference, atol=2e-6)
    # and it does depend on the tokens
    assert not np.allclose(_np(model(_tokens(12, 0, seed=1), training=False)), reference)


@slow_where_jit_is_torch_compile
def test_text_classifier_trains_under_xla_and_mixed_bfloat16_and_round_trips(tmp_path):
    model = kerasarch.transformer_text_classifier(50, 3, max_length=16, depth=2, hidden_dim=32, num_heads=2,
                                                  dtype="mixed_bfloat16", input_shape=(16,))
    tokens = _tokens(12, 4)
    y = model(tokens, training=False)
    assert keras.backend.standardize_dtype(y.dtype) == "float32"
    model.compile(optimizer=keras.optimizers.AdamW(1e-3), loss="sparse_categorical_crossentropy", jit_compile=True)
    before = _np(model.get_layer("token_embed").embeddings)
    logs = model.fit(tokens, np.array([0, 1, 2]), epochs=2, verbose=0).history
    assert np.isfinite(logs["loss"]).all()
    assert not np.array_equal(before, _np(model.get_layer("token_embed").embeddings))
    path = tmp_path / "text.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(_np(loaded(tokens, training=False)), _np(model(tokens, training=False)), atol=1e-6)


def test_text_classifier_errors_are_clear():
    with pytest.raises(ValueError, match="exceed max_length=8"):
        kerasarch.transformer_text_classifier(50, input_shape=(16,), max_length=8)
    with pytest.raises(ValueError, match="token_pooling must be 'cls'.*or 'avg'"):
        kerasarch.transformer_text_classifier(50, token_pooling="max")
    with pytest.raises(ValueError, match="num_classes must be a positive integer"):
        kerasarch.transformer_text_classifier(50, 0)
    with pytest.raises(ValueError, match="padding_id must be an id in"):
        kerasarch.transformer_text_classifier(50, padding_id=50)
    with pytest.raises(ValueError, match="vocab_size must be a positive integer"):
        kerasarch.create_model("transformer_text_tiny", vocab_size=0)


@slow_off_tensorflow
def test_text_model_pooled_features_ignore_padding_and_old_spellings_still_build():
    # include_top=False with pooling: one vector per sequence over its real tokens only.
    for pooling in ("avg", "max"):
        model = kerasarch.create_model("transformer_text_tiny", vocab_size=50, max_length=64, include_top=False,
                                       pooling=pooling)
        assert model.contract.output.kind == "features" and model.output_shape == (None, 128)
        reference = _np(model(_tokens(12, 0), training=False))
        np.testing.assert_allclose(_np(model(_tokens(12, 7), training=False)), reference, atol=2e-6)
    # "mean" (the text classifier's word) and "gap" (ViT's) both mean "avg" now.
    assert kerasarch.transformer_text_classifier(50, token_pooling="mean").arch["token_pooling"] == "avg"
    assert kerasarch.create_model("vit_cifar", token_pooling="gap").arch["token_pooling"] == "avg"
