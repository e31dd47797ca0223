"""How a PyTorch state dict maps onto a kerasarch model: one :class:`TorchLayout` per load.

A family says, once, which torch module each of its Keras layers is (``kerasarch/weights/maps/``,
one file per family, registered with :func:`torch_layout`). Everything else is written here once:
the tensor layout conversions picked by the Keras layer's class, and the checks that run before
anything is assigned (every Keras variable gets exactly one tensor, every tensor in the file is
used or knowingly dropped, and every shape fits after conversion).
"""

import dataclasses
import re

import keras
import numpy as np

from kerasarch.models.weights_io import model_layers
from kerasarch.weights.checkpoint import CheckpointError

__all__ = ["Twin", "TorchLayout", "torch_layout", "layouts_for", "twins", "ci_twins", "conv_kernel", "depthwise_kernel", "linear_kernel",
           "flattened_linear_kernel", "SOURCES"]

SOURCES = ("torchvision", "timm")
_LAYOUTS = {}


@dataclasses.dataclass(frozen=True)
class Twin:
    """The reference model of a kerasarch variant: ``source``'s model ``name``, built with
    ``kwargs`` (``torchvision.models.get_model`` / ``timm.create_model``). ``sized``: the
    reference takes its input size as an argument (``image_size=`` / ``img_size=``)."""

    source: str
    name: str
    kwargs: tuple = ()
    sized: str = None


def torch_layout(family, source, twins, ci=None):
    """Register ``fn(layout)`` as the map of ``family``'s models from ``source``'s state dicts.

    ``twins``: ``{kerasarch name: reference name}``, or ``{kerasarch name: (reference name,
    kwargs)}`` for a reference built with arguments (``"sized"`` in kwargs names the argument
    that takes the input size), for the variants the map is for. ``ci``: the variants whose
    parity with the reference CI checks on every backend (default: the first; ``()`` for a
    map that is another source's function, whose names CI already checks there); ``make
    test-all`` checks them all.
    """
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}.")
    parsed = {}
    for name, ref in twins.items():
        ref, kwargs = (ref, {}) if isinstance(ref, str) else ref
        kwargs = dict(kwargs)
        sized = kwargs.pop("sized", None)
        parsed[name] = Twin(source, ref, tuple(sorted(kwargs.items())), sized)
    ci = tuple(parsed)[:1] if ci is None else tuple(ci)

    def register(fn):
        _LAYOUTS[(family, source)] = (fn, parsed, ci)
        return fn

    return register


def layouts_for(family, variant):
    """``{source: fn}`` for the registered maps of ``family`` that cover ``variant``."""
    return {s: fn for (f, s), (fn, names, _) in _LAYOUTS.items() if f == family and variant in names}


def twins(source=None):
    """``{kerasarch name: [Twin, ...]}`` for every variant with a torch twin (torchvision's first)."""
    out = {}
    for (_, s), (_, names, _) in sorted(_LAYOUTS.items(), key=lambda kv: SOURCES.index(kv[0][1])):
        if source in (None, s):
            for name, twin in names.items():
                out.setdefault(name, []).append(twin)
    return out


def ci_twins():
    """``[(kerasarch name, Twin)]``: the pairs CI checks, one or more per family and source."""
    return [(name, names[name]) for (_, s), (_, names, ci) in sorted(_LAYOUTS.items()) for name in ci]


# --- Tensor layouts: PyTorch's -> Keras's ---------------------------------------------------------

def conv_kernel(value, variable):
    """``Conv{1,2}d.weight`` (out, in/groups, *kernel) -> Keras's (*kernel, in/groups, out)."""
    return np.transpose(value, tuple(range(2, value.ndim)) + (1, 0))


def depthwise_kernel(value, variable):
    """A depthwise ``Conv2d.weight`` (channels * multiplier, 1, kh, kw) -> Keras's
    ``DepthwiseConv2D`` (kh, kw, channels, multiplier)."""
    kh, kw, channels, multiplier = variable.shape
    if value.ndim != 4 or value.shape[1] != 1 or value.shape[0] != channels * multiplier:
        return value  # the shape check reports it, with both shapes
    return value.reshape(channels, multiplier, kh, kw).transpose(2, 3, 0, 1)


def linear_kernel(value, variable):
    """``Linear.weight`` (out, in) -> ``Dense.kernel`` (in, out)."""
    return value.T


def flattened_linear_kernel(channels, height, width):
    """The first ``Linear`` after a flatten: PyTorch flattens (C, H, W), Keras (H, W, C), so the
    input rows are reordered as well as transposed (AlexNet's and VGG's classifiers)."""

    def convert(value, variable):
        if value.ndim != 2 or value.shape[1] != channels * height * width:
            return value.T
        out = value.shape[0]
        return value.reshape(out, channels, height, width).transpose(2, 3, 1, 0).reshape(-1, out)

    return convert


def same(value, variable):
    return value


# --- The plan of one load -------------------------------------------------------------------------

@dataclasses.dataclass
class _Entry:
    variable: object
    key: str
    convert: object
    head: bool


class TorchLayout:
    """Which tensor of the state dict each variable of ``model`` takes.

    A family map calls :meth:`layer` for each Keras layer (by its path in the model, as
    ``kerasarch.models.weights_io.model_layers`` names it: ``"stage1_block1/conv1/conv"``) with
    the torch module prefix (``"layer1.0.conv1"``), :meth:`tensor` for a single variable with its
    own conversion, and :meth:`ignore` for tensors the Keras model has no counterpart of (an
    auxiliary classifier). ``head=True`` marks the classifier: dropped when the model has no top,
    and the one place ``skip_mismatch`` applies.
    """

    def __init__(self, model, source, keys):
        self.model = model
        self.source = source
        self.keys = set(keys)
        self.arch = dict(getattr(model, "arch", None) or {})
        self.variant = self.arch.get("variant", model.name)
        self.layers = model_layers(model)
        # A features_only build may stop before the last stage: the later blocks' tensors are absent.
        contract = getattr(model, "contract", None)
        self.features_only = getattr(getattr(contract, "output", None), "kind", None) == "feature_maps"
        self.entries = []
        self.absent = []  # (torch prefix, why): tensors whose layer this build does not have
        self._ignored = []  # (compiled pattern, why)

    # What the family map calls.
    def has(self, path):
        return path in self.layers

    def find(self, pattern):
        """``(path, match)`` for the layer paths that fully match the regular expression, in model order."""
        rx = re.compile(pattern)
        return [(p, m) for p in self.layers for m in [rx.fullmatch(p)] if m]

    def layer(self, path, prefix, head=False):
        """Map the Keras layer at ``path`` onto torch module ``prefix``, by the layer's class."""
        layer = self.layers.get(path)
        if layer is None:
            if head or self.features_only:
                self.absent.append((prefix, "the model has no classifier" if head else "not in a features_only model"))
                return
            raise CheckpointError(f"{self.model.name}: the {self.source} map names layer {path!r}, which the model "
                                  "does not have (a kerasarch bug: please report it).")
        for attr, name, convert in _rules(layer):
            variable = getattr(layer, attr, None)
            if variable is not None:
                self.entries.append(_Entry(variable, f"{prefix}.{name}", convert, head))

    def tensor(self, path, key, convert=same, head=False):
        """Map one variable, ``"layer/path:variable_name"``, onto the tensor ``key``."""
        layer_path, _, name = path.rpartition(":")
        layer = self.layers.get(layer_path)
        if layer is None:
            if head:
                self.absent.append((key, "the model has no classifier"))
                return
            raise CheckpointError(f"{self.model.name}: the {self.source} map names layer {layer_path!r}, which the "
                                  "model does not have (a kerasarch bug: please report it).")
        matches = [v for v in layer.weights if v.path.rsplit("/", 1)[-1] == name]
        if len(matches) > 1:
            # A sublayer's variable of the same name (ConvNeXt's block ``gamma`` beside its
            # LayerNorm's): the layer's own variable is the one meant.
            nested = {id(w) for sub in layer._layers for w in sub.weights}
            matches = [v for v in matches if id(v) not in nested]
        if len(matches) != 1:
            raise CheckpointError(f"{self.model.name}: layer {layer_path!r} has no single variable {name!r} "
                                  f"(it has {[v.path for v in layer.weights]}).")
        self.entries.append(_Entry(matches[0], key, convert, head))

    def ignore(self, pattern, why):
        """Torch tensors matching the regular expression have no kerasarch counterpart (``why``)."""
        self._ignored.append((re.compile(pattern), why))

    # What the loader reads.
    def ignored_reason(self, key):
        if key.endswith("num_batches_tracked"):
            return "BatchNorm's step counter (no Keras counterpart)"
        for rx, why in self._ignored:
            if rx.fullmatch(key):
                return why
        for prefix, why in self.absent:
            if key == prefix or key.startswith(prefix + "."):
                return why
        return None

    def expected_keys(self):
        return {e.key for e in self.entries}


def _rules(layer):
    """``(attribute, torch name, conversion)`` for the variables of a standard Keras layer."""
    L = keras.layers
    if isinstance(layer, L.DepthwiseConv2D):
        # Keras 3 keeps the depthwise kernel in ``kernel`` (there is no ``depthwise_kernel`` attribute).
        return [("kernel", "weight", depthwise_kernel), ("bias", "bias", same)]
    if isinstance(layer, (L.Conv1D, L.Conv2D, L.Conv3D)):
        return [("kernel", "weight", conv_kernel), ("bias", "bias", same)]
    if isinstance(layer, L.Dense):
        return [("kernel", "weight", linear_kernel), ("bias", "bias", same)]
    if isinstance(layer, L.BatchNormalization):
        return [("gamma", "weight", same), ("beta", "bias", same),
                ("moving_mean", "running_mean", same), ("moving_variance", "running_var", same)]
    if isinstance(layer, L.LayerNormalization):
        return [("gamma", "weight", same), ("beta", "bias", same)]
    if isinstance(layer, L.Embedding):
        return [("embeddings", "weight", same)]
    raise CheckpointError(f"No standard torch layout for {type(layer).__name__} layer {layer.path!r}; its family map "
                          "must map its variables with tensor() (a kerasarch bug: please report it).")
