"""Sequence-to-sequence models: the decoding loop against the teacher-forced model, beam search
against exhaustive search, the markers, the bad inputs, the error rates, and (TensorFlow) the
SavedModel that takes and returns strings. Runs on TensorFlow, JAX and torch."""

import itertools

import keras
import numpy as np
import pytest

import kerasarch
from helpers import slow_off_tensorflow
from kerasarch.decoding import attention_weights, error_rates, generate, teacher_forcing

BACKEND = keras.backend.backend()
PAD, START, END = 0, 2, 3


def _tiny(cell="lstm", target_vocab=9, max_target_length=6, attention="additive", seed=3, decoder_units=16, **kwargs):
    keras.utils.set_random_seed(seed)
    return kerasarch.create_model(f"seq2seq_{cell}_attention", vocab_size=12, target_vocab_size=target_vocab,
                                  max_length=10, max_target_length=max_target_length, embed_dim=8, encoder_units=8,
                                  decoder_units=decoder_units, attention=attention, dropout=0.0, **kwargs)


def _source(batch=3):
    ids = np.random.default_rng(0).integers(1, 12, size=(batch, 7)).astype("int32")
    ids[1, 4:] = PAD
    return ids


def _log_prob(model, source, tokens):
    """The teacher-forced log-probability of ``tokens`` (up to and including the end marker)."""
    target = np.concatenate([np.full((len(tokens), 1), START), tokens[:, :-1]], axis=1).astype("int32")
    logits = keras.ops.convert_to_numpy(model({"source": source, "target": target}, training=False))
    logp = logits - np.log(np.exp(logits - logits.max(-1, keepdims=True)).sum(-1, keepdims=True)) - \
        logits.max(-1, keepdims=True)
    picked = np.take_along_axis(logp, tokens[..., None], -1)[..., 0]
    real = np.cumsum(tokens == END, axis=1) - (tokens == END) == 0  # up to the first end marker
    return (picked * real).sum(1)


# The GRU's one-state step and Luong's score: on TensorFlow in CI, everywhere in `make test-all`.
@pytest.mark.parametrize("cell,attention", [("lstm", "additive"), pytest.param(
    "gru", "general", marks=[pytest.mark.slow] if BACKEND != "tensorflow" else [])])
def test_greedy_search_is_the_teacher_forced_argmax_chain(cell, attention):
    model = _tiny(cell, attention=attention)
    source = _source()
    tokens, scores, lengths = generate(model, source, return_scores=True)
    target = np.concatenate([np.full((3, 1), START), tokens[:, :-1]], axis=1).astype("int32")
    logits = keras.ops.convert_to_numpy(model({"source": source, "target": target}, training=False)).copy()
    logits[..., [PAD, START]] = -np.inf  # never a target token: the search skips them
    for row, length in zip(range(3), lengths):
        np.testing.assert_array_equal(tokens[row, :length], logits[row, :length].argmax(-1))
        assert (tokens[row, length:] == PAD).all()
    np.testing.assert_allclose(scores, _log_prob(model, source, tokens), atol=1e-4)


def test_beam_search_finds_the_exhaustive_best():
    # Target vocabulary 6 (padding, unknown, start, end, two tokens), at most 2 tokens: a beam of
    # 6 keeps every one-token prefix, so it must find the best of all sequences.
    model = _tiny(target_vocab=6, max_target_length=2)
    source = _source()
    best, score, _ = generate(model, source, beam_width=6, return_scores=True)
    candidates = [np.array(c) for c in itertools.product(range(6), repeat=2)
                  if c[0] != PAD and (c[0] == END) == (c[1] == PAD) and c[1] not in (START,) and c[0] != START]
    for row in range(3):
        s = source[row:row + 1].repeat(len(candidates), 0)
        logps = _log_prob(model, s, np.stack(candidates))
        assert score[row] == pytest.approx(logps.max(), abs=1e-4)
        np.testing.assert_array_equal(best[row], candidates[int(np.argmax(logps))])
    greedy_score = generate(model, source, return_scores=True)[1]
    assert (score >= greedy_score - 1e-5).all()


def test_decoding_stops_at_the_end_marker_and_pads_after_it():
    model = _tiny(max_target_length=5)
    # Make the end marker the certain next token: its logit bias dominates.
    head = model.get_layer("logits")
    kernel, bias = head.get_weights()
    bias[:] = -10.0
    bias[END] = 10.0
    head.set_weights([kernel, bias])
    tokens, _, lengths = generate(model, _source(), beam_width=3, return_scores=True)
    assert (tokens[:, 0] == END).all() and (tokens[:, 1:] == PAD).all() and (lengths == 1).all()


# The .keras round trip is the contract test's on every backend; decoding the loaded file, here on TF.
@slow_off_tensorflow
def test_a_saved_model_decodes_the_same(tmp_path):
    model = _tiny()
    source = _source()
    expected = generate(model, source, beam_width=2)
    path = tmp_path / "s2s.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.contract == model.contract
    np.testing.assert_array_equal(generate(loaded, source, beam_width=2), expected)
    weights = attention_weights(loaded, source, teacher_forcing(expected[:, :-1], START, END)[0][:, :-1])
    np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-5)
    assert (weights[1, :, 4:] == 0).all()  # padded source steps get no attention


def test_bad_inputs_are_refused_with_what_would_be_right():
    model = _tiny()
    with pytest.raises(ValueError, match="outside the source vocabulary"):
        generate(model, np.array([[1, 12]]))
    with pytest.raises(ValueError, match="all padding"):
        generate(model, np.array([[1, 2], [0, 0]]))
    with pytest.raises(ValueError, match="at most 10"):
        generate(model, np.ones((1, 11), "int32"))
    with pytest.raises(ValueError, match="beam_width must be a positive integer"):
        generate(model, _source(), beam_width=0)
    with pytest.raises(ValueError, match="decoding needs a sequence-to-sequence model"):
        generate(kerasarch.create_model("rnn_classifier", vocab_size=20, units=4, embed_dim=4), _source())
    with pytest.raises(ValueError, match="three different ids"):
        _tiny(start_id=3, end_id=3)
    with pytest.raises(ValueError, match="attention='dot'"):
        _tiny(attention="dot", decoder_units=12)
    with pytest.raises(ValueError, match="applies to classifiers"):
        _tiny(num_classes=4)


def test_teacher_forcing_shifts_behind_the_start_marker():
    inputs, labels = teacher_forcing(np.array([[5, 6, 7], [8, 0, 0]]), START, END)
    np.testing.assert_array_equal(inputs, [[START, 5, 6, 7], [START, 8, 0, 0]])
    np.testing.assert_array_equal(labels, [[5, 6, 7, END], [8, END, 0, 0]])


def test_error_rates_take_the_closest_reference():
    rates = error_rates(["K AE T", "D AO G", "T AH M EY T OW"],
                        [["K AE T"], ["D AA G", "D AO G"], ["T AH M AA T OW", "T AH M EY T"]])
    # Word 3 is one edit from either reference; the shorter one (5 phonemes) is taken.
    assert rates["wer"] == pytest.approx(100 / 3)
    assert rates["per"] == pytest.approx(100 * 1 / (3 + 3 + 5))
    with pytest.raises(ValueError, match="one list of references per hypothesis"):
        error_rates(["A"], [])


# The loss is keras.ops throughout; the contract test's fit check trains on every backend.
@slow_off_tensorflow
def test_the_recipe_trains_on_real_tokens_only():
    model = _tiny()
    kerasarch.compile_for_training(model, "adamw", epochs=1, steps_per_epoch=2, verbose=False)
    x = model.contract.sample_inputs(batch=4)
    y = model.contract.input.sample_targets(x)
    loss = model.compute_loss(x=x, y=y, y_pred=model(x, training=False))
    # Padding the labels further changes nothing: padded steps carry no loss.
    padded_y = np.pad(y, ((0, 0), (0, 3)))
    padded_x = dict(x, target=np.pad(x["target"], ((0, 0), (0, 3))))
    padded = model.compute_loss(x=padded_x, y=padded_y, y_pred=model(padded_x, training=False))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(padded), keras.ops.convert_to_numpy(loss), rtol=1e-5)
    history = model.fit(x, y, epochs=1, batch_size=2, verbose=0).history
    assert np.isfinite(history["loss"]).all() and 0 <= history["accuracy"][0] <= 1


@pytest.mark.skipif(BACKEND != "tensorflow", reason="SavedModel export runs on TensorFlow")
def test_the_string_saved_model_answers_words_with_phonemes(tmp_path):
    import tensorflow as tf

    from kerasarch.export import export_saved_model, export_seq2seq_saved_model
    from kerasarch.text import Vocabulary

    words = ["cat", "dog", "cart", "tag", "god"]
    prons = ["K AE T", "D AO G", "K AA R T", "T AE G", "G AA D"]
    chars = Vocabulary.build(words, level="char", max_length=6)
    phones = Vocabulary.build(prons, level="word", lowercase=False, strip_punctuation=False, reserved=("<s>", "</s>"),
                              max_length=6)
    model = _tiny(target_vocab=phones.size)
    model.name = "g2p_tiny"
    with pytest.raises(ValueError, match="export_seq2seq_saved_model"):
        export_saved_model(model, tmp_path / "serving")
    path = export_seq2seq_saved_model(model, tmp_path / "serving", chars, phones, beam_width=3,
                                      check_texts=words, quiet_summary=True)
    served = tf.saved_model.load(path).signatures["serving_default"]
    asked = ["cat", "dogged", "", "c@t", "cartographers"]
    out = served(text=tf.constant(asked))
    expected = phones.decode(generate(model, chars.encode(asked[:2], too_long="truncate"), beam_width=3),
                             stop_at=phones.id("</s>"))
    assert [t.decode() for t in out["output_text"].numpy()[:2]] == expected
    # An empty text comes back with num_tokens 0; an unknown character is counted; a long one flagged.
    np.testing.assert_array_equal(out["num_tokens"].numpy(), [3, 6, 0, 3, 13])
    np.testing.assert_array_equal(out["num_unknown"].numpy(), [0, 1, 0, 1, 4])
    np.testing.assert_array_equal(out["truncated"].numpy(), [False, False, False, False, True])
    with pytest.raises(ValueError, match="already exists"):
        export_seq2seq_saved_model(model, tmp_path / "serving", chars, phones, version=1, quiet_summary=True)
    with pytest.raises(ValueError, match="the target vocabulary has"):
        export_seq2seq_saved_model(_tiny(target_vocab=5), tmp_path / "other", chars, phones, quiet_summary=True)
