"""Checks a Keras weights file against a model before loading it, to say what does not fit.

Keras matches a ``.weights.h5`` file to a model by position and reports a mismatch as a
failed ``variable.assign``. This module reads the layer names Keras stores beside each
layer's variables and compares shapes layer by layer, so the error names the layer and
both shapes, and says what the usual cause is.
"""

import io
import zipfile

import h5py

from kerasarch._keras_compat import child_layers, own_variables

__all__ = ["check_compatible", "file_variable_shapes", "file_variables", "model_layers", "model_variable_shapes"]


def _open_h5(path):
    if path.endswith(".keras"):
        with zipfile.ZipFile(path) as archive:
            if "model.weights.h5" not in archive.namelist():
                raise ValueError(f"{path!r} is not a Keras model archive (no model.weights.h5 inside).")
            return h5py.File(io.BytesIO(archive.read("model.weights.h5")), "r")
    try:
        return h5py.File(path, "r")
    except OSError as err:
        raise ValueError(f"{path!r} is not a readable HDF5 weights file ({err}).") from None


def file_variable_shapes(path):
    """``{"layer/sublayer": [shape, ...]}`` for every layer that stored variables."""
    return _read(path, values=False)


def file_variables(path):
    """``{"layer/sublayer": [array, ...]}``: the stored values, by the layer paths of
    :func:`model_layers`."""
    return _read(path, values=True)


def _read(path, values):
    out = {}
    with _open_h5(path) as f:
        def visit(name, obj):
            if not (isinstance(obj, h5py.Group) and name.endswith("/vars") and len(obj)):
                return
            parts = name.split("/")[:-1]
            names = []
            for i in range(1, len(parts) + 1):
                owner = f.get("/".join(parts[:i]) + "/vars")
                if owner is not None and "name" in owner.attrs:
                    names.append(str(owner.attrs["name"]))
            out["/".join(names)] = [obj[str(i)][()] if values else tuple(obj[str(i)].shape)
                                     for i in range(len(obj))]

        f.visititems(visit)
    return out


def model_layers(model):
    """``{"layer/sublayer": layer}`` for every layer of a built model that owns variables."""
    out = {}

    def visit(layer, prefix):
        path = prefix + layer.name
        if own_variables(layer):
            out[path] = layer
        for sub in child_layers(layer):
            visit(sub, path + "/")

    for layer in model.layers:
        visit(layer, "")
    return out


def model_variable_shapes(model):
    """The same map for a built model, in Keras's save order of variables."""
    return {path: [tuple(v.shape) for v in own_variables(layer)] for path, layer in model_layers(model).items()}


def check_compatible(model, path):
    """Raise ``ValueError`` naming the first layer whose variables do not fit the file."""
    found = file_variable_shapes(path)
    expected = model_variable_shapes(model)
    owners = model_layers(model)
    for layer, shapes in expected.items():
        if layer not in found:
            continue
        resamples = getattr(owners[layer], "resamples_stored_weights", False)
        if resamples and [s[-1:] for s in shapes] == [s[-1:] for s in found[layer]]:
            continue  # e.g. ViT position embeddings saved at another image size: resampled on load
        if shapes != found[layer]:
            hint = ""
            if shapes and found[layer] and len(shapes[0]) == 4 and shapes[0][2] != found[layer][0][2]:
                hint = (f" The input channels differ ({shapes[0][2]} vs {found[layer][0][2]}): build the "
                        f"model with input_shape=(..., ..., {found[layer][0][2]}) to use these weights.")
            elif shapes and found[layer] and len(shapes[0]) == 2 and shapes[0][0] == found[layer][0][0]:
                hint = (f" The classifier differs: the file has {found[layer][0][1]} classes; pass "
                        f"num_classes={found[layer][0][1]}, or include_top=False to load only the backbone.")
            raise ValueError(
                f"{model.name}: weights file {path!r} does not fit layer {layer!r}: the model expects "
                f"shapes {shapes}, the file has {found[layer]}.{hint}"
            )
    missing = [k for k in expected if k not in found]
    extra = [k for k in found if k not in expected]
    if missing and len(found) != len(expected):
        raise ValueError(
            f"{model.name}: weights file {path!r} was saved from a different architecture: it has "
            f"{len(found)} layers with weights, the model {len(expected)}. First model layers not in the "
            f"file: {missing[:3]}; first file layers not in the model: {extra[:3]}."
        )
