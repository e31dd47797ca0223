"""The Keras internals kerasarch relies on (kerasarch/_keras_compat.py), each checked so that a
Keras release that changes one fails here, with a message naming it, not in a training run."""

import keras
import numpy as np

from kerasarch import _keras_compat


def _model():
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(inputs))
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    return model


class _StartAt(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch
        self.seen = []

    def on_train_begin(self, logs=None):
        _keras_compat.start_fit_at_epoch(self.model, self.epoch)

    def on_epoch_begin(self, epoch, logs=None):
        self.seen.append(epoch)
        _keras_compat.start_fit_at_epoch(self.model, None)


def test_fit_starts_at_the_epoch_set_in_on_train_begin():
    model = _model()
    assert hasattr(model, "_initial_epoch"), (
        f"Keras {keras.__version__}: keras.Model has no `_initial_epoch` any more (keras/src/trainers/trainer.py; "
        "fit() read it after on_train_begin). kerasarch._keras_compat.start_fit_at_epoch, which "
        "ResumableBackup uses to resume a plain model.fit, needs another way.")
    x, y = np.zeros((8, 3), "float32"), np.zeros(8, "int32")
    callback = _StartAt(2)
    history = model.fit(x, y, epochs=4, batch_size=4, callbacks=[callback], verbose=0)
    assert callback.seen == [2, 3] and history.epoch == [2, 3], (
        f"Keras {keras.__version__}: fit() no longer starts at `model._initial_epoch` set in on_train_begin "
        f"(ran epochs {callback.seen}; keras/src/backend/{keras.backend.backend()}/trainer.py read "
        "`self._initial_epoch or initial_epoch` after on_train_begin). kerasarch._keras_compat."
        "start_fit_at_epoch needs another way.")
    # Reset, the next fit starts where it is told.
    assert model.fit(x, y, epochs=1, batch_size=4, verbose=0).epoch == [0]


def test_a_missing_internal_is_a_clear_error():
    class Bare:
        pass

    try:
        _keras_compat.start_fit_at_epoch(Bare(), 1)
    except RuntimeError as err:
        assert "`_initial_epoch`" in str(err) and "start_fit_at_epoch" in str(err)
    else:
        raise AssertionError("start_fit_at_epoch accepted an object without _initial_epoch")


def _nested():
    """A model with a kerasarch block (layers inside a layer) and a compiled AdamW."""
    import kerasarch

    model = kerasarch.create_model("resnet20", input_shape=(16, 16, 3))
    return model, model.get_layer("stage1_block1")


def test_sublayers_reach_the_layers_inside_blocks():
    model, block = _nested()
    inner = _keras_compat.sublayers(model)
    assert block in inner and set(_keras_compat.child_layers(block)) <= set(inner), (
        f"Keras {keras.__version__}: Layer._flatten_layers(include_self=False) no longer lists nested layers; "
        "kerasarch._keras_compat.sublayers (weight-decay exclusions, the XLA choice) needs another way.")
    assert len(inner) > len(model.layers)


def test_own_variables_are_a_layers_variables_without_its_sublayers_in_file_order(tmp_path):
    model, block = _nested()
    conv = next(layer for layer in _keras_compat.sublayers(block) if isinstance(layer, keras.layers.Conv2D))
    assert _keras_compat.own_variables(block) == [] and _keras_compat.own_variables(conv) == [conv.kernel], (
        f"Keras {keras.__version__}: Layer._trainable_variables / _non_trainable_variables no longer hold a layer's "
        "own variables only; kerasarch._keras_compat.own_variables (weights checks, transfer) needs another way.")
    # The order is the one .weights.h5 stores, which the weights check compares shape by shape.
    from kerasarch.models import weights_io

    model.save_weights(tmp_path / "w.weights.h5")
    assert weights_io.file_variable_shapes(str(tmp_path / "w.weights.h5")) == weights_io.model_variable_shapes(model)


def test_weight_decay_exclusions_carry_over_to_another_optimizer():
    # Behaviour, through the public API: one AdamW step with a zero gradient only decays.
    decayed, kept, by_name = (keras.Variable(np.ones(3, "float32"), name=n) for n in ("w", "b", "norm_scale"))
    source = keras.optimizers.AdamW(learning_rate=0.1, weight_decay=0.5)
    source.exclude_from_weight_decay(var_list=[kept], var_names=["norm"])
    target = keras.optimizers.AdamW(learning_rate=0.1, weight_decay=0.5)
    _keras_compat.copy_weight_decay_exclusions(source, target)
    target.apply_gradients([(keras.ops.zeros(3), v) for v in (decayed, kept, by_name)])
    assert np.all(keras.ops.convert_to_numpy(decayed) < 1), "weight decay did not apply at all"
    assert np.all(keras.ops.convert_to_numpy(kept) == 1) and np.all(keras.ops.convert_to_numpy(by_name) == 1), (
        f"Keras {keras.__version__}: the weight-decay exclusions did not carry over (optimizer."
        "_exclude_from_weight_decay / _exclude_from_weight_decay_pattern changed); kerasarch._keras_compat."
        "copy_weight_decay_exclusions (per-layer learning rates in transfer learning) needs another way.")


def test_graph_function_finds_a_nested_tensorflow_function():
    import pytest

    if keras.backend.backend() != "tensorflow":
        pytest.skip("TensorFlow graphs")
    import tensorflow as tf

    inner = tf.function(lambda x: tf.matmul(x, x), jit_compile=True)
    concrete = tf.function(lambda x: inner(x) + 1.0).get_concrete_function(tf.TensorSpec((2, 2), tf.float32))
    calls = [op for op in concrete.graph.get_operations() if op.type in ("PartitionedCall", "StatefulPartitionedCall")]
    assert calls, "TensorFlow no longer traces a nested tf.function as a PartitionedCall"
    graph = _keras_compat.graph_function(concrete.graph, calls[0].get_attr("f").name)
    assert "MatMul" in {op.type for op in graph.get_operations()}, (
        "TensorFlow's FuncGraph._get_function no longer returns the nested function's graph; "
        "kerasarch._keras_compat.graph_function (count_macs) needs another way.")
