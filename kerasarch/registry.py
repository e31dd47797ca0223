"""The model registry: every architecture variant is a named row of data.

A family module (``kerasarch/models/<family>.py``) registers each row of its
variant table with :func:`register_model`; users reach them through
:func:`create_model` and :func:`list_models`. The registry name is also the
default ``name`` of the built ``keras.Model``.
"""

import difflib
import fnmatch
import re

from kerasarch.contract import Contract, ImageInput, Output

__all__ = ["UnknownModelError", "closest_names", "create_model", "constructor", "export_constructors", "image_contract", "list_models",
           "model_entry", "public_name", "register_model", "unregister_model"]


class UnknownModelError(KeyError, ValueError):
    """Raised for a model name that is not registered.

    It is both a ``KeyError`` (a failed name lookup) and a ``ValueError`` (a bad
    argument), so either ``except`` clause catches it.
    """

    def __str__(self):
        # KeyError quotes its argument; an error meant for people should read plainly.
        return str(self.args[0]) if self.args else ""


class ModelEntry:
    """One registered variant: the builder of its family, the row's arguments, its
    :class:`~kerasarch.contract.Contract` (what it takes and returns by default) and its
    ``tags`` (e.g. the test tiers that walk it: see ``tests/tiers.py``)."""

    __slots__ = ("name", "builder", "variant", "family", "contract", "tags")

    def __init__(self, name, builder, variant, family, contract, tags=()):
        self.name = name
        self.builder = builder
        self.variant = variant
        self.family = family
        self.contract = contract
        self.tags = frozenset(tags)

    # The image-era fields, read off the contract.
    @property
    def input_shape(self):
        return self.contract.input_shape

    @property
    def min_size(self):
        return self.contract.input.min_size

    @property
    def num_classes(self):
        return self.contract.num_classes

    def build(self, **kwargs):
        kwargs.setdefault("name", self.name)
        return self.builder(self.variant, **kwargs)

    def __repr__(self):
        return f"ModelEntry({self.name!r}, family={self.family!r}, {self.contract.describe()})"


_REGISTRY = {}


def image_contract(input_shape=(224, 224, 3), num_classes=1000, min_size=32):
    """The contract of an image classifier: ``input_shape`` images of at least ``min_size``
    pixels a side in, ``num_classes`` softmax probabilities out."""
    return Contract(ImageInput(tuple(input_shape), min_size), Output("probabilities", num_classes))


def register_model(name, builder, variant, family, *, contract=None, tags=(), input_shape=None, min_size=None,
                   num_classes=None):
    """Register ``variant`` (a row of a family's table) under ``name``.

    ``builder(variant, **kwargs)`` must return a ``keras.Model``. ``contract`` declares
    what the variant takes and returns by default; the builder reads its defaults from it
    (``ModelBuilder`` looks it up by name), and tools, tables and tests read it from here.
    ``input_shape`` / ``min_size`` / ``num_classes`` are the older spelling of an image
    classifier's contract (:func:`image_contract`). ``tags`` are free-form labels.
    """
    if name in _REGISTRY:
        raise ValueError(f"A model named {name!r} is already registered ({_REGISTRY[name]!r}).")
    legacy = {k: v for k, v in (("input_shape", input_shape), ("min_size", min_size), ("num_classes", num_classes))
              if v is not None}
    if contract is None:
        contract = image_contract(**legacy)
    elif legacy:
        raise TypeError(f"register_model({name!r}): pass contract= or input_shape/min_size/num_classes, not both.")
    if not isinstance(contract, Contract):
        raise TypeError(f"register_model({name!r}): contract must be a kerasarch.contract.Contract, "
                        f"got {type(contract).__name__}.")
    _REGISTRY[name] = ModelEntry(name, builder, variant, family, contract, tags)


def unregister_model(name):
    """Remove ``name`` from the registry (for families defined in tests or notebooks)."""
    _REGISTRY.pop(name, None)


def model_entry(name):
    """Return the :class:`ModelEntry` for ``name`` or raise :class:`UnknownModelError`."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        pass
    if not isinstance(name, str):
        raise UnknownModelError(
            f"A model name must be a string such as 'resnet50', got {name!r} "
            f"({type(name).__name__}). See kerasarch.list_models()."
        )
    key = name.strip().lower().replace("-", "_")
    for candidate in (key, key.replace("_", ""), name.strip().lower().replace("-", "")):
        if candidate in _REGISTRY:
            return _REGISTRY[candidate]
    raise UnknownModelError(
        f"Unknown model name {name!r}.{closest_names(name)} "
        f"kerasarch.list_models() lists all {len(_REGISTRY)} registered models; "
        f"list_models('{key[:3]}*') narrows it down."
    )


def closest_names(name, choices=None):
    """`` Did you mean 'a', 'b'?`` for the registered names (or ``choices``) nearest ``name``, or ``""``."""
    key = str(name).strip().lower().replace("-", "_").strip("*?[]")
    pool = list(_REGISTRY) if choices is None else list(choices)
    close = difflib.get_close_matches(key, pool, n=5, cutoff=0.5)
    if not close and choices is None:
        close = [n for n in sorted(pool, key=_natural_key) if n.startswith(key[:4])][:5]
    return f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""


def create_model(model_name, /, **kwargs):
    """Build the registered model ``model_name``.

    Keyword arguments go to the family builder: ``num_classes`` (or ``classes``),
    ``input_shape``, ``include_top``, ``pooling``, ``weights``, ``features_only``,
    ``drop_rate``, ``drop_path_rate``, ... (see the family's builder docstring).

    >>> model = create_model("resnet18", num_classes=10, input_shape=(32, 32, 3))
    """
    return model_entry(model_name).build(**kwargs)


def list_models(pattern="*", family=None, *, input_kind=None, tag=None):
    """Sorted names of the registered models matching a shell-style ``pattern``.

    ``pattern`` may also be a list of patterns; ``family`` keeps one family (for example
    ``"resnet"``), ``input_kind`` one kind of input ("image", "tokens", "sequence"), ``tag``
    the entries carrying that tag.
    """
    patterns = [pattern] if isinstance(pattern, str) else list(pattern)
    names = (
        n for n, e in _REGISTRY.items()
        if any(fnmatch.fnmatchcase(n, p.lower()) for p in patterns)
        and (family is None or e.family == family)
        and (input_kind is None or e.contract.input.kind == input_kind)
        and (tag is None or tag in e.tags)
    )
    return sorted(names, key=_natural_key)


def _natural_key(name):
    # resnet18 < resnet34 < resnet50 < resnet101 (not the string order 101 < 18).
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


# How a registry name's words are spelled in a constructor's name (ResNeXt, not Resnext);
# a word not listed is capitalised.
_SPELLING = {
    "alexnet": "AlexNet", "bn": "_BN", "convnext": "ConvNeXt", "densenet": "DenseNet", "efficientnet": "EfficientNet",
    "googlenet": "GoogLeNet", "lenet": "LeNet", "mobilenet": "MobileNet", "res2net": "Res2Net", "resnet": "ResNet",
    "resnext": "ResNeXt", "vgg": "VGG", "vit": "ViT",
}


def public_name(name):
    """The CamelCase constructor name of a registry name: ``resnext50_32x4d`` -> ``ResNeXt50_32x4d``,
    ``efficientnet_v2_s`` -> ``EfficientNetV2S``, ``vgg11_bn`` -> ``VGG11_BN``."""
    parts = []
    for word in name.split("_"):
        if word[:1].isdigit():
            parts.append("_" + word)  # 32x4d, 2, 26w: a size, kept apart as in torchvision's names
            continue
        key = max((k for k in _SPELLING if word.startswith(k)), key=len, default=None)
        parts.append(_SPELLING[key] + word[len(key):] if key else word[:1].upper() + word[1:])
    return "".join(parts)


def constructor(name, public_name):
    """A named shortcut for ``create_model(name, **kwargs)``, e.g. ``kerasarch.ResNet50``."""

    def build(**kwargs):
        return create_model(name, **kwargs)

    build.__name__ = build.__qualname__ = public_name
    entry = _REGISTRY[name]
    build.__doc__ = (
        f"Build {name!r} (family {entry.family!r}, {entry.contract.describe()}): "
        f"``create_model({name!r}, **kwargs)``.\n\n"
        f"Arguments: see ``{entry.builder.__module__}.{entry.builder.__name__}``."
    )
    return build


def export_constructors(namespace, *families):
    """Put a constructor for every registered variant of ``families`` into ``namespace`` (a
    family module's ``globals()``) under its :func:`public_name`; return the names, for ``__all__``."""
    names = []
    for name in (n for family in families for n in list_models(family=family)):
        public = public_name(name)
        namespace[public] = constructor(name, public)
        names.append(public)
    return names
