"""Training and predict throughput of kerasarch vs keras.applications, same architecture, same run.

    python benchmarks/cpu_vs_keras_applications.py                    # resnet50
    python benchmarks/cpu_vs_keras_applications.py resnet50 resnet101 --steps 6

Prints one JSON document: per model and configuration, images/s of both and the ratio
kerasarch / keras.applications (> 1 means kerasarch is faster). Synthetic data, 32x32x3,
10 classes, batch 128 (the setting of ANCHORS.md section 3); each side is warmed up (graph
tracing and XLA compilation excluded) and the two are measured alternately, so a change in
machine load hits both.

Configurations:
  default      each library's own default compile()
  graph        no XLA anywhere (TensorFlow's graph executor with oneDNN)
  graph_bf16   as graph, under the mixed_bfloat16 policy
  xla          jit_compile=True for training on both; prediction as each library's default
  xla_bf16     as xla, under the mixed_bfloat16 policy
"""

import argparse
import json
import os
import platform
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import kerasarch  # noqa: E402

# kerasarch name -> keras.applications constructor of the same architecture.
KERAS_APPS = {
    "resnet50": "ResNet50", "resnet101": "ResNet101", "resnet152": "ResNet152",
    "vgg16": "VGG16", "vgg19": "VGG19", "densenet121": "DenseNet121", "densenet169": "DenseNet169",
    "densenet201": "DenseNet201", "mobilenet_v1": "MobileNet", "mobilenet_v2": "MobileNetV2",
    "mobilenet_v3_large": "MobileNetV3Large", "mobilenet_v3_small": "MobileNetV3Small",
    "efficientnet_b0": "EfficientNetB0", "efficientnet_b1": "EfficientNetB1",
    "convnext_tiny": "ConvNeXtTiny", "inception_v3": "InceptionV3",
}
CONFIGS = {
    "default": dict(dtype="float32", train_jit=None),
    "graph": dict(dtype="float32", train_jit=False),
    "graph_bf16": dict(dtype="mixed_bfloat16", train_jit=False),
    "xla": dict(dtype="float32", train_jit=True),
    "xla_bf16": dict(dtype="mixed_bfloat16", train_jit=True),
}


def build(side, name, dtype, shape, classes):
    if side == "kerasarch":
        return kerasarch.create_model(name, input_shape=shape, num_classes=classes, dtype=dtype)
    saved = keras.config.dtype_policy()
    keras.config.set_dtype_policy(dtype)
    try:
        ctor = getattr(keras.applications, KERAS_APPS[name])
        kwargs = dict(weights=None, input_shape=shape, classes=classes)
        if name.startswith("mobilenet_v3"):
            kwargs["include_preprocessing"] = False
        return ctor(**kwargs)
    finally:
        keras.config.set_dtype_policy(saved)


def compile_model(side, model, train_jit):
    kwargs = dict(optimizer=keras.optimizers.SGD(0.01, momentum=0.9), loss="sparse_categorical_crossentropy")
    if side == "kerasarch":
        # "auto": XLA for training on the CPU, graph mode for predict. With train_jit=True,
        # the same predict choice is kept, as it is part of kerasarch's default.
        jit = "auto" if train_jit is None else {"train": train_jit, "test": False, "predict": False}
        model.compile(jit_compile=jit, **kwargs)
    else:
        # keras.applications models have one switch: with jit_compile=True, predict is XLA too.
        model.compile(jit_compile="auto" if train_jit is None else train_jit, **kwargs)


class Runner:
    def __init__(self, side, name, config, shape, classes, batch, steps):
        self.side, self.batch, self.steps = side, batch, steps
        self.model = build(side, name, config["dtype"], shape, classes)
        compile_model(side, self.model, config["train_jit"])
        rng = np.random.default_rng(0)
        self.x = rng.normal(size=(batch * steps, *shape)).astype("float32")
        self.y = rng.integers(0, classes, size=(batch * steps,))
        self.params = int(sum(np.prod(w.shape) for w in self.model.trainable_weights))
        # Warm-up: trace and compile both phases.
        self.model.fit(self.x[: 2 * batch], self.y[: 2 * batch], batch_size=batch, epochs=1, verbose=0)
        self.model.predict(self.x[: 2 * batch], batch_size=batch, verbose=0)

    def train(self):
        start = time.perf_counter()
        self.model.fit(self.x, self.y, batch_size=self.batch, epochs=1, verbose=0, shuffle=False)
        return len(self.x) / (time.perf_counter() - start)

    def predict(self):
        start = time.perf_counter()
        self.model.predict(self.x, batch_size=self.batch, verbose=0)
        return len(self.x) / (time.perf_counter() - start)


def measure(name, config_name, args):
    config = CONFIGS[config_name]
    shape = (args.size, args.size, 3)
    runners = {side: Runner(side, name, config, shape, 10, args.batch, args.steps)
               for side in ("kerasarch", "keras_applications")}
    train = {side: [] for side in runners}
    predict = {side: [] for side in runners}
    for _ in range(args.repeats):  # alternate, so load changes hit both sides
        for side, runner in runners.items():
            train[side].append(runner.train())
            predict[side].append(runner.predict())
    result = {"trainable_params": {s: r.params for s, r in runners.items()}}
    for phase, values in (("train", train), ("predict", predict)):
        best = {side: max(v) for side, v in values.items()}
        result[phase] = {
            "kerasarch_img_s": round(best["kerasarch"], 1),
            "keras_applications_img_s": round(best["keras_applications"], 1),
            "ratio": round(best["kerasarch"] / best["keras_applications"], 2),
        }
    keras.backend.clear_session()
    return result


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("models", nargs="*", default=["resnet50"])
    p.add_argument("--configs", nargs="*", default=list(CONFIGS), choices=list(CONFIGS))
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=4, help="batches per timed pass")
    p.add_argument("--repeats", type=int, default=2, help="timed passes per side (best is reported)")
    args = p.parse_args()
    unknown = [m for m in args.models if m not in KERAS_APPS]
    if unknown:
        raise SystemExit(f"no keras.applications counterpart for {unknown}; known: {sorted(KERAS_APPS)}")
    report = {
        "benchmark": "cpu_vs_keras_applications", "backend": keras.backend.backend(),
        "keras": keras.__version__, "cpu_count": os.cpu_count(), "machine": platform.machine(),
        "input": [args.size, args.size, 3], "batch": args.batch, "images_per_pass": args.batch * args.steps,
        "results": {m: {c: measure(m, c, args) for c in args.configs} for m in args.models},
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
