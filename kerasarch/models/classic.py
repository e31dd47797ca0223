"""The early classics: LeNet-5 (LeCun et al. 1998) and AlexNet (Krizhevsky et al. 2012).

| name    | layout                                                                  | input    | params     |
|---------|-------------------------------------------------------------------------|----------|------------|
| lenet5  | C1 6@5x5, S2, C3 16@5x5, S4, C5 120@5x5, F6 84, output                  | 32x32x1  | 61,706     |
| alexnet | 64@11x11/4, pool, 192@5x5, pool, 384, 256, 256 @3x3, pool, 6x6, 4096 x2 | 224x224x3| 61,100,840 |

LeNet-5 is the 1998 layout with C3 fully connected to S2 (the paper's sparse connection
table is a historical detail nobody keeps) and a plain dense output layer in place of the
RBF units: tanh and average pooling by default, ``activation="relu"`` and
``subsampling="max"`` for the modern variant. AlexNet is torchvision's single-tower
layout (no local response normalisation), dropout 0.5 before both hidden dense layers.
"""

import dataclasses

import keras

from kerasarch.layers.conv import he_normal
from kerasarch.models.base import ImageModelBuilder
from kerasarch.registry import export_constructors, image_contract, register_model

__all__ = ["build_lenet5", "build_alexnet"]


@dataclasses.dataclass(frozen=True)
class ClassicVariant:
    name: str


def build_lenet5(variant, *, activation="tanh", subsampling="avg", **kwargs):
    """LeNet-5.

    Args:
        activation: "tanh" (1998) or any Keras activation, e.g. "relu".
        subsampling: "avg" (S2/S4 as average pooling, 1998) or "max".
        **kwargs: the common builder arguments (:mod:`kerasarch.models.base`); the
            dropout ``drop_rate`` goes before F6.

    Feature levels: S2 (6 channels) and S4 (16 channels). With ``input_shape`` other than
    32x32, C5 is a map larger than 1x1 and F6 sees all of it (flattened).
    """
    if subsampling not in ("avg", "max"):
        raise ValueError(f"lenet5: subsampling must be 'avg' or 'max', got {subsampling!r}.")
    b = ImageModelBuilder(variant.name, kwargs, contract=LENET_CONTRACT, family="lenet", head_name="output")
    if any(s is None for s in b.input_shape[:2]):
        raise ValueError("lenet5: the dense layers need a fixed input size; pass e.g. input_shape=(32, 32, 1).")
    init = he_normal() if activation in ("relu", "gelu", "silu") else "glorot_uniform"
    pool = keras.layers.AveragePooling2D if subsampling == "avg" else keras.layers.MaxPooling2D
    with b.policy():
        x = keras.layers.Conv2D(6, 5, activation=activation, kernel_initializer=init, name="c1")(b.inputs)
        x = pool(2, name="s2")(x)
        b.add_feature(x, "s2", 2)
        x = keras.layers.Conv2D(16, 5, activation=activation, kernel_initializer=init, name="c3")(x)
        x = pool(2, name="s4")(x)
        b.add_feature(x, "s4", 4)

        def head(x):
            x = keras.layers.Conv2D(120, 5, activation=activation, kernel_initializer=init, name="c5")(x)
            x = keras.layers.Flatten(name="flatten")(x)
            x = b.dropout(x, name="head_drop")
            x = keras.layers.Dense(84, activation=activation, kernel_initializer=init, name="f6")(x)
            return b.classifier(x)

        return b.finish(x, head=head)


def build_alexnet(variant, *, drop_rate=0.5, **kwargs):
    """AlexNet, torchvision's layout.

    Args:
        drop_rate: dropout before each of the two 4096-unit layers (0.5 as in the paper).
        **kwargs: the common builder arguments (:mod:`kerasarch.models.base`).

    The convolutional features end in an adaptive average pool to 6x6 (as torchvision), so
    any input of at least 63x63 gives the same 9216 classifier inputs. Feature levels: the
    output of each max pool (reductions 8, 16, 32; the first conv has stride 4).
    """
    b = ImageModelBuilder(variant.name, dict(kwargs, drop_rate=drop_rate), contract=ALEXNET_CONTRACT,
                          family="alexnet", head_name="fc3")
    conv = dict(kernel_initializer=he_normal(), activation="relu")
    with b.policy():
        x = keras.layers.ZeroPadding2D(2, name="conv1_pad")(b.inputs)
        x = keras.layers.Conv2D(64, 11, strides=4, name="conv1", **conv)(x)
        x = keras.layers.MaxPooling2D(3, strides=2, name="pool1")(x)
        b.add_feature(x, "pool1", 8)
        x = keras.layers.Conv2D(192, 5, padding="same", name="conv2", **conv)(x)
        x = keras.layers.MaxPooling2D(3, strides=2, name="pool2")(x)
        b.add_feature(x, "pool2", 16)
        x = keras.layers.Conv2D(384, 3, padding="same", name="conv3", **conv)(x)
        x = keras.layers.Conv2D(256, 3, padding="same", name="conv4", **conv)(x)
        x = keras.layers.Conv2D(256, 3, padding="same", name="conv5", **conv)(x)
        x = keras.layers.MaxPooling2D(3, strides=2, name="pool5")(x)
        b.add_feature(x, "pool5", 32)
        return b.finish(x, head=lambda x: b.dense_head(x, 6, 4096, "fc", dropout_first=True))


LENET_CONTRACT = image_contract((32, 32, 1), num_classes=10, min_size=32)
# 63 is the smallest side for which the last max pool still has an output.
ALEXNET_CONTRACT = image_contract((224, 224, 3), num_classes=1000, min_size=63)

register_model("lenet5", build_lenet5, ClassicVariant("lenet5"), family="lenet",
               contract=LENET_CONTRACT, tags=("ci_jax", "ci_xla", "ci_onnx"))
register_model("alexnet", build_alexnet, ClassicVariant("alexnet"), family="alexnet",
               contract=ALEXNET_CONTRACT, tags=("ci_onnx",))

__all__ += export_constructors(globals(), "lenet", "alexnet")
