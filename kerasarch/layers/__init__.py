"""Serializable building blocks (``keras.ops`` only; any backend)."""

from kerasarch.layers.conv import ConvBNAct, DepthwiseConvBNAct
from kerasarch.layers.convnext import ConvNeXtBlock, ConvNeXtDownsample
from kerasarch.layers.dense import DenseBlock, DenseLayer, TransitionLayer
from kerasarch.layers.drop_path import StochasticDepth
from kerasarch.layers.embedding import (
    ClassToken, DropPrefixTokens, PaddingMask, PatchEmbedding, PositionEmbedding, TakeToken, TokensToGrid)
from kerasarch.layers.inception import InceptionAux, InceptionModule, InceptionV3Block
from kerasarch.layers.mobile import (
    DepthwiseSeparableConv, FusedMBConv, InvertedResidual, MBConv, SqueezeExcite, make_divisible)
from kerasarch.layers.pooling import AdaptiveAvgPool2D, MaskedGlobalMaxPooling1D, TorchPool2D
from kerasarch.layers.recurrent import AttentionDecoder, AttentionPooling, LastStepPooling, RecurrentLayer, SequenceAttention
from kerasarch.layers.res2net import Res2NetBlock
from kerasarch.layers.residual import ResidualBlock
from kerasarch.layers.transformer import MultiHeadSelfAttention, TransformerEncoderLayer
from kerasarch.layers.vgg import VGGBlock

__all__ = ["AdaptiveAvgPool2D", "AttentionDecoder", "AttentionPooling", "ClassToken", "ConvBNAct", "ConvNeXtBlock", "ConvNeXtDownsample", "DenseBlock",
           "DenseLayer", "DepthwiseConvBNAct", "DepthwiseSeparableConv", "DropPrefixTokens", "FusedMBConv",
           "InceptionAux", "InceptionModule", "InceptionV3Block", "InvertedResidual", "LastStepPooling", "make_divisible",
           "MaskedGlobalMaxPooling1D", "MBConv", "MultiHeadSelfAttention", "PaddingMask", "PatchEmbedding",
           "PositionEmbedding", "RecurrentLayer", "Res2NetBlock", "ResidualBlock", "SequenceAttention", "SqueezeExcite", "StochasticDepth", "TakeToken",
           "TokensToGrid", "TorchPool2D", "TransformerEncoderLayer", "TransitionLayer", "VGGBlock"]
