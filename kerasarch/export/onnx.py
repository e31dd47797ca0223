"""ONNX export through tf2onnx, checked with onnxruntime before the file appears.

The ONNX graph has the same interface as the SavedModel's ``serving_default``: input
``images`` (float32 ``(batch, H, W, C)``, or raw ``uint8`` pixels of any size with
``uint8=True``) or ``tokens`` (int32 ``(batch, length)``), outputs ``probabilities`` and ``logits`` for a classifier (``outputs``
otherwise), float32, with a dynamic batch dimension. A mixed-precision model is exported as
its float32 twin. Metadata (``kerasarch`` key, JSON) carries the preprocessing and class names.
"""

import json
import os
import re

import numpy as np

from kerasarch._atomic import atomic_path
from kerasarch.export._files import human_size
from kerasarch.export._quiet import quiet
from kerasarch.export.parity import parity_report
from kerasarch.export.serving import ExportedPath, ExportError, ServingModel
from kerasarch.export.twin import unrolled_model

__all__ = ["export_onnx", "MIN_OPSET", "MAX_OPSET", "DEFAULT_OPSET", "NOT_EXPORTABLE"]

# Opset 13 is the oldest with the Resize/Softmax semantics the graphs use; 18 is the newest
# tf2onnx 1.17 writes. onnxruntime 1.17+ runs all of them.
MIN_OPSET, MAX_OPSET, DEFAULT_OPSET = 13, 18, 17

# Registered models tf2onnx cannot convert, with the reason; export_onnx refuses them up
# front. Every other registered model converts and matches Keras (tests/test_export.py).
_BIDIRECTIONAL = ("its ONNX graph unrolls the time loop, and Keras 3.15's unrolled backward pass does not follow the "
                  "padding mask (the graph would not match the model); export a SavedModel, or use "
                  "lstm_classifier / gru_classifier for ONNX.")
NOT_EXPORTABLE = {"bilstm_classifier": _BIDIRECTIONAL, "bigru_classifier": _BIDIRECTIONAL}


def export_onnx(model, path, *, opset=None, uint8=False, preprocessing=None, class_names=None,
                check_data=None, check=True, overwrite=False, verbose=False, quiet_summary=False):
    """Write ``model`` as an ONNX file at ``path`` and return the path.

    Args:
        model: a built Keras model with one input (images or tokens; TensorFlow backend).
        path: the ``.onnx`` file to write; an existing file is replaced only with ``overwrite=True``.
        opset: the ONNX opset, ``MIN_OPSET``..``MAX_OPSET`` (default ``DEFAULT_OPSET``).
        uint8: take raw uint8 pixels of any size, preprocessing and resize in the graph.
        preprocessing: a :class:`~kerasarch.export.Preprocessing` for ``uint8``.
        class_names: stored in the file's metadata for ``kerasarch predict``.
        check_data: images for the onnxruntime-vs-Keras check (default: 4 random images);
            ``check=False`` skips it (and does not need onnxruntime).
        verbose: show tf2onnx's and TensorFlow's output.

    The file is converted into a temporary beside ``path``, run in onnxruntime and compared
    with Keras (max scaled difference <= 1e-4), and only then renamed to ``path``.
    """
    import keras

    path = os.path.abspath(os.fspath(path))
    if os.path.isdir(path):
        raise ValueError(f"{path!r} is a folder; export_onnx writes one file, e.g. {os.path.join(path, model.name)}.onnx")
    if not path.endswith(".onnx"):
        raise ValueError(f"ONNX files end in .onnx, got {path!r}.")
    if os.path.exists(path) and not overwrite:
        raise ValueError(f"{path} already exists; pass overwrite=True (--overwrite) to replace it, or another path.")
    opset = DEFAULT_OPSET if opset is None else opset
    if not isinstance(opset, int) or isinstance(opset, bool) or not MIN_OPSET <= opset <= MAX_OPSET:
        raise ValueError(f"opset must be an integer from {MIN_OPSET} to {MAX_OPSET} (what tf2onnx writes and "
                         f"onnxruntime runs), got {opset!r}; the default is {DEFAULT_OPSET}.")
    if keras.backend.backend() != "tensorflow":
        raise ValueError("ONNX export converts the TensorFlow graph with tf2onnx; set KERAS_BACKEND=tensorflow "
                         f"(this process runs {keras.backend.backend()}).")
    arch = getattr(model, "arch", None) or {}
    variant = arch.get("variant") if isinstance(arch, dict) else None
    if variant in NOT_EXPORTABLE:
        raise ExportError(f"{variant} cannot be exported to ONNX: {NOT_EXPORTABLE[variant]}")
    try:
        import tf2onnx  # noqa: F401
    except ImportError as err:
        raise ImportError("ONNX export needs tf2onnx: pip install tf2onnx onnxruntime") from err
    if check:
        try:
            import onnxruntime  # noqa: F401
        except ImportError as err:
            raise ImportError("checking the ONNX file needs onnxruntime: pip install onnxruntime "
                              "(or pass check=False)") from err

    try:
        model = unrolled_model(model)
    except ValueError as err:
        raise ExportError(str(err)) from None
    serving = ServingModel(model, uint8=uint8, preprocessing=preprocessing, dtype="float32")
    with atomic_path(path, suffix=".onnx", overwrite=True) as tmp:
        with quiet(verbose):
            proto = _convert(serving, opset, model.name)
            _check_ops(proto, model.name)
            _set_metadata(proto, serving, class_names)
            _save(proto, tmp)
            report = parity_report(serving, _runner(tmp, serving.input_name), check_data) if check else {}
    if not quiet_summary:
        parity = f"; max |diff| vs Keras {report['max_diff']:.1e}" if report else ""
        if "max_diff_vs_trained" in report:
            parity += f" (vs the {serving.trained_policy} model: {report['max_diff_vs_trained']:.1e})"
        print(f"ONNX {path} ({human_size(path)}, opset {opset}): {serving.input_name} "
              f"({serving.input_dtype}) -> {', '.join(serving.output_names)}{parity}")
    return ExportedPath(path, report, serving)


def _convert(serving, opset, name):
    """The serving function as an ONNX graph, its weights as initializers.

    tf2onnx freezes variables into constants and then copies the whole graph, constants
    included, several times while optimising it: conversion time grows faster than the weight
    count (48 s for one 32M-weight Dense layer, minutes for VGG). Here the weights enter the
    traced function as inputs instead (``keras.StatelessScope``), so tf2onnx converts a graph
    with no large constants, and they become initializers afterwards. onnxruntime folds the
    weight-only subgraphs (kernel transposes, BatchNorm arithmetic) when it loads the file.
    """
    import keras
    import tensorflow as tf
    import tf2onnx
    from onnx import numpy_helper

    variables = list(serving.variables)
    signature = serving.input_signature() + [
        tf.TensorSpec(v.shape, v.dtype, name=f"{_WEIGHT_PREFIX}{i}") for i, v in enumerate(variables)]

    def fn(images, *values):
        with keras.StatelessScope(state_mapping=list(zip(variables, values))):
            return serving(images)

    concrete = tf.function(fn, input_signature=signature, autograph=False).get_concrete_function()
    graph_def = _without_forced_xla(concrete.graph.as_graph_def(add_shapes=True))
    inputs = [t.name for t in concrete.inputs]
    outputs = [t.name for t in concrete.outputs]
    renames = {inputs[0]: serving.input_name,
               **{t: key for t, key in zip(outputs, sorted(concrete.structured_outputs))}}
    try:
        proto, _ = tf2onnx.convert.from_graph_def(
            graph_def, input_names=inputs, output_names=outputs, opset=opset, tensors_to_rename=renames,
            custom_op_handlers={"Erfc": (_erfc, [])})
    except Exception as err:  # tf2onnx raises many types; the message names the op
        raise ExportError(f"tf2onnx could not convert {name}: {type(err).__name__}: {err}") from err
    images, weights = [], []
    for value in proto.graph.input:
        match = re.fullmatch(_WEIGHT_PREFIX + r"(\d+)(:0)?", value.name)
        if match:
            array = np.asarray(keras.ops.convert_to_numpy(variables[int(match.group(1))].value))
            weights.append(numpy_helper.from_array(array, value.name))
        else:
            images.append(value)
    del proto.graph.input[:]
    proto.graph.input.extend(images)
    proto.graph.initializer.extend(weights)
    return proto


_WEIGHT_PREFIX = "kerasarch_weight_"


def _without_forced_xla(graph_def):
    """Let TensorFlow's function inliner see through the XLA islands Keras puts in a CPU graph.

    On TensorFlow, Keras runs a grouped convolution (ResNeXt) inside a ``jit_compile=True``
    function because TensorFlow's CPU kernels lack it. The graph then holds a call that grappler
    will not inline and tf2onnx cannot convert (``PartitionedCall``). The function body is a
    plain ``Conv2D`` with grouped kernel, which ONNX's ``Conv(group=...)`` expresses; dropping the
    must-compile mark lets the inliner expose it.
    """
    def strip(attrs):
        for key in ("_XlaMustCompile", "_noinline"):
            if key in attrs:
                del attrs[key]

    for node in graph_def.node:
        strip(node.attr)
    for function in graph_def.library.function:
        strip(function.attr)
        for node in function.node_def:
            strip(node.attr)
    return graph_def


def _erfc(ctx, node, name, args):
    """TensorFlow's Erfc (in its exact GELU), which tf2onnx lacks, as ``1 - Erf(x)``."""
    from tf2onnx import utils

    erf = ctx.make_node("Erf", [node.input[0]])
    one = ctx.make_const(utils.make_name(f"{name}_one"), np.array(1, dtype=np.float32))
    node.type = "Sub"
    ctx.replace_inputs(node, [one.output[0], erf.output[0]])


def _check_ops(proto, name):
    """tf2onnx copies a TensorFlow op it cannot convert into the graph as is; refuse such a graph."""
    import onnx

    missing = {}
    for node in proto.graph.node:
        if node.domain in ("", "ai.onnx") and not onnx.defs.has(node.op_type):
            missing.setdefault(node.op_type, node.name)
    if missing:
        ops = ", ".join(f"{op} (at {where})" for op, where in sorted(missing.items()))
        raise ExportError(
            f"tf2onnx has no ONNX conversion for the TensorFlow op(s) {ops} in {name}; no file was written. "
            "Replace the layer that uses it, or export a SavedModel instead.")


def _set_metadata(proto, serving, class_names):
    # tf2onnx names the unknown dimensions unk__N; name them for what they are.
    names = ("batch", "height", "width") if serving.uint8 else ("batch", "length") if serving.kind != "image" \
        else ("batch",)
    for value in list(proto.graph.input) + list(proto.graph.output):
        for dim, name in zip(value.type.tensor_type.shape.dim, names):
            if not dim.HasField("dim_value"):
                dim.dim_param = name
    entry = proto.metadata_props.add()
    entry.key = "kerasarch"
    entry.value = json.dumps(serving.metadata(class_names))


def _save(proto, path):
    import onnx

    if proto.ByteSize() > 2_000_000_000:  # protobuf's limit for one file
        raise ExportError("the ONNX graph is over 2 GB, protobuf's limit for one file; kerasarch does not write "
                          "external-data ONNX yet (no registered model is that large).")
    onnx.save_model(proto, path)


def _runner(path, input_name):
    import onnxruntime as ort

    try:
        session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    except Exception as err:  # onnxruntime's own exception types
        raise ExportError(f"onnxruntime cannot load the converted graph ({str(err)[:300]}); no file was written.") \
            from err
    names = [o.name for o in session.get_outputs()]
    return lambda x: dict(zip(names, session.run(None, {input_name: x})))
