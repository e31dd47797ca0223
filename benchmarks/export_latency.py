"""Latency (batch 1) and throughput (batch 64) of one model run three ways, in one process:
Keras ``predict``, the reloaded SavedModel's ``serving_default``, and onnxruntime on the
exported ONNX file. Prints JSON; ratios are against Keras ``predict`` on the same run.

    python benchmarks/export_latency.py                       # resnet50 at 224x224x3
    python benchmarks/export_latency.py --model resnet20 --size 32 --repeats 50

All three get the same float32 weights and the same images; the exports are checked against
Keras first (the max difference is in the JSON). Timings are medians over ``--repeats``
calls after ``--warmup`` calls; threads are whatever each runtime uses by default on this
machine (TensorFlow and onnxruntime both use every core).
"""

import argparse
import json
import os
import platform
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402


def _median_seconds(fn, repeats, warmup):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="resnet50")
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--repeats", type=int, default=20, help="batch-1 calls timed (batch runs: a fifth, >= 3)")
    p.add_argument("--warmup", type=int, default=3)
    args = p.parse_args(argv)

    import onnxruntime as ort
    import tensorflow as tf

    import kerasarch
    from kerasarch.export import export_onnx, export_saved_model

    keras.utils.set_random_seed(0)
    model = kerasarch.create_model(args.model, num_classes=1000 if args.size >= 128 else 10,
                                   input_shape=(args.size, args.size, 3))
    rng = np.random.default_rng(0)
    one = rng.random((1, args.size, args.size, 3), dtype=np.float32)
    batch = rng.random((args.batch, args.size, args.size, 3), dtype=np.float32)
    batch_repeats = max(3, args.repeats // 5)

    with tempfile.TemporaryDirectory() as tmp:
        saved = export_saved_model(model, tmp, warmup=False, models_config=False, quiet_summary=True)
        onnx_path = export_onnx(model, os.path.join(tmp, "model.onnx"), quiet_summary=True)
        signature = tf.saved_model.load(saved).signatures["serving_default"]
        session = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
        runners = {
            "keras_predict": lambda x: model.predict(x, batch_size=len(x), verbose=0),
            "keras_predict_on_batch": lambda x: model.predict_on_batch(x),
            "saved_model": lambda x: signature(images=tf.constant(x))["probabilities"].numpy(),
            "onnxruntime": lambda x: session.run(["probabilities"], {"images": x})[0],
        }
        reference = model.predict(batch, verbose=0)
        results = {}
        for name, run in runners.items():
            diff = float(np.max(np.abs(run(batch) - reference)))
            latency = _median_seconds(lambda: run(one), args.repeats, args.warmup)
            per_batch = _median_seconds(lambda: run(batch), batch_repeats, 1)
            results[name] = {"latency_ms_batch1": round(latency * 1e3, 2),
                             f"images_per_s_batch{args.batch}": round(args.batch / per_batch, 1),
                             "max_abs_diff_vs_keras": diff}
    base = results["keras_predict"]
    for r in results.values():
        r["latency_speedup_vs_keras_predict"] = round(base["latency_ms_batch1"] / r["latency_ms_batch1"], 2)
        key = f"images_per_s_batch{args.batch}"
        r["throughput_ratio_vs_keras_predict"] = round(r[key] / base[key], 2)
    print(json.dumps({
        "benchmark": "export_latency", "model": args.model, "input": [args.size, args.size, 3],
        "batch": args.batch, "repeats": args.repeats, "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(), "tensorflow": tf.__version__, "onnxruntime": ort.__version__,
        "keras": keras.__version__, "results": results}, indent=2))


if __name__ == "__main__":
    main()
