import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# The reference models (torchvision, timm) must be imported before TensorFlow: torchvision.ops
# loads torch._dynamo, which loads triton, whose bundled LLVM segfaults in a process where
# TensorFlow's LLVM is already loaded (torch 2.14.1 + TF 2.21; the other order works).
try:
    import torchvision  # noqa: F401
    import timm  # noqa: F401
except ImportError:
    pass

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

if keras.backend.backend() == "torch" and os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    import torch

    # torch's OpenMP pool takes every core in each pytest-xdist worker; two workers' spinning
    # threads on two cores made an EfficientNetV2-S forward pass 7x slower (4.5 s, not 0.6 s).
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"])))


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    """Each test starts from float32 and an empty Keras graph state."""
    keras.config.set_dtype_policy("float32")
    keras.utils.set_random_seed(0)
    yield
    keras.config.set_dtype_policy("float32")
    keras.backend.clear_session()


@pytest.fixture
def rng():
    return np.random.default_rng(0)
