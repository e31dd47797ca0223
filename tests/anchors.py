"""Trainable parameter counts from ../shared/ANCHORS.md (torchvision's published num_params,
the paper's where torchvision has no such model), at each model's default input."""

ANCHORS = {
    "lenet5": 61_706,
    "alexnet": 61_100_840,
    "vgg11": 132_863_336, "vgg13": 133_047_848, "vgg16": 138_357_544, "vgg19": 143_667_240,
    "vgg11_bn": 132_868_840, "vgg13_bn": 133_053_736, "vgg16_bn": 138_365_992, "vgg19_bn": 143_678_248,
    "googlenet": 6_624_904,
    "inception_v3": 27_161_264,  # with the auxiliary head (aux_logits=True)
    "resnet18": 11_689_512, "resnet34": 21_797_672, "resnet50": 25_557_032,
    "resnet101": 44_549_160, "resnet152": 60_192_808,
    "resnext50_32x4d": 25_028_904, "resnext101_32x8d": 88_791_336, "resnext101_64x4d": 83_455_272,
    "wide_resnet50_2": 68_883_240, "wide_resnet101_2": 126_886_696,
    "resnet20": 269_722, "resnet32": 464_154, "resnet44": 658_586, "resnet56": 853_018, "resnet110": 1_727_962,
    "plain20": 269_722, "plain32": 464_154, "plain44": 658_586, "plain56": 853_018, "plain110": 1_727_962,
    # ANCHORS.md: "25.70M (paper and timm, to that precision)"; the exact count of timm's layout.
    "res2net50_26w_4s": 25_699_120,
    "densenet121": 7_978_856, "densenet161": 28_681_000, "densenet169": 14_149_480, "densenet201": 20_013_928,
    "mobilenet_v1": 4_231_976, "mobilenet_v2": 3_504_872,
    "mobilenet_v3_large": 5_483_032, "mobilenet_v3_small": 2_542_856,
    "efficientnet_b0": 5_288_548, "efficientnet_b1": 7_794_184, "efficientnet_b2": 9_109_994,
    "efficientnet_b3": 12_233_232, "efficientnet_b4": 19_341_616, "efficientnet_b5": 30_389_784,
    "efficientnet_b6": 43_040_704, "efficientnet_b7": 66_347_960,
    "efficientnet_v2_s": 21_458_488, "efficientnet_v2_m": 54_139_356, "efficientnet_v2_l": 118_515_272,
    "convnext_tiny": 28_589_128, "convnext_small": 50_223_688, "convnext_base": 88_591_464,
    "convnext_large": 197_767_336,
    "vit_ti16": 5_717_416, "vit_s16": 22_050_664, "vit_b16": 86_567_656, "vit_b32": 88_224_232,
    "vit_l16": 304_326_632, "vit_l32": 306_535_400,
    # Not in ANCHORS.md: kerasarch's own small ViT (patch 4, width 192, depth 6, 10 classes), counted by
    # hand in tests/test_transformer.py.
    "vit_cifar": 1_806_538,
    # kerasarch's Transformer text classifiers at BERT's vocabulary (30,522), 512 positions and two
    # classes, counted by formula in tests/test_param_counts.py.
    "transformer_text_tiny": 4_369_666, "transformer_text_small": 11_105_282,
    # kerasarch's recurrent classifiers (20,000 tokens, 128-wide embedding, two levels of 128 units,
    # two classes) and forecasters (one input series, two levels of 64, 48 steps of one series),
    # counted with Keras's cell formulas in tests/test_param_counts.py.
    "rnn_classifier": 2_626_050, "lstm_classifier": 2_823_426, "gru_classifier": 2_758_402,
    "bilstm_classifier": 3_217_922, "bigru_classifier": 3_055_106,
    "lstm_forecaster": 53_040, "gru_forecaster": 40_944,
    # kerasarch's sequence-to-sequence models (10,000-token vocabularies, 128-wide embeddings, two
    # bidirectional encoder levels of 128, one decoder level of 256, additive attention), counted
    # in tests/test_param_counts.py.
    "seq2seq_lstm_attention": 6_575_888, "seq2seq_gru_attention": 6_249_488,
}

# Arguments that make a model match the reference's configuration.
REFERENCE_ARGS = {"inception_v3": {"aux_logits": True}}

# GMACs at each model's default input (ANCHORS.md; torchvision's published figures).
GMACS = {
    "alexnet": 0.714, "vgg11": 7.6, "vgg13": 11.3, "vgg16": 15.5, "vgg19": 19.6,
    "googlenet": 1.498, "inception_v3": 5.713,
    "resnet18": 1.814, "resnet34": 3.664, "resnet50": 4.089, "resnet101": 7.801, "resnet152": 11.514,
    "resnext50_32x4d": 4.23, "resnext101_32x8d": 16.41, "resnext101_64x4d": 15.46,
    "wide_resnet50_2": 11.40, "wide_resnet101_2": 22.75, "resnet20": 0.041, "res2net50_26w_4s": 4.2,
    "densenet121": 2.834, "densenet161": 7.728, "densenet169": 3.36, "densenet201": 4.291,
    "mobilenet_v1": 0.57, "mobilenet_v2": 0.301, "mobilenet_v3_large": 0.217, "mobilenet_v3_small": 0.057,
    "efficientnet_b0": 0.386, "efficientnet_b7": 37.7,
    "efficientnet_v2_s": 8.37, "efficientnet_v2_m": 24.6, "efficientnet_v2_l": 56.1,
    "convnext_tiny": 4.46, "convnext_small": 8.68, "convnext_base": 15.4, "convnext_large": 34.4,
    "vit_ti16": 1.26, "vit_s16": 4.61, "vit_b16": 17.56, "vit_b32": 4.41, "vit_l16": 61.6, "vit_l32": 15.4,
}

# Models over 100M trainable parameters (VGG-13/16/19, ViT-L, ConvNeXt-L, EfficientNetV2-L,
# Wide ResNet-101): building one costs seconds to minutes, so CI checks their families through
# smaller members and `make test-all` checks them.
OVER_100M = frozenset(name for name, count in ANCHORS.items() if count > 100_000_000)
