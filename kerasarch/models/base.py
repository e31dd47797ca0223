"""What every family builder shares: the keras.applications arguments, their checks, the
classification head, feature extraction, weight loading, and the model class.

A family builder reads like this::

    def build_family(variant, *, family_arg=..., **kwargs):
        b = ModelBuilder(variant.name, kwargs, **defaults)   # input_shape, num_classes, min_size
        with b.policy():
            x = b.inputs
            ...                                  # stem and stages
            b.add_feature(x, "stage1", reduction=4)
            return b.finish(x)

Common arguments (all keyword-only, the names of ``keras.applications``):

    include_top: add the classifier (global pooling + dense). Default True.
    weights: None (random He initialisation) or the path of a local ``.keras`` or
        ``.weights.h5`` file saved from the same architecture.
    input_tensor: a Keras tensor to build the model on.
    input_shape: ``(H, W, C)``; ``None`` entries allow any size. Defaults to the
        variant's native shape.
    pooling: with ``include_top=False``: None (4D feature map), "avg" or "max".
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

__all__ = ["ArchModel", "ModelBuilder", "COMMON_ARGS"]

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

    def __init__(self, *args, feature_info=(), arch=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.feature_info = [dict(f) for f in feature_info]
        self.arch = dict(arch or {})
        self._phase_jit = {}

    def compile(self, *args, jit_compile="auto", **kwargs):
        phases = _resolve_phase_jit(jit_compile)
        super().compile(*args, jit_compile=phases.get("train", "auto"), **kwargs)
        self._phase_jit = phases if not self.run_eagerly else {}
        # Saved with the model, so a loaded model picks its phases the same way.
        self._compile_config.config["jit_compile"] = jit_compile

    def compile_from_config(self, config):
        # Keras skips compiling a loaded model whose class overrides compile(); this one
        # takes the same arguments, so restore it the way Trainer.compile_from_config does.
        config = keras.saving.deserialize_keras_object(config)
        self.compile(**config)
        if getattr(self, "optimizer", None) is not None and self.built:
            self.optimizer.build(self.trainable_variables)

    @contextlib.contextmanager
    def _jit_for(self, phase):
        if phase not in self._phase_jit:
            yield
            return
        saved = self._jit_compile
        self.jit_compile = self._phase_jit[phase]
        try:
            yield
        finally:
            self._jit_compile = saved

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
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        feature_info = config.pop("feature_info", ())
        arch = config.pop("arch", None)
        model = super().from_config(config, custom_objects=custom_objects)
        model.feature_info = [dict(f) for f in feature_info]
        model.arch = dict(arch or {})
        return model


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


@dataclasses.dataclass
class _Feature:
    tensor: object
    module: str
    reduction: int


class ModelBuilder:
    """Parses and checks the common arguments, then assembles the finished model."""

    def __init__(self, model_name, kwargs, *, input_shape=(224, 224, 3), num_classes=1000, min_size=32,
                 head_name="classifier", family=None):
        """``kwargs`` are the user's arguments; ``input_shape``, ``num_classes`` and
        ``min_size`` are the variant's defaults (what it registers with the registry)."""
        default_input_shape, default_num_classes = input_shape, num_classes
        kwargs = dict(kwargs)
        unknown = sorted(set(kwargs) - set(COMMON_ARGS))
        if unknown:
            raise TypeError(
                f"{model_name}: unexpected argument(s) {', '.join(unknown)}. "
                f"Accepted: {', '.join(a for a in COMMON_ARGS if a != 'classes')} and the family's own."
            )
        self.model_name = model_name
        self.family = family
        self.min_size = min_size
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
        self.num_classes = self._check_num_classes(kwargs, default_num_classes)
        self._check_options()
        self._policy = self._check_policy(self.dtype)
        self.default_input_shape = tuple(default_input_shape)
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
        try:
            shape = tuple(input_shape)
        except TypeError:
            shape = None
        ok = shape is not None and len(shape) == 3 and all(s is None or _is_int(s) and s > 0 for s in shape)
        if not ok or shape[2] is None:
            raise ValueError(
                f"{self.model_name}: input_shape must be (height, width, channels) with positive "
                f"integers (None allowed for height and width), got {input_shape!r}. "
                f"The default is {self.default_input_shape}."
            )
        small = [s for s in shape[:2] if s is not None and s < self.min_size]
        if small:
            raise ValueError(
                f"{self.model_name}: input {shape[0]}x{shape[1]} is too small; this architecture "
                f"needs at least {self.min_size}x{self.min_size} pixels (its total downsampling). "
                f"Resize or pad the images, e.g. keras.layers.Resizing({self.min_size}, {self.min_size})."
            )
        return shape

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
        return keras.Input(shape=self.input_shape, name="image")

    def add_feature(self, tensor, module, reduction):
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

    def head(self, x):
        """Global average pooling, dropout and the float32 classifier."""
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
        if self.drop_rate:
            x = keras.layers.Dropout(self.drop_rate, name="head_drop")(x)
        return self.classifier(x)

    def classifier(self, x):
        # float32 whatever the policy: a float16 softmax saturates and users compare outputs.
        x = keras.layers.Dense(self.num_classes, dtype="float32", name=self.head_name)(x)
        if self.classifier_activation is not None:
            x = keras.layers.Activation(self.classifier_activation, dtype="float32", name="predictions")(x)
        return x

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
                arch["num_classes"] = self.num_classes
            elif self.pooling == "avg":
                outputs = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
            elif self.pooling == "max":
                outputs = keras.layers.GlobalMaxPooling2D(name="max_pool")(x)
            else:
                outputs = x
        inputs = keras.utils.get_source_inputs(self.inputs) if self.input_tensor is not None else self.inputs
        model = ArchModel(inputs=inputs, outputs=outputs, name=self.name, feature_info=info, arch=arch)
        if self.weights is not None:
            load_weights_checked(model, self.weights)
        return model


def load_weights_checked(model, path):
    """``model.load_weights(path)`` with errors that name the file, layer and shapes."""
    if isinstance(path, str) and path.lower() in ("imagenet", "pretrained"):
        raise ValueError(
            f"{model.name}: kerasarch downloads no pretrained weights; pass weights=None or the "
            "path of a .keras / .weights.h5 file saved from this architecture."
        )
    path = os.fspath(path)
    if not (path.endswith(".keras") or path.endswith(".weights.h5")):
        raise ValueError(
            f"{model.name}: weights file {path!r} must end in .keras or .weights.h5 "
            "(what model.save() and model.save_weights() write)."
        )
    if not os.path.isfile(path):
        raise ValueError(f"{model.name}: weights file {path!r} does not exist.")
    from kerasarch.models import weights_io

    weights_io.check_compatible(model, path)
    model.load_weights(path)
