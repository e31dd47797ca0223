"""The classic ImageNet/CIFAR training recipe in one call (He et al. 2016; Goyal et al. 2017 for the
warmup; Szegedy et al. 2016 for label smoothing), built from Keras's own optimizers, schedules and losses.

>>> model = kerasarch.create_model("resnet20", input_shape=(28, 28, 1), num_classes=10)
>>> recipe = kerasarch.compile_for_training(model, "resnet", epochs=30, steps_per_epoch=422)
>>> print(recipe.describe())

| recipe  | optimizer                     | peak lr | weight decay | warmup | schedule    | smoothing | clip |
|---------|-------------------------------|---------|--------------|--------|-------------|-----------|------|
| resnet  | SGD, momentum 0.9             | 0.1     | 1e-4         | 5%     | cosine to 0 | 0.1       | 1.0  |
| adamw   | AdamW (ViT, ConvNeXt)         | 1e-3    | 0.05         | 5%     | cosine to 0 | 0.1       | 1.0  |
| keras   | Adam, Keras defaults          | 1e-3    | none         | none   | constant    | 0         | none |

``keras`` is the baseline the time-to-accuracy benchmark compares against. Weight decay is
never applied to BatchNorm/LayerNorm scales and offsets, biases, layer scales, class tokens
and position embeddings (every variable of rank <= 1, and the weights of layers that say
``no_weight_decay``).
"""

import dataclasses

import keras

from kerasarch._keras_compat import sublayers
from kerasarch.contract import contract_of
from kerasarch.registry import closest_names
from kerasarch.train.losses import MaskedTokenAccuracy, SequenceCrossentropy, SmoothedSparseCategoricalCrossentropy

__all__ = ["Recipe", "RECIPES", "classifier_from_logits", "compile_for_training", "no_decay_variables", "resolve_recipe"]


@dataclasses.dataclass
class Recipe:
    """Every setting of a training recipe; ``dataclasses.replace(recipe, ...)`` or keyword
    overrides to :func:`compile_for_training` change any of them.

    Attributes:
        name: the recipe's name.
        optimizer: "sgd" or "adamw" or "adam".
        learning_rate: the peak learning rate (after warmup).
        momentum, nesterov: SGD's momentum (0.9) and Nesterov option.
        weight_decay: decoupled weight decay (Keras's ``weight_decay``: each step subtracts
            ``lr * wd * w``), skipping norms, biases and embeddings; 0 disables it.
        warmup: linear warmup from 0 over this fraction of all steps (0.05), or over
            ``warmup_epochs`` epochs when that is set.
        schedule: "cosine" (to zero at the last step) or "constant".
        label_smoothing: for the cross-entropy (integer or one-hot labels).
        clipnorm: global gradient-norm clipping; None disables it.
        jit_compile: "auto" (see :meth:`resolve_jit`: XLA for Transformer models, else Keras's
            choice, which is no XLA on a CPU-only TensorFlow: measured the
            faster path for both fit and predict on the 2-core CPU), True, False, or a dict
            per phase ({"train": True, "predict": False}).
        mixed_precision: the dtype policy to build models under for this recipe ("auto":
            ``mixed_float16`` on GPUs, with Keras's loss scaling; ``mixed_bfloat16`` on a CPU
            with bfloat16 arithmetic (AVX512-BF16 or AMX); ``float32`` on other CPUs, where
            bfloat16 is emulated: measured 8x slower ResNet training on an AVX2-only AMD EPYC);
            :meth:`dtype_policy` resolves it. A built model keeps its own policy.
    """

    name: str = "resnet"
    optimizer: str = "sgd"
    learning_rate: float = 0.1
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 1e-4
    warmup: float = 0.05
    warmup_epochs: float = None
    schedule: str = "cosine"
    label_smoothing: float = 0.1
    clipnorm: float = 1.0
    jit_compile: object = "auto"
    mixed_precision: str = "auto"
    # Filled in by compile_for_training:
    epochs: int = None
    steps_per_epoch: int = None

    def __post_init__(self):
        if self.optimizer not in ("sgd", "adamw", "adam"):
            raise ValueError(f"Recipe optimizer must be 'sgd', 'adamw' or 'adam', got {self.optimizer!r}.")
        if self.schedule not in ("cosine", "constant"):
            raise ValueError(f"Recipe schedule must be 'cosine' or 'constant', got {self.schedule!r}.")
        if not 0 <= self.warmup < 1:
            raise ValueError(f"Recipe warmup is a fraction of all steps in [0, 1), got {self.warmup!r}.")
        if not self.learning_rate > 0:
            raise ValueError(f"Recipe learning_rate must be positive, got {self.learning_rate!r}.")
        if self.warmup_epochs is not None and not self.warmup_epochs >= 0:
            raise ValueError(f"Recipe warmup_epochs must be >= 0 (0: no warmup), got {self.warmup_epochs!r}.")
        if self.warmup_epochs is not None and self.epochs is not None and self.warmup_epochs >= self.epochs:
            raise ValueError(f"Recipe warmup_epochs ({self.warmup_epochs}) must be shorter than the run "
                             f"({self.epochs} epochs).")

    @property
    def total_steps(self):
        return None if self.epochs is None or self.steps_per_epoch is None else self.epochs * self.steps_per_epoch

    @property
    def warmup_steps(self):
        if self.total_steps is None:
            return 0
        if self.warmup_epochs is not None:
            return int(round(self.warmup_epochs * self.steps_per_epoch))
        return int(round(self.warmup * self.total_steps))

    def dtype_policy(self):
        """The policy to build a model with: ``create_model(..., dtype=recipe.dtype_policy())``."""
        if self.mixed_precision != "auto":
            return self.mixed_precision or "float32"
        if _has_gpu():
            return "mixed_float16"
        return "mixed_bfloat16" if cpu_has_bfloat16() else "float32"

    def learning_rate_schedule(self):
        """A Keras schedule: linear warmup from 0 to ``learning_rate``, then cosine decay to 0."""
        if self.schedule == "constant" and not self.warmup_steps:
            return self.learning_rate
        if self.total_steps is None:
            raise ValueError(f"recipe {self.name!r}: a {self.schedule} schedule needs epochs and steps_per_epoch.")
        warmup = min(self.warmup_steps, self.total_steps - 1)
        # alpha=1 makes Keras's cosine schedule flat: a constant rate after the warmup.
        return keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=0.0 if warmup else self.learning_rate, decay_steps=self.total_steps - warmup,
            alpha=1.0 if self.schedule == "constant" else 0.0,
            warmup_target=self.learning_rate if warmup else None, warmup_steps=warmup)

    def make_optimizer(self, model=None):
        lr = self.learning_rate_schedule()
        common = dict(learning_rate=lr, global_clipnorm=self.clipnorm)
        wd = self.weight_decay or None
        if self.optimizer == "sgd":
            opt = keras.optimizers.SGD(momentum=self.momentum, nesterov=self.nesterov, weight_decay=wd, **common)
        elif self.optimizer == "adamw":
            opt = keras.optimizers.AdamW(weight_decay=self.weight_decay, **common)
        else:
            opt = keras.optimizers.Adam(weight_decay=wd, **common)
        if wd and model is not None:
            opt.exclude_from_weight_decay(var_list=no_decay_variables(model))
        return opt

    def resolve_jit(self, model=None):
        """What ``jit_compile="auto"`` means for ``model``: XLA for models built from
        Transformer encoder layers (measured on the 2-core CPU, ViT-style encoder: 1.08x faster
        training and 1.12x faster prediction than the graph executor), otherwise Keras's own
        choice (for the CNNs, XLA made CPU training 1.3-4x and prediction ~3x slower).

        On torch always Keras's choice, eager: ``jit_compile=True`` there is torch.compile,
        not XLA, and compiling a training step took 4-14x as long as XLA on TensorFlow on the
        2-core CPU (37 s for transformer_text_tiny's, 5 s under XLA)."""
        if self.jit_compile != "auto" or model is None or keras.backend.backend() == "torch":
            return self.jit_compile
        from kerasarch.layers.transformer import TransformerEncoderLayer

        if any(isinstance(layer, TransformerEncoderLayer) for layer in sublayers(model)):
            return True
        return "auto"

    def make_loss(self, from_logits):
        return SmoothedSparseCategoricalCrossentropy(self.label_smoothing, from_logits=from_logits)

    def describe(self, model=None):
        """The recipe as text, one setting a line (what ``compile_for_training`` prints)."""
        steps = self.total_steps
        lines = [f"Training recipe {self.name!r}"]
        if self.optimizer == "sgd":
            lines.append(f"  optimizer        SGD, momentum {self.momentum}{', Nesterov' if self.nesterov else ''}")
        else:
            lines.append(f"  optimizer        {'AdamW' if self.optimizer == 'adamw' else 'Adam'}")
        lines.append(f"  learning rate    {self.learning_rate:g} peak")
        if self.schedule == "cosine":
            lines.append(f"  schedule         linear warmup over {self.warmup_steps} steps, then cosine decay to 0 "
                         f"at step {steps}")
        else:
            lines.append(f"  schedule         constant{f' after {self.warmup_steps} warmup steps' if self.warmup_steps else ''}")
        if self.weight_decay:
            skipped = f" ({len(no_decay_variables(model))} variables skipped)" if model is not None else ""
            lines.append(f"  weight decay     {self.weight_decay:g}, not on norms, biases or embeddings{skipped}")
        else:
            lines.append("  weight decay     none")
        lines.append(f"  loss             cross-entropy, label smoothing {self.label_smoothing:g}")
        lines.append(f"  gradient clip    {f'global norm {self.clipnorm:g}' if self.clipnorm else 'none'}")
        if model is not None:
            lines.append(f"  precision        {model.dtype_policy.name} (head float32)")
        jit = self.resolve_jit(model)
        auto = ("Keras's choice (eager on torch)" if keras.backend.backend() == "torch"
                else "Keras's choice (no XLA on a CPU-only TensorFlow: faster for CNNs)")
        explained = {True: "on (Transformer layers: faster under XLA on the CPU)" if self.jit_compile == "auto" else "on",
                     False: "off", "auto": auto}
        lines.append(f"  XLA              {explained.get(jit, repr(jit)) if not isinstance(jit, dict) else jit}")
        if steps:
            lines.append(f"  steps            {self.epochs} epochs x {self.steps_per_epoch} = {steps}")
        return "\n".join(lines)


RECIPES = {
    "resnet": Recipe(),
    "adamw": Recipe(name="adamw", optimizer="adamw", learning_rate=1e-3, weight_decay=0.05),
    "keras": Recipe(name="keras", optimizer="adam", learning_rate=1e-3, weight_decay=0.0, warmup=0.0,
                    schedule="constant", label_smoothing=0.0, clipnorm=None, mixed_precision=None),
}


def cpu_has_bfloat16():
    """Whether this CPU computes in bfloat16 natively (x86 AVX512-BF16 or AMX-BF16, ARM BF16).

    Read from ``/proc/cpuinfo`` (Linux); elsewhere assumed not, so "auto" picks float32, the
    policy that is never slower than an emulated bfloat16.
    """
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(("flags", "Features")):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"avx512_bf16", "amx_bf16", "bf16"})
    except OSError:
        pass
    return False


def _has_gpu():
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return any(d.platform == "gpu" for d in jax.devices())
    if backend == "torch":
        import torch

        return torch.cuda.is_available()
    if backend == "tensorflow":
        import tensorflow as tf

        return bool(tf.config.list_physical_devices("GPU"))
    return False


def no_decay_variables(model):
    """The variables weight decay must skip: rank <= 1 (biases, norm scales and offsets,
    layer scales) and the weights of layers with ``no_weight_decay = True``."""
    skip = {id(v): v for v in model.trainable_variables if len(v.shape) <= 1}
    for layer in sublayers(model):
        if getattr(layer, "no_weight_decay", False):
            skip.update({id(v): v for v in layer.trainable_variables})
    return list(skip.values())


def classifier_from_logits(model, what="compile_for_training"):
    """Whether ``model``'s output is logits (True) or probabilities (False), read off its
    contract; a ValueError for a model whose output no classification loss applies to."""
    output = contract_of(model).output
    if output.kind == "logits":
        return True
    if output.kind == "probabilities":
        return False
    raise ValueError(
        f"{what}: {model.name} returns {output.kind}{f' ({output.activation})' if output.activation else ''}, "
        "not class probabilities or logits, so the softmax cross-entropy does not apply. Build it with the "
        "classifier (include_top=True) and classifier_activation='softmax' or None.")


def resolve_recipe(recipe="resnet", **overrides):
    """A :class:`Recipe` from a name in :data:`RECIPES` (or a Recipe) with fields overridden."""
    if isinstance(recipe, str):
        if recipe not in RECIPES:
            raise ValueError(f"unknown recipe {recipe!r}.{closest_names(recipe, RECIPES)} The recipes are "
                             f"{sorted(RECIPES)}; or pass a Recipe.")
        recipe = RECIPES[recipe]
    fields = [f.name for f in dataclasses.fields(Recipe)]
    unknown = sorted(set(overrides) - set(fields))
    if unknown:
        hints = "".join(closest_names(name, fields) for name in unknown)
        raise TypeError(f"unknown recipe setting(s) {unknown}.{hints} The settings are {fields}.")
    return dataclasses.replace(recipe, **overrides)


def compile_for_training(model, recipe="resnet", *, epochs=None, steps_per_epoch=None, metrics=("accuracy",),
                         verbose=True, optimizer=None, **overrides):
    """Compile ``model`` with a recipe: optimizer, schedule, loss, clipping, XLA choice.

    Args:
        model: a built Keras model whose contract (:func:`kerasarch.contract.contract_of`) says
            it returns softmax probabilities or logits (cross-entropy), a forecast (squared
            error; an "accuracy" metric becomes "mae") or next-token logits (cross-entropy and
            accuracy over the real target tokens); the loss follows.
        recipe: a name in :data:`RECIPES` or a :class:`Recipe`.
        epochs, steps_per_epoch: the run's length, for the warmup and the cosine decay.
        metrics: passed to ``compile``.
        verbose: print :meth:`Recipe.describe`.
        optimizer: use this optimizer instead of the recipe's (e.g. one from
            ``kerasarch.train.transfer.with_lr_multipliers``).
        **overrides: any :class:`Recipe` field, e.g. ``learning_rate=0.05, nesterov=True``.

    Returns the resolved :class:`Recipe` (``recipe.describe(model)`` is the printed text).
    """
    length = {k: v for k, v in (("epochs", epochs), ("steps_per_epoch", steps_per_epoch)) if v is not None}
    recipe = resolve_recipe(recipe, **length, **overrides)
    contract = contract_of(model)
    if contract.output.kind == "forecast":
        # A regression: squared error, and the mean absolute error people quote for forecasts
        # in place of an accuracy (label smoothing has no meaning here).
        loss = keras.losses.MeanSquaredError()
        metrics = ["mae" if m == "accuracy" else m for m in metrics]
    elif contract.output.kind == "sequence_logits":
        # Teacher forcing: next-token cross-entropy and accuracy over the real target tokens.
        padding = contract.input.padding_id
        loss = SequenceCrossentropy(recipe.label_smoothing, padding_id=padding)
        metrics = [MaskedTokenAccuracy(padding) if m == "accuracy" else m for m in metrics]
    else:
        loss = recipe.make_loss(classifier_from_logits(model))
    model.compile(optimizer=optimizer or recipe.make_optimizer(model), loss=loss,
                  metrics=list(metrics), jit_compile=recipe.resolve_jit(model))
    if verbose:
        print(recipe.describe(model))
    return recipe
