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


def _cell_params(cell, units, inputs):
    """Keras's cells: LSTM 4 gate blocks with one bias each; GRU 3 with two biases each
    (``reset_after=True``, cuDNN's form; PyTorch's nn.GRU counts the same); SimpleRNN one."""
    gates, biases = {"lstm": (4, 1), "gru": (3, 2), "rnn": (1, 1)}[cell]
    return gates * (units * (units + inputs) + biases * units)


def _recurrent_stack_params(cell, units, levels, inputs, directions):
    total = 0
    for _ in range(levels):
        total += directions * _cell_params(cell, units, inputs)
        inputs = directions * units
    return total, inputs


@pytest.mark.parametrize("name,cell,directions", [
    ("rnn_classifier", "rnn", 1), ("lstm_classifier", "lstm", 1), ("gru_classifier", "gru", 1),
    ("bilstm_classifier", "lstm", 2), ("bigru_classifier", "gru", 2)])
def test_recurrent_classifier_anchors_follow_the_cell_formulas(name, cell, directions):
    stack, width = _recurrent_stack_params(cell, 128, 2, 128, directions)
    assert ANCHORS[name] == 20_000 * 128 + stack + (width * 2 + 2)


@pytest.mark.parametrize("name,cell", [("lstm_forecaster", "lstm"), ("gru_forecaster", "gru")])
def test_forecaster_anchors_follow_the_cell_formulas(name, cell):
    stack, width = _recurrent_stack_params(cell, 64, 2, 1, 1)
    assert ANCHORS[name] == stack + (width * 48 + 48)


@pytest.mark.parametrize("name,cell,states", [("seq2seq_lstm_attention", "lstm", 2), ("seq2seq_gru_attention", "gru", 1)])
def test_seq2seq_anchors_follow_the_formula(name, cell, states):
    vocab, embed, enc, dec = 10_000, 128, 128, 256
    encoder, memory = _recurrent_stack_params(cell, enc, 2, embed, 2)
    bridge = memory * states * dec + states * dec  # tanh(W summary) -> each of the decoder's states
    decoder = _cell_params(cell, dec, embed)
    additive = dec * dec + (memory * dec + dec) + dec  # W_q (no bias), W_m + bias, v
    combine = (memory + dec) * dec  # tanh(W_c [context; h]), no bias (Luong eq. 5)
    logits = dec * vocab + vocab
    assert ANCHORS[name] == 2 * vocab * embed + encoder + bridge + decoder + additive + combine + logits


def test_lstm_formula_is_the_papers_four_gates():
    # The formula, written out once: 4 * (units * (units + input) + units).
    assert _cell_params("lstm", 128, 300) == 4 * (128 * (128 + 300) + 128)
