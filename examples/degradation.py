"""The degradation problem (He et al. 2016, Figs. 1 and 6) on Fashion-MNIST.

Four CIFAR-layout nets from the registry, trained with the same recipe for the same number of
epochs: plain20 and plain56 (no shortcuts) and resnet20 and resnet56 (option-A zero-padded
identity shortcuts). After every epoch a callback evaluates each net on its whole training subset
(no augmentation, dropout-free, BatchNorm in inference mode: the clean training error) and
on a test subset. The fit history's running accuracy (with augmentation, averaged over an epoch of
changing weights) is recorded too, as ``fit_train_error``, but the verdict uses the clean one.

Claim: the 56-layer plain net has a higher *training* error than the 20-layer plain net (an
optimisation difficulty, not overfitting); with shortcuts the deeper net is as good or better.

Recipe: kerasarch's "resnet" recipe (SGD momentum 0.9, 5% warmup then cosine to 0, weight decay
1e-4, label smoothing 0.1, clip at norm 1) at batch 64 with its peak lr 0.1 (set for batch 128)
scaled to 0.05, pad-and-crop augmentation, in float32: the recipe's mixed_bfloat16 default trained
these nets about 8x slower on this CPU (an AMD EPYC without native bfloat16 arithmetic).

Full run: 1,500 training images, 1,000 test images, 4 epochs (96 SGD steps): 452 s on 2 free
cores (AVX2 EPYC). It is a small budget: the curves show the start of training, not the
paper's 64k iterations.

    python examples/degradation.py            # full run
    python examples/degradation.py --quick    # CI smoke run (64 images: one step, run eagerly)
"""

import time

from _common import Experiment, experiment_args, load_fashion  # first: it quiets TensorFlow's start-up logs

import keras  # noqa: E402
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
import numpy as np  # noqa: E402

import kerasarch  # noqa: E402
from kerasarch.data import make_dataset  # noqa: E402
from kerasarch.train import resolve_recipe  # noqa: E402

CLAIM = ("The 56-layer plain net has higher training error than the 20-layer plain net; with "
         "shortcuts (ResNet) the 56-layer net is as good as or better than the 20-layer one.")
MODELS = ("plain20", "plain56", "resnet20", "resnet56")
FULL = dict(train=1500, test=1000, epochs=4)
QUICK = dict(train=64, test=64, epochs=1)
BATCH = 64  # twice the paper's steps for the same compute; ~14% more CPU per image than 128
LR = 0.1 * BATCH / 128  # the recipe's peak lr 0.1 is for batch 128: scaled linearly
TOLERANCE = 0.01  # "as good": within one percentage point of training error


class ErrorCurves(keras.callbacks.Callback):
    """After each epoch: seconds spent training it, then clean train and test error."""

    def __init__(self, train_eval, test_eval):
        super().__init__()
        self.train_eval, self.test_eval = train_eval, test_eval
        self.curves = {"train_error": [], "test_error": [], "fit_train_error": [], "epoch_seconds": []}

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.curves["epoch_seconds"].append(round(time.perf_counter() - self.start, 2))
        self.curves["fit_train_error"].append(round(1 - float(logs["accuracy"]), 4))
        for key, ds in (("train_error", self.train_eval), ("test_error", self.test_eval)):
            accuracy = self.model.evaluate(ds, verbose=0, return_dict=True)["accuracy"]
            self.curves[key].append(round(1 - float(accuracy), 4))


def train_one(name, data, cfg, seed, eager=False):
    (x, y), (xt, yt) = data
    recipe = resolve_recipe("resnet", learning_rate=LR, mixed_precision="float32")
    model = kerasarch.create_model(name, input_shape=x.shape[1:], num_classes=10, dtype=recipe.dtype_policy())
    compile_for = dict(epochs=cfg["epochs"], steps_per_epoch=-(-len(x) // BATCH), verbose=False)
    kerasarch.compile_for_training(model, recipe, **compile_for)
    model.run_eagerly = eager  # --quick: tracing a 56-layer train step takes ~40 s, one eager step ~5 s
    train_ds = make_dataset(x, y, batch_size=BATCH, training=True, augment="crop", seed=seed)
    curves = ErrorCurves(make_dataset(x, y, batch_size=500), make_dataset(xt, yt, batch_size=500))
    model.fit(train_ds, epochs=cfg["epochs"], callbacks=[curves], verbose=0, shuffle=False)
    run = dict(curves.curves, params=model.count_params())
    steady = run["epoch_seconds"][1:] or run["epoch_seconds"]  # the first epoch also builds the graph
    run.update(final_train_error=run["train_error"][-1], final_test_error=run["test_error"][-1],
               seconds_per_epoch=round(float(np.median(steady)), 2))
    print(f"{name:9s} train error {run['final_train_error']:.4f}  test error {run['final_test_error']:.4f}  "
          f"{run['seconds_per_epoch']:.1f} s/epoch  ({run['params']:,} params)", flush=True)
    return run


def plot(runs):
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for name, run in runs.items():
        epochs = np.arange(1, len(run["train_error"]) + 1)
        style = dict(ls="--" if name.startswith("plain") else "-", lw=2.4 if name.endswith("56") else 1.3,
                     color="tab:red" if name.endswith("56") else "tab:blue", marker="o", ms=3)
        for ax, key in zip(axes, ("train_error", "test_error")):
            ax.plot(epochs, 100 * np.array(run[key]), label=name, **style)
    for ax, title in zip(axes, ("training error (whole training subset, no augmentation)", "test error")):
        ax.set(title=title, xlabel="epoch", ylabel="error (%)")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend()
    return fig


def verdict(runs):
    tr = {name: run["final_train_error"] for name, run in runs.items()}
    curve = {name: np.array(run["train_error"]) for name, run in runs.items()}
    plain_ok = tr["plain56"] > tr["plain20"]
    res_ok = tr["resnet56"] <= tr["resnet20"] + TOLERANCE
    every = bool(np.all(curve["plain56"] > curve["plain20"]))
    plain = (f"Final training error: plain56 {tr['plain56']:.2%} vs plain20 {tr['plain20']:.2%}: " +
             (f"the deeper plain net trains worse, as claimed ({'at every' if every else 'not at every'} epoch)."
              if plain_ok else "the deeper plain net trains as well or better, which CONTRADICTS the claim.") +
             (" plain56 is still at chance level: it has not started to learn in this budget." if tr["plain56"] > 0.85
              else ""))
    res = (f" resnet56 {tr['resnet56']:.2%} vs resnet20 {tr['resnet20']:.2%}: " +
           ("the deeper ResNet is " + ("better" if tr["resnet56"] < tr["resnet20"] else "as good (within 1 point)")
            + ", as claimed." if res_ok else "the deeper ResNet trains worse, which CONTRADICTS the claim."))
    summary = (" Both parts of the claim hold." if plain_ok and res_ok else
               " The claim holds only in part." if plain_ok or res_ok else " Both parts of the claim fail.")
    return plain + res + summary


def main(argv=None):
    args = experiment_args(__doc__, argv)
    exp = Experiment("degradation", args, claim=CLAIM)
    cfg = QUICK if args.quick else FULL
    data = load_fashion(train=cfg["train"], test=cfg["test"], seed=args.seed)
    exp.result["setup"] = dict(cfg, batch_size=BATCH, recipe="resnet", peak_lr=LR, dtype="float32", augment="crop",
                               run_eagerly=args.quick,
                               train_error="model.evaluate on the whole training subset after each epoch, "
                                           "no augmentation; fit_train_error is the fit history's running accuracy")
    runs = {name: train_one(name, data, cfg, args.seed, eager=args.quick) for name in MODELS}
    exp.result["runs"] = runs
    exp.save_plot(plot(runs), "degradation.png")
    exp.finish(verdict(runs))


if __name__ == "__main__":
    main()
