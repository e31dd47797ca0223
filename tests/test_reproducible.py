"""Reproducible runs, from a shell: two `kerasarch train` runs with one seed end with bitwise-equal
weights, and a run killed with SIGKILL mid-epoch and started again ends with the weights of one
that was never killed, bit for bit, having said where it went on.

One test function on purpose: pytest-xdist may send the tests of one module to different
workers, and the runs are the expensive part, so the checks share them.
"""

import csv
import glob
import json
import os
import signal
import subprocess
import sys
import time

import h5py
import keras
import numpy as np
import pytest

from kerasarch.train.run import train_model

# Each case: the command's arguments, the batches of one epoch, the same run as train_model arguments.
CASES = {
    # 900 training images, 50 a batch: 18 batches an epoch, a backup every 4; three epochs.
    "images": (["lenet5", "--epochs", "3", "--limit", "1000", "--batch-size", "50", "--backup-every", "4", "--seed",
                "7", "--quiet"], 18, dict(model_name="lenet5", epochs=3, limit=1000, batch_size=50, seed=7)),
    # 600 sentences in length buckets of 32: 19 batches an epoch; dropout between the levels and before the head.
    "sentences": (["gru_classifier", "--data", "movie_sentences", "--epochs", "3", "--limit", "600", "--test-limit",
                   "200", "--batch-size", "32", "--model-kwargs", "units=16", "embed_dim=16", "dropout=0.2",
                   "--backup-every", "4", "--seed", "7", "--quiet"], 19,
                  dict(model_name="gru_classifier", dataset="movie_sentences", epochs=3, limit=600, test_limit=200,
                       batch_size=32, model_kwargs={"units": 16, "embed_dim": 16, "dropout": 0.2}, seed=7)),
}
TIMEOUT = 300


def _start(args, out):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    command = [sys.executable, "-m", "kerasarch.cli", "train", *args, "--out", str(out)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _finish(child):
    try:
        out, err = child.communicate(timeout=TIMEOUT)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == 0, err[-3000:]
    return out


def _weights(path):
    """Every array of a Keras weights file, by its path inside the file."""
    arrays = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: arrays.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return arrays


def _assert_bitwise_equal(a, b):
    assert a.keys() == b.keys() and len(a) > 10
    different = {k: float(np.max(np.abs(a[k].astype("float64") - b[k]))) for k in a if not np.array_equal(a[k], b[k])}
    assert not different, f"max |difference| per array: {different}"


def _position(out):
    try:
        with open(out / "backup" / "position.json") as f:
            meta = json.load(f)
        return meta["epochs_done"], meta["batches_done"]
    except (OSError, ValueError, KeyError):
        return None


def _log(out):
    with open(out / "log.csv") as f:
        return list(csv.DictReader(f))


def _train(out, model_name, **kwargs):
    return train_model(model_name, out, verbose=0, **kwargs)


@pytest.mark.parametrize("case", sorted(CASES))
def test_same_seed_same_weights_and_a_killed_run_resumes_exactly(tmp_path, case):
    args, steps, kwargs = CASES[case]
    straight, again, killed = tmp_path / "straight", tmp_path / "again", tmp_path / "killed"
    children = []
    try:
        first, victim = _start(args, straight), _start(args, killed)
        children += [first, victim]
        deadline = time.time() + TIMEOUT
        # SIGKILL in the second epoch, once a mid-epoch backup of it exists.
        while time.time() < deadline and victim.poll() is None:
            position = _position(killed)
            if position and position[0] == 1 and position[1] > 0:
                break
            time.sleep(0.02)
        assert victim.poll() is None, "the run ended before it could be killed: " + victim.communicate()[1][-2000:]
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait(timeout=60)
        assert victim.returncode == -signal.SIGKILL
        epochs_done, batches_done = _position(killed)  # the backup the restart finds (maybe a later one)
        assert epochs_done == 1 and 0 < batches_done < steps
        assert [row["epoch"] for row in _log(killed)] == ["0"]  # epoch 2 never finished
        assert not (killed / "report.json").exists()

        second, resumed = _start(args, again), _start(args, killed)
        children += [second, resumed]
        resumed_out = _finish(resumed)
        _finish(first), _finish(second)
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()

    # (a) Same seed, same machine: bitwise the same weights, at the end and at the best epoch.
    _assert_bitwise_equal(_weights(straight / "last.weights.h5"), _weights(again / "last.weights.h5"))
    best = [keras.saving.load_model(run / "best.keras") for run in (straight, again)]
    for a, b in zip(*(m.get_weights() for m in best)):
        np.testing.assert_array_equal(a, b)

    # (b) Killed mid-epoch and started again: the weights of the run that was never killed, bit for bit.
    _assert_bitwise_equal(_weights(straight / "last.weights.h5"), _weights(killed / "last.weights.h5"))
    # Every epoch once in the log, every number as uninterrupted: the running training averages of
    # the interrupted epoch went on from the backup.
    logged = _log(killed)
    assert [row["epoch"] for row in logged] == ["0", "1", "2"]
    assert logged == _log(straight)

    # (c) It said where it went on, and the report records it.
    assert (f"Resuming {killed} from its backup: epoch 2 of 3, batch {batches_done + 1} of {steps}" in resumed_out)
    with open(killed / "report.json") as f:
        report = json.load(f)
    with open(straight / "report.json") as f:
        uninterrupted = json.load(f)
    assert report["resumed_from"] == [{"epoch": 2, "batch": batches_done + 1}]
    assert uninterrupted["resumed_from"] == [] and report["seed"] == 7 == uninterrupted["seed"]
    assert report["test_accuracy"] == uninterrupted["test_accuracy"] and report["test_accuracy"] > 0
    assert report["per_class_accuracy"] == uninterrupted["per_class_accuracy"]
    assert report["epochs_completed"] == 3
    assert not (killed / "backup").exists()  # removed once the report was written
    assert not glob.glob(str(killed / ".*tmp-*"))  # no half-written file anywhere
    with open(killed / "run.json") as f:
        assert json.load(f)["arguments"]["seed"] == 7

    # The run folder remembers its arguments: others are an error naming each difference, and
    # nothing in the folder changes; the same ones find the run complete.
    before = {p: os.path.getmtime(p) for p in glob.glob(str(killed / "**"), recursive=True)}
    with pytest.raises(ValueError, match=r"other arguments \(run.json\): epochs 3 there, 4 now; seed 7 there, 8 now\."):
        _train(killed, **{**kwargs, "epochs": 4, "seed": 8})
    done = _train(killed, **kwargs, backup_every=9)
    assert done == report
    assert {p: os.path.getmtime(p) for p in glob.glob(str(killed / "**"), recursive=True)} == before
