"""What a model takes and what it returns, as data: the contract every consumer reads.

A family declares its variants' contract once, at registration (``register_model(...,
contract=...)``). The builder takes its defaults from it (input shape, number of classes,
smallest input) and the built model carries the contract of what was actually built (the
user's ``input_shape``, ``num_classes``, ``classifier_activation``, ``include_top``,
``features_only``), serialized with it, so a loaded ``.keras`` file still knows it. Training
(logits or probabilities), distillation, gradient diagnostics, the serving signature, the
CLI and the contract test read it instead of guessing from the last layer.

| input kind | what it is                                   | Keras input                      |
|------------|----------------------------------------------|----------------------------------|
| image      | pixels (H, W, C), float; a smallest side     | float32 (batch, H, W, C) "image" |
| tokens     | integer ids < vocab_size; padding_id pads    | int32 (batch, length) "tokens"   |
| sequence   | real-valued steps of ``width`` features      | float32 (batch, steps, width)    |
| token_pair | source ids, and the target ids so far        | int32 "source" and "target"      |

| output kind    | what it is                                                    |
|----------------|---------------------------------------------------------------|
| probabilities  | (batch, classes), a softmax                                   |
| logits         | (batch, classes), the softmax's input                         |
| scores         | (batch, classes) through another activation (e.g. sigmoid)    |
| features       | (batch, channels): pooled features, no classifier             |
| feature_map    | (batch, h, w, channels) or (batch, tokens, channels)          |
| feature_maps   | a list of maps (``features_only``), one per ``feature_info``  |
| forecast       | (batch, steps, size): ``steps`` future values of ``size`` series |
| sequence_logits | (batch, target steps, size): next-token logits at every step |

Later families add kinds (a sequence of logits, an image, a latent distribution) here, in
one place. NumPy only: this module sits below layers, models and everything above them.
"""

import dataclasses

import numpy as np

__all__ = ["Contract", "ImageInput", "TokenInput", "SequenceInput", "TokenPairInput", "Output", "INPUT_KINDS", "OUTPUT_KINDS",
           "CLASS_OUTPUTS", "contract_of", "infer_contract", "output_for_activation"]

OUTPUT_KINDS = ("probabilities", "logits", "scores", "features", "feature_map", "feature_maps", "forecast",
                "sequence_logits")
# Outputs a classification loss or an accuracy can be computed on.
CLASS_OUTPUTS = ("probabilities", "logits", "scores")


def _positive_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value > 0


@dataclasses.dataclass(frozen=True)
class ImageInput:
    """Images ``shape = (H, W, C)`` (``None`` sides: any size of at least ``min_size``)."""

    shape: tuple = (224, 224, 3)
    min_size: int = 32
    kind = "image"
    input_name = "image"
    dtype = "float32"
    spatial_rank = 2  # a feature map is (batch, h, w, channels)

    def __post_init__(self):
        object.__setattr__(self, "shape", tuple(self.shape))

    def check_shape(self, shape, model_name):
        """``shape`` as a tuple, or a ValueError that says what the model takes."""
        given, shape = shape, _as_tuple(shape)
        ok = shape is not None and len(shape) == 3 and all(s is None or _positive_int(s) for s in shape)
        if not ok or shape[2] is None:
            raise ValueError(
                f"{model_name}: input_shape must be (height, width, channels) with positive integers (None "
                f"allowed for height and width), got {given!r}. "
                f"The default is {self.shape}.")
        small = [s for s in shape[:2] if s is not None and s < self.min_size]
        if small:
            raise ValueError(
                f"{model_name}: input {shape[0]}x{shape[1]} is too small; this architecture needs at least "
                f"{self.min_size}x{self.min_size} pixels (its total downsampling). Resize or pad the images, "
                f"e.g. keras.layers.Resizing({self.min_size}, {self.min_size}).")
        return shape

    def tiny_shape(self, channels=None):
        """The smallest square input the contract test builds: 32x32, or ``min_size`` when larger."""
        side = max(32, self.min_size)
        return (side, side, channels or self.shape[2])

    def sample(self, shape, batch=2, seed=0):
        """Deterministic inputs of this kind: standard-normal pixels (already preprocessed)."""
        shape = tuple(32 if s is None else s for s in shape)
        return np.random.default_rng(seed).normal(size=(batch, *shape)).astype("float32")

    def describe(self):
        shape = self.shape
        return "x".join("?" if s is None else str(s) for s in shape)

    def to_json(self):
        return {"kind": self.kind, "shape": _jsonable(self.shape),
                "min_size": self.min_size}


@dataclasses.dataclass(frozen=True)
class TokenInput:
    """Integer token ids ``(length,)`` (``None``: any length up to ``max_length``)."""

    vocab_size: int
    max_length: int
    padding_id: int = 0
    shape: tuple = (None,)
    kind = "tokens"
    input_name = "tokens"
    dtype = "int32"
    min_size = 1
    spatial_rank = 1  # (batch, tokens, channels)

    def __post_init__(self):
        object.__setattr__(self, "shape", tuple(self.shape))
        for arg in ("vocab_size", "max_length"):
            if not _positive_int(getattr(self, arg)):
                raise ValueError(f"TokenInput: {arg} must be a positive integer, got {getattr(self, arg)!r}.")
        if not (isinstance(self.padding_id, (int, np.integer)) and 0 <= self.padding_id < self.vocab_size):
            raise ValueError(f"TokenInput: padding_id must be an id in [0, vocab_size={self.vocab_size}), "
                             f"got {self.padding_id!r}.")

    def check_shape(self, shape, model_name):
        given, shape = shape, _as_tuple(shape)
        if shape is None or len(shape) != 1 or not (shape[0] is None or _positive_int(shape[0])):
            raise ValueError(
                f"{model_name}: input_shape must be (sequence_length,) or (None,) for any length up to "
                f"max_length={self.max_length}, got {given!r}.")
        if shape[0] is not None and shape[0] > self.max_length:
            raise ValueError(f"{model_name}: sequences of {shape[0]} tokens exceed max_length={self.max_length}; "
                             f"pass input_shape=({self.max_length},) or less, or build with a larger max_length.")
        return shape

    def tiny_shape(self, channels=None):
        return (min(16, self.max_length),)

    def sample(self, shape, batch=2, seed=0):
        """Real ids in ``[0, vocab_size)`` that avoid the padding id; the second row is padded
        over its last quarter, so a test sees the mask at work."""
        length = shape[0] or min(16, self.max_length)
        rng = np.random.default_rng(seed)
        ids = rng.integers(0, self.vocab_size - 1, size=(batch, length))
        ids = np.where(ids >= self.padding_id, ids + 1, ids).astype("int32")
        if batch > 1 and length > 1:
            ids[1, length - max(1, length // 4):] = self.padding_id
        return ids

    def describe(self):
        length = self.shape[0]
        return f"tokens<={self.max_length}" if length is None else f"tokens={length}"

    def to_json(self):
        return {"kind": self.kind, "shape": _jsonable(self.shape),
                "vocab_size": self.vocab_size, "max_length": self.max_length, "padding_id": self.padding_id}


@dataclasses.dataclass(frozen=True)
class SequenceInput:
    """Real-valued sequences ``(steps, width)`` (``None`` steps: any length)."""

    width: int
    max_length: int = None
    shape: tuple = None
    kind = "sequence"
    input_name = "sequence"
    dtype = "float32"
    min_size = 1
    spatial_rank = 1  # (batch, steps, channels)

    def __post_init__(self):
        if not _positive_int(self.width):
            raise ValueError(f"SequenceInput: width must be a positive integer, got {self.width!r}.")
        object.__setattr__(self, "shape", tuple(self.shape) if self.shape is not None else (None, self.width))

    def check_shape(self, shape, model_name):
        given, shape = shape, _as_tuple(shape)
        if shape is None or len(shape) != 2 or shape[1] != self.width or not (
                shape[0] is None or _positive_int(shape[0])):
            raise ValueError(f"{model_name}: input_shape must be (steps, {self.width}) or (None, {self.width}), "
                             f"got {given!r}.")
        if shape[0] is not None and self.max_length is not None and shape[0] > self.max_length:
            raise ValueError(f"{model_name}: {shape[0]} steps exceed max_length={self.max_length}.")
        return shape

    def tiny_shape(self, channels=None):
        return (min(8, self.max_length or 8), self.width)

    def sample(self, shape, batch=2, seed=0):
        steps = shape[0] or 8
        return np.random.default_rng(seed).normal(size=(batch, steps, self.width)).astype("float32")

    def describe(self):
        steps = self.shape[0]
        return f"{'?' if steps is None else steps}x{self.width} sequence"

    def to_json(self):
        return {"kind": self.kind, "shape": _jsonable(self.shape),
                "width": self.width, "max_length": self.max_length}


@dataclasses.dataclass(frozen=True)
class TokenPairInput:
    """A sequence-to-sequence model's two inputs: ``source`` ids ``(length,)`` and, for
    teacher forcing, the ``target`` ids so far (the reference shifted right behind
    ``start_id``). ``shape`` is the source's; the target is any length up to
    ``max_target_length``. Id ``padding_id`` pads both; the target vocabulary has a start and
    an end token (what decoding begins with and stops at)."""

    vocab_size: int
    max_length: int
    target_vocab_size: int
    max_target_length: int
    start_id: int = 2
    end_id: int = 3
    padding_id: int = 0
    shape: tuple = (None,)
    kind = "token_pair"
    input_name = "source"
    target_name = "target"
    dtype = "int32"
    min_size = 1
    spatial_rank = 1  # (batch, tokens, channels)

    def __post_init__(self):
        object.__setattr__(self, "shape", tuple(self.shape))
        for arg in ("vocab_size", "max_length", "target_vocab_size", "max_target_length"):
            if not _positive_int(getattr(self, arg)):
                raise ValueError(f"TokenPairInput: {arg} must be a positive integer, got {getattr(self, arg)!r}.")
        ids = {"padding_id": self.padding_id, "start_id": self.start_id, "end_id": self.end_id}
        for arg, value in ids.items():
            if not (isinstance(value, (int, np.integer)) and 0 <= value < self.target_vocab_size):
                raise ValueError(f"TokenPairInput: {arg} must be an id in [0, target_vocab_size="
                                 f"{self.target_vocab_size}), got {value!r}.")
        if len(set(ids.values())) != 3:
            raise ValueError(f"TokenPairInput: padding_id, start_id and end_id must be three different ids, got {ids}.")
        if self.padding_id >= self.vocab_size:
            raise ValueError(f"TokenPairInput: padding_id={self.padding_id} must be a source id too "
                             f"(< vocab_size={self.vocab_size}).")

    @property
    def source(self):
        """The source side as a :class:`TokenInput` (what the encoder takes)."""
        return TokenInput(self.vocab_size, self.max_length, self.padding_id, self.shape)

    def check_shape(self, shape, model_name):
        return self.source.check_shape(shape, model_name)

    def tiny_shape(self, channels=None):
        return (min(16, self.max_length),)

    def target_length(self):
        """The target length :meth:`sample` uses: shorter than the tiny source, so a check
        that levels never grow still holds for the decoder's."""
        return min(12, self.max_target_length)

    def sample(self, shape, batch=2, seed=0):
        """``{"source": ids, "target": ids}``: real ids, the second row of each padded over its
        last quarter; targets begin with the start id, as teacher forcing feeds them."""
        source = self.source.sample(shape, batch=batch, seed=seed)
        length = self.target_length()
        rng = np.random.default_rng(seed + 1)
        specials = {self.padding_id, self.start_id, self.end_id}
        ordinary = np.array([i for i in range(self.target_vocab_size) if i not in specials] or [self.end_id])
        target = ordinary[rng.integers(0, len(ordinary), size=(batch, length))].astype("int32")
        target[:, 0] = self.start_id
        if batch > 1 and length > 2:
            target[1, length - max(1, length // 4):] = self.padding_id
        return {self.input_name: source, self.target_name: target}

    def sample_targets(self, inputs):
        """Next-token labels for ``inputs`` from :meth:`sample`: the target shifted left, the
        end id after the last real step, padding after that."""
        target = np.asarray(inputs[self.target_name])
        labels = np.full_like(target, self.padding_id)
        labels[:, :-1] = target[:, 1:]
        real = (target != self.padding_id).sum(axis=1)
        labels[np.arange(len(target)), real - 1] = self.end_id
        return labels

    def describe(self):
        length = self.shape[0]
        source = f"source<={self.max_length}" if length is None else f"source={length}"
        return f"{source} + target<={self.max_target_length} tokens"

    def to_json(self):
        return {"kind": self.kind, "shape": _jsonable(self.shape), "vocab_size": self.vocab_size,
                "max_length": self.max_length, "target_vocab_size": self.target_vocab_size,
                "max_target_length": self.max_target_length, "start_id": self.start_id, "end_id": self.end_id,
                "padding_id": self.padding_id}


INPUT_KINDS = {cls.kind: cls for cls in (ImageInput, TokenInput, SequenceInput, TokenPairInput)}


@dataclasses.dataclass(frozen=True)
class Output:
    """What the model returns: ``kind`` (one of :data:`OUTPUT_KINDS`), ``size`` (classes,
    channels, forecast series or a sequence model's target vocabulary; None when unknown), for
    ``scores`` the ``activation``, and for a ``forecast`` its horizon, ``steps``."""

    kind: str = "probabilities"
    size: int = None
    activation: str = None
    steps: int = None

    def __post_init__(self):
        if self.kind not in OUTPUT_KINDS:
            raise ValueError(f"Output kind must be one of {OUTPUT_KINDS}, got {self.kind!r}.")
        if self.kind == "forecast" and not (_positive_int(self.steps) and _positive_int(self.size)):
            raise ValueError(f"A forecast output needs positive integer steps (the horizon) and size (the "
                             f"series forecast), got steps={self.steps!r}, size={self.size!r}.")
        if self.kind == "sequence_logits" and not _positive_int(self.size):
            raise ValueError(f"A sequence_logits output needs size, the target vocabulary, got {self.size!r}.")

    def shape(self, batch, steps=None):
        """The output's shape for ``batch`` examples (the kinds with one tensor of known size);
        a sequence's for ``steps`` target steps."""
        if self.kind == "forecast":
            return (batch, self.steps, self.size)
        if self.kind == "sequence_logits":
            return (batch, steps, self.size)
        if self.kind in CLASS_OUTPUTS or self.kind == "features":
            return (batch, self.size)
        raise ValueError(f"a {self.kind!r} output has no single fixed shape")

    @property
    def is_classifier(self):
        return self.kind in CLASS_OUTPUTS

    def to_json(self):
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


def output_for_activation(activation, size):
    """The classifier output a head with ``classifier_activation=activation`` returns."""
    name = activation if isinstance(activation, str) or activation is None else getattr(activation, "__name__", "")
    if name in (None, "linear"):
        return Output("logits", size)
    if name == "softmax":
        return Output("probabilities", size)
    return Output("scores", size, activation=str(name))


@dataclasses.dataclass(frozen=True)
class Contract:
    """A model's input and output. ``input`` is an :class:`ImageInput`, :class:`TokenInput` or
    :class:`SequenceInput` whose ``shape`` is the input shape (a registered variant's
    default; a built model's own)."""

    input: object
    output: Output = Output()

    @property
    def input_shape(self):
        return self.input.shape

    @property
    def num_classes(self):
        return self.output.size if self.output.is_classifier else None

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    def sample_inputs(self, batch=2, seed=0):
        """Inputs this model takes, as NumPy: what tests and export checks feed it."""
        return self.input.sample(self.input_shape, batch=batch, seed=seed)

    def describe(self):
        out = self.output.kind + (f"[{self.output.size}]" if self.output.size else "")
        return f"{self.input.describe()} -> {out}"

    def to_json(self):
        return {"input": self.input.to_json(), "output": self.output.to_json()}

    @classmethod
    def from_json(cls, data):
        spec = dict(data["input"])
        kind = spec.pop("kind")
        if kind not in INPUT_KINDS:
            raise ValueError(f"unknown input kind {kind!r} in a saved contract; this kerasarch knows "
                             f"{sorted(INPUT_KINDS)} (was the file written by a newer release?).")
        spec["shape"] = _tuple(spec["shape"])
        return cls(INPUT_KINDS[kind](**spec), Output(**data["output"]))


def contract_of(model):
    """The contract a model carries, or, for a Keras model kerasarch did not build, the one
    its graph implies (one float input is an image or sequence, an int input tokens; a final
    softmax means probabilities, a final linear Dense logits)."""
    contract = getattr(model, "contract", None)
    if isinstance(contract, Contract):
        return contract
    return infer_contract(model)


def infer_contract(model):
    import keras

    inputs = getattr(model, "inputs", None) or []
    if len(inputs) != 1:
        raise ValueError(f"{model.name} has {len(inputs)} inputs; kerasarch's tools take one-input models "
                         "(build it with keras.Input, or call it once so it has an input shape).")
    tensor = inputs[0]
    shape = tuple(tensor.shape[1:])
    dtype = keras.backend.standardize_dtype(tensor.dtype)
    if "int" in dtype and len(shape) == 1:
        spec = TokenInput(vocab_size=2 ** 31 - 1, max_length=shape[0] or 2 ** 31 - 1, shape=shape)
    elif len(shape) == 2 and shape[1] is not None:
        spec = SequenceInput(shape[1], shape=shape)
    else:
        spec = ImageInput(shape, min_size=1)
    outputs = model.outputs
    if len(outputs) != 1:
        return Contract(spec, Output("feature_maps"))
    out_shape = tuple(outputs[0].shape[1:])
    last = model.layers[-1] if model.layers else None
    activation = getattr(last, "activation", None)
    name = getattr(activation, "__name__", None)
    if len(out_shape) == 1:
        if name == "softmax":
            return Contract(spec, Output("probabilities", out_shape[0]))
        if isinstance(last, keras.layers.Dense) and name in (None, "linear"):
            return Contract(spec, Output("logits", out_shape[0]))
        if isinstance(last, (keras.layers.Dense, keras.layers.Activation)) and name:
            return Contract(spec, Output("scores", out_shape[0], activation=name))
        return Contract(spec, Output("features", out_shape[0]))
    return Contract(spec, Output("feature_map", out_shape[-1]))


def _as_tuple(shape):
    """``shape`` as a tuple, or None when it is not a sequence (the caller says what was wrong)."""
    try:
        return tuple(shape)
    except TypeError:
        return None


def _jsonable(shape):
    return [None if s is None else int(s) for s in shape]


def _tuple(shape):
    return tuple(None if s is None else int(s) for s in shape)
