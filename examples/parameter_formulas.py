"""Parameter counts of the residual blocks, derived by hand and checked against kerasarch.

The experiment: write down the parameter count of the two ResNet blocks as a formula in the
width C, evaluate it at C = 64, 128, 256, 512, and compare it, to the unit, with
``count_params()`` of ``kerasarch.layers.ResidualBlock`` built at those widths; then break
ResNet-34 (``kerasarch.create_model("resnet34")``) down stage by stage.

The blocks (input and output both C channels, stride 1, so the shortcut is the identity and
has no weights):

  basic       3x3 C->C, 3x3 C->C                      ResidualBlock(C, "basic")
  bottleneck  1x1 C->C/4, 3x3 C/4->C/4, 1x1 C/4->C    ResidualBlock(C // 4, "bottleneck")
              (kerasarch's ``filters`` is the bottleneck width; the output is 4 * filters)

Formulas (a k x k convolution from a to b channels has k*k*a*b weights, b biases):

  weights only (no BatchNorm, no bias)
      basic       2 * 9C^2                        = 18 C^2
      bottleneck  C^2/4 + 9C^2/16 + C^2/4          = 17 C^2 / 16   (= 1.0625 C^2)
  + bias on every convolution (no BatchNorm)
      basic       18 C^2 + 2C
      bottleneck  17 C^2/16 + C/4 + C/4 + C        = 17 C^2/16 + 3C/2
  + BatchNorm after every convolution (the ResNet way, convolutions without bias). Each
    BatchNorm has 2 trainable numbers per channel (gamma, beta) and 2 non-trainable ones
    (moving mean, moving variance). Keras's ``count_params()`` counts all four; the
    "trainable" figure (the one papers and torchvision quote) counts gamma and beta only:
      basic       trainable 18 C^2 + 4C           count_params() 18 C^2 + 8C
      bottleneck  trainable 17 C^2/16 + 3C        count_params() 17 C^2/16 + 6C
  + bias and BatchNorm both: add the bias terms above to the BatchNorm figures (the bias is
    redundant before a BatchNorm, whose beta absorbs it).

ResidualBlock cannot be built without BatchNorm or with biases: every convolution in it is
kerasarch's ConvBNAct (Conv2D with ``use_bias=False``, then BatchNormalization, always). So
the with-BatchNorm formulas are checked against ``count_params()`` and the trainable count
directly, and the weights-only count is derived from the same block by subtracting the four
BatchNorm vectors (and checked once more as the sum of its convolution kernels). As a second,
independent check, the no-BatchNorm blocks with and without bias are also built from plain
``keras.layers.Conv2D`` and counted.

The claim (from one of the source texts): "the basic block has 18C^2 parameters, the
bottleneck about 0.81C^2; 1.18M vs 0.53M at C=256". Each number is checked and the correct
one printed beside it.

ResNet-34 table: each top-level layer of the model is assigned to stem (7x7 conv + max
pool), stage1..stage4 (the residual blocks named stage<k>_block<i>) or head (global pool +
fc); per group the output size at the default 224x224x3 input, the trainable parameters,
``count_params()`` (with the BatchNorm moving statistics) and the formula for the group;
the groups must add up to the model's own counts (the paper's ~21.8M).

    python examples/parameter_formulas.py              # full run (~25 s wall on 2 cores, most of it imports)
    python examples/parameter_formulas.py --quick      # smoke run: widths 64 and 256 only (~25 s)
    python examples/parameter_formulas.py --out runs/examples/parameter_formulas

Writes OUT/result.json (keys "basic", "bottleneck", "seed_claims", "resnet34_stages",
"resnet34_total", "checks") and OUT/block_formulas.png, OUT/resnet34_stages.png.
"""

from _common import Experiment, experiment_args  # first: it quiets TensorFlow's start-up logs

import keras  # noqa: E402
import matplotlib  # noqa: E402
import numpy as np  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import kerasarch  # noqa: E402
from kerasarch.layers import ResidualBlock  # noqa: E402

CLAIM = ('The basic residual block has 18C^2 parameters and the bottleneck about 0.81C^2: '
         '1.18M vs 0.53M at C=256 (ResNet-34 has ~21.8M parameters).')
WIDTHS = (64, 128, 256, 512)
QUICK_WIDTHS = (64, 256)
BN_VARIABLES = ("gamma", "beta", "moving_mean", "moving_variance")


# ----------------------------------------------------------------------------- formulas


def basic_formulas(c):
    """Parameter counts of the basic block (two 3x3 convolutions, C -> C), exact integers."""
    weights = 18 * c * c
    return {
        "weights_only": weights,                   # 18 C^2
        "with_bias": weights + 2 * c,              # + 2C
        "bn_trainable": weights + 4 * c,           # + 2 BatchNorms x (gamma, beta) x C
        "bn_count_params": weights + 8 * c,        # + moving mean and variance (non-trainable)
        "bias_and_bn_trainable": weights + 2 * c + 4 * c,
    }


def bottleneck_formulas(c):
    """Parameter counts of the bottleneck (1x1 C->C/4, 3x3 C/4->C/4, 1x1 C/4->C), exact integers."""
    if c % 4:
        raise ValueError(f"the bottleneck width C/4 needs C divisible by 4, got {c}")
    m = c // 4
    weights = c * m + 9 * m * m + m * c            # = 17 C^2 / 16
    assert 16 * weights == 17 * c * c
    per_channel = m + m + c                        # channels after each convolution: 3C/2
    return {
        "weights_only": weights,
        "with_bias": weights + per_channel,        # + 3C/2
        "bn_trainable": weights + 2 * per_channel,  # + 3C
        "bn_count_params": weights + 4 * per_channel,  # + 6C
        "bias_and_bn_trainable": weights + 3 * per_channel,
    }


# ----------------------------------------------------------------------------- measurements


def _size(variable):
    return int(np.prod(variable.shape))


def measure_residual_block(c, block_type):
    """Build kerasarch's ResidualBlock with C input and C output channels; count its weights."""
    filters = c if block_type == "basic" else c // 4
    block = ResidualBlock(filters, block_type=block_type, name=f"{block_type}_{c}")
    block.build((None, 8, 8, c))
    assert block.out_channels == c and block.projection is None, "expected an identity shortcut"
    last = [w.path.split("/")[-1] for w in block.weights]
    bn = sum(_size(w) for w, name in zip(block.weights, last) if name in BN_VARIABLES)
    kernels = sum(_size(w) for w, name in zip(block.weights, last) if name == "kernel")
    biases = sum(_size(w) for w, name in zip(block.weights, last) if name == "bias")
    total = int(block.count_params())
    return {
        "count_params": total,
        "trainable": sum(_size(w) for w in block.trainable_weights),
        "non_trainable": sum(_size(w) for w in block.non_trainable_weights),
        "batchnorm_params": bn,
        "bias_params": biases,
        "weights_only_by_subtraction": total - bn,
        "conv_kernel_params": kernels,
    }


def measure_plain_keras_block(c, block_type, use_bias):
    """The same block from plain keras Conv2D layers (no BatchNorm), with or without bias."""
    if block_type == "basic":
        specs = [(c, 3), (c, 3)]
    else:
        specs = [(c // 4, 1), (c // 4, 3), (c, 1)]
    stack = keras.Sequential([keras.layers.Conv2D(f, k, padding="same", use_bias=use_bias) for f, k in specs])
    stack.build((None, 8, 8, c))
    n = int(stack.count_params())
    del stack
    return n


def measure_block(c, block_type):
    formula = basic_formulas(c) if block_type == "basic" else bottleneck_formulas(c)
    kerasarch_counts = measure_residual_block(c, block_type)
    plain = {"no_bias": measure_plain_keras_block(c, block_type, use_bias=False),
             "with_bias": measure_plain_keras_block(c, block_type, use_bias=True)}
    keras.backend.clear_session()
    comparisons = {
        # formula key, measured number, where it was measured
        "weights_only (ResidualBlock, count_params - BatchNorm)":
            (formula["weights_only"], kerasarch_counts["weights_only_by_subtraction"]),
        "weights_only (ResidualBlock, sum of conv kernels)":
            (formula["weights_only"], kerasarch_counts["conv_kernel_params"]),
        "weights_only (plain keras Conv2D, use_bias=False)": (formula["weights_only"], plain["no_bias"]),
        "with_bias (plain keras Conv2D, use_bias=True)": (formula["with_bias"], plain["with_bias"]),
        "bn_trainable (ResidualBlock trainable weights)":
            (formula["bn_trainable"], kerasarch_counts["trainable"]),
        "bn_count_params (ResidualBlock.count_params())":
            (formula["bn_count_params"], kerasarch_counts["count_params"]),
    }
    return {
        "formula": formula["weights_only"],
        "measured": kerasarch_counts["weights_only_by_subtraction"],
        "formulas": formula,
        "residual_block": kerasarch_counts,
        "plain_keras_conv_stack": plain,
        "comparisons": {k: {"formula": f, "measured": m, "equal": f == m} for k, (f, m) in comparisons.items()},
        "all_equal": all(f == m for f, m in comparisons.values()),
    }


# ----------------------------------------------------------------------------- seed claims


def check_seed_claims(basic256, bottleneck256):
    c = 256
    basic_coeff = basic256 / c ** 2
    bottleneck_coeff = bottleneck256 / c ** 2
    claims = {
        "basic_coefficient": {
            "claimed": "18C^2", "claimed_value": 18.0, "correct_value": basic_coeff,
            "correct": abs(basic_coeff - 18.0) < 1e-12,
            "note": "two 3x3 convolutions C->C: 2 * 9 * C^2",
        },
        "bottleneck_coefficient": {
            "claimed": "about 0.81C^2", "claimed_value": 0.81, "correct_value": bottleneck_coeff,
            "correct": abs(bottleneck_coeff - 0.81) < 0.01,
            "note": ("17/16 = 1.0625: C^2/4 + 9C^2/16 + C^2/4. 0.8125 = 13/16 is what is left when one "
                     "of the two 1x1 convolutions (C^2/4) is forgotten"),
        },
        "basic_at_256": {
            "claimed": "1.18M", "claimed_value": 1.18e6, "correct_value": basic256,
            "correct": round(basic256 / 1e6, 2) == 1.18,
            "note": "18 * 256^2 = 1,179,648",
        },
        "bottleneck_at_256": {
            "claimed": "0.53M", "claimed_value": 0.53e6, "correct_value": bottleneck256,
            "correct": round(bottleneck256 / 1e6, 2) == 0.53,
            "note": ("17/16 * 256^2 = 69,632 = 0.07M. Even the text's own 0.81C^2 gives 53,248 = 0.053M at "
                     "C=256, so 0.53M is also off by a factor of 10"),
        },
        "basic_to_bottleneck_ratio_at_256": {
            "claimed": "1.18M / 0.53M", "claimed_value": round(1.18 / 0.53, 3),
            "correct_value": round(basic256 / bottleneck256, 3),
            "correct": abs(basic256 / bottleneck256 - 1.18 / 0.53) < 0.1,
            "note": "18 / (17/16) = 288/17 = 16.94: at the same C the bottleneck is ~17x smaller, not ~2.2x",
        },
    }
    return claims


# ----------------------------------------------------------------------------- ResNet-34


def _group_of(layer_name):
    if layer_name.startswith("stage"):
        return layer_name.split("_")[0]
    if layer_name.startswith("stem"):
        return "stem"
    if layer_name == "image":
        return None
    return "head"


def resnet34_stage_formulas():
    """Trainable parameters of each ResNet-34 group from the formulas (BatchNorm: gamma, beta)."""
    groups = {"stem": 7 * 7 * 3 * 64 + 2 * 64}
    c_in = 64
    for stage, (blocks, c) in enumerate(zip((3, 4, 6, 3), (64, 128, 256, 512)), start=1):
        total = 0
        for i in range(blocks):
            first_in = c_in if i == 0 else c
            total += 9 * first_in * c + 9 * c * c + 2 * (2 * c)       # two 3x3 convs + 2 BatchNorms
            if i == 0 and first_in != c:
                total += first_in * c + 2 * c                          # 1x1 projection + its BatchNorm
        groups[f"stage{stage}"] = total
        c_in = c
    groups["head"] = 512 * 1000 + 1000
    return groups


def resnet34_stages():
    model = kerasarch.create_model("resnet34")
    stages = {}
    for layer in model.layers:
        group = _group_of(layer.name)
        if group is None:
            continue
        row = stages.setdefault(group, {"layers": [], "trainable": 0, "count_params": 0})
        row["layers"].append(layer.name)
        row["trainable"] += sum(_size(w) for w in layer.trainable_weights)
        row["count_params"] += int(layer.count_params())
        row["output_shape"] = [int(s) for s in layer.output.shape[1:]]
        if layer.name == "stem":
            row["conv_output_shape"] = [int(s) for s in layer.output.shape[1:]]
    formulas = resnet34_stage_formulas()
    for group, row in stages.items():
        row["blocks"] = sum(1 for n in row["layers"] if "_block" in n)
        row["trainable_formula"] = formulas[group]
        row["formula_equal"] = formulas[group] == row["trainable"]
    total = {
        "model_count_params": int(model.count_params()),
        "model_trainable": sum(_size(w) for w in model.trainable_weights),
        "sum_of_stages_count_params": sum(r["count_params"] for r in stages.values()),
        "sum_of_stages_trainable": sum(r["trainable"] for r in stages.values()),
        "input_shape": [int(s) for s in model.input_shape[1:]],
    }
    total["non_trainable_batchnorm_statistics"] = total["model_count_params"] - total["model_trainable"]
    total["stages_add_up"] = (total["sum_of_stages_count_params"] == total["model_count_params"]
                              and total["sum_of_stages_trainable"] == total["model_trainable"])
    del model
    keras.backend.clear_session()
    return stages, total


# ----------------------------------------------------------------------------- plots


def plot_blocks(result, widths):
    """Formula curves against C (log-log), kerasarch's measured counts on them, and the claim."""
    fig, ax = plt.subplots(figsize=(7.5, 5))
    grid = np.geomspace(48, 640, 50)
    ax.plot(grid, 18 * grid ** 2, color="tab:blue", label="basic: 18 C^2 (formula)")
    ax.plot(grid, 17 / 16 * grid ** 2, color="tab:orange", label="bottleneck: 17/16 C^2 (formula)")
    ax.plot(grid, 0.81 * grid ** 2, color="tab:red", ls="--", lw=1, label="claimed bottleneck: 0.81 C^2")
    for kind, color in (("basic", "tab:blue"), ("bottleneck", "tab:orange")):
        ws = list(widths)
        measured = [result[kind][str(c)]["measured"] for c in ws]
        trainable = [result[kind][str(c)]["residual_block"]["trainable"] for c in ws]
        ax.scatter(ws, measured, color=color, marker="o", s=40, zorder=3,
                   label=f"{kind}: ResidualBlock count_params() - BatchNorm")
        ax.scatter(ws, trainable, color="k", marker="x", s=30, zorder=4,
                   label="ResidualBlock trainable (with BatchNorm)" if kind == "basic" else None)
        for c, v in zip(ws, measured):
            ax.annotate(f"{v:,}", (c, v), textcoords="offset points", xytext=(6, -10), fontsize=7)
    ax.scatter([256, 256], [1.18e6, 0.53e6], color="tab:red", marker="*", s=120, zorder=5,
               label="claimed at C=256: 1.18M, 0.53M")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(list(WIDTHS), [str(c) for c in WIDTHS])
    ax.minorticks_off()
    ax.set_xlabel("block width C (input = output channels)")
    ax.set_ylabel("parameters")
    ax.set_title("Residual block parameters: formula vs kerasarch")
    ax.legend(fontsize=7, loc="upper left")
    return fig


def plot_stages(stages, total):
    order = ["stem", "stage1", "stage2", "stage3", "stage4", "head"]
    values = [stages[g]["trainable"] / 1e6 for g in order]
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    bars = ax.bar(order, values, color="tab:blue")
    for bar, g, v in zip(bars, order, values):
        shape = "x".join(str(s) for s in stages[g]["output_shape"])
        ax.text(bar.get_x() + bar.get_width() / 2, v + 0.2, f"{v:.3f}M\n{shape}", ha="center", va="bottom",
                fontsize=8)
    ax.set_ylabel("trainable parameters (millions)")
    ax.set_ylim(0, max(values) * 1.25)
    ax.set_title(f"ResNet-34 at 224x224: {total['model_trainable']:,} trainable parameters")
    return fig


# ----------------------------------------------------------------------------- main


def main(argv=None):
    args = experiment_args(__doc__, argv)
    exp = Experiment("parameter_formulas", args, claim=CLAIM)
    widths = QUICK_WIDTHS if args.quick else WIDTHS
    r = exp.result
    r["widths"] = list(widths)
    r["counting"] = ("'formula'/'measured' = weights only (no BatchNorm, no bias); measured on kerasarch's "
                     "ResidualBlock as count_params() minus its BatchNorm variables, because ResidualBlock always "
                     "has BatchNorm and bias-free convolutions. BatchNorm: 2 trainable (gamma, beta) + 2 "
                     "non-trainable (moving mean, variance) per channel; count_params() includes all four.")
    for kind in ("basic", "bottleneck"):
        r[kind] = {}
        for c in widths:
            r[kind][str(c)] = measure_block(c, kind)

    print("block       C   formula (weights only)   measured (RB - BN)  kernels     plain Conv2D  "
          "| +bias formula / Conv2D   | +BN trainable f / m     | count_params f / m")
    for kind in ("basic", "bottleneck"):
        for c in widths:
            row = r[kind][str(c)]
            f, rb, plain = row["formulas"], row["residual_block"], row["plain_keras_conv_stack"]
            print(f"{kind:<10} {c:>4}  {f['weights_only']:>14,}          {rb['weights_only_by_subtraction']:>12,}"
                  f"  {rb['conv_kernel_params']:>10,}  {plain['no_bias']:>10,}  "
                  f"| {f['with_bias']:>10,} / {plain['with_bias']:>10,} "
                  f"| {f['bn_trainable']:>10,} / {rb['trainable']:>10,} "
                  f"| {f['bn_count_params']:>10,} / {rb['count_params']:>10,}  "
                  f"{'all equal' if row['all_equal'] else 'MISMATCH'}")
    formulas_ok = all(r[k][str(c)]["all_equal"] for k in ("basic", "bottleneck") for c in widths)

    claims = check_seed_claims(r["basic"]["256"]["formula"], r["bottleneck"]["256"]["formula"])
    for key, claim in claims.items():
        measured_256 = r["basic" if key.startswith("basic_") else "bottleneck"]["256"]["measured"] \
            if key.endswith("_at_256") else None
        if measured_256 is not None:
            claim["measured_resnet_block"] = measured_256
    r["seed_claims"] = claims
    print("\nseed claim                           claimed          correct             verdict")
    for key, claim in claims.items():
        correct = claim["correct_value"]
        shown = f"{correct:,}" if isinstance(correct, int) else f"{correct:.5g}"
        print(f"{key:<36} {claim['claimed']:<16} {shown:<19} {'right' if claim['correct'] else 'WRONG'}"
              f"  ({claim['note']})")
    context = {"basic_at_64": r["basic"]["64"]["formula"], "bottleneck_at_256": r["bottleneck"]["256"]["formula"]}
    context["note"] = ("the paper's own comparison (He et al. 2016, Fig. 5) is a basic block on 64-d features vs a "
                       "bottleneck on 256-d features: 73,728 vs 69,632 weights, about the same cost")
    r["seed_claims_context"] = context
    print(f"context: {context['note']}")

    stages, total = resnet34_stages()
    r["resnet34_stages"] = stages
    r["resnet34_total"] = total
    print("\nResNet-34 at 224x224x3  output       blocks  trainable     (formula)     count_params")
    for g in ("stem", "stage1", "stage2", "stage3", "stage4", "head"):
        s = stages[g]
        shape = "x".join(str(v) for v in s["output_shape"])
        note = ""
        if "conv_output_shape" in s:
            note = f"  (7x7/2 conv: {'x'.join(str(v) for v in s['conv_output_shape'])}, then 3x3/2 max pool)"
        print(f"  {g:<22} {shape:<12} {s['blocks']:>5}  {s['trainable']:>11,}   ({s['trainable_formula']:>11,})"
              f"  {s['count_params']:>11,}{note}")
    print(f"  {'total (sum of groups)':<22} {'':<12} {'':>5}  {total['sum_of_stages_trainable']:>11,}   "
          f"{'':>13}  {total['sum_of_stages_count_params']:>11,}")
    print(f"  {'model':<22} {'':<12} {'':>5}  {total['model_trainable']:>11,}   {'':>13}  "
          f"{total['model_count_params']:>11,}  (count_params includes "
          f"{total['non_trainable_batchnorm_statistics']:,} BatchNorm moving statistics)")
    stages_ok = total["stages_add_up"] and all(s["formula_equal"] for s in stages.values())
    r["checks"] = {"formulas_equal_measured": formulas_ok, "resnet34_stages_add_up": total["stages_add_up"],
                   "resnet34_stage_formulas_equal": all(s["formula_equal"] for s in stages.values()),
                   "resnet34_is_21_8M": round(total["model_trainable"] / 1e6, 1) == 21.8}

    exp.save_plot(plot_blocks(r, widths), "block_formulas.png")
    exp.save_plot(plot_stages(stages, total), "resnet34_stages.png")

    b256, n256 = r["basic"]["256"]["formula"], r["bottleneck"]["256"]["formula"]
    parts = []
    parts.append(
        f"Formulas {'match' if formulas_ok else 'DO NOT match'} kerasarch exactly at C = "
        f"{', '.join(map(str, widths))} (weights only: basic 18C^2, bottleneck 17C^2/16; with BatchNorm: "
        f"+4C / +3C trainable, +8C / +6C in count_params()).")
    parts.append(f"Claim '18C^2' for the basic block: right; '1.18M at C=256': right ({b256:,}).")
    parts.append(
        f"Claim 'about 0.81C^2' for the bottleneck: WRONG, it is 17/16 C^2 = 1.0625C^2 (0.8125 = 13/16 leaves out "
        f"one 1x1 convolution); '0.53M at C=256': WRONG, it is {n256:,} = 0.07M (0.81C^2 would give 0.053M, so "
        f"0.53M is also a factor-10 slip); the ratio is {b256 / n256:.1f}x, not 1.18/0.53 = 2.2x.")
    parts.append(
        f"ResNet-34: {total['model_trainable']:,} trainable parameters (~21.8M: "
        f"{'right' if r['checks']['resnet34_is_21_8M'] else 'WRONG'}), stem {stages['stem']['trainable']:,}, "
        + ", ".join(f"stage{k} {stages[f'stage{k}']['trainable']:,}" for k in range(1, 5))
        + f", head {stages['head']['trainable']:,}; stages {'add up to' if stages_ok else 'DO NOT add up to'} "
        f"the model's count (count_params() {total['model_count_params']:,} with BatchNorm statistics).")
    exp.finish(" ".join(parts))
    if not (formulas_ok and stages_ok):
        raise SystemExit("a formula did not match kerasarch's count")


if __name__ == "__main__":
    main()
