"""Atomic checkpoints and SavedModel export, checked on real files loaded back."""

import json
import os

import keras
import numpy as np
import pytest

import kerasarch
from kerasarch._atomic import atomic_path
from kerasarch.export import export_saved_model, float32_model, next_version
from kerasarch.train import BestCheckpoint, ResumableBackup


@keras.saving.register_keras_serializable(package="kerasarch_tests")
class FailsOnSave(keras.layers.Layer):
    """Identity whose variables cannot be written: a save that dies half-way."""

    fail = False

    def build(self, input_shape):
        self.w = self.add_weight(shape=(1,), initializer="ones")

    def call(self, x):
        return x * self.w

    def save_own_variables(self, store):
        if FailsOnSave.fail:
            raise OSError("disk full (simulated by the layer, not the file system)")
        super().save_own_variables(store)


def _model():
    inputs = keras.Input((4,))
    return keras.Model(inputs, keras.layers.Dense(2)(FailsOnSave()(inputs)))


def test_a_save_that_dies_half_way_keeps_the_previous_best(tmp_path):
    FailsOnSave.fail = False
    model = _model()
    target = tmp_path / "best.keras"
    checkpoint = BestCheckpoint(target, monitor="val_accuracy", verbose=0)
    checkpoint.set_model(model)
    checkpoint.on_epoch_end(0, {"val_accuracy": 0.5})
    good = target.read_bytes()
    FailsOnSave.fail = True
    try:
        with pytest.raises(OSError, match="disk full"):
            checkpoint.on_epoch_end(1, {"val_accuracy": 0.9})
        assert target.read_bytes() == good
        assert sorted(os.listdir(tmp_path)) == ["best.keras", "best.keras.json"]  # no temporary left behind
        with open(tmp_path / "best.keras.json") as f:
            assert json.load(f) == {"monitor": "val_accuracy", "best": 0.5, "best_epoch": 1}  # still the kept one
        # Without the temporary file the same failure corrupts the target: the test can fail.
        direct = tmp_path / "direct.keras"
        direct.write_bytes(good)
        with pytest.raises(OSError):
            model.save(direct)
        assert direct.read_bytes() != good
    finally:
        FailsOnSave.fail = False
    keras.saving.load_model(target)  # still a complete, loadable model


def test_a_backup_that_dies_half_way_keeps_the_previous_backup(tmp_path):
    FailsOnSave.fail = False
    model = _model()
    model.compile(optimizer=keras.optimizers.SGD(momentum=0.9), loss="mse")
    model.fit(np.ones((4, 4), "float32"), np.zeros((4, 2), "float32"), verbose=0)  # optimizer state to keep
    backup = ResumableBackup(tmp_path / "backup", save_freq=2)
    backup.set_model(model)
    backup.on_epoch_end(0)
    kept = [w.copy() for w in model.get_weights()]
    kept_momentum = [np.asarray(v).copy() for v in model.optimizer.variables]
    model.fit(np.ones((4, 4), "float32"), np.ones((4, 2), "float32"), verbose=0)  # the weights move on
    FailsOnSave.fail = True
    try:
        with pytest.raises(OSError, match="disk full"):
            backup.on_epoch_end(1)
    finally:
        FailsOnSave.fail = False
    assert sorted(os.listdir(tmp_path / "backup")) == ["epoch0001-batch000000.weights.h5", "position.json"]
    fresh = _model()
    fresh.compile(optimizer=keras.optimizers.SGD(momentum=0.9), loss="mse")
    position = ResumableBackup(tmp_path / "backup").restore(fresh)
    assert (position.epochs_done, position.batches_done) == (1, 0)
    for a, b in zip(fresh.get_weights(), kept):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(fresh.optimizer.variables, kept_momentum):  # iterations and momentum too
        np.testing.assert_array_equal(np.asarray(a), b)


def test_best_checkpoint_only_improves_and_names_a_missing_metric(tmp_path):
    model = _model()
    checkpoint = BestCheckpoint(tmp_path / "w.weights.h5", monitor="val_loss", verbose=0)
    checkpoint.set_model(model)
    for epoch, loss in enumerate([1.0, 0.5, 0.7, float("nan")]):
        checkpoint.on_epoch_end(epoch, {"val_loss": loss})
    assert checkpoint.best == 0.5 and checkpoint.best_epoch == 2
    with pytest.raises(KeyError, match="validation_data"):
        checkpoint.on_epoch_end(4, {"loss": 0.1})
    with pytest.raises(ValueError, match="must end in .keras or .weights.h5"):
        BestCheckpoint(tmp_path / "w.h5")


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out"
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_path(target, is_dir=True) as tmp:
            os.makedirs(tmp)
            open(os.path.join(tmp, "half"), "w").close()
            raise RuntimeError("boom")
    assert os.listdir(tmp_path) == []


def test_saved_model_export_layout_and_parity_on_real_images(tmp_path):
    import tensorflow as tf

    from kerasarch.data import load_fashion_mnist

    (_, _), (x_test, _) = load_fashion_mnist()
    x = x_test[:64].astype("float32") / 255.0
    model = kerasarch.ResNet20(num_classes=10, input_shape=(28, 28, 1), dtype="mixed_bfloat16")
    path = export_saved_model(model, tmp_path)
    assert path == str(tmp_path / "resnet20" / "1")
    assert os.path.isfile(os.path.join(path, "saved_model.pb"))
    served = tf.saved_model.load(path).signatures["serving_default"]
    out = served(images=tf.constant(x))["probabilities"]
    assert out.dtype == tf.float32
    # The export is the float32 twin of the mixed_bfloat16 model (tests/test_export.py has the rest).
    np.testing.assert_allclose(out.numpy(), float32_model(model).predict(x, verbose=0), atol=1e-4)
    assert np.abs(out.numpy() - model.predict(x, verbose=0)).max() < 1e-2
    # Numbered versions; an existing one is never silently replaced.
    assert next_version(tmp_path / "resnet20") == 2
    assert export_saved_model(model, tmp_path) == str(tmp_path / "resnet20" / "2")
    with pytest.raises(ValueError, match="already exists.*version=3"):
        export_saved_model(model, tmp_path, version=1)
    (tmp_path / "afile").write_text("")
    with pytest.raises(ValueError, match="is a file"):
        export_saved_model(model, tmp_path / "afile")
    with pytest.raises(ValueError, match="positive integer"):
        export_saved_model(model, tmp_path, version=0)
