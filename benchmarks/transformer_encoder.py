"""Speed of kerasarch's TransformerEncoderLayer (fused QKV, ``ops.dot_product_attention``) against
the same pre-norm layer written the usual Keras way (``keras.layers.MultiHeadAttention``: separate
query, key and value projections), same shapes, same run.

    python benchmarks/transformer_encoder.py                   # vit_cifar's encoder: 6 x 192, 65 tokens
    python benchmarks/transformer_encoder.py --width 384 --heads 6 --depth 12 --tokens 197

Prints one JSON document: tokens-sequences/s for a training step and for predict, with and
without XLA (``jit_compile``), for both layers, and the ratio kerasarch / reference (> 1:
kerasarch is faster). Both stacks have the same parameter count (checked). Each side is warmed
up (tracing and compilation excluded) and the two are measured alternately, one batch per call.
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


class ReferenceEncoderLayer(keras.layers.Layer):
    """Pre-norm encoder layer from Keras's stock parts (the keras.io ViT example's structure)."""

    def __init__(self, num_heads, mlp_dim, **kwargs):
        super().__init__(**kwargs)
        self.num_heads, self.mlp_dim = num_heads, mlp_dim

    def build(self, input_shape):
        width = input_shape[-1]
        self.norm1 = keras.layers.LayerNormalization(epsilon=1e-6, dtype=self.dtype_policy)
        self.attn = keras.layers.MultiHeadAttention(self.num_heads, width // self.num_heads, dtype=self.dtype_policy)
        self.norm2 = keras.layers.LayerNormalization(epsilon=1e-6, dtype=self.dtype_policy)
        self.fc1 = keras.layers.Dense(self.mlp_dim, activation="gelu", dtype=self.dtype_policy)
        self.fc2 = keras.layers.Dense(width, dtype=self.dtype_policy)

    def call(self, x):
        y = self.norm1(x)
        x = x + self.attn(y, y)
        return x + self.fc2(self.fc1(self.norm2(x)))


def build(side, args, dtype):
    saved = keras.config.dtype_policy()
    keras.config.set_dtype_policy(dtype)
    try:
        inputs = keras.Input((args.tokens, args.width))
        x = inputs
        for _ in range(args.depth):
            if side == "kerasarch":
                x = kerasarch.layers.TransformerEncoderLayer(args.heads, mlp_dim=4 * args.width, dropout=0.0,
                                                             activation="gelu", norm_first=True, norm_epsilon=1e-6)(x)
            else:
                x = ReferenceEncoderLayer(args.heads, 4 * args.width)(x)
        x = keras.layers.GlobalAveragePooling1D()(x)
        outputs = keras.layers.Dense(10, dtype="float32")(x)
        return keras.Model(inputs, outputs)
    finally:
        keras.config.set_dtype_policy(saved)


def _seconds_per_step(fn, steps):
    start = time.perf_counter()
    for _ in range(steps):
        fn()
    return (time.perf_counter() - start) / steps


def measure(args):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(args.batch, args.tokens, args.width)).astype("float32")
    y = rng.integers(0, 10, size=args.batch)
    results = {}
    for config, (dtype, jit) in {"graph": ("float32", False), "xla": ("float32", True),
                                 "xla_bf16": ("mixed_bfloat16", True)}.items():
        models = {}
        for side in ("kerasarch", "reference"):
            model = build(side, args, dtype)
            model.compile(optimizer=keras.optimizers.AdamW(1e-3),
                          loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), jit_compile=jit)
            for _ in range(2):  # tracing and compilation
                model.train_on_batch(x, y)
                model.predict_on_batch(x)
            models[side] = model
        assert models["kerasarch"].count_params() == models["reference"].count_params()
        # One batch at a time (train_on_batch / predict_on_batch): the layers, not a data
        # pipeline, are what is compared. Best of --repeats alternating passes.
        best = {side: {"train": 0.0, "predict": 0.0} for side in models}
        for _ in range(args.repeats):
            for side, model in models.items():
                train = _seconds_per_step(lambda: model.train_on_batch(x, y), args.steps)
                predict = _seconds_per_step(lambda: model.predict_on_batch(x), args.steps)
                best[side]["train"] = max(best[side]["train"], args.batch / train)
                best[side]["predict"] = max(best[side]["predict"], args.batch / predict)
        results[config] = {side: {k: round(v, 1) for k, v in b.items()} for side, b in best.items()}
        results[config]["ratio"] = {k: round(best["kerasarch"][k] / best["reference"][k], 3)
                                    for k in ("train", "predict")}
        keras.backend.clear_session()
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--width", type=int, default=192)
    parser.add_argument("--heads", type=int, default=3)
    parser.add_argument("--depth", type=int, default=6)
    parser.add_argument("--tokens", type=int, default=65)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    report = {
        "benchmark": "transformer_encoder", "backend": keras.backend.backend(), "keras": keras.__version__,
        "machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
        "shape": {"width": args.width, "heads": args.heads, "depth": args.depth, "tokens": args.tokens,
                  "batch": args.batch},
        "unit": "sequences/s", "results": measure(args),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
