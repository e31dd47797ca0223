"""A run checks every argument before it reads data or writes anything, for every task (images,
sentences, pronunciations, demand): each mistake is a ValueError that says what was wrong and
what would be right, and out_dir is not created."""

import pytest

from kerasarch.train.run import train_classifier, train_model

CHECKS = [
    (dict(epochs=0), r"epochs must be a positive integer, got 0"),
    (dict(epochs=True), r"epochs must be a positive integer, got True"),
    (dict(epochs=2.5), r"epochs must be a positive integer, got 2.5"),
    (dict(batch_size=-8), r"batch_size must be a positive integer, got -8"),
    (dict(limit=0), r"limit must be a positive integer or None, got 0"),
    (dict(image_size="32"), r"image_size must be a positive integer or None, got '32'"),
    (dict(patience=False), r"patience must be a positive integer or None, got False"),
    (dict(backup_every=0), r"backup_every must be a positive integer or None, got 0"),
    (dict(val_fraction=1.0), r"val_fraction must be a number in \(0, 1\).*got 1.0"),
    (dict(val_fraction=True), r"val_fraction must be a number in \(0, 1\).*got True"),
    (dict(augment="mixup"), r"augment must be one of \(None, 'crop', 'crop_flip'\), got 'mixup'"),
    (dict(seed=-1), r"seed must be an integer in \[0, 2\*\*32\).*got -1"),
    (dict(seed=2 ** 32), r"seed must be an integer in \[0, 2\*\*32\).*got 4294967296"),
    (dict(seed=1.0), r"seed must be an integer in \[0, 2\*\*32\).*got 1.0"),
    (dict(deterministic="yes"), r"deterministic must be True or False"),
    (dict(dataset="fashion_mnst"), r"unknown data set 'fashion_mnst'. Did you mean 'fashion_mnist'\?"),
    (dict(dataset="cifar10"), r"unknown data set 'cifar10'. The named data sets are \['cmudict', 'digits', "
                              r"'elecdemand', 'fashion_mnist', 'mnist_5k', 'movie_sentences'\]"),
    (dict(dataset="movie_sentence"), r"Did you mean 'movie_sentences'\?"),
    (dict(dtype="float33"), r"dtype must be a Keras dtype policy such as 'float32'.*got 'float33'"),
    (dict(recipe="fast"), r"unknown recipe 'fast'"),
    (dict(learning_rat=0.1), r"unknown recipe setting\(s\) \['learning_rat'\]"),
    (dict(learning_rate=-1.0), r"learning_rate must be positive, got -1.0"),
    (dict(epochs=2, warmup_epochs=3), r"warmup_epochs \(3\) must be shorter than the run \(2 epochs\)"),
    (dict(model_name="lenett5"), r"Unknown model name 'lenett5'. Did you mean 'lenet5'"),
    (dict(model_name="transformer_text_tiny"),
     r"transformer_text_tiny takes tokens input, but fashion_mnist is image data; pick a model that takes image "
     r"input \(kerasarch list shows each model's input, e\.g\. alexnet"),
    (dict(model_name="lstm_forecaster", dataset="movie_sentences"),
     r"lstm_forecaster takes sequence input, but movie_sentences is tokens data; .* e\.g\. bigru_classifier"),
    (dict(model_name="resnet20", dataset="elecdemand"), r"resnet20 takes image input, but elecdemand is sequence data"),
    (dict(model_name="gru_forecaster", dataset="elecdemand", augment="crop"),
     r"augment is an image option, but elecdemand is sequence data; leave it out"),
    (dict(model_name="gru_classifier", dataset="movie_sentences", image_size=32),
     r"image_size is an image option, but movie_sentences is tokens data"),
    (dict(model_name="gru_forecaster", dataset="elecdemand", val_fraction=0.2),
     r"elecdemand is split in time \(its validation days are fixed\); leave val_fraction out"),
    (dict(model_name="gru_classifier", dataset="movie_sentences", model_kwargs={"vocab_size": 50}),
     r"model_kwargs may not set vocab_size: a run on movie_sentences takes vocab_size from the data"),
    (dict(model_name="seq2seq_gru_attention", dataset="cmudict", model_kwargs={"end_id": 3}),
     r"model_kwargs may not set end_id"),
    (dict(model_name="gru_forecaster", dataset="elecdemand", model_kwargs={"unitz": 8}),
     r"gru_forecaster takes no argument 'unitz'; its own are cell, dropout, horizon"),
    (dict(model_name="gru_forecaster", dataset="elecdemand", tokenizer="subword"),
     r"tokenizer='subword' does not apply to elecdemand \(it has no choice of tokenizer\); leave it out"),
    (dict(model_name="gru_classifier", dataset="movie_sentences", tokenizer="bpe"),
     r"tokenizer='bpe' does not apply to movie_sentences; it takes one of \['word', 'subword'\]"),
    (dict(model_kwargs={"dtype": "float16"}), r"model_kwargs may not set dtype or name"),
    (dict(model_kwargs={"drop_rate": {1, 2}}), r"model_kwargs must hold plain values"),
    (dict(model_name="seq2seq_gru_attention", dataset="movie_sentences"),
     r"seq2seq_gru_attention takes token_pair input, but movie_sentences is tokens data"),
    (dict(model_name="transformer_text_tiny", dataset="movie_sentences", test_limit=0),
     r"test_limit must be a positive integer or None, got 0"),
    (dict(model_name="resnet50", image_size=16),
     r"image_size 16 is below resnet50's smallest input \(32 pixels a side.*pass image_size=32 or more"),
]


@pytest.mark.parametrize("changes,message", CHECKS, ids=[next(iter(c)) + "=" + repr(next(iter(c.values())))
                                                         for c, _ in CHECKS])
def test_every_argument_is_checked_before_anything_is_written(tmp_path, changes, message):
    out = tmp_path / "run"
    kwargs = dict(model_name="lenet5", epochs=1, limit=100)
    kwargs.update(changes)
    with pytest.raises((ValueError, TypeError), match=message):
        train_model(kwargs.pop("model_name"), out, verbose=0, **kwargs)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_out_dir_that_is_a_file(tmp_path):
    target = tmp_path / "run"
    target.write_text("not a folder")
    with pytest.raises(ValueError, match="is a file; pass a folder"):
        train_classifier("lenet5", target, epochs=1, verbose=0)
    assert target.read_text() == "not a folder"
