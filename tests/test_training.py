"""The training loop's safety nets and the CLI, on real Fashion-MNIST: a SIGKILL'd run resumes, a
diverged loss stops and keeps the last good checkpoint, and every command works from a shell."""

import csv
import glob
import json
import os
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

import kerasarch
from kerasarch import data
from kerasarch.train import training_callbacks

TRAIN = ["lenet5", "--epochs", "4", "--limit", "4000", "--batch-size", "100", "--backup-every", "10", "--quiet"]


def _cli(*args, **kwargs):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, "-m", "kerasarch.cli", *args], capture_output=True, text=True, env=env,
                          timeout=600, **kwargs)


def _logged_epochs(out):
    with open(out / "log.csv") as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


def _backup_position(out):
    path = out / "backup" / "training_metadata.json"
    try:
        with open(path) as f:
            meta = json.load(f)
        return meta["epoch"], meta["batch"]
    except (OSError, ValueError, KeyError):
        return None


def test_a_run_killed_mid_epoch_resumes_to_the_same_epochs_and_a_model_as_good(tmp_path):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    child = subprocess.Popen([sys.executable, "-m", "kerasarch.cli", "train", *TRAIN, "--out", str(resumed)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.time() + 300
    try:
        # Kill in the middle of the second epoch (index 1), once a batch-level backup exists.
        while time.time() < deadline and child.poll() is None:
            position = _backup_position(resumed)
            if position and position[0] == 1 and position[1] >= 10:
                break
            time.sleep(0.05)
        assert child.poll() is None, "the run ended before it could be killed"
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGKILL
    assert _logged_epochs(resumed) == [0]  # epoch 2 never finished
    assert not os.path.exists(resumed / "report.json")

    again = _cli("train", *TRAIN, "--out", str(resumed))
    assert again.returncode == 0, again.stderr[-2000:]
    assert _logged_epochs(resumed) == [0, 1, 2, 3]
    with open(resumed / "report.json") as f:
        report = json.load(f)
    assert report["epochs_completed"] == 4
    assert not os.path.exists(resumed / "backup")  # removed once training completed
    assert not glob.glob(str(resumed / ".*tmp-*"))  # no half-written file anywhere
    loaded = keras.saving.load_model(resumed / "best.keras")
    assert loaded.name == "lenet5"

    done = _cli("train", *TRAIN, "--out", str(straight))
    assert done.returncode == 0, done.stderr[-2000:]
    with open(straight / "report.json") as f:
        baseline = json.load(f)
    assert report["test_accuracy"] > 0.6 and baseline["test_accuracy"] > 0.6
    assert abs(report["test_accuracy"] - baseline["test_accuracy"]) < 0.05, (report["test_accuracy"],
                                                                             baseline["test_accuracy"])


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
    restored.compile(optimizer=keras.optimizers.SGD(), loss="sparse_categorical_crossentropy")
    restored.optimizer.build(restored.trainable_variables)
    restored.load_weights(tmp_path / "backup" / "latest.weights.h5")
    assert np.isfinite(restored.get_layer("f6").kernel.numpy()).all()


def test_cli_train_evaluate_list_summary_plot(tmp_path):
    out = tmp_path / "run"
    run = _cli("train", "lenet5", "--epochs", "1", "--limit", "2000", "--out", str(out), "--quiet")
    assert run.returncode == 0, run.stderr[-2000:]
    assert "lenet5 on fashion_mnist: test accuracy" in run.stdout and "Training recipe 'resnet'" in run.stdout
    for name in ("best.keras", "report.json", "evaluation.json", "confusion_matrix.png", "log.csv"):
        assert (out / name).is_file(), name
    with open(out / "report.json") as f:
        accuracy = json.load(f)["test_accuracy"]
    evaluated = _cli("evaluate", str(out))
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    assert f"accuracy {accuracy:.4f}" in evaluated.stdout  # the same checkpoint, the same number
    helped = _cli("train", "--help")
    assert helped.returncode == 0 and "--recipe" in helped.stdout and "resume a killed run" in helped.stdout
    listed = _cli("list", "vit*")
    assert listed.stdout.split()[0] == "vit_b16" and listed.returncode == 0
    summary = _cli("summary", "resnet20")
    assert "| resnet20 | resnet | 32x32x3 | 269,722 |" in summary.stdout and "stage3_block3" in summary.stdout
    plotted = _cli("plot", "lenet5", "--out", str(tmp_path / "lenet5.png"))
    assert plotted.returncode == 0, plotted.stderr[-2000:]
    with open(tmp_path / "lenet5.png", "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("args,message", [
    (["train", "resnett", "--out", "x"], "kerasarch: error: Unknown model name 'resnett'. Did you mean"),
    (["train", "lenet5", "--out", "x", "--epochs", "0"], "--epochs must be a positive integer"),
    (["train", "lenet5", "--out", "x", "--data", "cifar10"], "kerasarch: error: unknown data set 'cifar10'"),
    (["train", "lenet5", "--out", "x", "--recipe", "fast"], "kerasarch: error: unknown recipe 'fast'"),
    (["evaluate", "no_such_folder"], "kerasarch: error: 'no_such_folder' has no best.keras"),
])
def test_cli_mistakes_are_one_clear_line(args, message, tmp_path):
    result = _cli(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) <= 2  # argparse adds its usage line; our own errors are one line
