"""Keeping a layer's config equal to its ``__init__`` arguments when an argument is an initializer."""

import keras


def initializer_arg(value):
    """A name (``"zeros"``) is kept as given, so ``get_config`` can return it unchanged;
    anything else (an ``Initializer``, a config dict) becomes an ``Initializer``."""
    return value if isinstance(value, str) else keras.initializers.get(value)


def initializer_config(value):
    return value if isinstance(value, str) else keras.initializers.serialize(value)
