"""What every family builder shares: the keras.applications arguments, their checks, the
classification head, feature extraction, weight loading, and the model class.

A family builder reads like this (``CONTRACT`` is what the family registers its variants with,
see :mod:`kerasarch.contract`)::

    def build_family(variant, *, family_arg=..., **kwargs):
        b = ImageModelBuilder(variant.name, kwargs, contract=CONTRACT, family="family")
        with b.policy():
            x = b.inputs
            ...                                  # stem and stages
            b.add_feature(x, "stage1", reduction=4)
            return b.finish(x)

Common arguments (all keyword-only, the names of ``keras.applications``):

    include_top: add the classifier (global pooling + dense). Default True.
    weights: None (random He initialisation), the path of a local ``.keras`` or
        ``.weights.h5`` file saved from the same architecture, or a torchvision / timm
        checkpoint (``.pth``, ``.safetensors``; see ``kerasarch.weights.load_torch_weights``).
    input_tensor: a Keras tensor to build the model on.
    input_shape: ``(H, W, C)`` for images, ``(length,)`` for tokens; ``None`` entries allow
        any size. Defaults to the shape in the variant's contract.
    pooling: with ``include_top=False``: None (the feature map, or the token sequence), "avg"
        or "max" (over the real tokens only, for a token model).
    num_classes: classifier outputs (``classes=`` is accepted as an alias).
    classifier_activation: "softmax" (default), None for logits, or any activation name.
        The head always computes and returns float32, also under mixed precision.
    name: model name; defaults to the registry name.
    drop_rate: dropout before the classifier.
    drop_path_rate: stochastic depth rate, rising linearly over the blocks.
    features_only: return the feature maps listed by ``out_indices`` instead.
    out_indices: which feature levels (default: all); negative indices count from the end.
    dtype: a dtype policy for this model ("float32", "mixed_bfloat16", ...); default
        is Keras's global policy.
"""

import contextlib
import dataclasses
import os

import keras

from kerasarch.contract import Contract, Output, infer_contract as contract_of_graph, output_for_activation
from kerasarch.layers.embedding import TakeToken
from kerasarch.layers.pooling import AdaptiveAvgPool2D, MaskedGlobalMaxPooling1D

__all__ = ["ArchModel", "ModelBuilder", "ImageModelBuilder", "SequenceModelBuilder", "TokenModelBuilder", "COMMON_ARGS",
           "drop_path_rate_at",
           "token_pooling_arg"]

COMMON_ARGS = (
    "include_top", "weights", "input_tensor", "input_shape", "pooling", "num_classes",
    "classes", "classifier_activation", "name", "drop_rate", "drop_path_rate",
    "features_only", "out_indices", "dtype",
)


@keras.saving.register_keras_serializable(package="kerasarch")
class ArchModel(keras.Model):
    """A functional ``keras.Model`` that knows its feature levels and picks XLA per phase.

    ``feature_info``: one dict per feature level, ``{"index", "module", "num_chs",
    "reduction"}`` (timm's keys); on a ``features_only`` model, one per output.

    ``compile(jit_compile=...)`` accepts, besides Keras's ``True``/``False``/``"auto"``, a
    dict such as ``{"train": True, "test": False, "predict": False}`` that sets XLA for
    each phase. ``"auto"`` (the default) is Keras's choice, which on a CPU-only TensorFlow
    is no XLA: measured on the 2-core CPU (benchmarks/cpu_vs_keras_applications.py), XLA
    makes training 1.3x (ResNet-20) to 4x (ResNet-50) slower and prediction ~3x slower
    than TensorFlow's graph executor with oneDNN.
    """

    def __init__(self, *args, feature_info=(), arch=None, contract=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.feature_info = [dict(f) for f in feature_info]
        self.arch = dict(arch or {})
        if contract is None:
            try:
                contract = _legacy_contract(self)
            except ValueError:
                # A graph no contract can be inferred from (two inputs): from_config sets the
                # saved one right after this; anything else built this way fails when asked.
                contract = None
        self.contract = contract
        self._phase_jit = {}

    def compile(self, *args, jit_compile="auto", **kwargs):
        phases = _resolve_phase_jit(jit_compile)
        super().compile(*args, jit_compile=phases.get("train", "auto"), **kwargs)
        self._phase_jit = phases if not self.run_eagerly else {}
        self._requested_jit = jit_compile

    def get_compile_config(self):
        # Saved with the model (the per-phase dict, not Keras's one value), so a loaded model
        # picks its phases the same way.
        config = super().get_compile_config()
        if config is not None and hasattr(self, "_requested_jit"):
            config = dict(config, jit_compile=self._requested_jit)
        return config

    def compile_from_config(self, config):
        # Keras skips compiling a loaded model whose class overrides compile(); this one
        # takes the same arguments, so restore it the way Trainer.compile_from_config does.
        config = keras.saving.deserialize_keras_object(config)
        self.compile(**config)
        if getattr(self, "optimizer", None) is not None and self.built:
            self.optimizer.build(self.trainable_variables)

    @contextlib.contextmanager
    def _jit_for(self, phase):
        # make_*_function reads jit_compile when it builds the step: set it for that phase only.
        if phase not in self._phase_jit:
            yield
            return
        saved = self.jit_compile
        self.jit_compile = self._phase_jit[phase]
        try:
            yield
        finally:
            self.jit_compile = saved

    def make_train_function(self, force=False):
        with self._jit_for("train"):
            return super().make_train_function(force)

    def make_test_function(self, force=False):
        with self._jit_for("test"):
            return super().make_test_function(force)

    def make_predict_function(self, force=False):
        with self._jit_for("predict"):
            return super().make_predict_function(force)

    def get_config(self):
        config = super().get_config()
        config["feature_info"] = self.feature_info
        config["arch"] = self.arch
        config["contract"] = self.contract.to_json()
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        feature_info = config.pop("feature_info", ())
        arch = config.pop("arch", None)
        contract = config.pop("contract", None)
        model = super().from_config(config, custom_objects=custom_objects)
        model.feature_info = [dict(f) for f in feature_info]
        model.arch = dict(arch or {})
        # Files written before v0.2 carry no contract: derive it from what they do carry.
        model.contract = Contract.from_json(contract) if contract else _legacy_contract(model)
        return model


def _legacy_contract(model):
    """The contract of a model that was built or saved without one (kerasarch 0.1 files): its
    graph's, with the smallest input and the vocabulary that ``model.arch`` recorded."""
    inferred = contract_of_graph(model)
    arch = getattr(model, "arch", None) or {}
    spec = inferred.input
    if spec.kind == "image" and arch.get("min_size"):
        spec = dataclasses.replace(spec, min_size=int(arch["min_size"]))
    elif spec.kind == "tokens" and arch.get("vocab_size"):
        spec = type(spec)(vocab_size=int(arch["vocab_size"]), max_length=int(arch.get("max_length") or 512),
                          shape=spec.shape)
    return inferred.replace(input=spec)


def _resolve_phase_jit(jit_compile):
    if isinstance(jit_compile, dict):
        unknown = set(jit_compile) - {"train", "test", "predict"}
        if unknown:
            raise ValueError(f"jit_compile dict keys must be 'train', 'test', 'predict'; got {sorted(unknown)}.")
        return {k: bool(v) for k, v in jit_compile.items()}
    if jit_compile != "auto":
        return {"train": jit_compile}
    return {}


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def drop_path_rate_at(rate, index, count):
    """The stochastic-depth rate of block ``index`` (0-based) of ``count``: kerasarch's one rule.

    It rises linearly from 0 at the first block to ``rate`` at the last (``rate * i / (n - 1)``,
    timm's ``linspace(0, rate, n)``; Huang et al. 2016 let the last block reach the full rate).
    torchvision's EfficientNet and MobileNet use ``i / n`` (the last block stops short of the
    rate); every kerasarch family uses this one rule instead, so ``drop_path_rate`` means the
    same everywhere. It only matters in training, never for weights.
    """
    return rate * index / max(count - 1, 1)


# What the builder's pooling names mean for a sequence of tokens, and the older spellings
# (ViT said "gap", the text classifier "mean") that still load.
TOKEN_POOLING = ("cls", "avg")
_TOKEN_POOLING_ALIASES = {"gap": "avg", "mean": "avg"}


def token_pooling_arg(model_name, value):
    """``"cls"`` or ``"avg"`` (``"gap"``/``"mean"`` accepted), or a ValueError naming the choices."""
    value = _TOKEN_POOLING_ALIASES.get(value, value)
    if value not in TOKEN_POOLING:
        raise ValueError(f"{model_name}: token_pooling must be 'cls' (the class token's output) or 'avg' (the mean "
                         f"of the tokens; 'gap' and 'mean' are accepted spellings), got {value!r}.")
    return value


# Output kinds whose head is the family's own, not a classifier, and what to say to a user who
# passes the classifier's arguments to one.
OWN_HEADS = {
    "forecast": "this model forecasts a series. Set the horizon and the number of series with the family's own "
                "arguments (horizon=, num_targets=).",
    "sequence_logits": "this model returns next-token logits over its target vocabulary at every step; set "
                       "its size with target_vocab_size=.",
}


@dataclasses.dataclass
class _Feature:
    tensor: object
    module: str
    reduction: int


class ModelBuilder:
    """Parses and checks the common arguments, then assembles the finished model.

    The core is modality-neutral (name, dtype policy, weights, feature taps, drop-path
    schedule, head, finish); :class:`ImageModelBuilder` and :class:`TokenModelBuilder` add
    what pooling means for their input. The defaults (input shape, number of classes,
    smallest input) come from the model's registered :class:`~kerasarch.contract.Contract`,
    looked up by ``model_name``; pass ``contract=`` for a variant that is not registered.
    ``ModelBuilder(...)`` itself returns the builder for the contract's input kind.
    """

    input_kind = None

    def __new__(cls, model_name, kwargs=None, **options):
        if cls is ModelBuilder:
            kind = _resolve_contract(model_name, options).input.kind
            cls = _BUILDERS.get(kind, ImageModelBuilder)
        return super().__new__(cls)

    def __init__(self, model_name, kwargs, *, family=None, head_name="classifier", contract=None, min_size=None,
                 input_shape=None, num_classes=None, accepts=COMMON_ARGS):
        """``kwargs`` are the user's arguments. ``min_size`` overrides the contract's smallest
        input for this build (e.g. a VGG with fewer blocks); ``input_shape``/``num_classes``
        are the older way to give an image contract's defaults."""
        contract = _resolve_contract(model_name, dict(contract=contract, input_shape=input_shape,
                                                      num_classes=num_classes))
        if min_size is not None:
            contract = contract.replace(input=dataclasses.replace(contract.input, min_size=min_size))
        kwargs = dict(kwargs)
        unknown = sorted(set(kwargs) - set(accepts))
        if unknown:
            raise TypeError(
                f"{model_name}: unexpected argument(s) {', '.join(unknown)}. "
                f"Accepted: {', '.join(a for a in accepts if a != 'classes')} and the family's own."
            )
        self.model_name = model_name
        self.family = family
        self.contract = contract
        self.min_size = contract.input.min_size
        self.head_name = head_name
        self.include_top = kwargs.get("include_top", True)
        self.weights = kwargs.get("weights")
        self.pooling = kwargs.get("pooling")
        self.classifier_activation = kwargs.get("classifier_activation", "softmax")
        self.name = kwargs.get("name") or model_name
        self.drop_rate = kwargs.get("drop_rate", 0.0)
        self.drop_path_rate = kwargs.get("drop_path_rate", 0.0)
        self.features_only = bool(kwargs.get("features_only", False))
        self.out_indices = kwargs.get("out_indices")
        self.dtype = kwargs.get("dtype")
        if contract.output.kind in OWN_HEADS:
            given = [a for a in ("num_classes", "classes", "classifier_activation") if kwargs.get(a) is not None]
            if given:
                raise ValueError(f"{model_name}: {', '.join(given)} applies to classifiers; {OWN_HEADS[contract.output.kind]}")
            self.classifier_activation = None
        self.num_classes = self._check_num_classes(kwargs, contract.num_classes or 1000)
        self._check_options()
        self._policy = self._check_policy(self.dtype)
        self.default_input_shape = tuple(contract.input_shape)
        self.input_tensor = kwargs.get("input_tensor")
        self.input_shape = self._check_input_shape(kwargs.get("input_shape"))
        self.features = []
        self.inputs = None
        self.arch_extra = {}  # family-specific settings recorded in model.arch

    # -- checks --------------------------------------------------------------------------
    def _check_num_classes(self, kwargs, default):
        num_classes, classes = kwargs.get("num_classes"), kwargs.get("classes")
        if num_classes is not None and classes is not None and num_classes != classes:
            raise ValueError(
                f"{self.model_name}: num_classes={num_classes!r} and classes={classes!r} disagree; "
                "pass one of them (classes= is the keras.applications spelling of num_classes=)."
            )
        value = num_classes if num_classes is not None else classes
        if value is None:
            return default
        if not _is_int(value) or value < 1:
            raise ValueError(
                f"{self.model_name}: num_classes must be a positive integer (the number of classes "
                f"the classifier predicts), got {value!r}. For a model without a classifier pass "
                "include_top=False."
            )
        return value

    def _check_options(self):
        if self.pooling not in (None, "avg", "max"):
            raise ValueError(f"{self.model_name}: pooling must be None, 'avg' or 'max', got {self.pooling!r}.")
        if self.include_top and self.pooling is not None and not self.features_only:
            raise ValueError(
                f"{self.model_name}: pooling={self.pooling!r} applies only without the classifier. "
                "The classifier already pools globally; pass include_top=False to get pooled "
                "features, or leave pooling=None."
            )
        if self.features_only and self.pooling is not None:
            raise ValueError(f"{self.model_name}: features_only=True returns feature maps; pooling must be None.")
        for arg in ("drop_rate", "drop_path_rate"):
            value = getattr(self, arg)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value < 1:
                raise ValueError(f"{self.model_name}: {arg} must be a number in [0, 1), got {value!r}.")
        if self.classifier_activation is not None:
            try:
                keras.activations.get(self.classifier_activation)
            except ValueError:
                raise ValueError(
                    f"{self.model_name}: unknown classifier_activation {self.classifier_activation!r}; "
                    "use 'softmax', None (logits) or a Keras activation name such as 'sigmoid'."
                ) from None

    def _check_policy(self, dtype):
        try:
            policy = keras.dtype_policies.get(dtype) if dtype is not None else keras.config.dtype_policy()
        except (ValueError, TypeError) as err:
            raise ValueError(
                f"{self.model_name}: dtype={dtype!r} is not a dtype policy ({err}). Use 'float32', "
                "'mixed_bfloat16' (fast on recent CPUs and TPUs) or 'mixed_float16' (GPUs)."
            ) from None
        floating = ("float16", "bfloat16", "float32", "float64")
        if policy.compute_dtype not in floating or policy.variable_dtype not in floating:
            raise ValueError(
                f"{self.model_name}: dtype policy {policy.name!r} computes in {policy.compute_dtype} "
                f"with {policy.variable_dtype} weights; a trainable network needs floating point. "
                "Use 'float32', 'mixed_bfloat16' or 'mixed_float16'."
            )
        return policy

    def _check_input_shape(self, input_shape):
        if self.input_tensor is not None:
            if not keras.backend.is_keras_tensor(self.input_tensor):
                raise ValueError(
                    f"{self.model_name}: input_tensor must be a Keras tensor (from keras.Input or "
                    f"another model's output), got {type(self.input_tensor).__name__}."
                )
            shape = tuple(self.input_tensor.shape[1:])
            if input_shape is not None and tuple(input_shape) != shape:
                raise ValueError(
                    f"{self.model_name}: input_shape={tuple(input_shape)} disagrees with input_tensor's "
                    f"shape {shape}; pass only one of them."
                )
            input_shape = shape
        if input_shape is None:
            return self.default_input_shape
        return self.contract.input.check_shape(input_shape, self.model_name)

    # -- building ------------------------------------------------------------------------
    @contextlib.contextmanager
    def policy(self):
        """Build under this model's dtype policy, then restore the global one."""
        saved = keras.config.dtype_policy()
        keras.config.set_dtype_policy(self._policy)
        try:
            self.inputs = self.input_tensor if self.input_tensor is not None else self._make_input()
            yield self
        finally:
            keras.config.set_dtype_policy(saved)

    def _make_input(self):
        spec = self.contract.input
        return keras.Input(shape=self.input_shape, dtype=spec.dtype, name=spec.input_name)

    def drop_path_at(self, index, count):
        """This model's stochastic-depth rate for block ``index`` of ``count`` (:func:`drop_path_rate_at`)."""
        return drop_path_rate_at(self.drop_path_rate, index, count)

    def add_feature(self, tensor, module, reduction):
        """Tap ``tensor`` as a feature level (``features_only``, ``feature_info``): ``module``
        names it, ``reduction`` is its total stride relative to the input."""
        self.features.append(_Feature(tensor, module, reduction))

    def feature_info(self, indices=None):
        indices = range(len(self.features)) if indices is None else indices
        return [
            {"index": i, "module": self.features[i].module,
             "num_chs": int(self.features[i].tensor.shape[-1]), "reduction": self.features[i].reduction}
            for i in indices
        ]

    def _resolve_out_indices(self):
        n = len(self.features)
        if self.out_indices is None:
            return list(range(n))
        try:
            indices = [int(i) for i in self.out_indices]
        except TypeError:
            indices = [int(self.out_indices)]
        bad = [i for i in indices if not -n <= i < n]
        if bad:
            levels = ", ".join(f"{i}={f.module}" for i, f in enumerate(self.features))
            raise ValueError(
                f"{self.model_name}: out_indices {bad} out of range; this model has {n} feature "
                f"levels, 0..{n - 1} ({levels}); negative indices count from the end."
            )
        return [i % n for i in indices]

    def pool(self, x, mode="avg"):
        """Global pooling of a feature map to one vector per example (the input kind's own)."""
        raise NotImplementedError(f"{type(self).__name__} has no pooling; use ImageModelBuilder or TokenModelBuilder.")

    # A padding mask over a token sequence (batch, tokens), set by a family that has one:
    # token pooling then sees the real tokens only.
    mask = None

    def pool_tokens(self, x, mode="avg"):
        """Pooling over a (batch, tokens, C) sequence, skipping masked tokens."""
        if mode == "avg":
            return keras.layers.GlobalAveragePooling1D(name="avg_pool")(x, mask=self.mask)
        return MaskedGlobalMaxPooling1D(name="max_pool")(x, mask=self.mask)

    def token_head(self, x, token_pooling, norm=None, pre_logits=None):
        """The classifier of a token sequence: the class token's output (``"cls"``) or the
        mean of the real tokens (``"avg"``), an optional LayerNorm (``norm``: its epsilon)
        and pre-logits layer, then dropout and the classifier. ViT and the text models share it."""
        if token_pooling == "cls":
            x = TakeToken(0, name="cls")(x)
        else:
            x = self.pool_tokens(x, "avg")
            if norm is not None:
                x = keras.layers.LayerNormalization(epsilon=norm, name="fc_norm")(x)
        if pre_logits:
            x = keras.layers.Dense(pre_logits, activation="tanh",
                                   kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.02),
                                   name="pre_logits")(x)
        return self.classifier(self.dropout(x))

    def head(self, x, norm=None, hidden=None, hidden_activation=None):
        """Global average pooling, then optionally a LayerNorm (``norm``: its epsilon; ConvNeXt)
        and a ``hidden``-unit dense layer (MobileNetV3), dropout and the float32 classifier."""
        x = self.pool(x, "avg")
        if norm is not None:
            x = keras.layers.LayerNormalization(epsilon=norm, name="head_norm")(x)
        if hidden:
            x = keras.layers.Dense(hidden, activation=hidden_activation, name="pre_logits")(x)
        return self.classifier(self.dropout(x))

    def dense_head(self, x, grid, units, prefix, dropout_first):
        """torchvision's AlexNet/VGG classifier: adaptive average pool to ``grid`` x ``grid``,
        flatten, two ReLU dense layers of ``units`` (``{prefix}1``, ``{prefix}2``) with dropout
        before each (AlexNet, ``dropout_first``) or after each (VGG), then the classifier."""
        x = AdaptiveAvgPool2D(grid, name="avg_pool")(x)
        x = keras.layers.Flatten(name="flatten")(x)
        for i in (1, 2):
            if dropout_first:
                x = self.dropout(x, name=f"drop{i}")
            x = keras.layers.Dense(units, activation="relu", name=f"{prefix}{i}")(x)
            if not dropout_first:
                x = self.dropout(x, name=f"drop{i}")
        return self.classifier(x)

    def dropout(self, x, name="head_drop"):
        """The ``drop_rate`` dropout before a classifier (nothing when it is 0)."""
        return keras.layers.Dropout(self.drop_rate, name=name)(x) if self.drop_rate else x

    def classifier(self, x):
        # float32 whatever the policy: a float16 softmax saturates and users compare outputs.
        x = keras.layers.Dense(self.num_classes, dtype="float32", name=self.head_name)(x)
        if self.classifier_activation is not None:
            x = keras.layers.Activation(self.classifier_activation, dtype="float32", name="predictions")(x)
        return x

    def forecast_head(self, x):
        """A forecaster's head: dropout, then one float32 dense layer for every future step of
        every series (a direct multi-step forecast), shaped (batch, steps, series)."""
        out = self.contract.output
        x = keras.layers.Dense(out.steps * out.size, dtype="float32", name=self.head_name)(self.dropout(x))
        return keras.layers.Reshape((out.steps, out.size), dtype="float32", name="forecast")(x)

    def built_contract(self, outputs):
        """The contract of what this build returns (the registered one, with this build's choices)."""
        if self.features_only:
            output = Output("feature_maps")
        elif self.include_top and self.contract.output.kind in OWN_HEADS:
            output = self.contract.output
        elif self.include_top:
            output = output_for_activation(self.classifier_activation, self.num_classes)
        else:
            tensor = outputs[0] if isinstance(outputs, (list, tuple)) else outputs
            kind = "features" if self.pooling is not None else "feature_map"
            output = Output(kind, int(tensor.shape[-1]) if tensor.shape[-1] is not None else None)
        changes = {"shape": tuple(self.input_shape)}
        if self.contract.input.min_size != self.min_size:
            changes["min_size"] = self.min_size
        return Contract(dataclasses.replace(self.contract.input, **changes), output)

    def finish(self, x, head=None):
        """Add the head (or pick the features), build the model and load weights."""
        arch = {"variant": self.model_name, "family": self.family, "input_shape": list(self.input_shape),
                "min_size": self.min_size, **self.arch_extra}
        if self.features_only:
            indices = self._resolve_out_indices()
            outputs = [self.features[i].tensor for i in indices]
            info = self.feature_info(indices)
        else:
            info = self.feature_info()
            if self.include_top:
                outputs = (head or self.head)(x)
                if self.contract.output.kind == "forecast":
                    arch.update(horizon=self.contract.output.steps, num_targets=self.contract.output.size)
                elif self.contract.output.kind == "sequence_logits":
                    arch.update(target_vocab_size=self.contract.output.size)
                else:
                    arch["num_classes"] = self.num_classes
            elif self.pooling is not None:
                outputs = self.pool(x, self.pooling)
            else:
                outputs = x
        inputs = keras.utils.get_source_inputs(self.inputs) if self.input_tensor is not None else self.inputs
        model = ArchModel(inputs=inputs, outputs=outputs, name=self.name, feature_info=info, arch=arch,
                          contract=self.built_contract(outputs))
        if self.weights is not None:
            load_weights_checked(model, self.weights)
        return model


class ImageModelBuilder(ModelBuilder):
    """The builder of models that take images ``(H, W, C)``: 2D global pooling."""

    input_kind = "image"

    def pool(self, x, mode="avg"):
        if mode == "avg":
            return keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
        return keras.layers.GlobalMaxPooling2D(name="max_pool")(x)


class TokenModelBuilder(ModelBuilder):
    """The builder of models that take token ids ``(length,)``: pooling over the real tokens
    only (``self.mask``, set by the family once it has made the padding mask)."""

    input_kind = "tokens"

    def pool(self, x, mode="avg"):
        return self.pool_tokens(x, mode)



class SequenceModelBuilder(ModelBuilder):
    """The builder of models that take real-valued sequences ``(steps, width)``: pooling over
    time (the padding mask, where a family has one, as for tokens)."""

    input_kind = "sequence"

    def pool(self, x, mode="avg"):
        return self.pool_tokens(x, mode)


class TokenPairModelBuilder(TokenModelBuilder):
    """The builder of sequence-to-sequence models: ``self.inputs`` is ``{"source": ids,
    "target": ids}`` (``input_shape`` is the source's; the target is any length); pooling
    is over the real steps of ``self.mask``, which the family sets to the target's."""

    input_kind = "token_pair"

    def _make_input(self):
        spec = self.contract.input
        return {spec.input_name: keras.Input(shape=self.input_shape, dtype=spec.dtype, name=spec.input_name),
                spec.target_name: keras.Input(shape=(None,), dtype=spec.dtype, name=spec.target_name)}

    def sequence_head(self, x):
        """Next-token logits at every target step: dropout, then a float32 dense layer over
        the target vocabulary (a softmax over a large vocabulary in bfloat16 loses the tail)."""
        return keras.layers.Dense(self.contract.output.size, dtype="float32", name=self.head_name)(self.dropout(x))


_BUILDERS = {"image": ImageModelBuilder, "tokens": TokenModelBuilder, "sequence": SequenceModelBuilder,
             "token_pair": TokenPairModelBuilder}


def _resolve_contract(model_name, options):
    contract = options.get("contract")
    legacy = {k: options[k] for k in ("input_shape", "num_classes") if options.get(k) is not None}
    if contract is not None:
        return contract
    if legacy:
        from kerasarch.registry import image_contract

        return image_contract(**legacy, min_size=options.get("min_size") or 32)
    from kerasarch.registry import model_entry, UnknownModelError

    try:
        return model_entry(model_name).contract
    except UnknownModelError:
        raise ValueError(
            f"{model_name} is not a registered model, so its builder has no contract to take defaults from; "
            "register it (kerasarch.register_model(..., contract=...)) or pass contract= to the builder.") from None


def load_weights_checked(model, path):
    """``model.load_weights(path)`` with errors that name the file, layer and shapes; a torchvision
    or timm checkpoint (``.pth``, ``.safetensors``) goes through ``kerasarch.weights``."""
    if isinstance(path, str) and path.lower() in ("imagenet", "pretrained"):
        raise ValueError(
            f"{model.name}: kerasarch downloads no pretrained weights; pass weights=None, the path of a "
            ".keras / .weights.h5 file saved from this architecture, or a torchvision / timm checkpoint "
            "(.pth or .safetensors) you have downloaded."
        )
    from kerasarch.weights import is_checkpoint_path, load_torch_weights

    if is_checkpoint_path(path):
        load_torch_weights(model, path)
        return
    path = os.fspath(path)
    if not (path.endswith(".keras") or path.endswith(".weights.h5")):
        raise ValueError(
            f"{model.name}: weights file {path!r} must end in .keras or .weights.h5 (what model.save() and "
            "model.save_weights() write), or be a torchvision / timm checkpoint (.pth, .pt, .bin, .safetensors)."
        )
    if not os.path.isfile(path):
        raise ValueError(f"{model.name}: weights file {path!r} does not exist.")
    from kerasarch.models import weights_io

    weights_io.check_compatible(model, path)
    model.load_weights(path)
