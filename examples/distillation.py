"""Knowledge distillation as the texts describe it: a small student learns from a large
teacher's softened outputs, ``0.7 * KL(teacher_T || student_T) * T^2 + 0.3 * CE(labels, student)``.

Claim: the distilled student is more accurate than the same student trained on the labels alone.

Setup (Fashion-MNIST, real data, the same training images for all three): teacher ResNet-20
(269k parameters); student a narrow ResNet-8 (one basic block per stage, widths 8/16/32,
kerasarch's ``build_resnet`` with a custom ``ResNetVariant``). The student is trained twice
with the same recipe ("resnet": SGD momentum, warmup + cosine), epochs and seed: alone on the
labels (cross-entropy), and through ``kerasarch.train.Distiller`` (T = 4, alpha = 0.7).

    python examples/distillation.py            # full run, 1,510 s on 2 AVX2 cores (over 20 min)
    python examples/distillation.py --quick    # CI smoke run
"""

import os

import numpy as np

from _common import Experiment, experiment_args, load_fashion

CLAIM = ("A student trained on 0.7 x KL to the teacher's softened outputs + 0.3 x cross-entropy "
         "is more accurate than the same student trained on the labels alone.")


def main(argv=None):
    args = experiment_args(__doc__, argv)
    import keras

    import kerasarch
    from kerasarch.data import make_dataset
    from kerasarch.models.resnet import ResNetVariant, build_resnet
    from kerasarch.train import Distiller
    from kerasarch.train.recipe import resolve_recipe

    exp = Experiment("distillation", args, CLAIM)
    quick = args.quick
    images, teacher_epochs, student_epochs = (512, 1, 1) if quick else (20000, 5, 10)
    teacher_name = "resnet20"
    # --quick: 512 test images, and every step run eagerly (tracing four train/test functions of a
    # ResNet cost more than the few steps they run).
    (x, y), (xt, yt) = load_fashion(train=images, test=512 if quick else None, seed=args.seed)
    train = make_dataset(x, y, training=True, augment="crop", seed=args.seed)
    test = make_dataset(xt, yt, batch_size=500)
    steps = int(np.ceil(len(x) / 128))

    def student():
        variant = ResNetVariant("resnet8_narrow", "basic", (1, 1, 1), widths=(8, 16, 32), cifar=True)
        return build_resnet(variant, input_shape=(28, 28, 1), num_classes=10)

    def params(model):
        return int(sum(np.prod(v.shape) for v in model.trainable_weights))

    teacher = kerasarch.create_model(teacher_name, input_shape=(28, 28, 1), num_classes=10)
    kerasarch.compile_for_training(teacher, "resnet", epochs=teacher_epochs, steps_per_epoch=steps, verbose=False)
    teacher.run_eagerly = quick
    teacher.fit(train, epochs=teacher_epochs, verbose=2)
    _, teacher_acc = teacher.evaluate(test, verbose=0)
    t_params = params(teacher)  # before the Distiller freezes it
    print(f"teacher {teacher_name}: test accuracy {teacher_acc:.4f}")

    runs = {}
    for arm in ("alone", "distilled"):
        keras.utils.set_random_seed(args.seed)
        model = student()
        if arm == "alone":
            kerasarch.compile_for_training(model, "resnet", epochs=student_epochs, steps_per_epoch=steps,
                                           label_smoothing=0.0, verbose=False)
            trainer = model
        else:
            plan = resolve_recipe("resnet", epochs=student_epochs, steps_per_epoch=steps)
            trainer = Distiller(model, teacher, temperature=4.0, alpha=0.7)
            trainer.compile(optimizer=plan.make_optimizer(model), metrics=["accuracy"])
        trainer.run_eagerly = quick
        history = trainer.fit(train, validation_data=test, epochs=student_epochs, verbose=0)
        acc = [round(float(a), 4) for a in history.history["val_accuracy"]]
        runs[arm] = {"test_accuracy_per_epoch": acc, "final_test_accuracy": acc[-1]}
        print(f"student {arm}: test accuracy {acc[-1]:.4f}")

    s_params = params(model)
    gain = round(100 * (runs["distilled"]["final_test_accuracy"] - runs["alone"]["final_test_accuracy"]), 2)
    exp.result.update({
        "training_images": int(len(x)), "test_images": int(len(xt)),
        "teacher": {"model": teacher_name, "params": t_params, "epochs": teacher_epochs,
                    "test_accuracy": round(float(teacher_acc), 4)},
        "student": {"model": "resnet8 (widths 8/16/32)", "params": s_params, "epochs": student_epochs},
        "parameter_ratio_teacher_to_student": round(t_params / s_params, 1),
        "temperature": 4.0, "alpha": 0.7, "runs": runs, "gain_points": gain,
        "note": "the label-only student uses plain cross-entropy (no label smoothing) so the two arms differ "
                "only in the teacher term",
    })

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.8))
    for arm, style in (("distilled", "-"), ("alone", "--")):
        acc = runs[arm]["test_accuracy_per_epoch"]
        ax.plot(range(1, len(acc) + 1), acc, style, marker="o", label=f"student {arm}")
    ax.axhline(teacher_acc, color="grey", lw=1, label=f"teacher {teacher_name}")
    ax.set(xlabel="epoch", ylabel="test accuracy", title=f"ResNet-8 ({s_params:,} params) distilled from "
                                                          f"{teacher_name} ({t_params:,})")
    ax.grid(alpha=0.3)
    ax.legend()
    exp.save_plot(fig, "distillation.png")

    a, d = runs["alone"]["final_test_accuracy"], runs["distilled"]["final_test_accuracy"]
    verdict = (f"student alone {a:.4f}, distilled {d:.4f} ({gain:+.2f} points), teacher {teacher_acc:.4f}, "
               f"{t_params / s_params:.0f}x fewer parameters. ")
    verdict += "Confirmed." if gain > 0 else "Not confirmed in this run: distillation did not help."
    exp.finish(verdict)


if __name__ == "__main__":
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    main()
