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


@dataclasses.dataclass(frozen=True)
class Preprocessing:
    """Raw pixels to model input: ``pixels * rescale``, then ``(x - mean) / std`` per channel
    when given, a grey image repeated to the model's channels, and a bilinear resize to the
    model's input size.

    The default is kerasarch's training pipeline (``[0, 1]`` pixels); an ImageNet-normalised
    model uses ``Preprocessing(mean=IMAGENET_MEAN, std=IMAGENET_STD)``.
    """

    rescale: float = 1 / 255.0
    mean: tuple = None
    std: tuple = None

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

    def to_json(self):
        return {"rescale": self.rescale, "mean": self.mean, "std": self.std}

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
        if size is not None and tuple(x.shape[-3:-1]) != tuple(size):
            x = tf.image.resize(x, tuple(size), method="bilinear")
        return x
