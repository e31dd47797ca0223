"""`kerasarch train` and `evaluate` on the sequence tasks: sentence polarity, grapheme to phoneme and
day-ahead demand, each from the command line on its real data set (a slice of it), with the run
folder an image run has (run.json, best.keras, log.csv, evaluation.json, report.json) plus the
task's own files; `evaluate` reads the folder alone and gives the report's test figures again;
`export` takes the vocabularies from the folder, and the SavedModel answers raw strings."""

import json

import keras
import numpy as np
import pytest

from kerasarch.cli import main

pytestmark = pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="runs and exports use tf.data")

TASKS = {
    "movie_sentences": ("gru_classifier", ["--limit", "400", "--test-limit", "120", "--batch-size", "32",
                                           "--model-kwargs", "units=16", "embed_dim=16"],
                        ["test_accuracy", "per_class_accuracy", "unknown_rate_test"], ["vocabulary.json",
                                                                                          "confusion_matrix.png"]),
    "movie_sentences_subword": ("gru_classifier", ["--tokenizer", "subword", "--limit", "400", "--test-limit", "120",
                                                   "--batch-size", "32", "--model-kwargs", "units=16", "embed_dim=16"],
                                ["test_accuracy", "unknown_rate_test"], ["vocabulary.json"]),
    "cmudict": ("seq2seq_gru_attention", ["--limit", "300", "--test-limit", "40", "--batch-size", "64",
                                          "--model-kwargs", "embed_dim=8", "encoder_units=8", "decoder_units=16"],
                ["test_greedy_per", "test_greedy_wer", "test_beam5_per", "test_beam5_wer"],
                ["source_vocabulary.json", "target_vocabulary.json"]),
    "elecdemand": ("lstm_forecaster", ["--limit", "256", "--batch-size", "64", "--model-kwargs", "units=8"],
                   ["test_mae_gw", "seasonal_naive_mae_gw", "improvement_over_seasonal_naive_pct"], []),
}


@pytest.mark.parametrize("dataset", sorted(TASKS))
def test_train_then_evaluate_from_the_folder(tmp_path, capsys, dataset):
    model, args, figures, files = TASKS[dataset]
    case, dataset = dataset, dataset.replace("_subword", "")
    out = tmp_path / "run"
    assert main(["train", model, "--data", dataset, "--out", str(out), "--epochs", "1", "--quiet", *args]) == 0
    printed = capsys.readouterr().out
    with open(out / "report.json") as f:
        report = json.load(f)
    for name in ("run.json", "best.keras", "log.csv", "evaluation.json", "last.weights.h5", *files):
        assert (out / name).is_file(), name
    assert report["model"] == model and report["dataset"] == dataset and report["epochs_completed"] == 1
    assert report["recipe"] == "adamw"  # the sequence tasks' default
    for key in figures:
        values = report[key].values() if isinstance(report[key], dict) else [report[key]]
        assert all(np.isfinite(v) for v in values), key
    assert report["test_summary"] in printed
    with open(out / "evaluation.json") as f:
        evaluation = json.load(f)
    before = {k: evaluation[k] for k in figures if k in evaluation}

    assert main(["evaluate", str(out)]) == 0
    again = capsys.readouterr().out
    assert report["test_summary"] in again  # the same test figures from the folder alone
    with open(out / "evaluation.json") as f:
        evaluation = json.load(f)
    assert {k: evaluation[k] for k in before} == before
    if dataset == "elecdemand":
        # The baseline is the data's, not the model's: the same half-hours one week before each test day.
        assert report["seasonal_naive_mae_gw"] == pytest.approx(0.3147, abs=1e-4)
        assert report["test_days"] == 61 and report["lookback"] == 336 and report["horizon"] == 48
    if dataset == "cmudict":
        assert report["test_words"] == 40 and report["train_words"] == 300 and report["train_pairs"] >= 300
    if case == "movie_sentences_subword":
        assert report["tokenizer"] == "subword" and report["unknown_rate_test"] < 0.01
        # WordPiece tokenizes in Python: the export says so and serves token ids, which answer as Keras does.
        import tensorflow as tf

        from kerasarch.text import Vocabulary

        assert main(["export", str(out), "--format", "saved_model", "--out", str(tmp_path / "serving")]) == 0
        assert "a SavedModel cannot hold: serving_default takes token ids" in capsys.readouterr().out
        served = tf.saved_model.load(str(tmp_path / "serving" / model / "1")).signatures["serving_default"]
        ids = Vocabulary.load(out / "vocabulary.json").encode(["an unwatchableness of a film ."])
        (name, spec), = served.structured_input_signature[1].items()
        got = served(**{name: tf.constant(ids, spec.dtype)})["probabilities"].numpy()
        np.testing.assert_allclose(got, keras.saving.load_model(out / "best.keras").predict(ids, verbose=0), atol=1e-5)
    elif dataset in EXPORTS:
        assert main(["export", str(out), "--format", "saved_model", "--out", str(tmp_path / "serving")]) == 0
        printed = capsys.readouterr().out
        EXPORTS[dataset](out, tmp_path / "serving" / model / "1", printed)


def _sentences_from_strings(run, path, printed):
    """The classifier's SavedModel takes raw sentences: the vocabulary from the run folder is in the graph."""
    import tensorflow as tf

    from kerasarch.text import Vocabulary

    served = tf.saved_model.load(str(path)).signatures["serving_default"]
    sentences = ["a gripping , beautifully made film .", "dull and far too long ."]
    answers = served(text=tf.constant(sentences))["probabilities"].numpy()
    vocab = Vocabulary.load(run / "vocabulary.json")
    model = keras.saving.load_model(run / "best.keras")
    np.testing.assert_allclose(answers, model.predict(vocab.encode(sentences), verbose=0), atol=1e-5)


def _words_to_phonemes(run, path, printed):
    """The G2P SavedModel takes words and answers what a beam of 5 finds in Keras."""
    import tensorflow as tf

    from kerasarch.decoding import generate
    from kerasarch.text import Vocabulary

    assert "beam 5 search in the graph" in printed
    served = tf.saved_model.load(str(path)).signatures["serving_default"]
    words = ["knight", "photograph"]
    answers = [t.decode() for t in served(text=tf.constant(words))["output_text"].numpy()]
    chars, phones = (Vocabulary.load(run / f"{side}_vocabulary.json") for side in ("source", "target"))
    model = keras.saving.load_model(run / "best.keras")
    tokens = generate(model, chars.encode(words), beam_width=5)
    assert answers == phones.decode(tokens, stop_at=phones.id("</s>"))


EXPORTS = {"movie_sentences": _sentences_from_strings, "cmudict": _words_to_phonemes}


