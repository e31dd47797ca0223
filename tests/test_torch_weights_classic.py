"""AlexNet, VGG and Inception weights beyond the plain parity check (tests/test_torch_weights.py):
the adaptive pool that lets one checkpoint fit any input size, at sizes where PyTorch's bins
overlap, and the auxiliary classifiers of GoogLeNet and Inception-v3, which torchvision's
checkpoints carry and whose outputs the reference computes only in training."""

import keras
import numpy as np
import pytest

from helpers import as_list, slow_off_tensorflow
from torch_twins import NUM_CLASSES, TOLERANCE, build, images, kerasarch_logits, randomize, relative_diff

torch = pytest.importorskip("torch", reason="the torch weight tests need torch (make install)")

from kerasarch.layers.pooling import AdaptiveAvgPool2D  # noqa: E402
from kerasarch.weights.reference import build_reference, reference_logits  # noqa: E402


@pytest.mark.parametrize("height,width,out", [(2, 2, 7), (3, 3, 7), (8, 8, 7), (9, 9, 7), (4, 4, 6), (7, 7, 6),
                                              (1, 1, 6), (5, 9, 6)])
def test_adaptive_pool_takes_pytorchs_bins(height, width, out):
    # Sizes that are not multiples of the grid: neighbouring bins share rows and columns.
    x = np.random.default_rng(0).normal(size=(2, height, width, 3)).astype("float32")
    want = torch.nn.functional.adaptive_avg_pool2d(torch.from_numpy(x).permute(0, 3, 1, 2), out)
    got = keras.ops.convert_to_numpy(AdaptiveAvgPool2D(out)(x))
    np.testing.assert_allclose(got, want.permute(0, 2, 3, 1).numpy(), atol=1e-6)


def _saved_twin(name, path):
    ref = randomize(build_reference(name, num_classes=NUM_CLASSES))
    torch.save(ref.state_dict(), path)
    return ref


# AlexNet at 160 / 256 px ends in a 4x4 / 7x7 map, VGG at 96 / 256 px in 3x3 / 8x8: each pooled
# to 6x6 / 7x7 through overlapping bins, which the flattened first dense layer sees.
# The maps are NumPy, the same on every backend, and the pool is checked on each above: the
# whole models run in CI on TensorFlow only.
@slow_off_tensorflow
# VGG's head is the same dense_head as AlexNet's (one flatten-order conversion): CI checks it on
# AlexNet; VGG-11 (a 103M-weight first dense layer, 30 s here) in `make test-all`.
@pytest.mark.parametrize("name,sizes", [("alexnet", (160, 256)),
                                        pytest.param("vgg11", (96, 256), marks=pytest.mark.slow)])
def test_one_checkpoint_fits_two_input_sizes(name, sizes, tmp_path):
    path = str(tmp_path / f"{name}.pth")
    ref = _saved_twin(name, path)
    for size in sizes:
        x = images(size)
        model = build(name, size, weights=path)
        diff = relative_diff(kerasarch_logits(model, x), reference_logits(ref, x))
        assert diff <= TOLERANCE, f"{name} at {size} px on {keras.backend.backend()}: {diff:.2e}"
        keras.backend.clear_session()


def _auxiliary_parity(name, size, taps, tmp_path):
    """The model built with ``aux_logits=True`` returns [main, aux...]; the reference's auxiliary
    heads, ``{tapped module: aux module}``, are run on the outputs of the modules they follow."""
    path = str(tmp_path / f"{name}.pth")
    ref = _saved_twin(name, path)
    seen = {}
    hooks = [getattr(ref, tap).register_forward_hook(lambda m, i, o, tap=tap: seen.__setitem__(tap, o))
             for tap in taps]
    x = images(size)
    want = [reference_logits(ref, x)]
    for h in hooks:
        h.remove()
    with torch.no_grad():
        want += [getattr(ref, aux)(seen[tap]).numpy() for tap, aux in taps.items()]
    model = build(name, size, weights=path, aux_logits=True)
    got = as_list(model(x, training=False))
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want)):
        diff = relative_diff(g, w)
        assert diff <= TOLERANCE, f"{name} output {i} on {keras.backend.backend()}: {diff:.2e}"


@slow_off_tensorflow
def test_googlenet_auxiliary_classifiers_load(tmp_path):
    _auxiliary_parity("googlenet", 64, {"inception4a": "aux1", "inception4d": "aux2"}, tmp_path)


@slow_off_tensorflow
def test_inception_v3_auxiliary_classifier_loads(tmp_path):
    # Its 5x5/3 pool and 5x5 convolution need the 17x17 map of a 299-pixel input.
    _auxiliary_parity("inception_v3", 299, {"Mixed_6e": "AuxLogits"}, tmp_path)
