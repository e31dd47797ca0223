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

        x = tf.cast(images, tf.float32) * self.rescale
        if self.mean is not None:
            x = (x - tf.constant(self.mean, tf.float32)) / tf.constant(self.std, tf.float32)
        if channels == 3 and x.shape[-1] == 1:
            x = tf.image.grayscale_to_rgb(x)
        if size is not None and self.crop is not None:
            return self._resize_and_crop(x, tuple(size))
        if size is not None and tuple(x.shape[-3:-1]) != tuple(size):
            x = tf.image.resize(x, tuple(size), method=self.interpolation)
        return x

    def _resize_and_crop(self, x, size):
        import tensorflow as tf

        # Normalising before resizing equals the other order: both are linear per channel.
        height, width = size
        scale = self.resize / self.crop
        shape = tf.shape(x)
        h, w = tf.cast(shape[-3], tf.float32), tf.cast(shape[-2], tf.float32)
        short = tf.minimum(h, w)
        target = float(max(height, width)) * scale
        new_h = tf.cast(tf.math.floor(h * target / short), tf.int32)
        new_w = tf.cast(tf.math.floor(w * target / short), tf.int32)
        # torchvision resizes the shorter side to exactly `resize`; the longer one is floored.
        new_h = tf.where(h <= w, tf.cast(round(target), tf.int32), new_h)
        new_w = tf.where(w < h, tf.cast(round(target), tf.int32), new_w)
        x = tf.image.resize(x, tf.stack([new_h, new_w]), method=self.interpolation, antialias=True)
        # torchvision's centre crop rounds the offsets (half to even, as tf.round does).
        top = tf.cast(tf.round(tf.cast(new_h - height, tf.float32) / 2), tf.int32)
        left = tf.cast(tf.round(tf.cast(new_w - width, tf.float32) / 2), tf.int32)
        if x.shape.rank == 3:
            return x[top:top + height, left:left + width, :]
        return x[:, top:top + height, left:left + width, :]
