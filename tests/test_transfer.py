"""Transfer learning on real data: weights brought over, head replaced, first layers frozen with
BatchNorm in inference mode, and the pretrained part trained at 0.1x the head's learning rate."""

import keras
import numpy as np
import pytest

import kerasarch
from kerasarch import data
from kerasarch.train import transfer


def _np(v):
    return np.asarray(keras.ops.convert_to_numpy(v))


def test_lr_multipliers_scale_each_groups_update_and_survive_saving(tmp_path):
    model = kerasarch.create_model("lenet5")
    base = keras.optimizers.SGD(learning_rate=1.0)
    opt = transfer.with_lr_multipliers(base, {"": 0.1, "output": 1.0})
    opt.build(model.trainable_variables)
    before = [_np(v) for v in model.trainable_variables]
    opt.apply_gradients(zip([np.ones(v.shape, "float32") for v in model.trainable_variables],
                            model.trainable_variables))
    for b, v in zip(before, model.trainable_variables):
        step = 1.0 if v.path.startswith("output") else 0.1
        np.testing.assert_allclose(b - _np(v), step, rtol=1e-5, err_msg=v.path)
    model.compile(optimizer=transfer.with_lr_multipliers(keras.optimizers.AdamW(1e-3), {"": 0.1, "output": 1.0}),
                  loss="sparse_categorical_crossentropy")
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert type(loaded.optimizer).__name__ == "AdamWWithLRMultipliers"
    assert loaded.optimizer.lr_multipliers == {"": 0.1, "output": 1.0}
    with pytest.raises(TypeError, match="per-layer learning rates support"):
        transfer.with_lr_multipliers(keras.optimizers.RMSprop(), {})


@pytest.fixture(scope="module")
def halves():
    (x, y), _ = data.load_fashion_mnist()
    x = x.astype("float32") / 255
    first, second = np.flatnonzero(y < 5), np.flatnonzero(y >= 5)
    return (x[first[:2500]], y[first[:2500]]), (x[second[:600]], y[second[:600]] - 5)


def test_transfer_copies_the_backbone_freezes_and_trains_the_rest(halves, tmp_path):
    (xa, ya), (xb, yb) = halves
    source = kerasarch.create_model("resnet20", input_shape=(28, 28, 1), num_classes=5)
    kerasarch.compile_for_training(source, "resnet", epochs=3, steps_per_epoch=20, verbose=False)
    source.fit(xa, ya, batch_size=125, epochs=3, verbose=0)
    path = tmp_path / "pretrained.keras"
    source.save(path)

    model = transfer.transfer_model("resnet20", 5, weights=path, freeze_up_to="stage2_block3",
                                    input_shape=(28, 28, 1))
    assert model.transfer["skipped"] == []  # same classes: everything fits
    wide = transfer.transfer_model("resnet20", 7, weights=str(path), input_shape=(28, 28, 1))
    assert wide.transfer["skipped"] == ["fc"] and "stage3_block3/conv2/bn" in wide.transfer["copied"]
    np.testing.assert_array_equal(_np(wide.get_layer("stem").weights[0]), _np(source.get_layer("stem").weights[0]))
    assert model.transfer["frozen"] == ["stem"] + [f"stage{s}_block{b}" for s in (1, 2) for b in (1, 2, 3)]

    frozen_before = {v.path: _np(v) for layer in model.layers if not layer.trainable for v in layer.weights}
    assert any("moving_mean" in p for p in frozen_before)  # BatchNorm statistics are among them
    trained_before = _np(model.get_layer("stage3_block1").weights[0])
    plan = transfer.compile_transfer(model, "resnet", epochs=6, steps_per_epoch=5, verbose=False)
    assert type(model.optimizer).__name__ == "SGDWithLRMultipliers"
    assert model.optimizer.lr_multipliers == {"": 0.1, "fc": 1.0} and plan.epochs == 6
    model.fit(xb[:500], yb[:500], batch_size=100, epochs=6, verbose=0)
    for layer in model.layers:
        if not layer.trainable:
            for v in layer.weights:
                np.testing.assert_array_equal(_np(v), frozen_before[v.path], err_msg=v.path)
    assert not np.array_equal(_np(model.get_layer("stage3_block1").weights[0]), trained_before)
    accuracy = model.evaluate(xb[500:], yb[500:], verbose=0)[1]
    assert accuracy > 0.5, accuracy  # five classes never seen in pre-training, 500 images

    transfer.unfreeze(model)
    assert all(layer.trainable for layer in model.layers)


def test_freeze_errors_are_clear():
    model = kerasarch.create_model("resnet20", num_classes=3)
    with pytest.raises(ValueError, match="no layer named 'stage2'.*stage2_block1"):
        transfer.freeze(model, "stage2")
    with pytest.raises(ValueError, match="reaches the classifier 'fc'"):
        transfer.freeze(model, "fc")
    with pytest.raises(ValueError, match="has 13 layers"):
        transfer.freeze(model, 40)
    with pytest.raises(ValueError, match="no layer of the source matches"):
        transfer.copy_matching_weights(kerasarch.create_model("lenet5"), model)
