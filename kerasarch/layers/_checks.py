"""Argument checks for the layers' constructors, written once so every error reads alike.

A bad value raises ``ValueError("<Layer>: <arg> must be <what>, got <value>.")`` when the
layer is made, instead of surfacing later as a shape or dtype error inside a backend op,
far from the model definition that passed it. Each check returns the value in the form
the layer stores (``int``, ``float``, ``bool``), so ``get_config`` keeps returning the
``__init__`` arguments.
"""

import math
import numbers

import keras
import numpy as np


def owner(layer, kwargs=None):
    """How an error names a layer: its class and, when known, its name. In ``__init__`` pass
    the keyword arguments: until ``super().__init__`` has run, ``layer.name`` is not the
    caller's (and when no ``name=`` was given, an automatic one says nothing)."""
    name = kwargs.get("name") if kwargs is not None else layer.name
    cls = type(layer).__name__
    return f"{cls} {name!r}" if name else cls


def _fail(who, arg, what, value, hint=None):
    raise ValueError(f"{who}: {arg} must be {what}, got {value!r}." + (f" {hint}" if hint else ""))


def _is_int(value):
    # bool is an int subclass; True as a filter count is a slip, never an intent.
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _is_number(value):
    return (isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))
            and math.isfinite(value))


def integer(who, arg, value, minimum=None, hint=None):
    if not _is_int(value) or (minimum is not None and value < minimum):
        what = {None: "an integer", 0: "a non-negative integer", 1: "a positive integer"}.get(
            minimum, f"an integer >= {minimum}")
        _fail(who, arg, what, value, hint)
    return int(value)


def positive_int(who, arg, value, hint=None):
    return integer(who, arg, value, 1, hint)


def non_negative_int(who, arg, value, hint=None):
    return integer(who, arg, value, 0, hint)


def odd_int(who, arg, value, hint=None):
    value = positive_int(who, arg, value, hint)
    if value % 2 == 0:
        _fail(who, arg, "an odd positive integer", value, hint)
    return value


def _is_pair(value):
    return isinstance(value, (list, tuple, np.ndarray)) and np.ndim(value) == 1 and len(value) == 2


def pair(who, arg, value, minimum=1):
    """A ``(height, width)`` pair of integers ``>= minimum``, returned as a tuple of ints."""
    if not _is_pair(value) or not all(_is_int(v) and v >= minimum for v in value):
        _fail(who, arg, f"a pair (height, width) of integers >= {minimum}", value)
    return tuple(int(v) for v in value)


def int_or_pair(who, arg, value, minimum=1):
    """An integer ``>= minimum`` or a ``(height, width)`` pair of them; returned as given (the
    layers normalise it themselves)."""
    if _is_pair(value):
        pair(who, arg, value, minimum)
    elif not (_is_int(value) and value >= minimum):
        _fail(who, arg, f"an integer >= {minimum} or a pair (height, width) of them", value)
    return value


def number(who, arg, value, low=None, high=None, low_open=False, high_open=False, allow_none=False,
           hint=None):
    """A finite real number in the given interval, as a ``float`` (``None`` kept if allowed)."""
    if allow_none and value is None:
        return None
    ok = _is_number(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        if low is not None and high is not None:
            what = f"a number in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        elif low is not None:
            what = f"a number {'>' if low_open else '>='} {low:g}"
        elif high is not None:
            what = f"a number {'<' if high_open else '<='} {high:g}"
        else:
            what = "a finite number"
        _fail(who, arg, f"None or {what}" if allow_none else what, value, hint)
    return float(value)


def rate(who, arg, value, hint=None):
    """A probability of dropping (dropout, drop path) or a BatchNorm momentum: ``[0, 1)``;
    1 would drop everything, or freeze the moving statistics at their initial values."""
    return number(who, arg, value, 0, 1, high_open=True, hint=hint)


def positive_number(who, arg, value, hint=None):
    return number(who, arg, value, 0, low_open=True, hint=hint)


def batch_norm(who, momentum, epsilon):
    """The ``bn_momentum`` and ``bn_epsilon`` the conv + BN blocks take (kept as given)."""
    rate(who, "bn_momentum", momentum)
    positive_number(who, "bn_epsilon", epsilon)


def flag(who, arg, value):
    # A truthy string ("False") would otherwise switch the option on without a word.
    if not isinstance(value, (bool, np.bool_)):
        _fail(who, arg, "True or False", value)
    return bool(value)


def one_of(who, arg, value, options, hint=None):
    if not isinstance(value, str) or value not in options:
        _fail(who, arg, f"one of {tuple(options)}", value, hint)
    return value


def activation(who, arg, value, hint=None):
    """The function ``keras.activations.get`` resolves ``value`` to; an unknown name raises
    here, naming the argument, rather than Keras's message without one."""
    try:
        return keras.activations.get(value)
    except (ValueError, TypeError):
        raise ValueError(
            f"{who}: unknown {arg} {value!r}; {arg} must be "
            f"{hint or 'a Keras activation name (e.g. relu, gelu, silu, hard_sigmoid) or a callable'}."
        ) from None


def initializer(who, arg, value):
    """Checks that Keras can resolve ``value`` (a name, an ``Initializer``, a config dict or
    ``None`` for the layer's default) and returns it unchanged: a name stays a name, so the
    layer's config is what it was given."""
    try:
        keras.initializers.get(value)
    except (ValueError, TypeError):
        raise ValueError(
            f"{who}: unknown {arg} {value!r}; {arg} must be a Keras initializer, its name "
            "(e.g. zeros, glorot_uniform) or its config."
        ) from None
    return value


def divisors(n, limit=8):
    """The divisors of ``n`` for a hint, the first ``limit`` of them."""
    found = [d for d in range(1, n + 1) if n % d == 0]
    return ", ".join(str(d) for d in found[:limit]) + (", ..." if len(found) > limit else "")


def divides(who, arg, value, total_name, total):
    """``value`` (already a positive int) must divide ``total`` (``total_name`` says what it is)."""
    if total % value:
        _fail(who, arg, f"a divisor of {total_name} ({total})", value, f"Divisors: {divisors(total)}.")
    return value


def heads_split(who, num_heads, channels):
    """Attention heads must split the channels evenly; the width is known only in ``build``."""
    if channels is not None and channels % num_heads:
        raise ValueError(
            f"{who}: {channels} channels do not split into {num_heads} heads; pick num_heads that divides "
            f"{channels} (e.g. {divisors(channels)})."
        )
