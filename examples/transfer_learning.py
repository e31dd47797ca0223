"""Transfer learning as the texts describe it: pretrain, bring the weights over, freeze the
first layers, train the pretrained part at a lower learning rate than the new head.

Claim: a network pretrained on related data, fine-tuned with a few hundred labelled images,
beats the same network trained from scratch on those images.

Setup (Fashion-MNIST, real data): ResNet-20 pretrained on classes 0-4 (T-shirt, Trouser,
Pullover, Dress, Coat); the target task is classes 5-9 (Sandal, Shirt, Sneaker, Bag, Ankle
boot), with only N labelled training images (N/5 per class, N = 100 and 500 in the full run).
Both arms use the same recipe ("resnet": SGD momentum, warmup + cosine, label smoothing),
epochs and images, and are tested on all 5,000 test images of classes 5-9 (every 5th epoch):

* transfer: ``kerasarch.train.transfer_model`` (every weight but the head from the pretrained
  model, stem and stage 1 frozen with BatchNorm in inference mode), ``compile_transfer``
  (backbone at 0.1x the head's learning rate);
* scratch: the same architecture, randomly initialised, everything at the full rate.

    python examples/transfer_learning.py            # full run, 913 s on 2 cores
    python examples/transfer_learning.py --quick    # CI smoke run
"""

import os

import numpy as np

from _common import Experiment, experiment_args, load_fashion

CLAIM = ("Pretraining on related data, then fine-tuning the pretrained layers at a lower learning rate "
         "with the first layers frozen, beats training the same network from scratch on a few hundred images.")


def main(argv=None):
    args = experiment_args(__doc__, argv)
    import keras

    import kerasarch
    from kerasarch.data import make_dataset
    from kerasarch.train import compile_transfer, transfer_model

    exp = Experiment("transfer_learning", args, CLAIM)
    quick = args.quick
    pretrain_images, pretrain_epochs = (512, 1) if quick else (24000, 4)
    sizes, epochs = ([50], 1) if quick else ([100, 500], 30)
    # Testing all 5,000 target images after each of 30 epochs would cost more than the training;
    # the full run tests every 5th epoch.
    test_every = 1 if quick else 5
    test_epochs = list(range(test_every, epochs + 1, test_every))
    (x, y), (xt, yt) = load_fashion(seed=args.seed)
    source, target = y < 5, y >= 5

    # 1. Pretrain on classes 0-4.
    xs, ys = x[source][:pretrain_images], y[source][:pretrain_images]
    pretrained = kerasarch.create_model("resnet20", input_shape=(28, 28, 1), num_classes=5)
    steps = int(np.ceil(len(xs) / 128))
    kerasarch.compile_for_training(pretrained, "resnet", epochs=pretrain_epochs, steps_per_epoch=steps, verbose=False)
    pretrained.run_eagerly = quick  # --quick: a few steps, cheaper eagerly than traced
    pretrained.fit(make_dataset(xs, ys, training=True, augment="crop", seed=args.seed), epochs=pretrain_epochs,
                   verbose=2)
    if quick:  # 1,000 of the 10,000 test images
        xt, yt = xt[:1000], yt[:1000]
    src_test = yt < 5
    _, pretrain_acc = pretrained.evaluate(make_dataset(xt[src_test], yt[src_test], batch_size=500), verbose=0)
    exp.result["pretrain"] = {"classes": [0, 1, 2, 3, 4], "images": int(len(xs)), "epochs": pretrain_epochs,
                              "test_accuracy_on_0_4": round(float(pretrain_acc), 4)}
    print(f"pretrained on classes 0-4: test accuracy {pretrain_acc:.4f}")

    # 2. The target task: classes 5-9 relabelled 0-4, N labelled images, the full target test set.
    tgt_test = yt >= 5
    test_ds = make_dataset(xt[tgt_test], yt[tgt_test] - 5, batch_size=500)
    rng = np.random.default_rng(args.seed)
    runs = {}
    for n in sizes:
        idx = np.concatenate([rng.permutation(np.flatnonzero(target & (y == c)))[:n // 5] for c in range(5, 10)])
        xn, yn = x[idx], y[idx] - 5
        batch = min(64, n)
        steps = int(np.ceil(n / batch))
        train_ds = make_dataset(xn, yn, batch_size=batch, training=True, augment="crop", seed=args.seed)
        curves = {}
        for arm in ("transfer", "scratch"):
            keras.utils.set_random_seed(args.seed)
            if arm == "transfer":
                model = transfer_model("resnet20", 5, weights=pretrained, freeze_up_to="stage1_block3",
                                       input_shape=(28, 28, 1))
                compile_transfer(model, "resnet", epochs=epochs, steps_per_epoch=steps, learning_rate=0.05,
                                 verbose=False)
            else:
                model = kerasarch.create_model("resnet20", input_shape=(28, 28, 1), num_classes=5)
                kerasarch.compile_for_training(model, "resnet", epochs=epochs, steps_per_epoch=steps,
                                               learning_rate=0.05, verbose=False)
            model.run_eagerly = quick
            history = model.fit(train_ds, validation_data=test_ds, validation_freq=test_every, epochs=epochs,
                                verbose=0)
            acc = [round(float(a), 4) for a in history.history["val_accuracy"]]
            curves[arm] = {"test_accuracy": acc, "final_test_accuracy": acc[-1],
                           "trainable_params": int(sum(np.prod(v.shape) for v in model.trainable_weights))}
            print(f"N={n} {arm}: test accuracy on classes 5-9 {acc[-1]:.4f}")
        curves["gain_points"] = round(100 * (curves["transfer"]["final_test_accuracy"]
                                             - curves["scratch"]["final_test_accuracy"]), 2)
        runs[str(n)] = curves
    exp.result.update({"target_classes": [5, 6, 7, 8, 9], "epochs": epochs, "test_epochs": test_epochs,
                       "learning_rate": 0.05,
                       "frozen": "stem and stage 1 (up to stage1_block3)", "backbone_lr_multiplier": 0.1,
                       "test_images": int(tgt_test.sum()), "runs": runs})

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(sizes), figsize=(5 * len(sizes), 3.6), squeeze=False)
    for ax, n in zip(axes[0], sizes):
        for arm, style in (("transfer", "-"), ("scratch", "--")):
            acc = runs[str(n)][arm]["test_accuracy"]
            ax.plot(test_epochs, acc, style, marker="o", label=arm)
        ax.set(title=f"classes 5-9, N = {n} labelled images", xlabel="epoch", ylabel="test accuracy")
        ax.grid(alpha=0.3)
        ax.legend()
    exp.save_plot(fig, "transfer_vs_scratch.png")

    verdicts = []
    for n in sizes:
        r = runs[str(n)]
        t, s = r["transfer"]["final_test_accuracy"], r["scratch"]["final_test_accuracy"]
        verdicts.append(f"N={n}: transfer {t:.3f} vs scratch {s:.3f} ({r['gain_points']:+.1f} points)")
    better = all(runs[str(n)]["gain_points"] > 0 for n in sizes)
    verdict = "; ".join(verdicts) + (". Confirmed: the pretrained network wins at every N." if better else
                                     ". Not confirmed at every N: see the numbers.")
    exp.finish(verdict)


if __name__ == "__main__":
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    main()
