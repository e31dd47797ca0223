"""Serializable building blocks (``keras.ops`` only; any backend)."""

from kerasarch.layers.conv import ConvBNAct, DepthwiseConvBNAct
from kerasarch.layers.convnext import ConvNeXtBlock, ConvNeXtDownsample
from kerasarch.layers.dense import DenseBlock, DenseLayer, TransitionLayer
from kerasarch.layers.drop_path import StochasticDepth
from kerasarch.layers.embedding import (
    ClassToken, PaddingMask, PatchEmbedding, PositionEmbedding, TakeToken, TokensToGrid)
from kerasarch.layers.inception import InceptionAux, InceptionModule, InceptionV3Block
from kerasarch.layers.mobile import (
    DepthwiseSeparableConv, FusedMBConv, InvertedResidual, MBConv, SqueezeExcite, make_divisible)
from kerasarch.layers.pooling import AdaptiveAvgPool2D, TorchPool2D
from kerasarch.layers.res2net import Res2NetBlock
from kerasarch.layers.residual import ResidualBlock
from kerasarch.layers.transformer import MultiHeadSelfAttention, TransformerEncoderLayer
from kerasarch.layers.vgg import VGGBlock

__all__ = ["AdaptiveAvgPool2D", "ConvBNAct", "ConvNeXtBlock", "ConvNeXtDownsample", "DepthwiseConvBNAct", "DepthwiseSeparableConv", "FusedMBConv", "InvertedResidual",
           "MBConv", "SqueezeExcite", "make_divisible", "DenseBlock", "DenseLayer", "TransitionLayer", "InceptionAux", "InceptionModule", "InceptionV3Block", "Res2NetBlock", "ResidualBlock",
           "StochasticDepth", "TorchPool2D", "VGGBlock", "ClassToken", "PatchEmbedding", "PositionEmbedding",
           "PaddingMask", "TakeToken", "TokensToGrid", "MultiHeadSelfAttention", "TransformerEncoderLayer"]
