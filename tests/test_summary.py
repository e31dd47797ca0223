"""GMACs counted from the traced models against the published figures, and the summary table."""

import keras
import pytest

import kerasarch
from anchors import ANCHORS, GMACS, OVER_100M
from helpers import slow_unless
from kerasarch.summary import count_macs, format_table, summary_table

pytestmark = pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="MACs are counted on a TF trace")


# The models over 100M parameters cost 9-14 s each to build at full size: `make test-all`.
@pytest.mark.parametrize("name", slow_unless(sorted(GMACS), GMACS.keys() - OVER_100M))
def test_gmacs_within_two_percent_of_the_reference(name):
    gmacs = count_macs(kerasarch.create_model(name)) / 1e9
    assert gmacs == pytest.approx(GMACS[name], rel=0.02)


def test_macs_of_a_hand_counted_model():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", use_bias=False)(inputs)  # 8*8*4 * 3*3*3 = 6912
    x = keras.layers.DepthwiseConv2D(3, strides=2, padding="same")(x)       # 4*4*4 * 9 = 576
    x = keras.layers.Conv2D(8, 1, groups=2)(x)                              # 4*4*8 * 2 = 256
    x = keras.layers.Flatten()(x)
    y = keras.layers.Dense(5)(x)                                            # 128*5 = 640
    assert count_macs(keras.Model(inputs, y)) == 6912 + 576 + 256 + 640


def test_summary_table_rows_and_markdown():
    rows = summary_table("resnet2*")
    assert [r["name"] for r in rows] == ["resnet20"]
    assert rows[0]["trainable_params"] == ANCHORS["resnet20"] and rows[0]["input"] == "32x32x3"
    assert rows[0]["total_params"] > rows[0]["trainable_params"]
    assert rows[0]["gmacs"] == pytest.approx(0.041, rel=0.02)
    text = format_table(rows)
    assert "| resnet20 | resnet | 32x32x3 | 269,722 |" in text


def test_cli_list_and_summary(capsys):
    from kerasarch.cli import main

    assert main(["list", "plain5*"]) == 0
    assert "plain56" in capsys.readouterr().out
    assert main(["summary", "lenet5"]) == 0
    out = capsys.readouterr().out
    assert "| lenet5 | lenet | 32x32x1 | 61,706 |" in out
    assert main(["summary", "nothing*", "--no-macs"]) == 2
    assert "kerasarch: error: no registered model matches" in capsys.readouterr().err


def test_a_token_model_is_counted_at_max_length_tokens():
    # transformer_text_tiny at 512 tokens + [CLS]: per layer the fused QKV (3d), output (d) and MLP (2 x 4d)
    # projections of each token, and the two attention products (scores, weighted sum) over all token pairs;
    # then the 2-class head on [CLS]. The embeddings are lookups: no MACs.
    n, d, layers = 513, 128, 2
    per_layer = n * d * (3 * d + d + 2 * 4 * d) + 2 * n * n * d
    model = kerasarch.create_model("transformer_text_tiny")
    assert count_macs(model) == layers * per_layer + d * 2
    (row,) = summary_table("transformer_text_tiny")
    assert row["input"] == "tokens<=512" and row["trainable_params"] == ANCHORS["transformer_text_tiny"]
