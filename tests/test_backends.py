"""A ``.keras`` file saved on one backend loads on the others with the same outputs, for every
pair of TensorFlow, JAX and torch: real files written and read by real backends, one subprocess
each (Keras fixes its backend per process; tests/backend_files.py is their side).

The models cover the kinds of weights a file carries: a conv-BatchNorm net (resnet20), attention
with LayerNorm and position embeddings (vit_cifar), and integer token inputs with padding masks
(transformer_text_tiny). (MobileNetV3-Small's depthwise, squeeze-excitation and hard-swish
weights were a fourth until CI's time forced the choice; the torchvision parity tests load
depthwise weights on every backend.) The suite runs this once, whatever the backend of its own process."""

import json
import os
import subprocess
import sys

import numpy as np

from backend_files import BACKENDS, NUM_CLASSES

MODELS = ("resnet20", "vit_cifar", "transformer_text_tiny")
SCRIPT = os.path.join(os.path.dirname(__file__), "backend_files.py")


def _run_per_backend(command, root):
    """``backend_files.py command`` in one subprocess per backend, the three side by side."""
    procs = {}
    for backend in BACKENDS:
        env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
        procs[backend] = subprocess.Popen([sys.executable, SCRIPT, command, str(root), *MODELS], env=env,
                                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    failed = {}
    try:
        for backend, proc in procs.items():
            out, _ = proc.communicate(timeout=600)
            if proc.returncode:
                failed[backend] = out[-3000:]
    finally:
        for proc in procs.values():  # after a timeout, none is left running
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert not failed, "\n".join(f"--- {command} on {b} failed:\n{out}" for b, out in failed.items())


def _meta(path):
    with open(path) as f:
        return json.load(f)


def _mismatches(root, saver, name):
    """What differs when ``name``'s file from ``saver`` is loaded on each other backend."""
    expected = np.load(root / saver / f"{name}_y.npy")
    saved = _meta(root / saver / f"{name}.json")
    assert expected.shape == (2, NUM_CLASSES) and np.isfinite(expected).all() and saved["class"] == "ArchModel"
    scale = float(np.abs(expected).max())
    assert scale > 1e-6, (saver, name, expected)  # all-zero outputs would match anything
    found = []
    for loader in BACKENDS:
        if loader == saver:
            continue
        where = f"{name}: saved on {saver}, loaded on {loader}"
        got = np.load(root / loader / f"from_{saver}" / f"{name}.npy")
        # Relative to the outputs' scale (20 for resnet20, far less for the others): the
        # backends' float32 kernels differed by at most 2e-6 of it, while any one BatchNorm's
        # moving mean left at 0 moves the outputs by 9e-4 of it or more.
        try:
            np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5 * scale, err_msg=where)
        except AssertionError as err:
            found.append(str(err))
        loaded = _meta(root / loader / f"from_{saver}" / f"{name}.json")
        if loaded != saved:
            found.append(f"{where}: {loaded} != {saved}")
    return found


# One test, not one per pair: pytest-xdist would run a shared module fixture (six subprocesses)
# once in each worker that got one of the pairs.
def test_files_saved_on_each_backend_give_the_same_outputs_on_the_others(tmp_path):
    _run_per_backend("save", tmp_path)
    _run_per_backend("load", tmp_path)
    found = [m for saver in BACKENDS for name in MODELS for m in _mismatches(tmp_path, saver, name)]
    assert not found, "\n\n".join(found)
    for backend in ("jax", "torch"):
        assert _meta(tmp_path / backend / "modules.json") == {"tensorflow": False}, (
            f"loading .keras files on {backend} imported TensorFlow")
