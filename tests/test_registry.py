"""The registry: names, wildcards, families, suggestions and the CamelCase constructors."""

import pytest

import kerasarch
from kerasarch.registry import UnknownModelError


def test_list_models_wildcards_and_natural_order():
    assert kerasarch.list_models("resnet*")[:6] == [
        "resnet18", "resnet20", "resnet32", "resnet34", "resnet44", "resnet50"]
    assert kerasarch.list_models("resnet1??") == ["resnet101", "resnet110", "resnet152"]
    assert kerasarch.list_models(["plain2*", "wide_*"]) == ["plain20", "wide_resnet50_2", "wide_resnet101_2"]
    assert kerasarch.list_models("nothing*") == []
    assert set(kerasarch.list_models(family="resnet")) >= {"resnet50", "plain56", "resnext50_32x4d"}


def test_every_registered_name_is_the_default_model_name():
    model = kerasarch.create_model("resnet20")
    assert model.name == "resnet20"
    assert kerasarch.create_model("resnet20", name="mine").name == "mine"


def test_constructors_build_the_registered_models():
    model = kerasarch.ResNet50(num_classes=10, input_shape=(64, 64, 3))
    assert model.name == "resnet50" and model.output_shape == (None, 10)
    assert kerasarch.ResNet50.__name__ == "ResNet50"
    assert "resnet50" in kerasarch.ResNet50.__doc__


def test_unknown_name_suggests_close_names():
    with pytest.raises(UnknownModelError) as info:
        kerasarch.create_model("resnet5")
    message = str(info.value)
    assert "Unknown model name 'resnet5'" in message and "'resnet50'" in message
    assert "list_models" in message
    # Both except clauses catch it.
    assert isinstance(info.value, KeyError) and isinstance(info.value, ValueError)
    with pytest.raises(ValueError, match="must be a string"):
        kerasarch.create_model(50)


def test_names_are_forgiving_about_case_and_dashes():
    assert kerasarch.create_model("ResNet-20").name == "resnet20"
    assert kerasarch.create_model("Wide-ResNet50-2", input_shape=(32, 32, 3)).name == "wide_resnet50_2"


def test_duplicate_registration_is_refused():
    with pytest.raises(ValueError, match="already registered"):
        kerasarch.register_model("resnet50", lambda v, **k: None, None, "resnet")


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_import_does_not_import_tensorflow(backend):
    import subprocess
    import sys

    code = f"import os, sys; os.environ['KERAS_BACKEND']={backend!r}; import kerasarch; print('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", out.stderr
