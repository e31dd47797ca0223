"""The model registry: every architecture variant is a named row of data.

A family module (``kerasarch/models/<family>.py``) registers each row of its
variant table with :func:`register_model`; users reach them through
:func:`create_model` and :func:`list_models`. The registry name is also the
default ``name`` of the built ``keras.Model``.
"""

import difflib
import fnmatch
import re

__all__ = ["UnknownModelError", "create_model", "constructor", "list_models", "register_model", "model_entry"]


class UnknownModelError(KeyError, ValueError):
    """Raised for a model name that is not registered.

    It is both a ``KeyError`` (a failed name lookup) and a ``ValueError`` (a bad
    argument), so either ``except`` clause catches it.
    """

    def __str__(self):
        # KeyError quotes its argument; an error meant for people should read plainly.
        return str(self.args[0]) if self.args else ""


class ModelEntry:
    """One registered variant: the builder of its family, the row's arguments, and the
    input it is built for by default (``input_shape``) and the smallest it accepts
    (``min_size`` pixels on each side)."""

    __slots__ = ("name", "builder", "variant", "family", "input_shape", "min_size", "num_classes")

    def __init__(self, name, builder, variant, family, input_shape, min_size, num_classes):
        self.name = name
        self.builder = builder
        self.variant = variant
        self.family = family
        self.input_shape = tuple(input_shape)
        self.min_size = min_size
        self.num_classes = num_classes

    def build(self, **kwargs):
        kwargs.setdefault("name", self.name)
        return self.builder(self.variant, **kwargs)

    def __repr__(self):
        return f"ModelEntry({self.name!r}, family={self.family!r})"


_REGISTRY = {}


def register_model(name, builder, variant, family, *, input_shape=(224, 224, 3), min_size=32,
                   num_classes=1000):
    """Register ``variant`` (a row of a family's table) under ``name``.

    ``builder(variant, **kwargs)`` must return a ``keras.Model``; ``input_shape``,
    ``min_size`` and ``num_classes`` describe its defaults (the builder applies them, the
    registry publishes them to tests, tables and tools).
    """
    if name in _REGISTRY:
        raise ValueError(f"A model named {name!r} is already registered ({_REGISTRY[name]!r}).")
    _REGISTRY[name] = ModelEntry(name, builder, variant, family, input_shape, min_size, num_classes)


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
    close = difflib.get_close_matches(key, list(_REGISTRY), n=5, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise UnknownModelError(
        f"Unknown model name {name!r}.{hint} "
        f"kerasarch.list_models() lists all {len(_REGISTRY)} registered models; "
        f"list_models('{key[:3]}*') narrows it down."
    )


def create_model(model_name, /, **kwargs):
    """Build the registered model ``model_name``.

    Keyword arguments go to the family builder: ``num_classes`` (or ``classes``),
    ``input_shape``, ``include_top``, ``pooling``, ``weights``, ``features_only``,
    ``drop_rate``, ``drop_path_rate``, ... (see the family's builder docstring).

    >>> model = create_model("resnet18", num_classes=10, input_shape=(32, 32, 3))
    """
    return model_entry(model_name).build(**kwargs)


def list_models(pattern="*", family=None):
    """Sorted names of the registered models matching a shell-style ``pattern``.

    ``pattern`` may also be a list of patterns; ``family`` keeps one family
    (for example ``"resnet"``).
    """
    patterns = [pattern] if isinstance(pattern, str) else list(pattern)
    names = (
        n for n, e in _REGISTRY.items()
        if any(fnmatch.fnmatchcase(n, p.lower()) for p in patterns)
        and (family is None or e.family == family)
    )
    return sorted(names, key=_natural_key)


def _natural_key(name):
    # resnet18 < resnet34 < resnet50 < resnet101 (not the string order 101 < 18).
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def constructor(name, public_name):
    """A named shortcut for ``create_model(name, **kwargs)``, e.g. ``kerasarch.ResNet50``."""

    def build(**kwargs):
        return create_model(name, **kwargs)

    build.__name__ = build.__qualname__ = public_name
    entry = _REGISTRY[name]
    build.__doc__ = (
        f"Build {name!r} (family {entry.family!r}): ``create_model({name!r}, **kwargs)``.\n\n"
        f"Arguments: see ``{entry.builder.__module__}.{entry.builder.__name__}``."
    )
    return build
