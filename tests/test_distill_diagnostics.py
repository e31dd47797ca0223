"""Knowledge distillation and gradient-flow diagnostics, on real Fashion-MNIST, any backend."""

import json

import keras
import numpy as np
import pytest
from keras import ops

import kerasarch
from helpers import slow_off_tensorflow
from kerasarch import data
from kerasarch.train import Distiller, GradientFlow, gradient_norms, plot_gradient_flow


@pytest.fixture(scope="module")
def fashion():
    (x, y), _ = data.load_fashion_mnist()
    x = np.pad(x[:4000].astype("float32") / 255, ((0, 0), (2, 2), (2, 2), (0, 0)))
    return x, y[:4000]


def _kl(teacher, student, x, t=4.0):
    p = ops.convert_to_numpy(ops.softmax(ops.log(ops.clip(teacher(x, training=False), 1e-7, 1)) / t))
    q = ops.convert_to_numpy(ops.softmax(ops.log(ops.clip(student(x, training=False), 1e-7, 1)) / t))
    return float(np.mean(np.sum(p * (np.log(p) - np.log(q)), -1)))


def test_distillation_lowers_the_students_kl_to_the_teacher_and_saves_the_student(fashion, tmp_path):
    x, y = fashion
    teacher = kerasarch.create_model("lenet5", activation="relu", subsampling="max")
    teacher.compile(optimizer=keras.optimizers.Adam(2e-3), loss="sparse_categorical_crossentropy")
    teacher.fit(x[:3000], y[:3000], batch_size=100, epochs=2, verbose=0)
    student = kerasarch.create_model("lenet5", name="student")
    held_out = x[3000:]
    before = _kl(teacher, student, held_out)
    distiller = Distiller(student, teacher, temperature=4.0, alpha=0.7)
    distiller.compile(optimizer=keras.optimizers.Adam(2e-3), metrics=["accuracy"])
    teacher_weights = [ops.convert_to_numpy(w).copy() for w in teacher.weights]
    history = distiller.fit(x[:3000], y[:3000], batch_size=100, epochs=2, verbose=0).history
    assert np.isfinite(history["loss"]).all() and history["loss"][-1] < history["loss"][0]
    after = _kl(teacher, student, held_out)
    assert after < 0.5 * before, (before, after)
    for a, b in zip(teacher_weights, teacher.weights):
        np.testing.assert_array_equal(a, ops.convert_to_numpy(b))  # the teacher is frozen
    distiller.save_student(tmp_path / "student.keras")
    loaded = keras.saving.load_model(tmp_path / "student.keras")
    assert loaded.name == "student" and loaded.count_params() == student.count_params()
    np.testing.assert_allclose(ops.convert_to_numpy(loaded(held_out[:4])), ops.convert_to_numpy(student(held_out[:4])),
                               atol=1e-6)


def test_distiller_loss_is_the_formula():
    student = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4)])
    teacher = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="softmax")])
    distiller = Distiller(student, teacher, temperature=2.0, alpha=0.7)
    x = np.random.default_rng(0).normal(size=(5, 3)).astype("float32")
    y = np.array([0, 1, 2, 3, 0])
    s = ops.convert_to_numpy(student(x))
    t = np.log(ops.convert_to_numpy(teacher(x)))

    def softmax(z):
        e = np.exp(z - z.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)

    p, q = softmax(t / 2), softmax(s / 2)
    kl = np.sum(p * (np.log(p) - np.log(q)), -1)
    ce = -np.log(softmax(s)[np.arange(5), y])
    expected = np.mean(0.7 * kl * 4 + 0.3 * ce)
    loss = distiller.compute_loss(x, y, distiller(x))
    np.testing.assert_allclose(float(ops.convert_to_numpy(loss)), expected, rtol=1e-5)
    with pytest.raises(ValueError, match="student has 4 outputs, teacher 2"):
        Distiller(student, keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]))
    with pytest.raises(ValueError, match="alpha must be in"):
        Distiller(student, teacher, alpha=1.5)


def _mlp(depth, activation, residual=False, width=64):
    inputs = keras.Input((32, 32, 1))
    h = keras.layers.Flatten()(inputs)
    h = keras.layers.Dense(width, activation=activation, name="dense_in")(h)
    for i in range(depth - 2):
        out = keras.layers.Dense(width, activation=activation, name=f"dense{i + 1}")(h)
        h = keras.layers.Add()([h, out]) if residual else out
    return keras.Model(inputs, keras.layers.Dense(10, activation="softmax", name="out")(h))


# 52 s on JAX (two 30-layer MLPs and a ResNet-20 fit to compile): off TensorFlow it is in
# `make test-all`; gradient_norms runs on JAX in CI through the BatchNorm probe test below.
@slow_off_tensorflow
def test_gradient_flow_shows_vanishing_gradients_in_a_deep_sigmoid_net_only(fashion, tmp_path):
    x, y = fashion
    batch = (x[:256], y[:256])
    sigmoid = gradient_norms(_mlp(30, "sigmoid"), *batch)
    residual = gradient_norms(_mlp(30, "relu", residual=True), *batch)
    assert len(sigmoid["layers"]) == 30 and sigmoid["layers"][0] == "dense_in"
    # Each sigmoid layer multiplies the gradient by at most 0.25 x |W|: 30 of them vanish.
    assert sigmoid["first_to_last"] < 1e-6, sigmoid["first_to_last"]
    assert residual["first_to_last"] > 0.1, residual["first_to_last"]
    assert all(np.isfinite(sigmoid["grad_norm"])) and all(w > 0 for w in sigmoid["weight_norm"])
    plot_gradient_flow([sigmoid, residual], tmp_path / "flow.png", labels=["sigmoid", "residual"])
    with open(tmp_path / "flow.png", "rb") as f:
        assert f.read(4) == b"\x89PNG"

    model = kerasarch.create_model("resnet20", input_shape=(32, 32, 1), num_classes=10)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    callback = GradientFlow(*batch, every=5, out_dir=tmp_path / "run")
    model.fit(x[:1000], y[:1000], batch_size=100, epochs=1, verbose=0, callbacks=[callback])
    assert [r["step"] for r in callback.records] == [0, 5, 10]
    assert len(callback.records[0]["layers"]) == 20  # 19 convolutions and the classifier
    with open(tmp_path / "run" / "gradient_flow.json") as f:
        assert len(json.load(f)) == 3
    assert (tmp_path / "run" / "gradient_flow.png").stat().st_size > 1000
    assert (tmp_path / "run" / "gradient_flow.csv").read_text().startswith("step,depth,layer,grad_norm,weight_norm")


def test_probing_gradients_leaves_batchnorm_statistics_alone():
    from kerasarch.train import gradient_norms

    model = kerasarch.create_model("resnet20", input_shape=(16, 16, 1), num_classes=3)
    before = [np.array(keras.ops.convert_to_numpy(v.value)) for v in model.non_trainable_variables]
    x = np.random.default_rng(0).normal(3.0, 2.0, (8, 16, 16, 1)).astype("float32")
    gradient_norms(model, x, np.zeros(8, "int32"))
    after = [np.array(keras.ops.convert_to_numpy(v.value)) for v in model.non_trainable_variables]
    assert all(np.array_equal(a, b) for a, b in zip(before, after))
