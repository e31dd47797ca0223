"""The training recipe: schedule values, label smoothing, clipping, weight decay, and a real run."""

import dataclasses

import keras
import numpy as np
import pytest
from keras import ops

import kerasarch
from kerasarch import data
from kerasarch.train import RECIPES, Recipe, SmoothedSparseCategoricalCrossentropy, no_decay_variables


def _np(t):
    return np.asarray(ops.convert_to_numpy(t))


def test_schedule_warms_up_linearly_then_decays_to_zero_along_a_cosine():
    recipe = dataclasses.replace(RECIPES["resnet"], epochs=10, steps_per_epoch=100)  # 1000 steps, 50 warmup
    assert recipe.warmup_steps == 50
    schedule = recipe.learning_rate_schedule()
    lr = {step: float(_np(schedule(step))) for step in (0, 25, 50, 525, 1000)}
    assert lr[0] == 0.0
    assert lr[25] == pytest.approx(0.05)
    assert lr[50] == pytest.approx(0.1)
    assert lr[525] == pytest.approx(0.05, abs=1e-6)  # half-way through the decay: cos(pi / 2)
    assert lr[1000] == pytest.approx(0.0, abs=1e-9)
    by_epochs = dataclasses.replace(recipe, warmup_epochs=2)
    assert by_epochs.warmup_steps == 200
    flat = dataclasses.replace(recipe, schedule="constant").learning_rate_schedule()
    assert float(_np(flat(50))) == pytest.approx(0.1) and float(_np(flat(900))) == pytest.approx(0.1)


def test_label_smoothing_for_integer_labels():
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]], "float32")
    labels = np.array([0, 2])
    plain = keras.losses.SparseCategoricalCrossentropy()(labels, probs)
    np.testing.assert_allclose(_np(SmoothedSparseCategoricalCrossentropy(0.0)(labels, probs)), _np(plain), rtol=1e-6)
    s, k = 0.1, 3
    target = np.full((2, 3), s / k)
    target[[0, 1], labels] += 1 - s
    expected = -(target * np.log(probs)).sum(1).mean()
    smoothed = _np(SmoothedSparseCategoricalCrossentropy(s)(labels[:, None], probs))
    np.testing.assert_allclose(smoothed, expected, rtol=1e-5)
    assert smoothed > _np(plain)  # a confident right answer costs more with smoothing
    logits = np.log(probs)
    np.testing.assert_allclose(_np(SmoothedSparseCategoricalCrossentropy(s, from_logits=True)(labels, logits)),
                               expected, rtol=1e-5)


def _one_step(model, optimizer, grads):
    optimizer.build(model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))


def test_global_norm_clipping_bounds_the_update():
    model = kerasarch.create_model("lenet5")
    recipe = Recipe(learning_rate=1.0, momentum=0.0, weight_decay=0.0, schedule="constant", warmup=0.0, clipnorm=1.0)
    before = [_np(v) for v in model.trainable_variables]
    grads = [np.full(v.shape, 100.0, "float32") for v in model.trainable_variables]
    _one_step(model, recipe.make_optimizer(model), grads)
    update = np.sqrt(sum(((b - _np(v)) ** 2).sum() for b, v in zip(before, model.trainable_variables)))
    assert update == pytest.approx(1.0, rel=1e-4)  # lr 1 x a gradient clipped to norm 1


def test_weight_decay_skips_norms_biases_and_embeddings():
    model = kerasarch.create_model("vit_cifar")
    skipped = {id(v) for v in no_decay_variables(model)}
    names = {v.path for v in no_decay_variables(model)}
    assert any("pos_embed" in n for n in names) and any("class_token" in n for n in names)
    assert any("norm1/gamma" in n for n in names) and any("qkv/bias" in n for n in names)
    recipe = Recipe(learning_rate=0.5, momentum=0.0, weight_decay=0.1, schedule="constant", warmup=0.0, clipnorm=None)
    before = [_np(v) for v in model.trainable_variables]
    _one_step(model, recipe.make_optimizer(model), [np.zeros(v.shape, "float32") for v in model.trainable_variables])
    for b, v in zip(before, model.trainable_variables):
        if id(v) in skipped:
            np.testing.assert_array_equal(_np(v), b, err_msg=v.path)
        else:
            np.testing.assert_allclose(_np(v), b * (1 - 0.5 * 0.1), rtol=1e-5, atol=1e-7, err_msg=v.path)
    cnn = kerasarch.create_model("resnet20")
    skipped = {v.path for v in no_decay_variables(cnn)}
    assert skipped == {v.path for v in cnn.trainable_variables if len(v.shape) == 1}
    assert {"stem/bn/gamma", "stem/bn/beta", "fc/bias"} <= skipped


def test_compile_for_training_describes_every_setting_and_detects_logits(capsys):
    model = kerasarch.create_model("resnet20", classifier_activation=None)
    recipe = kerasarch.compile_for_training(model, "resnet", epochs=2, steps_per_epoch=50, nesterov=True)
    text = capsys.readouterr().out
    for words in ("SGD, momentum 0.9, Nesterov", "0.1 peak", "warmup over 5 steps", "cosine decay to 0 at step 100",
                  "weight decay     0.0001", "label smoothing 0.1", "global norm 1", "float32", "XLA"):
        assert words in text
    assert recipe.nesterov and model.optimizer.nesterov
    assert model.loss.from_logits
    probs_model = kerasarch.create_model("resnet20")
    kerasarch.compile_for_training(probs_model, "keras", verbose=False)
    assert not probs_model.loss.from_logits and isinstance(probs_model.optimizer, keras.optimizers.Adam)


def test_recipe_errors_are_clear():
    model = kerasarch.create_model("lenet5")
    with pytest.raises(ValueError, match="unknown recipe 'resnett'"):
        kerasarch.compile_for_training(model, "resnett")
    with pytest.raises(TypeError, match="unknown recipe setting"):
        kerasarch.compile_for_training(model, lr=0.1)
    with pytest.raises(ValueError, match="needs epochs and steps_per_epoch"):
        kerasarch.compile_for_training(model)
    with pytest.raises(ValueError, match="optimizer must be"):
        Recipe(optimizer="rmsprop")


def test_recipe_trains_on_real_data():
    (x, y), _ = data.load_fashion_mnist()
    # LeNet-5 reads 32x32: pad the 28x28 images by 2, as LeCun padded MNIST.
    x = np.pad(x[:3072].astype("float32") / 255.0, ((0, 0), (2, 2), (2, 2), (0, 0)))
    y = y[:3072]
    model = kerasarch.create_model("lenet5", activation="relu", subsampling="max")
    kerasarch.compile_for_training(model, "resnet", epochs=3, steps_per_epoch=24, learning_rate=0.05, verbose=False)
    history = model.fit(x[:3072 - 512], y[:3072 - 512], batch_size=107, epochs=3, verbose=0,
                        validation_data=(x[-512:], y[-512:])).history
    assert history["loss"][-1] < history["loss"][0]
    assert history["val_accuracy"][-1] > 0.6


def test_auto_xla_is_on_for_transformers_and_keras_choice_for_cnns():
    vit = kerasarch.create_model("vit_cifar")
    cnn = kerasarch.create_model("resnet20")
    recipe = Recipe()
    assert recipe.resolve_jit(vit) is True and recipe.resolve_jit(cnn) == "auto"
    assert dataclasses.replace(recipe, jit_compile=False).resolve_jit(vit) is False
    kerasarch.compile_for_training(vit, "adamw", epochs=1, steps_per_epoch=10, verbose=False)
    assert vit.jit_compile is True
    assert "XLA              on (Transformer layers" in recipe.describe(vit)


def test_auto_precision_is_bfloat16_only_where_the_cpu_computes_it():
    from kerasarch.train.recipe import Recipe, cpu_has_bfloat16

    with open("/proc/cpuinfo") as f:
        flags = f.read()
    native = any(flag in flags.split() for flag in ("avx512_bf16", "amx_bf16", "bf16"))
    assert cpu_has_bfloat16() == native
    assert Recipe().dtype_policy() == ("mixed_bfloat16" if native else "float32")  # CI has no GPU
    assert Recipe(mixed_precision="mixed_bfloat16").dtype_policy() == "mixed_bfloat16"
    assert Recipe(mixed_precision=None).dtype_policy() == "float32"


def test_warmup_epochs_out_of_range_is_a_clear_error():
    from kerasarch.train.recipe import Recipe

    with pytest.raises(ValueError, match="warmup_epochs must be >= 0"):
        Recipe(warmup_epochs=-1)
    with pytest.raises(ValueError, match=r"warmup_epochs \(5\) must be shorter than the run \(3 epochs\)"):
        Recipe(warmup_epochs=5, epochs=3, steps_per_epoch=10)
    assert Recipe(warmup_epochs=0.5, epochs=2, steps_per_epoch=100).warmup_steps == 50
