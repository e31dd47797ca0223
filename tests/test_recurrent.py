"""The recurrent blocks and families: masking, the last state, attention, forecasts, errors.

Runs on TensorFlow, JAX and torch (``make test`` runs it on all three)."""

import keras
import numpy as np
import pytest
from keras import ops

import kerasarch
from kerasarch import layers as kl


def _np(x):
    return np.asarray(ops.convert_to_numpy(x))


def _seq(batch=2, steps=6, width=4, seed=0):
    return np.random.default_rng(seed).normal(size=(batch, steps, width)).astype("float32")


def _mask(lengths, steps):
    return np.arange(steps)[None, :] < np.asarray(lengths)[:, None]


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_last_step_pooling_is_the_cells_final_state_under_padding(cell, bidirectional):
    # The state read off the output sequence equals what Keras's own cell returns with
    # return_sequences=False, for each sequence's own length.
    x, lengths = _seq(steps=7), [7, 4]
    mask = _mask(lengths, 7)
    level = kl.RecurrentLayer(5, cell=cell, bidirectional=bidirectional)
    pooled = _np(kl.LastStepPooling(bidirectional)(level(x, mask=mask), mask=mask))
    final = kl.RecurrentLayer(5, cell=cell, bidirectional=bidirectional, return_sequences=False)
    final.build(x.shape)
    final.set_weights(level.get_weights())
    for i, n in enumerate(lengths):
        # Each sequence alone, unpadded: what its state should be.
        alone = _np(final(x[i:i + 1, :n]))
        np.testing.assert_allclose(pooled[i:i + 1], alone, atol=1e-5)
    np.testing.assert_allclose(_np(final(x, mask=mask)), pooled, atol=1e-5)


def test_recurrent_layer_zeroes_padded_steps_and_ignores_what_they_hold():
    x, mask = _seq(steps=6), _mask([6, 3], 6)
    level = kl.RecurrentLayer(4, cell="lstm", bidirectional=True, residual=False, layer_norm=True)
    y = _np(level(x, mask=mask))
    assert y.shape == (2, 6, 8) and not y[1, 3:].any()
    noisy = x.copy()
    noisy[1, 3:] = 100.0  # garbage in the padding changes nothing
    np.testing.assert_allclose(_np(level(noisy, mask=mask)), y, atol=1e-6)


def test_residual_needs_equal_widths_and_says_so():
    with pytest.raises(ValueError, match="as wide as the output"):
        kl.RecurrentLayer(4, residual=True, bidirectional=True)(_seq(width=4))
    with pytest.raises(ValueError, match="return_sequences"):
        kl.RecurrentLayer(4, residual=True, return_sequences=False)
    with pytest.raises(ValueError, match="cell must be one of"):
        kl.RecurrentLayer(4, cell="lstmm")


def test_attention_pooling_weights_cover_the_real_steps_only():
    x, mask = _seq(steps=5, width=6), _mask([5, 2], 5)
    pool = kl.AttentionPooling(8)
    out = _np(pool(x, mask=mask))
    weights = _np(pool.weights_over_steps(x, mask))
    np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-6)
    assert not weights[1, 2:].any()
    np.testing.assert_allclose(out, np.einsum("bt,btc->bc", weights, x), atol=1e-5)


@pytest.mark.parametrize("score,units", [("additive", 8), ("general", None), ("dot", None)])
def test_sequence_attention_masks_memory_and_returns_a_convex_mix(score, units):
    query, memory = _seq(steps=3, width=6, seed=1), _seq(steps=5, width=6, seed=2)
    mask = _mask([5, 2], 5)
    attention = kl.SequenceAttention(units, score=score)
    context, weights = attention(query, memory, memory_mask=mask)
    context, weights = _np(context), _np(weights)
    assert context.shape == (2, 3, 6) and weights.shape == (2, 3, 5)
    np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-6)
    assert not weights[1, :, 2:].any()
    np.testing.assert_allclose(context, np.einsum("bqm,bmc->bqc", weights, memory), atol=1e-5)
    clone = kl.SequenceAttention.from_config(attention.get_config())
    clone(query, memory)
    clone.set_weights(attention.get_weights())
    np.testing.assert_allclose(_np(clone(query, memory, memory_mask=mask)[0]), context, atol=1e-6)


def test_sequence_attention_errors():
    with pytest.raises(ValueError, match="widths must agree"):
        kl.SequenceAttention(score="dot")(_seq(width=4), _seq(width=6))
    with pytest.raises(ValueError, match="units must be a positive integer"):
        kl.SequenceAttention(score="additive")
    with pytest.raises(ValueError, match="units applies to score='additive' only"):
        kl.SequenceAttention(8, score="general")


@pytest.mark.parametrize("name", ["bilstm_classifier", "gru_classifier"])
@pytest.mark.parametrize("time_pooling", ["last", "mean", "max", "attention"])
def test_classifier_output_does_not_depend_on_appended_padding(name, time_pooling):
    short = kerasarch.create_model(name, vocab_size=30, max_length=32, input_shape=(8,), time_pooling=time_pooling,
                                   units=6, embed_dim=5, num_classes=3)
    longer = kerasarch.create_model(name, vocab_size=30, max_length=32, input_shape=(13,), time_pooling=time_pooling,
                                    units=6, embed_dim=5, num_classes=3)
    longer.set_weights(short.get_weights())
    x = short.contract.sample_inputs()
    padded = np.concatenate([x, np.zeros((2, 5), "int32")], axis=1)
    np.testing.assert_allclose(_np(longer(padded)), _np(short(x)), atol=1e-6)
    # ... and does depend on the tokens.
    other = x.copy()
    other[0, 0] = (other[0, 0] % 29) + 1
    assert not np.allclose(_np(short(other))[0], _np(short(x))[0])


def test_classifier_options_and_features():
    model = kerasarch.create_model("lstm_classifier", vocab_size=40, units=8, embed_dim=4, levels=3, residual=True,
                                   layer_norm=True, include_top=False, pooling="max")
    assert model.contract.output.kind == "features" and model.output_shape == (None, 8)
    # Residuals only where the widths are equal: not into the first level (4 -> 8).
    assert [layer.residual for layer in model.layers if isinstance(layer, kl.RecurrentLayer)] == [False, True, True]
    feats = kerasarch.create_model("bigru_classifier", vocab_size=40, units=8, features_only=True)
    assert [f["num_chs"] for f in feats.feature_info] == [16, 16]
    with pytest.raises(ValueError, match="time_pooling must be one of"):
        kerasarch.create_model("gru_classifier", time_pooling="first")


def test_forecaster_shapes_arguments_and_errors():
    model = kerasarch.create_model("gru_forecaster", num_features=3, horizon=5, num_targets=2, units=8)
    assert model.contract.describe() == "?x3 sequence -> forecast[2]"
    assert model.output_shape == (None, 5, 2)
    y = _np(model(_seq(steps=9, width=3)))
    assert y.shape == (2, 5, 2) and np.isfinite(y).all()
    assert model.arch["horizon"] == 5 and model.arch["num_targets"] == 2
    with pytest.raises(ValueError, match="applies to classifiers"):
        kerasarch.create_model("lstm_forecaster", num_classes=4)
    with pytest.raises(ValueError, match=r"input_shape must be \(steps, 3\)"):
        kerasarch.create_model("lstm_forecaster", num_features=3, input_shape=(10, 4))


def test_forecaster_trains_with_the_recipe_loss():
    model = kerasarch.create_model("lstm_forecaster", horizon=4, units=8, levels=1)
    kerasarch.compile_for_training(model, "resnet", epochs=1, steps_per_epoch=2, verbose=False)
    x = _seq(batch=8, steps=10, width=1)
    history = model.fit(x, x[:, -4:], batch_size=4, epochs=1, verbose=0).history
    assert np.isfinite(history["loss"]).all() and "mae" in history
