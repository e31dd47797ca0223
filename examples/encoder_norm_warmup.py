"""Post-norm vs pre-norm Transformer encoders, with and without learning-rate warmup.

The texts' encoder layer is post-norm (LayerNorm after each residual add, the 2017 paper).
The claim: a deep post-norm stack is hard to train without learning-rate warmup; a pre-norm
stack (LayerNorm at the start of each residual branch) trains without it.

Twelve kerasarch TransformerEncoderLayers (d_model 64, 4 heads, MLP 128, ReLU, no dropout)
read a Fashion-MNIST image as a sequence of 28 rows of 28 pixels: Dense(28->64) projection,
learned PositionEmbedding, the 12 layers (pre-norm adds the usual final LayerNorm), mean
pooling, softmax head. Four runs from the same initial weights per norm placement, all with
kerasarch's "adamw" recipe at a peak learning rate of 2e-3 (AdamW, weight decay 0.05, label
smoothing 0.1, global-norm clipping at 1, cosine decay to 0) and the same number of steps:
post-norm and pre-norm, each without warmup (``warmup_epochs=0``) and with a linear warmup
from 0 over the first half epoch (``warmup_epochs=0.5``: 50 of the 200 steps). Reported:
per-step training loss, final train (2,000 images) and test (2,000) accuracy, and
GradientFlow's per-kernel gradient norms on 256 fixed training images (combined per encoder
layer for the plot) at initialisation and at the end. Quick mode uses 2 layers, not 12: the
graph tracing of one 12-layer training step alone costs ~35 CPU-seconds.

    python examples/encoder_norm_warmup.py            # full run: 6,400 images x 2 epochs (batch 64), 368 s
    python examples/encoder_norm_warmup.py --quick    # smoke run: 2 layers, 4 steps (under a minute)
    python examples/encoder_norm_warmup.py --lr 5e-3 --out runs/examples/encoder_norm_warmup_5e-3
"""

import math
import os

import keras
import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from _common import Experiment, experiment_args, load_fashion  # noqa: E402
from kerasarch.layers import PositionEmbedding, TransformerEncoderLayer  # noqa: E402
from kerasarch.train import GradientFlow, StopOnNaN, compile_for_training  # noqa: E402

CLAIM = ("Deep post-norm Transformer encoder stacks are hard to train without learning-rate warmup; "
         "pre-norm stacks train without it.")
RUNS = {"post_norm_no_warmup": (False, False), "post_norm_warmup": (False, True),
        "pre_norm_no_warmup": (True, False), "pre_norm_warmup": (True, True)}


def build_encoder(norm_first, depth, d_model=64, heads=4, mlp=128):
    inputs = keras.Input((28, 28), name="rows")
    x = keras.layers.Dense(d_model, name="embed")(inputs)
    x = PositionEmbedding(28, name="pos_embed")(x)
    for i in range(1, depth + 1):
        x = TransformerEncoderLayer(heads, mlp_dim=mlp, dropout=0.0, norm_first=norm_first, name=f"enc{i}")(x)
    if norm_first:
        x = keras.layers.LayerNormalization(name="final_norm")(x)
    x = keras.layers.GlobalAveragePooling1D(name="mean_pool")(x)
    outputs = keras.layers.Dense(10, activation="softmax", name="head")(x)
    return keras.Model(inputs, outputs, name="pre_norm" if norm_first else "post_norm")


class StepLoss(keras.callbacks.Callback):
    """Each step's training loss, recovered from the running epoch mean Keras reports
    (exact when every batch has the same size)."""

    def __init__(self):
        super().__init__()
        self.losses, self._mean = [], 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._mean = 0.0

    def on_train_batch_end(self, batch, logs=None):
        mean = float(logs["loss"])
        self.losses.append((batch + 1) * mean - batch * self._mean)
        self._mean = mean


def num(v):
    v = float(v)
    return v if math.isfinite(v) else None


def fmt(v):
    return "nan" if v is None else f"{v:.3g}"


def ratio(a, b):
    return a / b if a is not None and b else None


def per_block(record, depth):
    """Gradient norm per encoder layer: the L2 norm over its qkv, proj, fc1 and fc2 kernels."""
    sq = np.zeros(depth)
    for name, g in zip(record["layers"], record["grad_norm"]):
        if name.startswith("enc"):
            sq[int(name.split("/")[0][3:]) - 1] += g * g
    return [num(v) for v in np.sqrt(sq)]


def plots(exp, runs, depth):
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for i, (name, r) in enumerate(runs.items()):
        loss = np.array([np.nan if v is None else v for v in r["step_loss"]])
        k = max(1, len(loss) // 30)
        smooth = np.convolve(loss, np.ones(k) / k, mode="valid")
        ax.plot(np.arange(k, len(loss) + 1), smooth, color=f"C{i}", label=name.replace("_", " "))
    ax.set_xlabel("step")
    ax.set_ylabel(f"training loss (label smoothing 0.1; mean of {k} steps)")
    ax.grid(True, alpha=0.3)
    ax.legend()
    exp.save_plot(fig, "loss_curves.png")
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
    for ax, when in zip(axes, ("init", "final")):
        for i, (name, r) in enumerate(runs.items()):
            g = np.array([np.nan if v is None else max(v, 1e-30) for v in r[f"{when}_block_grad_norm"]])
            ax.semilogy(range(1, depth + 1), g, marker="o", ls="--" if "no_warmup" in name else "-",
                        color=f"C{i}", label=name.replace("_", " "))
        ax.set_title("per encoder layer, at initialisation (same init per norm)" if when == "init" else
                     "per encoder layer, at the end of training")
        ax.set_xlabel("encoder layer (input side first)")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("L2 norm of the layer's kernel gradients")
    axes[0].legend(fontsize=8)
    exp.save_plot(fig, "gradient_vs_depth.png")


def verdict(runs, noise=0.03):
    """``noise``: test-accuracy differences below it (about 2 standard errors of a difference between
    two runs on 2,000 test images) count as no difference."""
    acc = {n: r["test_accuracy"] or 0.0 for n, r in runs.items()}
    trains = {n: r["diverged_at"] is None and acc[n] >= 0.2 for n, r in runs.items()}

    def diverged(r):
        return " (diverged at epoch {}, step {})".format(*r["diverged_at"]) if r["diverged_at"] else ""

    text = "; ".join(f"{n.replace('_', ' ')}: test {acc[n]:.3f}{diverged(runs[n])}" for n in runs)
    post_gain = acc["post_norm_warmup"] - acc["post_norm_no_warmup"]
    pre_gain = acc["pre_norm_warmup"] - acc["pre_norm_no_warmup"]
    first_loss = ", ".join(f"{n.replace('_', ' ')} {fmt(r['epoch_loss'][0])}" for n, r in runs.items())
    growth = {k: runs[f"{k}_norm_warmup"]["init_block_grad_norm"] for k in ("post", "pre")}
    text += (f" (one seed, {runs['post_norm_warmup']['test_images']} test images). Warmup changes test accuracy by "
             f"{post_gain:+.3f} for post-norm and {pre_gain:+.3f} for pre-norm; first-epoch mean training loss: "
             f"{first_loss}. At init the last encoder layer's gradient is "
             f"{fmt(ratio(growth['post'][-1], growth['post'][0]))}x the first's in post-norm, "
             f"{fmt(ratio(growth['pre'][-1], growth['pre'][0]))}x in pre-norm. With warmup, pre-norm ends "
             f"{acc['pre_norm_warmup'] - acc['post_norm_warmup']:+.3f} against post-norm. ")
    pre_fine = trains["pre_norm_no_warmup"] and pre_gain <= noise
    if not trains["post_norm_no_warmup"] and trains["post_norm_warmup"] and pre_fine:
        return text + ("Supported: post-norm fails to train without warmup and trains with it; pre-norm trains "
                       "without it.")
    if all(trains.values()) and post_gain > noise and pre_fine:
        return text + (f"Supported in its weak form: every run trains, but post-norm without warmup ends "
                       f"{post_gain:.3f} below post-norm with warmup, while pre-norm does not need warmup "
                       f"(warmup gains it {pre_gain:+.3f}, not more than {noise}). Harder to train without warmup, "
                       "not untrainable, at this depth and lr.")
    if post_gain <= noise:
        return text + (f"NOT supported by this run: post-norm without warmup is within {noise} of (or better than) "
                       "post-norm with warmup; at this size and lr, with the recipe's gradient clipping, post-norm "
                       "does not need warmup.")
    return text + (f"NOT supported as stated: warmup helps post-norm ({post_gain:+.3f}) but pre-norm does not train "
                   f"as well without it ({pre_gain:+.3f}, pre-norm without warmup "
                   f"{'trains' if trains['pre_norm_no_warmup'] else 'fails'}).")


def main(argv=None):
    def extra(p):
        p.add_argument("--lr", type=float, default=2e-3, help="peak learning rate (default 2e-3)")
        p.add_argument("--epochs", type=int, default=2)
    args = experiment_args(__doc__, argv, extra=extra)
    exp = Experiment("encoder_norm_warmup", args, CLAIM)
    batch = 64
    depth, n_train, n_test, n_probe, epochs = (2, 256, 256, 64, 1) if args.quick else (12, 6400, 2000, 256, args.epochs)
    (x, y), (xt, yt) = load_fashion(n_train, n_test, seed=args.seed)
    x = x.reshape(len(x), 28, 28).astype("float32") / 255.0
    xt = xt.reshape(len(xt), 28, 28).astype("float32") / 255.0
    probe = np.random.default_rng(args.seed + 1).choice(len(x), n_probe, replace=False)
    steps = len(x) // batch
    x, y = x[:steps * batch], y[:steps * batch]  # full batches only: StepLoss is exact
    warm = 0.5
    exp.result.update(depth=depth, d_model=64, heads=4, mlp_dim=128, train_images=len(x), test_images=len(xt),
                      batch_size=batch, epochs=epochs, steps=epochs * steps, peak_lr=args.lr, warmup_epochs=warm,
                      recipe="adamw (AdamW wd 0.05, label smoothing 0.1, clipnorm 1, cosine to 0)")
    runs = {}
    for name, (norm_first, warmup) in RUNS.items():
        keras.utils.set_random_seed(args.seed)
        model = build_encoder(norm_first, depth)
        recipe = compile_for_training(model, "adamw", epochs=epochs, steps_per_epoch=steps, learning_rate=args.lr,
                                      warmup_epochs=warm if warmup else 0, verbose=False,
                                      jit_compile=False if args.quick else "auto")
        model.run_eagerly = args.quick  # --quick: 4 steps, cheaper eagerly than traced
        flow = GradientFlow(x[probe], y[probe], every=steps, out_dir=os.path.join(exp.out, name))
        step_loss, nan = StepLoss(), StopOnNaN()
        hist = model.fit(x, y, batch_size=batch, epochs=epochs, callbacks=[flow, step_loss, nan], verbose=2)
        train_acc = model.evaluate(x[:2000], y[:2000], batch_size=256, verbose=0, return_dict=True)["accuracy"]
        test_acc = model.evaluate(xt, yt, batch_size=256, verbose=0, return_dict=True)["accuracy"]
        first, last = flow.records[0], flow.records[-1]
        runs[name] = {
            "norm_first": norm_first, "warmup_steps": recipe.warmup_steps, "diverged_at": nan.diverged_at,
            "train_accuracy": num(train_acc), "test_accuracy": num(test_acc), "test_images": len(xt),
            "epoch_loss": [num(v) for v in hist.history["loss"]], "step_loss": [num(v) for v in step_loss.losses],
            "init_block_grad_norm": per_block(first, depth), "final_block_grad_norm": per_block(last, depth),
            "init_first_to_last": num(first["first_to_last"]), "final_first_to_last": num(last["first_to_last"]),
            "final_probe_step": last["step"], "layers": first["layers"],
            "init_grad_norm": [num(v) for v in first["grad_norm"]],
            "final_grad_norm": [num(v) for v in last["grad_norm"]]}
        print(f"{name}: train {train_acc:.3f}, test {test_acc:.3f}; warmup {recipe.warmup_steps} steps")
    exp.result["runs"] = runs
    plots(exp, runs, depth)
    return exp.finish(verdict(runs))


if __name__ == "__main__":
    main()
