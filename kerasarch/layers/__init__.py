"""Serializable building blocks (``keras.ops`` only; any backend)."""

from kerasarch.layers.conv import ConvBNAct
from kerasarch.layers.drop_path import StochasticDepth
from kerasarch.layers.residual import ResidualBlock

__all__ = ["ConvBNAct", "ResidualBlock", "StochasticDepth"]
