"""Every layer checks its constructor arguments, and its error names the layer and the argument.

A bad value caught at construction points at the line of the model definition that passed
it; caught later, it is a shape error inside a backend op. The tables below are the
contract: ``test_every_layer_and_argument_has_a_case`` fails when a layer or an argument
is added without a bad case here.
"""

import inspect
import json
import re

import keras
import pytest

import kerasarch.layers as kl

# One valid construction per layer; each bad case below changes some of these arguments.
VALID = {
    "AdaptiveAvgPool2D": dict(output_size=7),
    "AttentionPooling": dict(units=8),
    "ClassToken": dict(),
    "ConvBNAct": dict(filters=8),
    "ConvNeXtBlock": dict(),
    "ConvNeXtDownsample": dict(filters=8),
    "DenseBlock": dict(num_layers=2, growth_rate=4),
    "DenseLayer": dict(growth_rate=4),
    "DepthwiseConvBNAct": dict(),
    "DepthwiseSeparableConv": dict(filters=8),
    "DropPrefixTokens": dict(),
    "FusedMBConv": dict(filters=8),
    "InceptionAux": dict(num_classes=10),
    "InceptionModule": dict(filters_1x1=4, filters_3x3_reduce=4, filters_3x3=8, filters_5x5_reduce=2,
                            filters_5x5=4, filters_pool=4),
    "InceptionV3Block": dict(kind="a"),
    "InvertedResidual": dict(filters=8, expanded_filters=16),
    "LastStepPooling": dict(),
    "MaskedGlobalMaxPooling1D": dict(),
    "MBConv": dict(filters=8),
    "MultiHeadSelfAttention": dict(num_heads=2),
    "PaddingMask": dict(),
    "PatchEmbedding": dict(patch_size=4, hidden_dim=8),
    "PositionEmbedding": dict(grid_size=(4, 4), num_prefix_tokens=1),
    "RecurrentLayer": dict(units=8),
    "Res2NetBlock": dict(filters=8),
    "SequenceAttention": dict(units=8),
    "AttentionDecoder": dict(units=8),
    "ResidualBlock": dict(filters=8),
    "SqueezeExcite": dict(squeeze_filters=4),
    "StochasticDepth": dict(rate=0.1, seed=1),
    "TakeToken": dict(),
    "TokensToGrid": dict(grid_size=(2, 2)),
    "TransformerEncoderLayer": dict(num_heads=2, mlp_dim=16),
    "TorchPool2D": dict(pool_size=3),
    "TransitionLayer": dict(filters=8),
    "VGGBlock": dict(num_convs=2, filters=8),
}

# Arguments the conv + BatchNorm blocks share.
_BN = [(dict(bn_momentum=1.0), "bn_momentum"), (dict(bn_momentum=-0.1), "bn_momentum"),
       (dict(bn_epsilon=0), "bn_epsilon"), (dict(bn_epsilon="1e-5"), "bn_epsilon")]

# layer -> [(arguments replacing the valid ones, the argument the error must name)]
BAD = {
    "AdaptiveAvgPool2D": [(dict(output_size=0), "output_size"), (dict(output_size=True), "output_size")],
    "AttentionPooling": [(dict(units=0), "units")],
    "AttentionDecoder": [(dict(units=0), "units"), (dict(cell="lstmm"), "cell"), (dict(levels=0), "levels"),
                         (dict(score="concat"), "score"), (dict(attention_units=-1), "attention_units"),
                         (dict(dropout=1.0), "dropout")],
    "LastStepPooling": [(dict(bidirectional="yes"), "bidirectional")],
    "RecurrentLayer": [
        (dict(units=0), "units"), (dict(cell="lstmm"), "cell"), (dict(bidirectional=1), "bidirectional"),
        (dict(dropout=1.0), "dropout"), (dict(residual="no"), "residual"), (dict(layer_norm=None), "layer_norm"),
        (dict(return_sequences="no"), "return_sequences"), (dict(residual=True, return_sequences=False),
                                                              "return_sequences"),
        (dict(unroll="yes"), "unroll"),
    ],
    "SequenceAttention": [(dict(units=0), "units"), (dict(score="concat"), "score"),
                          (dict(units=8, score="dot"), "units")],
    "ClassToken": [(dict(initializer="zeross"), "initializer")],
    "ConvBNAct": [
        (dict(filters=0), "filters"), (dict(filters=-8), "filters"), (dict(filters=True), "filters"),
        (dict(filters=8.5), "filters"), (dict(kernel_size=0), "kernel_size"), (dict(kernel_size=(1, 0)), "kernel_size"),
        (dict(kernel_size=(1, 3, 3)), "kernel_size"), (dict(strides=0), "strides"), (dict(strides=(2, 2)), "strides"),
        (dict(padding=-1), "padding"), (dict(padding=(1, -1)), "padding"), (dict(groups=0), "groups"),
        (dict(groups=3), "groups"), (dict(activation="nope"), "activation"),
        (dict(zero_init_gamma="False"), "zero_init_gamma"), *_BN,
    ],
    "ConvNeXtBlock": [
        (dict(kernel_size=6), "kernel_size"), (dict(kernel_size=0), "kernel_size"), (dict(mlp_ratio=0), "mlp_ratio"),
        (dict(layer_scale_init=-1e-6), "layer_scale_init"), (dict(drop_path_rate=1.0), "drop_path_rate"),
        (dict(epsilon=0.0), "epsilon"),
    ],
    "ConvNeXtDownsample": [(dict(filters=0), "filters"), (dict(epsilon=-1e-6), "epsilon")],
    "DenseBlock": [
        (dict(num_layers=0), "num_layers"), (dict(growth_rate=0), "growth_rate"), (dict(bn_size=False), "bn_size"),
        (dict(drop_rate=1.0), "drop_rate"),
    ],
    "DenseLayer": [
        (dict(growth_rate=-4), "growth_rate"), (dict(bn_size=0), "bn_size"), (dict(drop_rate=-0.1), "drop_rate"),
    ],
    "DepthwiseConvBNAct": [
        (dict(kernel_size=0), "kernel_size"), (dict(strides=-1), "strides"), (dict(activation="nope"), "activation"),
        *_BN,
    ],
    "DepthwiseSeparableConv": [
        (dict(filters=0), "filters"), (dict(strides=0), "strides"), (dict(kernel_size=True), "kernel_size"),
        (dict(activation="nope"), "activation"), *_BN,
    ],
    "DropPrefixTokens": [(dict(num_prefix_tokens=-1), "num_prefix_tokens"),
                         (dict(num_prefix_tokens=True), "num_prefix_tokens")],
    "FusedMBConv": [
        (dict(filters=0), "filters"), (dict(expand_ratio=0), "expand_ratio"), (dict(kernel_size=0), "kernel_size"),
        (dict(strides=0), "strides"), (dict(activation="nope"), "activation"),
        (dict(drop_path_rate=1.0), "drop_path_rate"), *_BN,
    ],
    "InceptionAux": [
        (dict(num_classes=0), "num_classes"), (dict(style="resnet"), "style"), (dict(drop_rate=1.0), "drop_rate"),
    ],
    "InceptionModule": [
        *[(dict({arg: 0}), arg) for arg in ("filters_1x1", "filters_3x3_reduce", "filters_3x3", "filters_5x5_reduce",
                                             "filters_5x5", "filters_pool")],
        (dict(third_kernel_size=4), "third_kernel_size"), (dict(third_kernel_size=0), "third_kernel_size"),
    ],
    "InceptionV3Block": [
        (dict(kind="f"), "kind"), (dict(kind="A"), "kind"), (dict(pool_features=0), "pool_features"),
        (dict(channels_7x7=-1), "channels_7x7"),
    ],
    "InvertedResidual": [
        (dict(filters=0), "filters"), (dict(expanded_filters=0), "expanded_filters"),
        (dict(kernel_size=0), "kernel_size"), (dict(strides=0), "strides"), (dict(activation="nope"), "activation"),
        (dict(se_filters=-1), "se_filters"), (dict(se_gate="nope"), "se_gate"),
        (dict(drop_path_rate=1.0), "drop_path_rate"), *_BN,
    ],
    "MBConv": [
        (dict(filters=0), "filters"), (dict(expand_ratio=-1), "expand_ratio"), (dict(kernel_size=0), "kernel_size"),
        (dict(strides=True), "strides"), (dict(se_ratio=1.5), "se_ratio"), (dict(se_ratio=-0.25), "se_ratio"),
        (dict(activation="nope"), "activation"), (dict(drop_path_rate=1.0), "drop_path_rate"), *_BN,
    ],
    "MultiHeadSelfAttention": [
        (dict(num_heads=0), "num_heads"), (dict(dropout=1.0), "dropout"), (dict(use_bias="yes"), "use_bias"),
        (dict(kernel_initializer="nope"), "kernel_initializer"),
    ],
    "PaddingMask": [(dict(padding_id=-1), "padding_id"), (dict(num_prefix_tokens=-1), "num_prefix_tokens")],
    "PatchEmbedding": [
        (dict(patch_size=0), "patch_size"), (dict(hidden_dim=0), "hidden_dim"),
        (dict(kernel_initializer="nope"), "kernel_initializer"),
    ],
    "PositionEmbedding": [
        (dict(grid_size=0), "grid_size"), (dict(grid_size=(4, 0)), "grid_size"), (dict(grid_size=(4,)), "grid_size"),
        (dict(num_prefix_tokens=-1), "num_prefix_tokens"), (dict(initializer="nope"), "initializer"),
    ],
    "Res2NetBlock": [
        (dict(filters=0), "filters"), (dict(base_width=0), "base_width"), (dict(scale=1), "scale"),
        (dict(strides=0), "strides"), (dict(groups=0), "groups"), (dict(zero_init_last=1), "zero_init_last"),
        (dict(drop_path_rate=1.0), "drop_path_rate"), (dict(filters=1, base_width=26), "base_width"), *_BN,
    ],
    "ResidualBlock": [
        (dict(filters=0), "filters"), (dict(filters=True), "filters"), (dict(block_type="bottle"), "block_type"),
        (dict(strides=0), "strides"), (dict(groups=0), "groups"), (dict(groups=2), "groups"),
        (dict(width_per_group=0), "width_per_group"), (dict(shortcut="identity"), "shortcut"),
        (dict(use_shortcut="no"), "use_shortcut"), (dict(zero_init_last=None), "zero_init_last"),
        (dict(drop_path_rate=1.0), "drop_path_rate"), (dict(activation="nope"), "activation"), *_BN,
    ],
    "SqueezeExcite": [
        (dict(squeeze_filters=0), "squeeze_filters"), (dict(activation="nope"), "activation"),
        (dict(gate="nope"), "gate"),
    ],
    "StochasticDepth": [(dict(rate=1.0), "rate"), (dict(rate=-0.5), "rate"), (dict(seed=1.5), "seed")],
    "TakeToken": [(dict(index=1.5), "index"), (dict(index=True), "index")],
    "TokensToGrid": [
        (dict(grid_size=4), "grid_size"), (dict(grid_size=(2, 0)), "grid_size"),
        (dict(num_prefix_tokens=-1), "num_prefix_tokens"),
    ],
    "TransformerEncoderLayer": [
        (dict(num_heads=0), "num_heads"), (dict(mlp_dim=0), "mlp_dim"), (dict(dropout=1.0), "dropout"),
        (dict(attention_dropout=-0.1), "attention_dropout"), (dict(activation="swishy"), "activation"),
        (dict(norm_first="True"), "norm_first"), (dict(norm_epsilon=0), "norm_epsilon"),
        (dict(drop_path_rate=1.0), "drop_path_rate"), (dict(layer_scale_init=0.0), "layer_scale_init"),
        (dict(kernel_initializer="nope"), "kernel_initializer"),
    ],
    "TorchPool2D": [
        (dict(pool_size=0), "pool_size"), (dict(strides=0), "strides"), (dict(padding=-1), "padding"),
        (dict(padding=2), "padding"), (dict(ceil_mode="yes"), "ceil_mode"), (dict(mode="min"), "mode"),
    ],
    "TransitionLayer": [(dict(filters=0), "filters"), (dict(filters="8"), "filters")],
    "VGGBlock": [
        (dict(num_convs=0), "num_convs"), (dict(filters=0), "filters"), (dict(batch_norm="no"), "batch_norm"),
        (dict(pool=None), "pool"),
    ],
}

# Checks that need the input's width, so they run in build: (layer, arguments, input shape, argument named).
BAD_AT_BUILD = [
    ("ConvBNAct", dict(filters=9, groups=3), (None, 8, 8, 4), "groups"),
    ("RecurrentLayer", dict(units=4, residual=True), (None, 5, 6), "residual"),
    ("ConvNeXtBlock", dict(mlp_ratio=0.1), (None, 4, 4, 4), "mlp_ratio"),
    ("MultiHeadSelfAttention", dict(num_heads=3), (None, 4, 8), "num_heads"),
    ("TransformerEncoderLayer", dict(num_heads=3, mlp_dim=16), (None, 4, 8), "num_heads"),
]


def _layer_classes():
    return {name: getattr(kl, name) for name in kl.__all__
            if inspect.isclass(getattr(kl, name)) and issubclass(getattr(kl, name), keras.layers.Layer)}


def _arguments(cls):
    return [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "kwargs")]


def _names(layer, arg):
    # The message starts with the layer's class and names the argument as a whole word
    # (so "filters_3x3" is not taken for "filters_3x3_reduce").
    return rf"^{layer}\b.*(?<![\w]){re.escape(arg)}(?![\w])"


def test_every_layer_and_argument_has_a_case():
    missing = []
    for name, cls in sorted(_layer_classes().items()):
        if name not in VALID:
            missing.append(f"{name} (no valid construction in VALID)")
            continue
        covered = {arg for _, arg in BAD.get(name, [])} | {arg for n, _, _, arg in BAD_AT_BUILD if n == name}
        uncovered = [arg for arg in _arguments(cls) if arg not in covered]
        if uncovered:
            missing.append(f"{name}: {', '.join(uncovered)}")
    assert not missing, "layers or arguments without a bad-argument case in tests/test_layer_args.py: " + \
        "; ".join(missing)


@pytest.mark.parametrize("name", sorted(VALID))
def test_valid_arguments_construct_and_each_bad_one_is_named(name):
    # One test per layer rather than per case: the suite's fixture clears the Keras session
    # after every test, which costs more than constructing all of a layer's cases.
    cls = getattr(kl, name)
    layer = cls(**VALID[name], name="probe")
    # A config that went through JSON (tuples become lists) must pass the same checks.
    again = cls.from_config(json.loads(json.dumps(layer.get_config())))
    assert again.get_config() == layer.get_config()
    wrong = []
    for kwargs, arg in BAD.get(name, []):
        try:
            cls(**{**VALID[name], **kwargs})
        except ValueError as err:
            if not re.search(_names(name, arg), str(err)):
                wrong.append(f"{kwargs}: the error does not name {arg!r}: {err}")
        else:
            wrong.append(f"{kwargs}: accepted")
    assert not wrong, f"{name}:\n" + "\n".join(wrong)


@pytest.mark.parametrize("name,kwargs,shape,arg", BAD_AT_BUILD, ids=[c[0] for c in BAD_AT_BUILD])
def test_bad_argument_for_the_input_is_named_in_build(name, kwargs, shape, arg):
    layer = getattr(kl, name)(**kwargs)
    with pytest.raises(ValueError, match=_names(name, arg)):
        layer.build(shape)


def test_errors_name_the_layer_given_name_and_say_what_is_right():
    with pytest.raises(ValueError, match=r"^ResidualBlock 'stage2_block1': filters must be a positive integer, "
                                         r"got 0\.$"):
        kl.ResidualBlock(0, name="stage2_block1")
    with pytest.raises(ValueError, match=r"groups must be a divisor of filters \(8\), got 3\. Divisors: 1, 2, 4, 8\."):
        kl.ConvBNAct(8, groups=3)
    with pytest.raises(ValueError, match=r"drop_path_rate must be a number in \[0, 1\), got 1\.0\."):
        kl.MBConv(8, drop_path_rate=1.0)
