"""The contract every registered model keeps, on tiny inputs taken from its own contract,
on every backend CI runs.

For each name in ``kerasarch.list_models()``: inputs from ``contract.sample_inputs()`` at the
contract's ``tiny_shape()``; the output its built contract names (shape and finite values in
training and inference mode), a non-zero gradient for every trainable weight,
``get_config`` / ``from_config`` reproducing the outputs and the contract, float32 output
under ``mixed_bfloat16``, ``features_only`` outputs that match ``feature_info``, an
XLA-compiled training step (eager ``fit`` steps through the recipe on torch, where the
compiler is torch.compile), and a ``.keras`` file that loads back with its contract. A new
family needs no test code: its contract says what to feed and what to expect.

Which models each check walks in CI (``make test``) is read off the registry by
``tests/tiers.py``; ``make test-all`` runs every check for every model.
"""

import keras
import numpy as np
import pytest

import kerasarch
import tiers
from anchors import ANCHORS
from helpers import JIT_IN_CI, as_list, slow_unless, trainable_gradients
from kerasarch.registry import model_entry

MODELS = kerasarch.list_models()
NUM_CLASSES = 7

BACKEND = keras.backend.backend()
# The models the compiled training step walks with `make test-all`.
XLA_MODELS = MODELS
if BACKEND == "tensorflow":
    CI_TIER, XLA_TIER = tiers.CI, tiers.XLA
    # The forward/gradient/config check walks, beyond the CI tier, every model up to 3M
    # parameters (the CIFAR nets, the recurrent classifiers and forecasters: a second or two
    # each); the larger variants (the same blocks, wider and deeper, 5-25 s each; every one is
    # still built by tests/test_param_counts.py) in `make test-all`. Up to 30M, as before, cost
    # CI about 300 worker-seconds it did not have.
    EVERY = slow_unless(MODELS, CI_TIER | {n for n in MODELS if ANCHORS.get(n, 0) <= 3_000_000})
elif BACKEND == "torch":
    # Eager torch compiles nothing, so CI walks the whole CI tier (one model per block family):
    # with the fit check, 2 minutes on two cores. The compiled step is torch.compile here
    # (helpers.JIT_IN_CI): none in CI, where the fit check below trains on torch instead; `make
    # test-all` compiles the XLA tier (one model per kind of op), not every model (hours).
    CI_TIER, XLA_TIER = tiers.CI, set()
    XLA_MODELS = [n for n in MODELS if n in tiers.XLA]
    EVERY = slow_unless(MODELS, CI_TIER)
else:
    CI_TIER = XLA_TIER = tiers.JAX
    EVERY = slow_unless(MODELS, CI_TIER)
TIERED = slow_unless(MODELS, CI_TIER)
XLA_TIERED = slow_unless(XLA_MODELS, XLA_TIER if JIT_IN_CI else set())
# A few steps of model.fit through kerasarch's recipe: CI's training check on torch; on TensorFlow
# and JAX the compiled step trains in CI, and this runs in `make test-all`.
FIT_TIERED = slow_unless(MODELS, set() if JIT_IN_CI else CI_TIER)


def _np(tensor):
    return np.asarray(keras.ops.convert_to_numpy(tensor))


def _tiny_shape(name, channels=None):
    """The contract's tiny input: 32x32 images (or the smallest the architecture takes), 16 tokens."""
    return model_entry(name).contract.input.tiny_shape(channels)


def _head_args(name, logits=True):
    """A classifier gets NUM_CLASSES logits (or probabilities); a forecaster keeps its own head."""
    if not model_entry(name).contract.output.is_classifier:
        return {}
    return dict(num_classes=NUM_CLASSES, **({"classifier_activation": None} if logits else {}))


def _build(name, **kwargs):
    model = kerasarch.create_model(name, input_shape=_tiny_shape(name), **_head_args(name), **kwargs)
    return model, model.contract.sample_inputs(batch=2)


def _expected_shape(model, x):
    output = model.contract.output
    if output.kind == "sequence_logits":
        return output.shape(_batch(x), steps=x[model.contract.input.target_name].shape[1])
    if output.kind != "forecast":
        assert output.kind == "logits" and output.size == NUM_CLASSES, model.contract
    return output.shape(_batch(x))


def _batch(x):
    return len(next(iter(x.values()))) if isinstance(x, dict) else len(x)


def _first(x, n):
    """The first ``n`` examples of the inputs (a dict of them for a two-input model)."""
    return {k: v[:n] for k, v in x.items()} if isinstance(x, dict) else x[:n]


def _targets(model, x):
    """Training targets of the contract's kind: class ids, a forecast's real values, or a
    sequence model's next tokens."""
    output, batch = model.contract.output, _batch(x)
    if output.kind == "forecast":
        return np.random.default_rng(0).normal(size=output.shape(batch)).astype("float32")
    if output.kind == "sequence_logits":
        return model.contract.input.sample_targets(x)
    return np.arange(batch) % NUM_CLASSES


def _loss(model):
    kind = model.contract.output.kind
    if kind == "sequence_logits":
        return kerasarch.train.losses.SequenceCrossentropy(padding_id=model.contract.input.padding_id)
    return "mse" if kind == "forecast" else "sparse_categorical_crossentropy"


@pytest.mark.parametrize("name", EVERY)
def test_forward_gradients_and_config_round_trip(name):
    model, x = _build(name)
    assert model.name == name
    # A training-mode pass runs and is finite (it also updates the BatchNorm statistics).
    assert np.isfinite(_np(model(x, training=True))).all()
    # Gradients in inference mode: at tiny inputs, batch statistics cancel per-channel
    # offsets exactly (a BatchNorm beta before a 1x1 map and another BatchNorm gets a true
    # zero gradient), which would hide the dead weights this check is for.
    weights = np.random.default_rng(1).normal(size=_expected_shape(model, x)).astype("float32")
    grads = trainable_gradients(model, x, weights, training=False)
    dead = [v.path for v, g in zip(model.trainable_variables, grads) if g is None or not np.any(g)]
    assert not dead, f"trainable weights with zero gradient: {dead[:5]}"

    # Eager calls rather than predict(): the same numbers without tracing a graph per model.
    y = _np(model(x, training=False))
    assert y.shape == _expected_shape(model, x)
    assert np.isfinite(y).all()

    clone = type(model).from_config(model.get_config())
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(_np(clone(x, training=False)), y, rtol=1e-5, atol=1e-5)
    assert clone.feature_info == model.feature_info and clone.arch == model.arch
    assert clone.contract == model.contract


@pytest.mark.parametrize("name", TIERED)
def test_keras_file_round_trip(name, tmp_path):
    model, x = _build(name)
    y = _np(model(x, training=False))
    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, kerasarch.ArchModel)
    np.testing.assert_allclose(_np(loaded(x, training=False)), y, rtol=1e-5, atol=1e-5)
    assert loaded.feature_info == model.feature_info and loaded.contract == model.contract


@pytest.mark.parametrize("name", TIERED)
def test_mixed_bfloat16_output_is_float32(name):
    model, x = _build(name, dtype="mixed_bfloat16")
    assert any(layer.compute_dtype == "bfloat16" for layer in model.layers)
    y = model(x, training=False)
    assert keras.backend.standardize_dtype(y.dtype) == "float32"
    assert np.isfinite(_np(y)).all()


@pytest.mark.parametrize("name", XLA_TIERED)
def test_xla_train_step_under_mixed_bfloat16(name):
    model = kerasarch.create_model(name, input_shape=_tiny_shape(name), dtype="mixed_bfloat16",
                                   **_head_args(name, logits=False))
    assert model.contract.output.kind in ("probabilities", "forecast", "sequence_logits")
    x = model.contract.sample_inputs(batch=4)
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss=_loss(model), jit_compile=True)
    before = [np.array(w) for w in model.trainable_weights[:3]]
    logs = model.train_on_batch(x, _targets(model, x), return_dict=True)
    assert np.isfinite(logs["loss"])
    assert any(not np.array_equal(b, np.array(w)) for b, w in zip(before, model.trainable_weights[:3]))


@pytest.mark.parametrize("name", FIT_TIERED)
def test_fit_a_few_steps_with_the_recipe(name):
    model, _ = _build(name)
    # Batches of 6, not 2: BatchNorm over two samples at 1x1 maps makes the gradients of deep
    # nets explode (EfficientNetV2-S, this one or torchvision's: a global norm of ~1e10, and on
    # some seeds inf, which clipping turns into NaN weights); at 6 it is ~1e3.
    x = model.contract.sample_inputs(batch=18)
    y = _targets(model, x)
    # The "resnet" recipe: SGD with momentum, weight decay with its exclusions, global-norm
    # clipping, label smoothing; one epoch of 3 steps, so no warmup step with a zero rate.
    kerasarch.compile_for_training(model, "resnet", epochs=1, steps_per_epoch=3, verbose=False)
    if BACKEND == "torch":
        assert not model.jit_compile  # "auto" trains eagerly on torch (Recipe.resolve_jit)
    moving = [v for v in model.non_trainable_variables if "moving_" in v.path]
    watched = [model.trainable_variables[0], model.trainable_variables[-1], *moving]
    before = [_np(v) for v in watched]
    history = model.fit(x, y, batch_size=6, epochs=1, shuffle=False, verbose=0).history
    assert int(_np(model.optimizer.iterations)) == 3
    assert np.isfinite(history["loss"]).all()
    # The first and last weights moved, and BatchNorm's moving statistics followed the batches.
    after = [_np(v) for v in watched]
    assert not np.array_equal(before[0], after[0]) and not np.array_equal(before[1], after[1])
    assert not moving or any(not np.array_equal(b, a) for b, a in zip(before[2:], after[2:]))
    # No step left a NaN behind (a loss is computed before its step's update).
    assert np.isfinite(_np(model(_first(x, 2), training=False))).all()


@pytest.mark.parametrize("name", TIERED)
def test_out_indices_picks_levels(name):
    # The selection is the builder's, shared by all families: the CI tier exercises it.
    shape = _tiny_shape(name, channels=1)
    full = kerasarch.create_model(name, input_shape=shape, features_only=True)
    last = kerasarch.create_model(name, input_shape=shape, features_only=True, out_indices=(0, -1))
    n = len(full.feature_info)
    assert [f["index"] for f in last.feature_info] == [0, n - 1]
    assert [f["num_chs"] for f in last.feature_info] == [full.feature_info[0]["num_chs"], full.feature_info[-1]["num_chs"]]
    assert len(as_list(last(last.contract.sample_inputs(), training=False))) == 2


# Channels in feature_info are read off the feature tensors and reductions are the family
# builder's, so the CI tier (every family, every code path) checks them; `make test-all` walks all.
@pytest.mark.parametrize("name", TIERED)
def test_features_only_matches_feature_info_and_one_channel_input(name):
    model = kerasarch.create_model(name, input_shape=_tiny_shape(name, channels=1), features_only=True)
    contract = model.contract
    assert contract.output.kind == "feature_maps"
    rank = contract.input.spatial_rank
    sizes = contract.input_shape[:rank]
    outputs = as_list(model(contract.sample_inputs(), training=False))
    assert len(outputs) == len(model.feature_info) >= 2
    previous = sizes
    for out, info in zip(outputs, model.feature_info):
        # (batch, *spatial, channels), channels exact; each spatial side is at most size / reduction
        # (exact for "same" padding, smaller where the reference pads "valid") and shrinks level by level.
        assert out.ndim == rank + 2 and out.shape[0] == 2 and out.shape[-1] == info["num_chs"], info
        spatial = out.shape[1:-1]
        for side, size, before in zip(spatial, sizes, previous):
            assert 1 <= side <= -(-size // info["reduction"]) and side <= before, (out.shape, info)
        assert len(set(spatial)) == 1  # square inputs give square maps
        previous = spatial
        assert np.isfinite(out).all()
