"""How close kerasarch's logits come to torchvision's / timm's for each twin, on this backend.

    KERAS_BACKEND=torch python benchmarks/weights_parity.py          # the CI pairs
    KERAS_BACKEND=jax python benchmarks/weights_parity.py --all      # every twin

The same procedure as tests/test_torch_weights.py (the reference with random weights and
BatchNorm statistics, written to a real .pth file and loaded with create_model(weights=...)),
printing one JSON document: per pair, max |diff| / max(1, max |logit|) (the tests' bound is
1e-4), the logits' scale, and the seconds the load and the forward pass took side by side
with the reference's forward pass.
"""

import argparse
import json
import os
import platform
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

import torchvision  # noqa: E402,F401  (before TensorFlow: see tests/conftest.py)
import timm  # noqa: E402,F401
import keras  # noqa: E402
import numpy as np  # noqa: E402

from torch_twins import build, kerasarch_logits, parity_size, relative_diff, twin_and_files  # noqa: E402
from kerasarch.weights.layout import ci_twins, twins  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    p.add_argument("--all", action="store_true", help="every twin, not only the CI pairs")
    args = p.parse_args(argv)
    pairs = ([(n, t.source) for n, ts in twins().items() for t in ts] if args.all
             else [(n, t.source) for n, t in ci_twins()])
    rows = []
    for name, source in pairs:
        size = parity_size(name)
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            _, x, want, (pth, _) = twin_and_files(name, tmp, size=size, source=source)
            reference_s = time.perf_counter() - start
            start = time.perf_counter()
            model = build(name, size, weights=pth)
            got = kerasarch_logits(model, x)
            kerasarch_s = time.perf_counter() - start
        rows.append({"model": name, "source": source, "input": size,
                     "relative_diff": float(f"{relative_diff(got, want):.3g}"),
                     "logit_scale": round(float(np.abs(want).max()), 3),
                     "reference_build_save_forward_s": round(reference_s, 2),
                     "kerasarch_build_load_forward_s": round(kerasarch_s, 2)})
        keras.backend.clear_session()
        print(json.dumps(rows[-1]), file=sys.stderr)
    print(json.dumps({"backend": keras.backend.backend(), "cpu": platform.processor() or platform.machine(),
                      "bound": 1e-4, "worst": max(r["relative_diff"] for r in rows), "pairs": rows}, indent=1))


if __name__ == "__main__":
    main()
