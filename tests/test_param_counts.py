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


def _text_classifier_params(vocab, positions, d, depth, mlp, classes):
    """Token embedding, [CLS] token, position table (the [CLS] position included), per pre-norm
    encoder layer two LayerNorms, fused QKV and output projections and the MLP, the final
    LayerNorm and the head."""
    layer = 2 * 2 * d + (3 * d * d + 3 * d) + (d * d + d) + (d * mlp + mlp) + (mlp * d + d)
    return vocab * d + d + (positions + 1) * d + depth * layer + 2 * d + (d * classes + classes)


def test_text_classifier_anchors_follow_the_formula():
    assert ANCHORS["transformer_text_tiny"] == _text_classifier_params(30_522, 512, 128, 2, 512, 2)
    assert ANCHORS["transformer_text_small"] == _text_classifier_params(30_522, 512, 256, 4, 1024, 2)
