"""The training loop's safety nets and the CLI, on real Fashion-MNIST: a diverged loss stops and
keeps the last good checkpoint, a plain model.fit resumes from the backup, early stopping counts
from the kept best epoch, evaluation names the data set's classes, and every command works from a
shell. (A SIGKILL'd `kerasarch train` resuming exactly: tests/test_reproducible.py.)"""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import kerasarch
from kerasarch import data
from kerasarch.train import evaluate_classifier, training_callbacks
from kerasarch.train.callbacks import PatienceStop, ResumableBackup


def _cli(*args, **kwargs):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, "-m", "kerasarch.cli", *args], capture_output=True, text=True, env=env,
                          timeout=600, **kwargs)


class _PoisonAtEpoch(keras.callbacks.Callback):
    """Sets one kernel to NaN when ``epoch`` begins: a divergence on a known step."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            kernel = self.model.get_layer("f6").kernel
            kernel.assign(np.full(kernel.shape, np.nan, "float32"))


def test_a_nan_loss_stops_training_and_keeps_the_last_good_checkpoint(tmp_path, capsys):
    (x, y), _ = data.load_fashion_mnist()
    x = np.pad(x[:1200].astype("float32") / 255, ((0, 0), (2, 2), (2, 2), (0, 0)))
    y = y[:1200]
    model = kerasarch.create_model("lenet5", num_classes=10)
    kerasarch.compile_for_training(model, "resnet", epochs=4, steps_per_epoch=10, verbose=False)
    callbacks = training_callbacks(tmp_path, tensorboard=False, verbose=0)
    history = model.fit(x[:1000], y[:1000], validation_data=(x[1000:], y[1000:]), batch_size=100, epochs=4,
                        callbacks=[_PoisonAtEpoch(2), *callbacks], verbose=0)
    guard, best = callbacks[0], callbacks[0].checkpoint
    assert guard.diverged_at == (3, 1)
    assert len(history.epoch) == 3  # stopped in the third epoch
    assert best.best_epoch in (1, 2)
    out = capsys.readouterr().out
    assert "Loss became nan at epoch 3, batch 1: training stopped; the last good checkpoint is" in out
    kept = keras.saving.load_model(tmp_path / "best.keras")
    assert np.isfinite(kept.predict(x[:8], verbose=0)).all()
    # The backup a restart would resume from holds the last good weights, not the NaNs.
    restored = kerasarch.create_model("lenet5", num_classes=10)
    kerasarch.compile_for_training(restored, "resnet", epochs=4, steps_per_epoch=10, verbose=False)
    position = ResumableBackup(tmp_path / "backup").restore(restored)
    assert (position.epochs_done, position.batches_done) == (2, 0)  # after epoch 2, the last good one
    assert np.isfinite(restored.get_layer("f6").kernel.numpy()).all()


def _small_fashion(n=300):
    (x, y), _ = data.load_fashion_mnist()
    return x[:n].astype("float32") / 255, y[:n]


def _dense_model(dropout=0.0):
    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Dense(32, activation="relu")(x)
    if dropout:
        x = keras.layers.Dropout(dropout)(x)
    model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x), name="dense")
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


class _CrashAtEpoch(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise RuntimeError("simulated crash")


def test_plain_fit_resumes_from_the_backup_at_the_epoch_it_was_in(tmp_path, capsys):
    x, y = _small_fashion()
    model = _dense_model(dropout=0.5)
    callbacks = training_callbacks(tmp_path, tensorboard=False, verbose=0)
    with pytest.raises(RuntimeError, match="simulated crash"):
        model.fit(x[:250], y[:250], validation_data=(x[250:], y[250:]), epochs=4, batch_size=50,
                  callbacks=[*callbacks, _CrashAtEpoch(2)], verbose=0)
    backup = ResumableBackup(tmp_path / "backup")
    assert (backup.position().epochs_done, backup.position().batches_done) == (2, 0)
    trained = [w.copy() for w in model.get_weights()]
    generator = [np.asarray(v).copy() for v in model.variables if "seed_generator" in v.path]
    assert generator, "the model should have a dropout generator"

    fresh = _dense_model(dropout=0.5)
    again = training_callbacks(tmp_path, tensorboard=False, verbose=1)
    starts = []
    probe = keras.callbacks.LambdaCallback(on_epoch_begin=lambda epoch, logs: starts.append(
        ([w.copy() for w in fresh.get_weights()], [np.asarray(v).copy() for v in fresh.variables
                                                   if "seed_generator" in v.path])))
    history = fresh.fit(x[:250], y[:250], validation_data=(x[250:], y[250:]), epochs=4, batch_size=50,
                        callbacks=[*again, probe], verbose=0)
    assert history.epoch == [2, 3]
    assert "Resuming from" in capsys.readouterr().out
    for a, b in zip(starts[0][0], trained):  # weights and optimizer state as they were after epoch 2
        np.testing.assert_array_equal(a, b)
    for a, b in zip(starts[0][1], generator):  # and the dropout generator where it stood
        np.testing.assert_array_equal(a, b)
    assert not (tmp_path / "backup").exists()  # training completed
    # The epoch fit was told to start at is not left behind for the next fit().
    assert fresh.fit(x[:50], y[:50], epochs=1, verbose=0).epoch == [0]


def test_early_stopping_counts_from_the_kept_best_epoch(tmp_path):
    x, y = _small_fashion()
    model = _dense_model()
    callbacks = training_callbacks(tmp_path, tensorboard=False, verbose=0, monitor="val_loss", patience=2)
    best = callbacks[0].checkpoint
    stopper = next(c for c in callbacks if isinstance(c, PatienceStop))
    assert stopper.should_stop(5) and not stopper.should_stop(1)
    best.best_epoch = 4  # as if read back from best.keras.json by a resumed run
    assert not stopper.should_stop(5) and stopper.should_stop(6)
    best.best_epoch = None
    # A learning rate of 0 never improves val_loss after the first epoch: stops after epoch 3.
    model.optimizer.learning_rate.assign(0.0)
    history = model.fit(x[:250], y[:250], validation_data=(x[250:], y[250:]), epochs=10, batch_size=50,
                        callbacks=callbacks, verbose=0)
    assert history.epoch == [0, 1, 2] and best.best_epoch == 1
    assert stopper.state.stopped_early_at == 3


def test_evaluation_names_the_data_sets_classes():
    splits = data.load_fashion_mnist()
    (_, _), (x_test, y_test) = splits
    model = kerasarch.create_model("lenet5", num_classes=10)
    images = np.pad(x_test[:100].astype("float32") / 255, ((0, 0), (2, 2), (2, 2), (0, 0)))
    result = evaluate_classifier(model, images, y_test[:100], dataset=splits.info)
    assert list(result["per_class_accuracy"]) == list(data.FASHION_MNIST_CLASSES)
    assert evaluate_classifier(model, images, y_test[:100], dataset="fashion_mnist") == result
    three = kerasarch.create_model("lenet5", num_classes=3)
    with pytest.raises(ValueError, match="lenet5 has 3 outputs but the fashion_mnist data has 10 classes"):
        evaluate_classifier(three, images, y_test[:100], dataset="fashion_mnist")
    with pytest.raises(ValueError, match="Did you mean 'fashion_mnist'"):
        evaluate_classifier(model, images, y_test[:100], dataset="fashion-mnist")


def test_cli_train_evaluate_list_summary_plot(tmp_path):
    out = tmp_path / "run"
    run = _cli("train", "lenet5", "--epochs", "1", "--limit", "2000", "--out", str(out), "--quiet")
    assert run.returncode == 0, run.stderr[-2000:]
    assert "lenet5 on fashion_mnist (seed 0): test accuracy" in run.stdout and "Training recipe 'resnet'" in run.stdout
    for name in ("best.keras", "report.json", "evaluation.json", "confusion_matrix.png", "log.csv"):
        assert (out / name).is_file(), name
    with open(out / "report.json") as f:
        accuracy = json.load(f)["test_accuracy"]
    evaluated = _cli("evaluate", str(out))
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    assert f"accuracy {accuracy:.4f}" in evaluated.stdout  # the same checkpoint, the same number
    with open(out / "run.json") as f:
        assert json.load(f)["arguments"]["model"] == "lenet5"
    helped = _cli("train", "--help")
    assert helped.returncode == 0 and "--recipe" in helped.stdout and "resume a killed run" in helped.stdout
    assert "--seed" in helped.stdout
    listed = _cli("list", "vit*")
    assert listed.stdout.split()[0] == "vit_b16" and listed.returncode == 0
    summary = _cli("summary", "resnet20")
    assert "| resnet20 | resnet | 32x32x3 | 269,722 |" in summary.stdout and "stage3_block3" in summary.stdout
    plotted = _cli("plot", "lenet5", "--out", str(tmp_path / "lenet5.png"))
    assert plotted.returncode == 0, plotted.stderr[-2000:]
    with open(tmp_path / "lenet5.png", "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_a_cli_mistake_is_one_clear_line_from_a_real_process(tmp_path):
    result = _cli("train", "resnett", "--out", "x", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kerasarch: error: Unknown model name 'resnett'. Did you mean")


@pytest.mark.parametrize("args,message", [
    (["train", "lenet5", "--out", "x", "--epochs", "0"], "--epochs must be a positive integer"),
    (["train", "lenet5", "--out", "x", "--data", "cifar10"], "kerasarch: error: unknown data set 'cifar10'"),
    (["train", "lenet5", "--out", "x", "--recipe", "fast"], "kerasarch: error: unknown recipe 'fast'"),
    (["train", "gru_classifier", "--out", "x", "--data", "movie_sentences", "--model-kwargs", "units"],
     "kerasarch: error: --model-kwargs takes KEY=VALUE pairs"),
    (["evaluate", "no_such_folder"], "kerasarch: error: 'no_such_folder' has no best.keras"),
])
def test_cli_mistakes_are_one_clear_line(args, message, tmp_path, monkeypatch, capsys):
    from kerasarch.cli import main

    monkeypatch.chdir(tmp_path)
    try:
        code = main(args)
    except SystemExit as exit:  # argparse's own checks
        code = exit.code
    error = capsys.readouterr().err
    assert code == 2 and message in error
    # argparse prints its usage first (wrapped over as many lines as the subcommands need);
    # after it, our own error is one line.
    lines = [line for line in error.splitlines() if line.strip()]
    usage = [line for line in lines if line.startswith("usage:") or line.startswith(" ")]
    assert lines[:len(usage)] == usage and len(lines) - len(usage) == 1, lines
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args,message", [
    (["train", "lenet5", "--out", "x", "--data", "fashion_mnst"], "Did you mean 'fashion_mnist'?"),
    (["train", "lenet5", "--out", "x", "--seed", "-1"], "seed must be an integer in [0, 2**32)"),
    (["train", "lenet5", "--out", "x", "--image-size", "16"], "image_size 16 is below lenet5's smallest input"),
])
def test_cli_train_checks_its_arguments_before_writing(args, message, tmp_path, monkeypatch, capsys):
    from kerasarch.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(args) == 2
    error = capsys.readouterr().err
    assert error.startswith("kerasarch: error: ") and message in error and len(error.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []  # no --out folder
