"""The one definition of image preprocessing: the training pipeline and the export graph both call it.

``kerasarch.data.make_dataset`` maps :meth:`Preprocessing.apply` over the training and test
images, and a ``uint8`` SavedModel or ONNX export runs the same method inside its graph, so a
served model sees exactly the pixels it was trained on (``tests/test_preprocessing.py`` feeds
the same raw images through both and compares). TensorFlow is imported only when it runs.
"""

import dataclasses

import numpy as np

__all__ = ["Preprocessing", "IMAGENET_MEAN", "IMAGENET_STD"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


INTERPOLATIONS = ("bilinear", "bicubic", "nearest")


@dataclasses.dataclass(frozen=True)
class Preprocessing:
    """Raw pixels to model input: ``pixels * rescale``, then ``(x - mean) / std`` per channel
    when given, a grey image repeated to the model's channels, and a resize to the model's
    input size.

    The default is kerasarch's training pipeline (``[0, 1]`` pixels, a plain bilinear resize);
    an ImageNet-normalised model uses ``Preprocessing(mean=IMAGENET_MEAN, std=IMAGENET_STD)``.
    ``resize`` and ``crop`` give torchvision's evaluation transform instead: the shorter side
    resized to ``resize`` (antialiased, with ``interpolation``), then the centre ``crop`` x
    ``crop``. A model of another input size keeps their ratio: a 224-from-256 checkpoint served
    at 384 resizes to 439 and crops 384.
    """

    rescale: float = 1 / 255.0
    mean: tuple = None
    std: tuple = None
    resize: int = None
    crop: int = None
    interpolation: str = "bilinear"

    def __post_init__(self):
        for name in ("mean", "std"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, tuple(float(v) for v in np.atleast_1d(value)))
        if (self.mean is None) != (self.std is None):
            raise ValueError("Preprocessing needs both mean and std, or neither.")
        if self.std is not None and any(s <= 0 for s in self.std):
            raise ValueError(f"Preprocessing std must be positive, got {self.std}.")
        if not isinstance(self.rescale, (int, float)) or isinstance(self.rescale, bool) or not self.rescale > 0:
            raise ValueError(f"Preprocessing rescale must be a positive number (1/255 maps uint8 to [0, 1]), "
                             f"got {self.rescale!r}.")
        if (self.resize is None) != (self.crop is None):
            raise ValueError("Preprocessing needs both resize and crop (torchvision's resize-then-centre-crop), or "
                             f"neither; got resize={self.resize!r}, crop={self.crop!r}.")
        for name in ("resize", "crop"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"Preprocessing {name} must be a positive number of pixels, got {value!r}.")
        if self.crop is not None and self.crop > self.resize:
            raise ValueError(f"Preprocessing crop ({self.crop}) cannot be larger than resize ({self.resize}).")
        if self.interpolation not in INTERPOLATIONS:
            raise ValueError(f"Preprocessing interpolation must be one of {INTERPOLATIONS}, got {self.interpolation!r}.")

    def to_json(self):
        data = {"rescale": self.rescale, "mean": self.mean, "std": self.std}
        if self.crop is not None:
            data.update(resize=self.resize, crop=self.crop, interpolation=self.interpolation)
        elif self.interpolation != "bilinear":
            data["interpolation"] = self.interpolation
        return data

    @classmethod
    def of(cls, model):
        """The preprocessing a model's weights expect (recorded by ``kerasarch.weights``), else the default."""
        recorded = (getattr(model, "arch", None) or {}).get("preprocessing")
        return cls.from_json(recorded)

    @classmethod
    def from_json(cls, data):
        return cls(**data) if data else cls()

    def apply(self, images, size=None, channels=None):
        """Float32 model input from ``uint8`` (or float 0-255) images, one ``(H, W, C)`` or a
        batch ``(n, H, W, C)``, as a TensorFlow tensor.

        ``size``: ``(height, width)`` to resize to; skipped when the images already have it
        (a same-size resize is the identity, but costs a pass). ``channels``: 3 turns grey
        images into colour.
        """
        import tensorflow as tf

        x = images
        if size is not None and self.crop is not None:
            x = self._resize_and_crop(x, tuple(size))
        x = tf.cast(x, tf.float32) * self.rescale
        if self.mean is not None:
            x = (x - tf.constant(self.mean, tf.float32)) / tf.constant(self.std, tf.float32)
        if channels == 3 and x.shape[-1] == 1:
            x = tf.image.grayscale_to_rgb(x)
        if size is not None and self.crop is None and tuple(x.shape[-3:-1]) != tuple(size):
            x = tf.image.resize(x, tuple(size), method=self.interpolation)
        return x

    def _resize_and_crop(self, images, size):
        """torchvision's evaluation transform on raw pixels: the shorter side to ``resize`` (scaled
        by the model's size / ``crop``), antialiased, then the centre crop."""
        import tensorflow as tf

        was_uint8 = images.dtype == tf.uint8 if hasattr(images, "dtype") else False
        x = tf.cast(images, tf.float32)
        single = x.shape.rank == 3
        if single:
            x = x[None]
        height, width = size
        target = float(max(height, width)) * self.resize / self.crop
        shape = tf.shape(x)
        h, w = tf.cast(shape[1], tf.float32), tf.cast(shape[2], tf.float32)
        short = tf.minimum(h, w)
        # The shorter side becomes exactly `target`; the longer one is floored (torchvision's rule).
        new_h = tf.where(h <= w, round(target), tf.cast(tf.math.floor(h * target / short), tf.int32))
        new_w = tf.where(w < h, round(target), tf.cast(tf.math.floor(w * target / short), tf.int32))
        if self.interpolation == "nearest":
            x = tf.image.resize(x, tf.stack([new_h, new_w]), method="nearest")
        else:
            # Separable, as PIL and torchvision's antialias=True resize: each output pixel a normalised
            # window of the input, widened by the downscale factor. Two matrix products, which every
            # exporter converts (tf.image.resize's antialiased kernel has no ONNX conversion).
            x = tf.einsum("oh,nhwc->nowc", _resize_matrix(shape[1], new_h, self.interpolation), x)
            x = tf.einsum("pw,nowc->nopc", _resize_matrix(shape[2], new_w, self.interpolation), x)
        if was_uint8:  # torchvision resizes a uint8 image to uint8
            x = tf.clip_by_value(tf.round(x), 0.0, 255.0)
        # torchvision's centre crop rounds the offsets (half to even, as tf.round does).
        top = tf.cast(tf.round(tf.cast(new_h - height, tf.float32) / 2), tf.int32)
        left = tf.cast(tf.round(tf.cast(new_w - width, tf.float32) / 2), tf.int32)
        x = x[:, top:top + height, left:left + width, :]
        return x[0] if single else x


def _resize_matrix(in_size, out_size, interpolation):
    """``(out_size, in_size)`` weights of an antialiased 1-D resize (triangle or a = -0.5 cubic
    kernel, support scaled by the downscale factor, rows summing to 1), as PIL computes them."""
    import tensorflow as tf

    n_in, n_out = tf.cast(in_size, tf.float32), tf.cast(out_size, tf.float32)
    scale = n_in / n_out
    stretch = tf.maximum(scale, 1.0)
    centre = (tf.range(n_out) + 0.5) * scale
    distance = tf.abs((tf.range(n_in)[None, :] + 0.5 - centre[:, None]) / stretch)
    if interpolation == "bilinear":
        weights = tf.maximum(0.0, 1.0 - distance)
    else:
        a = -0.5
        near = ((a + 2) * distance - (a + 3)) * distance * distance + 1
        far = ((a * distance - 5 * a) * distance + 8 * a) * distance - 4 * a
        weights = tf.where(distance < 1, near, tf.where(distance < 2, far, tf.zeros_like(distance)))
    return weights / tf.reduce_sum(weights, axis=1, keepdims=True)
