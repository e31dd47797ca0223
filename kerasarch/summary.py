"""Size and cost of every registered model: trainable and total parameters, and GMACs.

MACs (multiply-accumulates) are counted from the model itself: it is traced once with
TensorFlow at batch 1 and its default input, and every convolution, depthwise
convolution, matrix product and einsum in the traced graph (nested functions included,
e.g. Keras's grouped convolutions) adds ``output elements x reduction length``. Like
torchvision's and fvcore's figures, this leaves out BatchNorm, activations, pooling and
additions. TensorFlow is imported only here.
"""

import math

import numpy as np

from kerasarch._keras_compat import graph_function
from kerasarch.contract import contract_of
from kerasarch.registry import UnknownModelError, closest_names, create_model, list_models, model_entry

__all__ = ["count_macs", "summary_table", "format_table"]

_CONV = {"Conv2D", "Conv3D"}
_DEPTHWISE = {"DepthwiseConv2dNative"}
_MATMUL = {"MatMul", "BatchMatMul", "BatchMatMulV2", "BatchMatMulV3"}


def _shape(tensor):
    dims = tensor.shape.as_list() if tensor.shape.rank is not None else None
    if dims is None or any(d is None for d in dims):
        raise ValueError(f"cannot count MACs of {tensor.op.type} with unknown shape {tensor.shape}")
    return dims


def _einsum_macs(op):
    equation = op.get_attr("equation").decode()
    inputs, output = equation.replace(" ", "").split("->")
    sizes = {}
    for term, tensor in zip(inputs.split(","), op.inputs):
        for letter, dim in zip(term, _shape(tensor)):
            sizes[letter] = max(sizes.get(letter, 1), dim)
    # Every index, contracted or not, is one loop level: product of all index sizes
    # is the multiply count of a two-operand einsum (chains count their pairwise products
    # roughly; kerasarch's only chain is the adaptive pool's tiny averaging matrices).
    return int(math.prod(sizes.values()))


def _op_macs(op):
    kind = op.type
    if kind in _CONV:
        out = _shape(op.outputs[0])
        kernel = _shape(op.inputs[1])
        return int(np.prod(out) * np.prod(kernel[:-1]))
    if kind in _DEPTHWISE:
        out = _shape(op.outputs[0])
        kernel = _shape(op.inputs[1])
        return int(np.prod(out) * kernel[0] * kernel[1])
    if kind in _MATMUL:
        a, out = _shape(op.inputs[0]), _shape(op.outputs[0])
        transpose_a = op.get_attr("transpose_a") if kind == "MatMul" else op.get_attr("adj_x")
        k = a[-2] if transpose_a else a[-1]
        return int(np.prod(out) * k)
    if kind == "Einsum":
        return _einsum_macs(op)
    return 0


def _graph_macs(graph):
    total = 0
    for op in graph.get_operations():
        total += _op_macs(op)
        if op.type in ("PartitionedCall", "StatefulPartitionedCall"):
            total += _graph_macs(graph_function(graph, op.get_attr("f").name))
    return total


def count_macs(model, input_shape=None):
    """Multiply-accumulates of one forward pass of ``model`` on one example.

    ``input_shape`` defaults to the model's own input shape: (H, W, C) for an image model,
    which must then be static; for a token model of any length, ``max_length`` tokens (its
    contract's). Needs TensorFlow (it traces the model); the model may be built on any
    backend only if TensorFlow is the active Keras backend.
    """
    import keras
    import tensorflow as tf

    if keras.backend.backend() != "tensorflow":
        raise RuntimeError("count_macs traces the model with TensorFlow; set KERAS_BACKEND=tensorflow.")
    spec = contract_of(model).input
    shape = tuple(input_shape or model.input_shape[1:])
    if spec.kind == "tokens" and shape[0] is None:
        shape = (spec.max_length,)
    if any(s is None for s in shape):
        raise ValueError(f"count_macs needs a static input shape, got {shape}; pass input_shape=(H, W, C).")
    fn = tf.function(lambda x: model(x, training=False), autograph=False)
    concrete = fn.get_concrete_function(tf.TensorSpec((1, *shape), tf.as_dtype(spec.dtype)))
    return _graph_macs(concrete.graph)


def summary_table(pattern="*", family=None, macs=True):
    """One row per registered model: name, family, default input, trainable and total
    parameters, and GMACs at the default input (``macs=False`` skips the tracing).

    Builds every model it lists; the whole registry takes a few minutes on two cores. A
    pattern that matches nothing is a ValueError that names the closest registered names.
    """
    import keras

    if not list_models(pattern, family=family):
        raise UnknownModelError(f"no registered model matches {pattern!r}" + (f" in family {family!r}" if family else "")
                                + f".{closest_names(pattern)} See kerasarch.list_models().")
    rows = []
    for name in list_models(pattern, family=family):
        entry = model_entry(name)
        model = create_model(name)
        trainable = int(sum(np.prod(w.shape) for w in model.trainable_weights))
        row = {
            "name": name, "family": entry.family, "input": entry.contract.input.describe(),
            "trainable_params": trainable, "total_params": int(model.count_params()),
            "gmacs": round(count_macs(model) / 1e9, 6) if macs else None,
        }
        rows.append(row)
        del model
        keras.backend.clear_session()
    return rows


def format_table(rows):
    """``summary_table`` rows as a Markdown table."""
    lines = ["| model | family | input | trainable params | total params | GMACs |",
             "|---|---|---|---:|---:|---:|"]
    for r in rows:
        g = r["gmacs"]
        gmacs = "" if g is None else f"{g:.3f}" if g >= 0.01 else f"{g:.2g}"
        lines.append(f"| {r['name']} | {r['family']} | {r['input']} | {r['trainable_params']:,} | "
                     f"{r['total_params']:,} | {gmacs} |")
    return "\n".join(lines)
