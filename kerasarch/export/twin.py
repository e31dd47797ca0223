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


def unrolled_model(model):
    """``model`` itself when it has no rolled recurrent layer, else a twin, same weights, whose
    :class:`~kerasarch.layers.RecurrentLayer` s unroll their time loop: tf2onnx converts the
    unrolled steps but not TensorFlow's while loop (its TensorList ops). An unrolled loop needs
    a fixed length: a token model of any length is fixed at its ``max_length``; a series model
    must have been built with a fixed number of steps."""
    import keras

    from kerasarch._keras_compat import sublayers
    from kerasarch.layers.recurrent import RecurrentLayer

    if not any(isinstance(layer, RecurrentLayer) and not layer.unroll for layer in sublayers(model)):
        return model
    config = keras.saving.serialize_keras_object(model)
    layers = config["config"].get("layers")
    if layers is None:
        raise ValueError(f"{model.name} is a subclassed model with recurrent layers; its ONNX graph needs them "
                         "unrolled, which kerasarch does for functional models only. Build it with the functional API.")
    rolled = [layer for layer in layers if layer["class_name"] == "RecurrentLayer" and not layer["config"]["unroll"]]
    if not rolled:
        return model
    backward = [layer["name"] for layer in rolled if layer["config"]["bidirectional"]]
    if backward:
        # Measured with Keras 3.15.1 on TensorFlow: Bidirectional(GRU/LSTM(unroll=True)) with a
        # padding mask gives the backward cell's outputs 0.1-0.4 away from the rolled loop's (the
        # right ones: each sequence's steps alone), so an unrolled twin would serve wrong answers.
        raise ValueError(
            f"{model.name} has bidirectional recurrent layers ({', '.join(backward)}); ONNX needs the time loop "
            "unrolled, and Keras 3.15's unrolled backward pass does not follow the padding mask, so the graph "
            "would not match the model. Export a SavedModel (kerasarch export --format saved_model), or use a "
            "one-directional model (lstm_classifier, gru_classifier) for ONNX.")
    for layer in rolled:
        layer["config"]["unroll"] = True
    for layer in layers:
        if layer["class_name"] == "InputLayer" and None in layer["config"]["batch_shape"][1:2]:
            contract = getattr(model, "contract", None)
            if contract is None or contract.input.kind != "tokens":
                raise ValueError(
                    f"{model.name} has recurrent layers and inputs of any length {tuple(model.inputs[0].shape)}; its "
                    "ONNX graph unrolls the time loop, which needs a fixed number of steps. Rebuild it with a fixed "
                    "input_shape, e.g. input_shape=(336, features), and copy the weights (set_weights).")
            layer["config"]["batch_shape"] = [None, contract.input.max_length, *layer["config"]["batch_shape"][2:]]
    twin = keras.saving.deserialize_keras_object(config)
    twin.set_weights(model.get_weights())
    return twin
