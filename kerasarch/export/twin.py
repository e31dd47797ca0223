"""The float32 twin of a mixed-precision model: what every export serves.

A model trained under ``mixed_bfloat16``/``mixed_float16`` keeps float32 variables; its twin
is rebuilt from the config with every dtype policy set to float32, so the exported graph needs
no bfloat16 kernels (which ONNX runtimes and many serving CPUs lack).
"""

__all__ = ["MIXED_POLICIES", "float32_model", "trained_policy"]

MIXED_POLICIES = ("mixed_bfloat16", "mixed_float16", "bfloat16", "float16")


def trained_policy(model):
    """The mixed policy some layer of ``model`` computes in, else the model's own policy name."""
    return next((layer.dtype_policy.name for layer in model.layers if layer.dtype_policy.name in MIXED_POLICIES),
                model.dtype_policy.name)


def float32_model(model):
    """``model`` itself when it computes in float32, else a float32 twin with the same weights."""
    import keras

    config = keras.saving.serialize_keras_object(model)
    float32_config = _float32_config(config)
    if float32_config == config:
        return model
    twin = keras.saving.deserialize_keras_object(float32_config)
    twin.set_weights(model.get_weights())
    return twin


def _float32_config(node):
    if isinstance(node, dict):
        if node.get("class_name") == "DTypePolicy" and node.get("config", {}).get("name") in MIXED_POLICIES:
            return {**node, "config": {**node["config"], "name": "float32"}}
        return {k: _float32_config(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_float32_config(v) for v in node]
    if isinstance(node, str) and node in MIXED_POLICIES:
        return "float32"
    return node
