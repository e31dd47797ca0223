"""Weights from real torchvision and timm checkpoints, checked against the reference models.

For each twin in CI (``kerasarch.weights.layout.ci_twins``: one or more per family and source)
the reference is built with random weights, saved to a real ``.pth`` and ``.safetensors`` file,
loaded through ``create_model(name, weights=PATH)``, and the logits compared in eval mode on the
backend the suite runs on (TensorFlow, JAX, torch). ``make test-all`` does every twin.
"""

import keras
import numpy as np
import pytest

import kerasarch
from helpers import slow_unless
from torch_twins import TOLERANCE, build, relative_diff, kerasarch_logits, parity_size, twin_and_files

torch = pytest.importorskip("torch", reason="the parity tests need torch (make install)")

from kerasarch.weights import CheckpointError, load_torch_weights  # noqa: E402
from kerasarch.weights.layout import ci_twins, twins  # noqa: E402

CI_PAIRS = {(name, twin.source) for name, twin in ci_twins()}
# The tensor mapping is NumPy, the same on every backend; what a backend changes is the layers'
# arithmetic. Off TensorFlow, CI checks one cheap model per kind of layer arithmetic (convolution
# and BatchNorm, depthwise, attention with LayerNorm, channels-last LayerNorm with a 7x7
# depthwise, the classic nets' pooling and dense layers; JAX compiles each model for 30-140 s on
# two cores). TensorFlow checks every CI pair; `make test-all` every twin on every backend.
OFF_TENSORFLOW = {("resnet18", "torchvision"), ("mobilenet_v2", "torchvision"), ("mobilenet_v1", "timm"),
                  ("vit_ti16", "timm"), ("convnext_tiny", "timm"), ("alexnet", "torchvision")}
if keras.backend.backend() != "tensorflow":
    CI_PAIRS = CI_PAIRS & OFF_TENSORFLOW
PAIRS = [(name, t.source) for name, ts in twins().items() for t in ts]
TIERED = [p if p in CI_PAIRS else pytest.param(*p, marks=pytest.mark.slow) for p in PAIRS]


@pytest.mark.parametrize("name,source", TIERED)
def test_checkpoint_files_match_the_reference(name, source, tmp_path):
    size = parity_size(name)
    _, x, want, files = twin_and_files(name, str(tmp_path), size=size, source=source)
    for path in files:
        model = build(name, size, weights=path)
        diff = relative_diff(kerasarch_logits(model, x), want)
        assert diff <= TOLERANCE, f"{name} from {path} ({source}) on {keras.backend.backend()}: {diff:.2e}"
        keras.backend.clear_session()
