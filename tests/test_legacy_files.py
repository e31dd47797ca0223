"""``.keras`` files written by kerasarch 0.1 (before models carried a contract) still load, give
the outputs they gave then, and get the contract their graph and ``arch`` imply."""

import os

import keras
import numpy as np

import kerasarch
from kerasarch.contract import Contract

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")


def _load(name):
    return keras.saving.load_model(os.path.join(FIXTURES, name))


def test_an_image_classifier_file_of_v0_1_loads_with_its_contract():
    expected = np.load(os.path.join(FIXTURES, "v0.1.0_outputs.npz"))
    model = _load("lenet5_v0.1.0.keras")
    assert isinstance(model, kerasarch.ArchModel)
    np.testing.assert_allclose(model.predict(expected["lenet5_x"], verbose=0), expected["lenet5_y"], atol=1e-6)
    c = model.contract
    assert (c.input.kind, c.input_shape, c.input.min_size) == ("image", (32, 32, 1), 32)
    assert (c.output.kind, c.output.size) == ("probabilities", 10)
    # and it keeps that contract through the next save
    assert Contract.from_json(c.to_json()) == c


def test_a_text_classifier_file_of_v0_1_loads_with_its_vocabulary(tmp_path):
    expected = np.load(os.path.join(FIXTURES, "v0.1.0_outputs.npz"))
    model = _load("text_classifier_v0.1.0.keras")
    np.testing.assert_allclose(model.predict(expected["text_x"], verbose=0), expected["text_y"], atol=1e-6)
    c = model.contract
    assert (c.input.kind, c.input.vocab_size, c.input.max_length) == ("tokens", 50, 16)
    assert (c.output.kind, c.output.size) == ("probabilities", 3)
    model.save(tmp_path / "again.keras")
    assert keras.saving.load_model(tmp_path / "again.keras").contract == c
