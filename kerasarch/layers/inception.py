"""Inception modules: GoogLeNet's (Szegedy et al. 2015) and Inception-v3's A-E (Szegedy et al. 2016).

Every convolution is a :class:`ConvBNAct` with BatchNorm epsilon 1e-3, torchvision's
``BasicConv2d``. Branches are concatenated on the channel axis in torchvision's order, so
weights port branch by branch.
"""

import keras
from keras import ops

from kerasarch.layers import _checks
from kerasarch.layers.conv import ConvBNAct
from kerasarch.layers.pooling import AdaptiveAvgPool2D, TorchPool2D

__all__ = ["InceptionModule", "InceptionV3Block", "InceptionAux"]

INCEPTION_BN_EPSILON = 1e-3


class _Branches(keras.layers.Layer):
    """A layer made of branches, each a list of sublayers applied in order; outputs concatenated."""

    def _unit(self, filters, kernel_size, strides=1, padding=None, name=None):
        return ConvBNAct(filters, kernel_size, strides, padding=padding, bn_epsilon=INCEPTION_BN_EPSILON,
                         dtype=self.dtype_policy, name=name)

    def _pool(self, mode, size, strides, padding, name):
        return TorchPool2D(size, strides, padding=padding, mode=mode, dtype=self.dtype_policy, name=name)

    def _walk(self, branch, shape, build=False):
        """The output shape of one branch; with ``build``, build its layers on the way."""
        for layer in branch:
            subs = layer if isinstance(layer, list) else [layer]  # a list is a fork (Inception-v3 E)
            if build:
                for sub in subs:
                    sub.build(shape)
            outs = [sub.compute_output_shape(shape) for sub in subs]
            shape = (*outs[0][:3], sum(o[-1] for o in outs))
        return shape

    def build(self, input_shape):
        for branch in self.branches:
            self._walk(branch, input_shape, build=True)

    def _run(self, branch, x, training):
        for layer in branch:
            if isinstance(layer, list):
                x = ops.concatenate([sub(x, training=training) for sub in layer], axis=-1)
            elif isinstance(layer, TorchPool2D):
                x = layer(x)
            else:
                x = layer(x, training=training)
        return x

    def call(self, x, training=None):
        return ops.concatenate([self._run(b, x, training) for b in self.branches], axis=-1)

    def compute_output_shape(self, input_shape):
        shapes = [self._walk(branch, input_shape) for branch in self.branches]
        return (*shapes[0][:3], sum(s[-1] for s in shapes))


@keras.saving.register_keras_serializable(package="kerasarch")
class InceptionModule(_Branches):
    """GoogLeNet's Inception module: four parallel branches, concatenated.

    1x1 | 1x1 -> 3x3 | 1x1 -> k x k | 3x3 max pool -> 1x1.

    Args:
        filters_1x1: channels of the 1x1 branch.
        filters_3x3_reduce, filters_3x3: the 1x1 reduction and the 3x3 convolution.
        filters_5x5_reduce, filters_5x5: the third branch's reduction and convolution.
        filters_pool: channels of the 1x1 after the pool.
        third_kernel_size: kernel of the third branch: 3 in torchvision's GoogLeNet (whose
            weights and parameter count we match), 5 in the paper.

    Output channels: ``filters_1x1 + filters_3x3 + filters_5x5 + filters_pool``.
    """

    def __init__(self, filters_1x1, filters_3x3_reduce, filters_3x3, filters_5x5_reduce, filters_5x5,
                 filters_pool, third_kernel_size=3, **kwargs):
        super().__init__(**kwargs)
        who = _checks.owner(self, kwargs)
        self.filters_1x1 = _checks.positive_int(who, "filters_1x1", filters_1x1)
        self.filters_3x3_reduce = _checks.positive_int(who, "filters_3x3_reduce", filters_3x3_reduce)
        self.filters_3x3 = _checks.positive_int(who, "filters_3x3", filters_3x3)
        self.filters_5x5_reduce = _checks.positive_int(who, "filters_5x5_reduce", filters_5x5_reduce)
        self.filters_5x5 = _checks.positive_int(who, "filters_5x5", filters_5x5)
        self.filters_pool = _checks.positive_int(who, "filters_pool", filters_pool)
        # The branches are concatenated, so each must keep the map's size: an odd kernel with k // 2 padding.
        self.third_kernel_size = _checks.odd_int(who, "third_kernel_size", third_kernel_size,
                                                 hint="3 (torchvision) or 5 (the paper).")
        u = self._unit
        self.branches = [
            [u(self.filters_1x1, 1, name="branch1")],
            [u(self.filters_3x3_reduce, 1, name="branch2_reduce"), u(self.filters_3x3, 3, name="branch2")],
            [u(self.filters_5x5_reduce, 1, name="branch3_reduce"),
             u(self.filters_5x5, self.third_kernel_size, name="branch3")],
            # torchvision pools with ceil_mode=True here; at stride 1 and padding 1 it changes nothing.
            [self._pool("max", 3, 1, 1, name="branch4_pool"), u(self.filters_pool, 1, name="branch4")],
        ]

    def get_config(self):
        config = super().get_config()
        config.update(filters_1x1=self.filters_1x1, filters_3x3_reduce=self.filters_3x3_reduce,
                      filters_3x3=self.filters_3x3, filters_5x5_reduce=self.filters_5x5_reduce,
                      filters_5x5=self.filters_5x5, filters_pool=self.filters_pool,
                      third_kernel_size=self.third_kernel_size)
        return config


@keras.saving.register_keras_serializable(package="kerasarch")
class InceptionV3Block(_Branches):
    """One of Inception-v3's mixed blocks, by ``kind`` (torchvision's InceptionA-E).

    * ``"a"``: 1x1 | 1x1 -> 5x5 | 1x1 -> 3x3 -> 3x3 | avg pool -> 1x1 (``pool_features``).
    * ``"b"``: grid reduction: 3x3/2 | 1x1 -> 3x3 -> 3x3/2 | max pool /2.
    * ``"c"``: factorised 7x7: 1x1 | 1x1 -> 1x7 -> 7x1 | 1x1 -> 7x1 -> 1x7 -> 7x1 -> 1x7 |
      avg pool -> 1x1; ``channels_7x7`` inner channels.
    * ``"d"``: grid reduction: 1x1 -> 3x3/2 | 1x1 -> 1x7 -> 7x1 -> 3x3/2 | max pool /2.
    * ``"e"``: expanded: 1x1 | 1x1 -> (1x3, 3x1) | 1x1 -> 3x3 -> (1x3, 3x1) | avg pool -> 1x1.

    Args:
        kind: "a" .. "e".
        pool_features: channels of block A's pool branch (32 or 64).
        channels_7x7: block C's inner width (128, 160, 192).
    """

    KINDS = ("a", "b", "c", "d", "e")

    def __init__(self, kind, pool_features=32, channels_7x7=128, **kwargs):
        super().__init__(**kwargs)
        who = _checks.owner(self, kwargs)
        self.kind = _checks.one_of(who, "kind", kind, self.KINDS)
        self.pool_features = _checks.positive_int(who, "pool_features", pool_features)
        self.channels_7x7 = _checks.positive_int(who, "channels_7x7", channels_7x7)
        u, c7 = self._unit, self.channels_7x7
        avg = self._pool("avg", 3, 1, 1, name="pool")
        if kind == "a":
            self.branches = [
                [u(64, 1, name="branch1x1")],
                [u(48, 1, name="branch5x5_1"), u(64, 5, name="branch5x5_2")],
                [u(64, 1, name="branch3x3dbl_1"), u(96, 3, name="branch3x3dbl_2"), u(96, 3, name="branch3x3dbl_3")],
                [avg, u(self.pool_features, 1, name="branch_pool")],
            ]
        elif kind == "b":
            self.branches = [
                [u(384, 3, 2, padding=0, name="branch3x3")],
                [u(64, 1, name="branch3x3dbl_1"), u(96, 3, name="branch3x3dbl_2"),
                 u(96, 3, 2, padding=0, name="branch3x3dbl_3")],
                [self._pool("max", 3, 2, 0, name="pool")],
            ]
        elif kind == "c":
            self.branches = [
                [u(192, 1, name="branch1x1")],
                [u(c7, 1, name="branch7x7_1"), u(c7, (1, 7), name="branch7x7_2"), u(192, (7, 1), name="branch7x7_3")],
                [u(c7, 1, name="branch7x7dbl_1"), u(c7, (7, 1), name="branch7x7dbl_2"),
                 u(c7, (1, 7), name="branch7x7dbl_3"), u(c7, (7, 1), name="branch7x7dbl_4"),
                 u(192, (1, 7), name="branch7x7dbl_5")],
                [avg, u(192, 1, name="branch_pool")],
            ]
        elif kind == "d":
            self.branches = [
                [u(192, 1, name="branch3x3_1"), u(320, 3, 2, padding=0, name="branch3x3_2")],
                [u(192, 1, name="branch7x7x3_1"), u(192, (1, 7), name="branch7x7x3_2"),
                 u(192, (7, 1), name="branch7x7x3_3"), u(192, 3, 2, padding=0, name="branch7x7x3_4")],
                [self._pool("max", 3, 2, 0, name="pool")],
            ]
        else:
            self.branches = [
                [u(320, 1, name="branch1x1")],
                [u(384, 1, name="branch3x3_1"),
                 [u(384, (1, 3), name="branch3x3_2a"), u(384, (3, 1), name="branch3x3_2b")]],
                [u(448, 1, name="branch3x3dbl_1"), u(384, 3, name="branch3x3dbl_2"),
                 [u(384, (1, 3), name="branch3x3dbl_3a"), u(384, (3, 1), name="branch3x3dbl_3b")]],
                [avg, u(192, 1, name="branch_pool")],
            ]

    def get_config(self):
        config = super().get_config()
        config.update(kind=self.kind, pool_features=self.pool_features, channels_7x7=self.channels_7x7)
        return config


@keras.saving.register_keras_serializable(package="kerasarch")
class InceptionAux(keras.layers.Layer):
    """An auxiliary classifier on an intermediate feature map (logits, float32).

    ``style="googlenet"``: adaptive avg pool to 4x4, 1x1 conv 128, dense 1024 + ReLU,
    dropout 0.7, dense. ``style="inception_v3"``: avg pool 5x5/3, 1x1 conv 128, 5x5 conv
    768 (valid), global pool, dense.
    """

    def __init__(self, num_classes, style="googlenet", drop_rate=0.7, **kwargs):
        super().__init__(**kwargs)
        who = _checks.owner(self, kwargs)
        self.style = _checks.one_of(who, "style", style, ("googlenet", "inception_v3"))
        self.num_classes = _checks.positive_int(who, "num_classes", num_classes)
        self.drop_rate = _checks.rate(who, "drop_rate", drop_rate)
        unit = dict(bn_epsilon=INCEPTION_BN_EPSILON, dtype=self.dtype_policy)
        self.conv0 = ConvBNAct(128, 1, name="conv0", **unit)
        if style == "googlenet":
            self.pool = AdaptiveAvgPool2D(4, dtype=self.dtype_policy, name="pool")
            self.conv1 = None
            self.fc1 = keras.layers.Dense(1024, activation="relu", dtype=self.dtype_policy, name="fc1")
            self.dropout = keras.layers.Dropout(self.drop_rate, name="dropout")
        else:
            self.pool = keras.layers.AveragePooling2D(5, 3, dtype=self.dtype_policy, name="pool")
            self.conv1 = ConvBNAct(768, 5, padding=0, name="conv1", **unit)
            self.fc1 = self.dropout = None
        self.fc = keras.layers.Dense(self.num_classes, dtype="float32", name="fc")

    def build(self, input_shape):
        shape = self.pool.compute_output_shape(input_shape)
        self.conv0.build(shape)
        shape = self.conv0.compute_output_shape(shape)
        if self.conv1 is not None:
            self.conv1.build(shape)
            self.fc.build((None, 768))
        else:
            self.fc1.build((None, 4 * 4 * 128))
            self.fc.build((None, 1024))

    def call(self, x, training=None):
        x = self.conv0(self.pool(x), training=training)
        if self.conv1 is not None:
            x = ops.mean(self.conv1(x, training=training), axis=(1, 2))
        else:
            x = self.dropout(self.fc1(ops.reshape(x, (-1, 4 * 4 * 128))), training=training)
        return self.fc(x)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_classes)

    def get_config(self):
        config = super().get_config()
        config.update(num_classes=self.num_classes, style=self.style, drop_rate=self.drop_rate)
        return config
