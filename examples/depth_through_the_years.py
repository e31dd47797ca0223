"""Depth, parameters and compute of the classic image models, 1998-2020, measured from kerasarch.

The experiment: build each model from kerasarch's registry at its default input
(``kerasarch.create_model(name)``) and measure, per model, its depth, its trainable and total
parameters and its GMACs (``kerasarch.count_macs``: multiply-accumulates of one forward pass on
one image; convolutions, depthwise convolutions and matrix products, not BatchNorm,
activations, pooling or additions). The table goes next to the year of each paper; the plots
show parameters against GMACs (log-log) and depth and parameters against the year.

  lenet5 alexnet vgg16 vgg19 googlenet resnet18 resnet50 resnet152 densenet121
  mobilenet_v2 efficientnet_b0 vit_b16 vit_l16

Default inputs: 224x224x3 and 1000 classes for all of them except LeNet-5 (32x32x1, 10 classes).

Year: the year the paper first appeared (arXiv preprint or journal), e.g. VGG and GoogLeNet
2014 (published at ICLR / CVPR 2015), ResNet 2015 (CVPR 2016), ViT 2020 (ICLR 2021).

How depth is counted (both are measured from the built model, nothing is typed in):

  depth          weight layers on the longest input-to-output path: each convolution
                 (incl. depthwise) and each dense layer counts 1; BatchNorm, LayerNorm,
                 pooling, activations, additions, embeddings and the class token count 0.
                 Computed on the model's top-level layer graph (from its functional config)
                 with each kerasarch block contributing the weight layers of its longest
                 internal path: a ResidualBlock counts its 2 (basic) or 3 (bottleneck)
                 convolutions, not the 1x1 projection shortcut that runs beside them; an
                 InceptionModule (GoogLeNet) counts its longest branch (1x1 reduce -> 3x3 = 2),
                 not its 6 convolutions; a DenseBlock counts all its layers (each layer takes
                 all earlier outputs, so the longest path goes through every one: 2 per
                 DenseLayer); a TransformerEncoderLayer counts 4 (the fused q/k/v projection,
                 the attention output projection, and the two MLP layers; q, k and v side by
                 side would count once); an MBConv (EfficientNet) counts expand, depthwise,
                 the squeeze-excite block's two dense layers (they sit on the gating path
                 depthwise -> SE -> scale -> project) and project. This is the convention of
                 the papers' names: 5, 8, 16, 19, 22, 18, 50, 152, 121.
  weight_layers  every convolution and dense layer with weights (the number of kernels),
                 parallel ones included: projection shortcuts, all Inception branches,
                 squeeze-excite layers.
  ViT            a transformer block is 4 weight layers (see above); ViT-B/16 = patch
                 embedding + 12 x 4 + head = 50, ViT-L/16 = 1 + 24 x 4 + 1 = 98. The number
                 of blocks (12, 24) is reported as well ("transformer_blocks").

The claim checked (the common story): networks got deeper over the years, and depth and
parameters grew together; e.g. "VGG-16 has 138M parameters, ResNet-152 is ~10x deeper with
60M parameters and 11.6 GMACs".

    python examples/depth_through_the_years.py            # full run: 13 models (~1.5-2 min wall, 2 cores)
    python examples/depth_through_the_years.py --quick    # smoke run: lenet5, resnet18, mobilenet_v2 (~25 s)
    python examples/depth_through_the_years.py --out runs/examples/depth_through_the_years

Writes OUT/result.json ("rows", "depth_definition", "correlations", ...), OUT/table.md,
OUT/params_vs_gmacs.png and OUT/depth_params_by_year.png.
"""

import os
import time

from _common import Experiment, experiment_args  # first: it quiets TensorFlow's start-up logs

import keras  # noqa: E402
import matplotlib  # noqa: E402
import numpy as np  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402

import kerasarch  # noqa: E402
from kerasarch.layers import ResidualBlock, TransformerEncoderLayer  # noqa: E402

CLAIM = ("Networks got deeper over the years and depth and parameters grew together "
         "(VGG-16 138M parameters; ResNet-152 ~10x deeper with 60M parameters at 11.6 GMACs).")

# name: (year first published, paper, venue)
PAPERS = {
    "lenet5": (1998, "LeCun et al., Gradient-based learning applied to document recognition", "Proc. IEEE 1998"),
    "alexnet": (2012, "Krizhevsky et al., ImageNet classification with deep CNNs", "NeurIPS 2012"),
    "vgg16": (2014, "Simonyan & Zisserman, Very deep convolutional networks", "arXiv 2014, ICLR 2015"),
    "vgg19": (2014, "Simonyan & Zisserman, Very deep convolutional networks", "arXiv 2014, ICLR 2015"),
    "googlenet": (2014, "Szegedy et al., Going deeper with convolutions", "arXiv 2014, CVPR 2015"),
    "resnet18": (2015, "He et al., Deep residual learning", "arXiv 2015, CVPR 2016"),
    "resnet50": (2015, "He et al., Deep residual learning", "arXiv 2015, CVPR 2016"),
    "resnet152": (2015, "He et al., Deep residual learning", "arXiv 2015, CVPR 2016"),
    "densenet121": (2016, "Huang et al., Densely connected convolutional networks", "arXiv 2016, CVPR 2017"),
    "mobilenet_v2": (2018, "Sandler et al., MobileNetV2: inverted residuals and linear bottlenecks",
                     "arXiv 2018, CVPR 2018"),
    "efficientnet_b0": (2019, "Tan & Le, EfficientNet: rethinking model scaling", "arXiv 2019, ICML 2019"),
    "vit_b16": (2020, "Dosovitskiy et al., An image is worth 16x16 words", "arXiv 2020, ICLR 2021"),
    "vit_l16": (2020, "Dosovitskiy et al., An image is worth 16x16 words", "arXiv 2020, ICLR 2021"),
}
MODELS = tuple(PAPERS)
QUICK_MODELS = ("lenet5", "resnet18", "mobilenet_v2")
KERNEL_NAMES = ("kernel", "depthwise_kernel", "pointwise_kernel")
PARALLEL_PROJECTIONS = ("q", "k", "v", "query", "key", "value")

DEPTH_DEFINITION = {
    "depth": ("weight layers (conv, depthwise conv, dense) on the longest input-to-output path of the model's "
              "layer graph; norms, pooling, activations, additions, embeddings count 0. ResidualBlock: its 2 or 3 "
              "convolutions (not the projection shortcut); InceptionModule: its longest branch (2); DenseBlock: "
              "all its layers (2 per DenseLayer, the path runs through each); TransformerEncoderLayer: 4 (fused "
              "qkv, attention output projection, MLP fc1, fc2); MBConv: expand, depthwise, the two squeeze-excite "
              "dense layers (on the gating path) and project."),
    "weight_layers": ("number of kernels: every conv / depthwise conv / dense layer with weights, parallel ones "
                      "included"),
    "transformer_blocks": "ViT: number of TransformerEncoderLayer blocks (12 for B/16, 24 for L/16)",
    "top_level_dense_params": "parameters of the model's top-level Dense layers (the fully-connected head)",
    "year": "year the paper first appeared (arXiv preprint or journal)",
    "gmacs": "kerasarch.count_macs at the model's default input, batch 1, / 1e9",
}


# ----------------------------------------------------------------------------- depth


def _kernels(layer):
    """Number of weight layers (kernels) inside ``layer``."""
    return sum(1 for w in layer.weights if w.path.split("/")[-1] in KERNEL_NAMES)


def _longest_internal_path(layer):
    """Weight layers on the longest path through one top-level layer (see the docstring)."""
    if isinstance(layer, ResidualBlock):
        shortcut = _kernels(layer.projection) if layer.projection is not None else 0
        return _kernels(layer) - shortcut
    branches = getattr(layer, "branches", None)
    if isinstance(branches, (list, tuple)) and branches:  # Inception-style: parallel branches, concatenated
        def branch_depth(branch):
            total = 0
            for step in branch:
                total += max(_kernels(s) for s in step) if isinstance(step, list) else _kernels(step)
            return total
        return max(branch_depth(b) for b in branches)
    # q, k and v as separate projections run side by side: one step, not three.
    parents = [w.path.split("/")[-2] for w in layer.weights
               if w.path.split("/")[-1] in KERNEL_NAMES and len(w.path.split("/")) > 1]
    parallel = sum(1 for p in parents if p in PARALLEL_PROJECTIONS)
    return _kernels(layer) - max(parallel - 1, 0)


def _histories(node):
    """Names of the layers feeding a layer, from its serialized inbound nodes."""
    if isinstance(node, dict):
        history = node.get("keras_history") if "keras_history" in node else None
        found = [history[0]] if history else []
        for value in node.values():
            found += _histories(value)
        return found
    if isinstance(node, (list, tuple)):
        return [name for item in node for name in _histories(item)]
    return []


def longest_path_depth(model):
    """Weight layers on the longest path, over the functional model's top-level graph."""
    config = model.get_config()
    by_name = {layer.name: layer for layer in model.layers}
    depth = {}
    for spec in config["layers"]:  # a functional config lists layers in topological order
        name = spec["name"]
        parents = set(_histories(spec.get("inbound_nodes", [])))
        start = max((depth[p] for p in parents), default=0)
        depth[name] = start + _longest_internal_path(by_name[name])
    outputs = config["output_layers"]
    if outputs and isinstance(outputs[0], str):  # a single output: [name, node, tensor]
        outputs = [outputs]
    return max(depth[o[0]] for o in outputs)


# ----------------------------------------------------------------------------- measurement


def _size(variable):
    return int(np.prod(variable.shape))


def measure(name):
    year, paper, venue = PAPERS[name]
    t0 = time.time()
    model = kerasarch.create_model(name)
    build_s = time.time() - t0
    t0 = time.time()
    macs = kerasarch.count_macs(model)
    macs_s = time.time() - t0
    row = {
        "name": name,
        "year": year,
        "paper": paper,
        "venue": venue,
        "input": "x".join(str(s) for s in model.input_shape[1:]),
        "depth": longest_path_depth(model),
        "weight_layers": sum(1 for w in model.weights if w.path.split("/")[-1] in KERNEL_NAMES),
        "transformer_blocks": sum(1 for layer in model.layers if isinstance(layer, TransformerEncoderLayer)),
        "trainable_params": sum(_size(w) for w in model.trainable_weights),
        "top_level_dense_params": sum(int(layer.count_params()) for layer in model.layers
                                      if isinstance(layer, keras.layers.Dense)),
        "total_params": int(model.count_params()),
        "macs": int(macs),
        "gmacs": round(macs / 1e9, 6),
        "build_s": round(build_s, 2),
        "count_macs_s": round(macs_s, 2),
    }
    del model
    keras.backend.clear_session()
    return row


def _fmt_params(n):
    return f"{n / 1e6:.2f}M" if n >= 1e6 else f"{n / 1e3:.1f}k"


def _fmt_gmacs(g):
    return f"{g:.3f}" if g >= 0.01 else f"{g:.2g}"


def markdown_table(rows):
    lines = ["| model | year | input | depth (longest path) | weight layers | trainable params | total params "
             "| FC-head params | GMACs | count_macs s |",
             "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        depth = f"{r['depth']}" + (f" ({r['transformer_blocks']} blocks)" if r["transformer_blocks"] else "")
        lines.append(f"| {r['name']} | {r['year']} | {r['input']} | {depth} | {r['weight_layers']} | "
                     f"{r['trainable_params']:,} | {r['total_params']:,} | {r['top_level_dense_params']:,} | "
                     f"{_fmt_gmacs(r['gmacs'])} | "
                     f"{r['count_macs_s']:.1f} |")
    return "\n".join(lines)


def _corr(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) < 3 or a.std() == 0 or b.std() == 0:
        return None
    return round(float(np.corrcoef(a, b)[0, 1]), 3)


def _rank(values):
    order = np.argsort(np.argsort(values, kind="stable"), kind="stable")
    # average the ranks of ties
    values = np.asarray(values, float)
    ranks = order.astype(float)
    for v in np.unique(values):
        ties = values == v
        ranks[ties] = ranks[ties].mean()
    return ranks


def correlations(rows):
    year = [r["year"] for r in rows]
    depth = [np.log10(r["depth"]) for r in rows]
    params = [np.log10(r["trainable_params"]) for r in rows]
    gmacs = [np.log10(r["macs"]) for r in rows]
    return {
        "pearson_log_depth_vs_log_params": _corr(depth, params),
        "pearson_log_params_vs_log_gmacs": _corr(params, gmacs),
        "pearson_log_depth_vs_log_gmacs": _corr(depth, gmacs),
        "spearman_year_vs_depth": _corr(_rank(year), _rank(depth)),
        "spearman_year_vs_params": _corr(_rank(year), _rank(params)),
        "spearman_depth_vs_params": _corr(_rank(depth), _rank(params)),
    }


# ----------------------------------------------------------------------------- plots


# Label offsets (points) where two models would otherwise print on top of each other.
_OFFSETS = {
    "gmacs": {"vgg16": (-10, -14), "vgg19": (6, 6), "resnet152": (8, -10), "vit_b16": (8, -2),
              "googlenet": (6, -12), "densenet121": (9, 2), "alexnet": (-10, 7), "vit_l16": (-10, 8),
              "efficientnet_b0": (-10, 6), "mobilenet_v2": (-10, -10)},
    "trainable_params": {"vgg16": (4, -11), "vgg19": (4, 4), "googlenet": (-6, -10)},
    "depth": {"vgg19": (-6, 1), "vgg16": (-6, -8), "resnet18": (6, -2), "vit_b16": (5, -9)},
}


def _label(ax, text, xy, plot, name):
    dx, dy = _OFFSETS.get(plot, {}).get(name, (6, 4))
    ax.annotate(text, xy, textcoords="offset points", xytext=(dx, dy), fontsize=7,
                ha="right" if dx < 0 else "left")


def plot_params_vs_gmacs(rows):
    fig, ax = plt.subplots(figsize=(8.5, 6))
    years = [r["year"] for r in rows]
    sc = ax.scatter([r["gmacs"] for r in rows], [r["trainable_params"] for r in rows],
                    c=years, cmap="viridis", s=[30 + 1.2 * r["depth"] for r in rows], edgecolors="k", zorder=3)
    for r in rows:
        _label(ax, f"{r['name']} ({r['year']}, depth {r['depth']})", (r["gmacs"], r["trainable_params"]),
               "gmacs", r["name"])
    ax.set_xscale("log")
    ax.set_yscale("log")
    lo, hi = min(r["gmacs"] for r in rows), max(r["gmacs"] for r in rows)
    ax.set_xlim(lo / 2, hi * 12)
    ax.set_xlabel("GMACs per image at the default input (log)")
    ax.set_ylabel("trainable parameters (log)")
    ax.set_title("Parameters vs compute (marker size ~ depth, colour = year)")
    bar = fig.colorbar(sc, ax=ax, label="year of the paper")
    bar.ax.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%d"))
    ax.grid(True, which="major", alpha=0.3)
    return fig


def plot_by_year(rows):
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    for ax, key, label in ((axes[0], "depth", "depth (weight layers on the longest path)"),
                           (axes[1], "trainable_params", "trainable parameters")):
        ax.scatter([r["year"] for r in rows], [r[key] for r in rows], color="tab:blue", zorder=3)
        for r in rows:
            _label(ax, r["name"], (r["year"], r[key]), key, r["name"])
        ax.set_yscale("log")
        ax.set_xlim(min(r["year"] for r in rows) - 1, max(r["year"] for r in rows) + 3)
        ax.set_xlabel("year of the paper")
        ax.set_ylabel(label + " (log)")
        ax.grid(True, alpha=0.3)
    axes[0].set_title("Depth by year")
    axes[1].set_title("Parameters by year")
    return fig


# ----------------------------------------------------------------------------- verdict


def verdict(rows, corr):
    by = {r["name"]: r for r in rows}
    parts = []
    years = sorted({r["year"] for r in rows})
    deepest_by_year = {y: max((r for r in rows if r["year"] == y), key=lambda r: r["depth"]) for y in years}
    peak = max(rows, key=lambda r: r["depth"])
    parts.append("Depth by year (deepest model of each year): " + ", ".join(
        f"{y} {deepest_by_year[y]['depth']} ({deepest_by_year[y]['name']})" for y in years) + ".")
    later = [r for r in rows if r["year"] > peak["year"]]
    if later and max(r["depth"] for r in later) < peak["depth"]:
        shallower = ", ".join(f"{r['name']} {r['depth']}" for r in later)
        parts.append(f"Depth rose to {peak['depth']} with {peak['name']} ({peak['year']}) and every later model "
                     f"here is shallower ({shallower}): depth grew until {peak['year']}, then fell back.")
    if "vgg16" in by and "resnet152" in by:
        v, r = by["vgg16"], by["resnet152"]
        parts.append(
            f"VGG-16: depth {v['depth']}, {v['trainable_params'] / 1e6:.1f}M parameters, {v['gmacs']:.1f} GMACs; "
            f"ResNet-152: depth {r['depth']} ({r['depth'] / v['depth']:.1f}x deeper), "
            f"{r['trainable_params'] / 1e6:.1f}M parameters ({v['trainable_params'] / r['trainable_params']:.1f}x "
            f"fewer), {r['gmacs']:.2f} GMACs ({'fewer' if r['gmacs'] < v['gmacs'] else 'more'} than VGG-16). "
            f"Claimed 138M: {'right' if round(v['trainable_params'] / 1e6) == 138 else 'WRONG'}; 60M: "
            f"{'right' if round(r['trainable_params'] / 1e6) == 60 else 'WRONG'}; 11.6 GMACs: "
            + ("right" if round(r["gmacs"], 1) == 11.6 else f"slightly high, measured {r['gmacs']:.2f}")
            + f"; ~10x deeper: {'right' if 8 <= r['depth'] / v['depth'] <= 12 else 'WRONG'}.")
    if "googlenet" in by and "vgg16" in by:
        g, v = by["googlenet"], by["vgg16"]
        parts.append(f"VGG-16's {v['trainable_params'] / 1e6:.1f}M are mostly its fully-connected head: "
                     f"{v['top_level_dense_params'] / 1e6:.1f}M "
                     f"({100 * v['top_level_dense_params'] / v['trainable_params']:.0f}%).")
        parts.append(f"Same year: GoogLeNet is {'deeper' if g['depth'] > v['depth'] else 'not deeper'} than VGG-16 "
                     f"({g['depth']} vs {v['depth']}) with "
                     f"{v['trainable_params'] / g['trainable_params']:.0f}x fewer parameters "
                     f"({g['trainable_params'] / 1e6:.1f}M vs {v['trainable_params'] / 1e6:.1f}M).")
    if "densenet121" in by:
        d = by["densenet121"]
        parts.append(f"DenseNet-121: depth {d['depth']} with {d['trainable_params'] / 1e6:.1f}M parameters.")
    if "vit_l16" in by:
        t = by["vit_l16"]
        parts.append(f"The 2020 ViT-L/16 brings parameters back up: {t['trainable_params'] / 1e6:.0f}M "
                     f"({t['gmacs']:.1f} GMACs) at depth {t['depth']} ({t['transformer_blocks']} blocks).")
    rho_year = corr.get("spearman_year_vs_depth")
    if rho_year is not None:
        peaks = [deepest_by_year[y]["depth"] for y in years]
        monotonic = all(a <= b for a, b in zip(peaks, peaks[1:]))
        parts.append(f"Deeper over the years: {'broadly yes' if rho_year > 0.5 else 'no'} (rank correlation of "
                     f"year with depth {rho_year:+.2f}), {'monotonically' if monotonic else 'but not monotonically'}.")
    rho = corr.get("spearman_depth_vs_params")
    if rho is not None:
        k = min(3, len(rows))
        deepest = sorted(rows, key=lambda x: -x["depth"])[:k]
        largest = sorted(rows, key=lambda x: -x["trainable_params"])[:k]
        parts.append(
            f"Depth and parameters together: rank correlation {rho:+.2f} (year with parameters "
            f"{corr['spearman_year_vs_params']:+.2f}), while log parameters and log GMACs correlate at "
            f"{corr['pearson_log_params_vs_log_gmacs']:+.2f}. The {k} deepest models have "
            + ", ".join(f"{x['name']} {x['depth']} / {_fmt_params(x['trainable_params'])}" for x in deepest)
            + f"; the {k} largest have " + ", ".join(
                f"{x['name']} {_fmt_params(x['trainable_params'])} / depth {x['depth']}" for x in largest) + ". "
            + ("So depth and parameters did grow together." if rho > 0.7 else
               "So the claim that depth and parameters grew together is WRONG: parameters track compute and "
               "width" + (" (VGG's wide fully-connected head, ViT-L's 1024-wide tokens)"
                          if "vgg16" in by and "vit_l16" in by else "") + ", not depth."))
    return " ".join(parts)


# ----------------------------------------------------------------------------- main


def main(argv=None):
    args = experiment_args(__doc__, argv)
    exp = Experiment("depth_through_the_years", args, claim=CLAIM)
    names = QUICK_MODELS if args.quick else MODELS
    r = exp.result
    r["models"] = list(names)
    r["depth_definition"] = DEPTH_DEFINITION
    rows = []
    for name in names:
        row = measure(name)
        rows.append(row)
        print(f"{name:<16} {row['year']}  depth {row['depth']:>4}  weight layers {row['weight_layers']:>4}  "
              f"trainable {row['trainable_params']:>12,}  {row['gmacs']:>9.4f} GMACs  "
              f"(build {row['build_s']:.1f} s, count_macs {row['count_macs_s']:.1f} s)", flush=True)
    rows.sort(key=lambda x: (x["year"], x["depth"]))
    r["rows"] = rows
    table = markdown_table(rows)
    r["table_markdown"] = table
    with open(os.path.join(exp.out, "table.md"), "w") as f:
        f.write("# Depth, parameters and GMACs through the years (kerasarch, default inputs)\n\n")
        f.write(table + "\n\n")
        for key, text in DEPTH_DEFINITION.items():
            f.write(f"- **{key}**: {text}\n")
    r["table_file"] = "table.md"
    print("\n" + table + "\n")
    corr = correlations(rows)
    r["correlations"] = corr
    print("correlations: " + ", ".join(f"{k} {v}" for k, v in corr.items()))
    exp.save_plot(plot_params_vs_gmacs(rows), "params_vs_gmacs.png")
    exp.save_plot(plot_by_year(rows), "depth_params_by_year.png")
    exp.finish(verdict(rows, corr))


if __name__ == "__main__":
    main()
