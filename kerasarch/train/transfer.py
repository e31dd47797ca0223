"""Transfer learning as it is usually done (Yosinski et al. 2014; Kornblith et al. 2019): bring
the weights over, replace the head, freeze the first layers (BatchNorm in inference mode),
train the pretrained part with a smaller learning rate than the new head (0.1x), then
optionally unfreeze for a second phase.

>>> model = transfer_model("resnet20", num_classes=5, weights="pretrained.keras", freeze="stage2")
>>> compile_transfer(model, "resnet", epochs=5, steps_per_epoch=20)       # backbone at 0.1x
>>> model.fit(...)
>>> unfreeze(model); compile_transfer(model, "resnet", epochs=5, steps_per_epoch=20, learning_rate=0.01)
"""

import keras

from kerasarch._keras_compat import copy_weight_decay_exclusions, own_variables
from kerasarch.models import weights_io
from kerasarch.registry import create_model
from kerasarch.train.recipe import compile_for_training, resolve_recipe

__all__ = ["LR_MULTIPLIER_OPTIMIZERS", "compile_transfer", "copy_matching_weights", "freeze", "head_layers",
           "transfer_model", "unfreeze", "with_lr_multipliers"]


class _LRMultipliers:
    """Mixin: scale the learning rate per variable by the longest matching path prefix in
    ``lr_multipliers`` (``{"": 0.1, "classifier": 1.0}``: everything at 0.1x but the head).

    Keras optimizers have one learning rate; its ``update_step(gradient, variable, lr)`` is
    called per variable on every backend, so scaling ``lr`` there gives each group its own
    rate (for SGD and Adam alike; decoupled weight decay still uses the unscaled rate).
    """

    def __init__(self, *args, lr_multipliers=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.lr_multipliers = {str(k): float(v) for k, v in (lr_multipliers or {}).items()}
        self._lr_factors = []

    def factor_for(self, path):
        best, factor = -1, 1.0
        for prefix, value in self.lr_multipliers.items():
            if path.startswith(prefix) and len(prefix) > best:
                best, factor = len(prefix), value
        return factor

    def build(self, var_list):
        super().build(var_list)
        self._lr_factors = [self.factor_for(v.path) for v in var_list]

    def update_step(self, gradient, variable, learning_rate):
        factor = self._lr_factors[self._get_variable_index(variable)]
        if factor != 1.0:
            learning_rate = learning_rate * factor
        return super().update_step(gradient, variable, learning_rate)

    def get_config(self):
        config = super().get_config()
        config["lr_multipliers"] = dict(self.lr_multipliers)
        return config


def _make(base):
    cls = type(f"{base.__name__}WithLRMultipliers", (_LRMultipliers, base), {"__module__": __name__})
    return keras.saving.register_keras_serializable(package="kerasarch")(cls)


# Serializable, so a model compiled for transfer saves and loads with its optimizer.
LR_MULTIPLIER_OPTIMIZERS = {base: _make(base) for base in (keras.optimizers.SGD, keras.optimizers.Adam,
                                                           keras.optimizers.AdamW)}
SGDWithLRMultipliers = LR_MULTIPLIER_OPTIMIZERS[keras.optimizers.SGD]
AdamWithLRMultipliers = LR_MULTIPLIER_OPTIMIZERS[keras.optimizers.Adam]
AdamWWithLRMultipliers = LR_MULTIPLIER_OPTIMIZERS[keras.optimizers.AdamW]


def with_lr_multipliers(optimizer, lr_multipliers):
    """The same optimizer (SGD, Adam or AdamW, same settings) with per-prefix learning-rate factors.

    Variables excluded from weight decay stay excluded.
    """
    cls = LR_MULTIPLIER_OPTIMIZERS.get(type(optimizer))
    if cls is None:
        raise TypeError(f"per-layer learning rates support {[b.__name__ for b in LR_MULTIPLIER_OPTIMIZERS]}, "
                        f"got {type(optimizer).__name__}.")
    new = cls.from_config({**optimizer.get_config(), "lr_multipliers": lr_multipliers})
    copy_weight_decay_exclusions(optimizer, new)
    return new


def head_layers(model):
    """Names of the classifier layers: the last layer with weights and, when present, the
    pre-logits layer before it."""
    with_weights = [layer.name for layer in model.layers if layer.weights]
    head = with_weights[-1:]
    if "pre_logits" in with_weights:
        head.insert(0, "pre_logits")
    return head


def copy_matching_weights(source, target):
    """Copy every layer's variables from ``source`` (a model or a ``.keras`` / ``.weights.h5``
    file) into ``target`` where the layer path and all shapes match.

    Returns ``(copied, skipped)`` lists of layer paths; a new head is in ``skipped``.
    """
    if isinstance(source, keras.Model):
        stored = {path: [keras.ops.convert_to_numpy(v) for v in own_variables(layer)]
                  for path, layer in weights_io.model_layers(source).items()}
    else:
        stored = weights_io.file_variables(str(source))
    copied, skipped = [], []
    for path, layer in weights_io.model_layers(target).items():
        variables = own_variables(layer)
        values = stored.get(path)
        if values is None or [tuple(v.shape) for v in variables] != [tuple(a.shape) for a in values]:
            skipped.append(path)
            continue
        for variable, value in zip(variables, values):
            variable.assign(value)
        copied.append(path)
    if not copied:
        raise ValueError("no layer of the source matches the target by name and shape: were the weights saved "
                         "from the same architecture?")
    return copied, skipped


def freeze(model, up_to):
    """Freeze the first layers: ``up_to`` is a count of layers (inputs not counted) or the name
    of the last layer to freeze. Frozen BatchNorm layers run in inference mode (Keras's rule
    for ``trainable=False``), so their statistics stay the pretrained ones.
    Returns the names of the frozen layers.
    """
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    if isinstance(up_to, str):
        names = [layer.name for layer in layers]
        if up_to not in names:
            close = [n for n in names if n.startswith(up_to)]
            hint = f" Layers starting so: {close[:4]} (the last of a stage freezes the stage)." if close else ""
            raise ValueError(f"{model.name} has no layer named {up_to!r}.{hint}")
        count = names.index(up_to) + 1
    else:
        count = int(up_to)
        if not 0 <= count <= len(layers):
            raise ValueError(f"freeze: {model.name} has {len(layers)} layers; got up_to={up_to}.")
    head = set(head_layers(model))
    frozen = []
    for layer in layers[:count]:
        if layer.name in head:
            raise ValueError(f"freeze: {up_to!r} reaches the classifier {layer.name!r}; freeze fewer layers.")
        layer.trainable = False
        frozen.append(layer.name)
    return frozen


def unfreeze(model):
    """Make every layer trainable again (the second, fine-tuning phase). Recompile afterwards."""
    for layer in model.layers:
        layer.trainable = True


def transfer_model(name, num_classes, *, weights, freeze_up_to=None, **kwargs):
    """A registered model with ``num_classes`` outputs, the pretrained weights of every layer
    but the head from ``weights`` (a model, or a ``.keras`` / ``.weights.h5`` file from the same
    architecture), and its first layers frozen (``freeze_up_to``: see :func:`freeze`).

    ``kwargs`` go to ``create_model`` (``input_shape``, ``dtype``, ...). ``model.transfer``
    records what was copied, skipped and frozen.
    """
    model = create_model(name, num_classes=num_classes, **kwargs)
    copied, skipped = copy_matching_weights(weights, model)
    frozen = freeze(model, freeze_up_to) if freeze_up_to is not None else []
    model.transfer = {"copied": copied, "skipped": skipped, "frozen": frozen}
    return model


def compile_transfer(model, recipe="resnet", *, backbone_lr_multiplier=0.1, head=None, epochs=None,
                     steps_per_epoch=None, verbose=True, **overrides):
    """:func:`compile_for_training` with the head at the recipe's learning rate and every other
    trainable layer at ``backbone_lr_multiplier`` times it (0.1x by default)."""
    head = head or head_layers(model)
    plan = resolve_recipe(recipe, epochs=epochs, steps_per_epoch=steps_per_epoch, **overrides)
    multipliers = {"": float(backbone_lr_multiplier), **{name: 1.0 for name in head}}
    optimizer = with_lr_multipliers(plan.make_optimizer(model), multipliers)
    compile_for_training(model, plan, optimizer=optimizer, verbose=False)
    if verbose:
        print(plan.describe(model))
        print(f"  transfer         head {head} at 1x, the rest at {backbone_lr_multiplier:g}x; "
              f"{sum(not layer.trainable for layer in model.layers)} layers frozen")
    return plan
