"""Every registered model at its default input: trainable parameters equal the reference exactly."""

import numpy as np
import pytest

import kerasarch
from anchors import ANCHORS, REFERENCE_ARGS


def trainable_count(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def test_every_registered_model_has_a_reference_count():
    assert set(kerasarch.list_models()) - set(ANCHORS) == set()


@pytest.mark.parametrize("name", sorted(ANCHORS))
def test_trainable_parameters_equal_the_reference(name):
    model = kerasarch.create_model(name, **REFERENCE_ARGS.get(name, {}))
    assert trainable_count(model) == ANCHORS[name]
