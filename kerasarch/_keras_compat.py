"""The places kerasarch relies on Keras internals, each isolated in one small function.

Everything else uses Keras's public API. Each function here names the internal it touches
and has a test in ``tests/test_keras_compat.py`` that fails with a message naming it when
a Keras release changes it, so an upgrade breaks one test, not a training run.
"""

__all__ = ["child_layers", "copy_weight_decay_exclusions", "graph_function", "own_variables", "start_fit_at_epoch",
           "sublayers"]


# --- ResumableBackup: start a fit() already in progress at a later epoch ----------------------------------------

def start_fit_at_epoch(model, epoch):
    """Make the ``model.fit`` call that is starting (call it from ``on_train_begin``) begin at
    ``epoch`` instead of its ``initial_epoch``; ``None`` leaves the next ``fit`` alone again.

    ``fit(initial_epoch=...)`` is the public way, but a callback only runs after ``fit`` has
    read it. Keras's own ``BackupAndRestore`` sets the trainer's ``_initial_epoch``, which
    ``fit`` reads after ``on_train_begin`` (``initial_epoch = self._initial_epoch or
    initial_epoch`` in ``keras/src/backend/<backend>/trainer.py``) and never resets; there
    is no public hook.
    """
    if not hasattr(model, "_initial_epoch"):
        import keras

        raise RuntimeError(
            f"Keras {keras.__version__} models have no `_initial_epoch` (the attribute fit() reads after "
            "on_train_begin, set by keras.callbacks.BackupAndRestore); kerasarch._keras_compat.start_fit_at_epoch "
            "needs updating for this Keras. Resume through kerasarch.train.run.train_model, which passes "
            "fit(initial_epoch=...) itself, or install the Keras version in constraints.txt.")
    model._initial_epoch = epoch


# --- Walking a model's layers and their own variables ------------------------------------------------------------

def sublayers(model):
    """Every layer inside ``model``, nested ones included (blocks' conv and norm layers).

    ``model.layers`` is public but lists the top level only; Keras walks the tree with the
    private ``Layer._flatten_layers``.
    """
    _require(model, "_flatten_layers", "sublayers", "Layer._flatten_layers(include_self=False)")
    return list(model._flatten_layers(include_self=False))


def child_layers(layer):
    """The layers ``layer`` holds directly (one level down): Keras's private ``Layer._layers``."""
    _require(layer, "_layers", "child_layers", "Layer._layers")
    return list(layer._layers)


def own_variables(layer):
    """The variables ``layer`` created itself, not those of its sublayers, in the order a
    ``.weights.h5`` file stores them: Keras's private ``_trainable_variables`` then
    ``_non_trainable_variables`` (``layer.weights`` also has the sublayers')."""
    for attr in ("_trainable_variables", "_non_trainable_variables"):
        _require(layer, attr, "own_variables", f"Layer.{attr}")
    return list(layer._trainable_variables) + list(layer._non_trainable_variables)


# --- An optimizer's weight-decay exclusions ------------------------------------------------------------------------

_DECAY_STATE = ("_exclude_from_weight_decay", "_exclude_from_weight_decay_pattern")


def copy_weight_decay_exclusions(source, target):
    """Give ``target`` the weight-decay exclusions ``source.exclude_from_weight_decay`` was given.

    The public method sets them, nothing public reads them back: Keras keeps the excluded
    variables' keys in ``_exclude_from_weight_decay`` and the name patterns in
    ``_exclude_from_weight_decay_pattern`` (neither exists before the first call).
    """
    if not hasattr(source, _DECAY_STATE[0]):
        return  # exclude_from_weight_decay was never called: nothing to copy
    _require(source, _DECAY_STATE[1], "copy_weight_decay_exclusions", f"optimizer.{_DECAY_STATE[1]}")
    for attr in _DECAY_STATE:
        value = getattr(source, attr)
        setattr(target, attr, set(value) if isinstance(value, set) else value)
    target._exclude_from_weight_decay_cache = {}


# --- TensorFlow graphs: the functions a traced call nests --------------------------------------------------------

def graph_function(graph, name):
    """The graph of the function ``name`` that a ``PartitionedCall`` in ``graph`` calls
    (TensorFlow's private ``FuncGraph._get_function``; no public lookup by name exists)."""
    _require(graph, "_get_function", "graph_function", "tf FuncGraph._get_function")
    function = graph._get_function(name)
    inner = getattr(function, "graph", None)
    if inner is None:
        raise RuntimeError(f"cannot look inside the nested TensorFlow function {name}: its definition has no graph.")
    return inner


def _require(obj, attr, adapter, internal):
    if not hasattr(obj, attr):
        import keras

        raise RuntimeError(
            f"kerasarch._keras_compat.{adapter} reads {internal}, which this release (Keras {keras.__version__}) "
            "does not have; the adapter needs updating for it, or install the version in constraints.txt.")
