"""The README's main job, as a smoke run on real data (the full run is `make train`)."""

import json
import math
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_main_job_quick_trains_checkpoints_tests_and_exports(tmp_path):
    out = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "examples", "train_fashion_mnist.py"), "--quick", "--out", str(out)],
        capture_output=True, text=True, timeout=600, env={**os.environ, "KERAS_BACKEND": "tensorflow"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "test accuracy" in result.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["best_epoch"] == 1 and 0.0 < summary["test_accuracy"] <= 1.0
    assert os.path.isfile(out / "best.keras")
    # Both exports were loaded back (TensorFlow, onnxruntime) and compared on 256 real test images.
    assert os.path.isfile(os.path.join(summary["saved_model"], "saved_model.pb"))
    assert os.path.isfile(os.path.join(out, "serving", "models.config"))
    assert os.path.isfile(summary["onnx"])
    for key in ("saved_model_parity", "onnx_parity"):
        assert summary[key]["checked_inputs"] == 256
        assert summary[key]["max_diff"] <= 1e-4
        # A bfloat16-trained model (CPUs with bfloat16 arithmetic) is exported as float32: rounding only.
        # bfloat16 keeps 8 significant bits (a step of 0.4% per op); through the quick ResNet-20 the
        # probabilities moved by up to 0.011 on an AVX512-BF16 EPYC, while a wrong weight moves them ~0.5.
        assert summary[key].get("max_diff_vs_trained", 0.0) < 3e-2


EXPERIMENTS = ["degradation", "vanishing_gradients", "parameter_formulas", "depth_through_the_years", "vgg11_d2l",
               "transfer_learning", "distillation", "encoder_norm_warmup", "sentence_polarity", "electricity_forecast",
               "gates_adding_problem", "g2p_cmudict"]


def _numbers(node):
    if isinstance(node, dict):
        for v in node.values():
            yield from _numbers(v)
    elif isinstance(node, (list, tuple)):
        for v in node:
            yield from _numbers(v)
    elif isinstance(node, (int, float)) and not isinstance(node, bool):
        yield node


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_quick_run_writes_finite_json_and_a_png(name, tmp_path):
    """Each examples/ experiment's --quick run, on real Fashion-MNIST, as a user starts it."""
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "examples", f"{name}.py"), "--quick", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=600, env={**os.environ, "KERAS_BACKEND": "tensorflow"}, cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "verdict: " in result.stdout
    data = json.loads((tmp_path / "result.json").read_text())
    assert data["experiment"] == name and data["quick"] is True and data["verdict"]
    numbers = list(_numbers(data))
    assert len(numbers) >= 3 and all(math.isfinite(v) for v in numbers)
    assert data["plots"]
    for plot in data["plots"]:
        with open(tmp_path / plot, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n", plot
    if name == "g2p_cmudict":  # the SavedModel answered words with strings after its parity check
        assert set(data["error_rates"]) == {"test_greedy", "test_beam5"}  # the quick run decodes test only
        assert data["served"]["words_asked"] == data["words"]["test"] and "alignments.png" in data["plots"]
    if name == "electricity_forecast":  # the next day's known inputs run on through the horizon
        assert data["windows"]["test"] == 61 and "the next day's temperature" in data["inputs"]
        assert data["seasonal_naive_mae_gw"] == 0.3147
    if name == "parameter_formulas":  # its numbers are exact: checked exactly
        for c, block in data["basic"].items():
            assert block["measured"] == block["formula"] == 18 * int(c) ** 2
        for c, block in data["bottleneck"].items():
            assert block["measured"] == block["formula"] == 17 * int(c) ** 2 // 16
        claims = data["seed_claims"]
        assert claims["basic_coefficient"]["correct"] and claims["basic_at_256"]["correct_value"] == 1179648
        assert not claims["bottleneck_coefficient"]["correct"] and claims["bottleneck_coefficient"]["correct_value"] == 1.0625
        assert not claims["bottleneck_at_256"]["correct"] and claims["bottleneck_at_256"]["correct_value"] == 69632
