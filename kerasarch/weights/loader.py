"""``load_torch_weights``: a torchvision or timm state dict into a kerasarch model, all checked first."""

import dataclasses

import numpy as np

from kerasarch.weights import maps  # noqa: F401  (registers every family's map)
from kerasarch.weights.checkpoint import CheckpointError, read_state_dict
from kerasarch.weights.layout import SOURCES, TorchLayout, layouts_for

__all__ = ["load_torch_weights", "LoadReport", "checkpoint_classes", "torch_families"]

_SHOWN = 8  # problems listed per kind in one error


@dataclasses.dataclass
class LoadReport:
    """What a load did: ``source``, the number of ``loaded`` tensors, and the tensors it left
    out with the reason (``skipped``: a classifier whose shape differed, with ``skip_mismatch``;
    ``dropped``: tensors the model has no place for, such as the head of an ``include_top=False``
    model or an auxiliary classifier)."""

    source: str
    loaded: int
    skipped: list
    dropped: list
    checkpoint: object = None

    def __str__(self):
        lines = [f"loaded {self.loaded} tensors ({self.source} layout)"]
        if self.skipped:
            lines.append(f"kept the model's own initial values for {len(self.skipped)} head tensors of another "
                         f"shape: {', '.join(k for k, _ in self.skipped)}")
        if self.dropped:
            reasons = sorted({why for _, why in self.dropped})
            lines.append(f"left out {len(self.dropped)} checkpoint tensors ({'; '.join(reasons)})")
        return "\n".join(lines)


def torch_families():
    """``{family: sources}`` for the families whose torch checkpoints kerasarch reads."""
    from kerasarch.weights.layout import _LAYOUTS

    out = {}
    for family, source in _LAYOUTS:
        out.setdefault(family, []).append(source)
    return {f: tuple(s) for f, s in sorted(out.items())}


def _no_twin(model, family):
    from kerasarch.weights.layout import twins

    names = [n for n in twins() if _family_of(n) == family]
    if names:
        return (f"{model.name}: {(model.arch or {}).get('variant')} has no torchvision or timm twin to take "
                f"weights from; its {family} relatives that have one: {', '.join(names)}.")
    return (f"{model.name}: the {family} family has no torch twin to take weights from; families that have "
            f"one: {', '.join(torch_families())}.")


def _family_of(name):
    from kerasarch.registry import model_entry

    return model_entry(name).family


def load_torch_weights(model, checkpoint, source=None, *, skip_mismatch=False):
    """Load a torchvision or timm checkpoint into a kerasarch model, tensor by tensor.

    Args:
        model: a built kerasarch model (``kerasarch.create_model(...)``) whose family has a torch
            twin (:func:`torch_families`).
        checkpoint: a ``.pth``/``.pt``/``.bin`` file (read with ``torch.load(weights_only=True)``),
            a ``.safetensors`` file (read without torch), or a state dict.
        source: ``"torchvision"`` or ``"timm"``; by default the one whose names the checkpoint has.
        skip_mismatch: keep the model's own classifier when the checkpoint's has another number
            of classes (fine-tuning to new classes); every other tensor must still fit exactly.
            Without it, a head of another shape is an error that says so.

    Every tensor is checked before any is assigned: a tensor the model needs but the file lacks,
    one the file has but the model has no place for, or one whose shape does not fit after the
    layout conversion is an error naming it and both shapes, and the model is left untouched.
    The classifier of a checkpoint loaded into an ``include_top=False`` model is left out, and
    the returned :class:`LoadReport` says so.
    """
    family = (getattr(model, "arch", None) or {}).get("family")
    if family is None:
        raise CheckpointError(f"{getattr(model, 'name', model)!r} is not a kerasarch model (it records no family); "
                              "build it with kerasarch.create_model(name, ...).")
    layouts = layouts_for(family, model.arch.get("variant"))
    if not layouts:
        raise CheckpointError(_no_twin(model, family))
    if source is not None and source not in layouts:
        raise CheckpointError(f"{model.name}: source must be one of {tuple(layouts)} for the {family} family, got "
                              f"{source!r}." + ("" if source in SOURCES else f" (kerasarch knows {SOURCES})"))
    from kerasarch.weights import known

    info = known.identify(checkpoint)
    if info is not None:
        known.check_fits(model, info)
        source = source or info.source
    state = read_state_dict(checkpoint)
    layout = _choose(model, state, {source: layouts[source]} if source else layouts)
    assignments, skipped, dropped = _check(model, layout, state, skip_mismatch)
    for variable, value in assignments:
        variable.assign(value)
    if info is not None:
        known.annotate(model, info)
    return LoadReport(layout.source, len(assignments), skipped, dropped, info)


def checkpoint_classes(model, checkpoint, source=None):
    """The number of classes ``checkpoint``'s classifier has (``None`` without one), read off the
    family map's head tensors: what ``num_classes`` a model needs to take all of it."""
    layouts = layouts_for(model.arch.get("family"), model.arch.get("variant"))
    if not layouts:
        raise CheckpointError(_no_twin(model, model.arch.get("family")))
    state = read_state_dict(checkpoint) if not isinstance(checkpoint, dict) else checkpoint
    layout = _choose(model, state, {source: layouts[source]} if source else layouts)
    for entry in layout.entries:
        if entry.head and entry.key in state and state[entry.key].ndim == 1:
            return int(state[entry.key].shape[0])
    return None


def _choose(model, state, layouts):
    keys = set(state)
    built, refused = [], []
    for source, fn in layouts.items():
        layout = TorchLayout(model, source, keys)
        try:
            fn(layout)
        except CheckpointError as e:
            # A map refuses a build option its source lacks (ViT's token_pooling="avg" has no
            # torchvision twin); the other source may still fit, so that error waits.
            if len(layouts) == 1:
                raise
            refused.append(e)
            continue
        expected = layout.expected_keys()
        built.append((len(expected & keys) / max(1, len(expected)), layout))
    score, layout = max(built, key=lambda t: t[0]) if built else (0.0, None)
    if refused and score < 0.5:
        raise refused[0]
    if len(layouts) > 1 and score < 0.5:
        sample = ", ".join(sorted(keys)[:4])
        raise CheckpointError(
            f"{model.name}: the checkpoint's tensor names ({sample}, ...) are neither torchvision's nor timm's "
            f"{layout.arch.get('family')} names; pass source= to see which tensors do not fit.")
    return layout


def _check(model, layout, state, skip_mismatch):
    covered = {}
    for entry in layout.entries:
        covered.setdefault(id(entry.variable), []).append(entry.key)
    uncovered = [v.path for v in model.weights if id(v) not in covered and "seed_generator" not in v.path]
    doubled = [keys for keys in covered.values() if len(keys) > 1]
    if uncovered or doubled:
        raise CheckpointError(
            f"{model.name}: the {layout.source} map of the {layout.arch.get('family')} family leaves variables "
            f"{uncovered[:_SHOWN]} without a tensor or gives {doubled[:_SHOWN]} two (a kerasarch bug: please report it).")
    missing, mismatched, assignments, skipped = [], [], [], []
    for entry in layout.entries:
        var_shape = tuple(entry.variable.shape)
        if entry.key not in state:
            missing.append(f"{entry.key} (for {entry.variable.path}, shape {var_shape})")
            continue
        raw = state[entry.key]
        value = np.asarray(entry.convert(raw, entry.variable))
        if tuple(value.shape) != var_shape:
            if entry.head and skip_mismatch:
                skipped.append((entry.key, f"checkpoint {tuple(raw.shape)}, model {var_shape}"))
                continue
            mismatched.append((entry, tuple(raw.shape), var_shape))
            continue
        assignments.append((entry.variable, value.astype(keras_dtype(entry.variable))))
    used = layout.expected_keys()
    dropped, unexpected = [], []
    for key in state:
        if key in used:
            continue
        why = layout.ignored_reason(key)
        if why is None and layout.features_only:
            why = "past the last feature level of this features_only model"
        if why is None:
            unexpected.append(f"{key} {tuple(state[key].shape)}")
        elif not key.endswith("num_batches_tracked"):
            dropped.append((key, why))
    if missing or mismatched or unexpected:
        raise CheckpointError(_describe(model, layout, missing, mismatched, unexpected))
    return assignments, skipped, dropped


def keras_dtype(variable):
    import keras

    return keras.backend.standardize_dtype(variable.dtype)


def _describe(model, layout, missing, mismatched, unexpected):
    lines = [f"{model.name}: the checkpoint does not fit this model ({layout.source} layout); nothing was loaded."]
    head_only = mismatched and all(e.head for e, _, _ in mismatched)
    if mismatched:
        lines.append(f"{len(mismatched)} tensors have another shape:")
        lines += [f"  {e.key}: checkpoint {raw}, model {e.variable.path} {var}" for e, raw, var in mismatched[:_SHOWN]]
        if head_only:
            classes = next(raw for e, raw, _ in mismatched if len(raw) == 1 or e.key.endswith("weight"))[0]
            lines.append(f"  Only the classifier differs: the checkpoint has {classes} classes. Build the model with "
                         f"num_classes={classes}, or include_top=False for the backbone only, or pass "
                         "skip_mismatch=True to keep this model's new head.")
        elif any(len(raw) == 4 and len(var) == 4 and raw[1] != var[2] for _, raw, var in mismatched[:1]):
            lines.append("  The input channels differ: build the model with the checkpoint's input channels.")
    if missing:
        lines.append(f"{len(missing)} tensors the model needs are not in the checkpoint:")
        lines += [f"  {m}" for m in missing[:_SHOWN]]
    if unexpected:
        lines.append(f"{len(unexpected)} checkpoint tensors have no place in the model:")
        lines += [f"  {u}" for u in unexpected[:_SHOWN]]
    if (missing or unexpected) and not mismatched:
        lines.append(f"  Is it a checkpoint of another variant than {layout.variant}?")
    return "\n".join(lines)

