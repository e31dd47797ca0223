"""One preprocessing definition: the training pipeline and the uint8 export graph turn the same
raw pixels into the same model inputs (real Fashion-MNIST images, a real SavedModel)."""

import keras
import numpy as np
import pytest

import kerasarch
import kerasarch.export
from kerasarch.data import load_fashion_mnist, make_dataset
from kerasarch.preprocessing import IMAGENET_MEAN, IMAGENET_STD, Preprocessing

pytestmark = pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="tf.data and SavedModel")


@pytest.mark.parametrize("prep,size,channels", [
    (Preprocessing(), (28, 28), None),                               # kerasarch's default, no resize
    (Preprocessing(), (40, 40), 3),                                  # resized, grey to colour
    (Preprocessing(mean=IMAGENET_MEAN, std=IMAGENET_STD), (36, 36), 3),  # ImageNet normalisation
])
def test_pipeline_and_serving_graph_prepare_raw_images_alike(prep, size, channels):
    from kerasarch.export import ServingModel

    _, (x, _) = load_fashion_mnist()
    raw = x[:16]
    if channels == 3:
        raw = np.repeat(raw, 3, axis=-1)  # what a client sends a colour model
    pipeline = np.concatenate([b.numpy() for b in make_dataset(x[:16], None, batch_size=8, image_size=size,
                                                               channels=channels, preprocessing=prep)])
    model = keras.Sequential([keras.Input((*size, channels or 1)), keras.layers.Identity()])
    serving = ServingModel(model, uint8=True, preprocessing=prep)
    served = serving(raw)["outputs"].numpy()
    assert pipeline.shape == served.shape == (16, *size, channels or 1)
    np.testing.assert_allclose(served, pipeline, atol=1e-6)
    assert not np.allclose(pipeline, 0)


def test_an_exported_uint8_saved_model_sees_the_training_pixels(tmp_path):
    import tensorflow as tf

    _, (x, _) = load_fashion_mnist()
    model = kerasarch.create_model("lenet5", input_shape=(32, 32, 1))
    path = kerasarch.export.export(model, tmp_path, format="saved_model", uint8=True, warmup=False,
                                   quiet_summary=True)
    served = tf.saved_model.load(path).signatures["serving_default"](images=tf.constant(x[:8]))["probabilities"]
    trained = model.predict(make_dataset(x[:8], None, batch_size=8, image_size=(32, 32)), verbose=0)
    np.testing.assert_allclose(served.numpy(), trained, atol=1e-5)
