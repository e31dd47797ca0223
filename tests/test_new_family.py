"""Adding a family takes one layers file, one models file and its anchors: ``tests/tiny_family``
is such a family (a temporal-convolution sequence classifier, an input kind no kerasarch family
has yet), and the contract test's own checks walk it from its contract with no code of its own."""

import numpy as np
import pytest

import kerasarch
import test_contract
from helpers import slow_where_jit_is_torch_compile
from tiny_family import models as tiny

NAMES = [v.name for v in tiny.VARIANTS]


@pytest.fixture
def registered():
    tiny.register()
    yield
    tiny.unregister()


@pytest.mark.parametrize("name", NAMES)
def test_a_family_defined_outside_the_package_keeps_the_whole_contract(name, registered, tmp_path):
    assert name in kerasarch.list_models(input_kind="sequence")
    model = kerasarch.create_model(name)
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == tiny.ANCHORS[name]
    assert model.contract.describe() == "?x3 sequence -> probabilities[5]"
    test_contract.test_forward_gradients_and_config_round_trip(name)
    test_contract.test_keras_file_round_trip(name, tmp_path)
    test_contract.test_mixed_bfloat16_output_is_float32(name)
    test_contract.test_fit_a_few_steps_with_the_recipe(name)
    test_contract.test_out_indices_picks_levels(name)
    test_contract.test_features_only_matches_feature_info_and_one_channel_input(name)


@pytest.mark.parametrize("name", NAMES)
@slow_where_jit_is_torch_compile
def test_its_compiled_training_step(name, registered):
    test_contract.test_xla_train_step_under_mixed_bfloat16(name)


def test_its_pooled_features_and_constructor(registered):
    model = kerasarch.create_model("tcn_tiny", include_top=False, pooling="max", input_shape=(20, 3))
    assert model.contract.output.kind == "features" and model.output_shape == (None, 16)
    assert kerasarch.registry.public_name("tcn_tiny") == "TcnTiny"
