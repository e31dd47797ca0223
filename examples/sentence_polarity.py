"""Sentence polarity from scratch: a BiLSTM and a GRU classifier on 10,568 movie-review sentences.

The source texts' claim for the recurrent family: LSTM/GRU read a sentence in order and
keep what matters in their state, and a bidirectional RNN sees both sides of every word.
The data are Pang & Lee's sentences as the vaderSentiment ground truth ships them (label:
the sign of the mean human rating), split once 80/10/10 with the seed. Kim (2014) reports
76.1% test accuracy for a CNN trained from scratch on these sentences (CNN-rand) and 81.5%
with pretrained word2vec vectors (CNN-static): the target here is at least 76% from scratch.

Per model: a word vocabulary from the training split only (words seen twice or more), the
"adamw" recipe, the checkpoint with the best validation accuracy kept, and the test split
scored once at the end. The vocabulary is saved beside each checkpoint; the better model is
exported as a SavedModel that takes raw sentences, reloaded, and scored again from strings.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import Experiment, experiment_args  # noqa: E402

MODELS = ("bilstm_classifier", "gru_classifier")
KIM_RAND, KIM_STATIC = 76.1, 81.5


def _train(name, vocab, data, args, out):
    import keras
    import numpy as np

    import kerasarch
    from kerasarch.seqdata import LengthBuckets

    (x_train, y_train), (x_val, y_val), (x_test, y_test) = data
    keras.utils.set_random_seed(args.seed)
    units = 32 if args.quick else 128
    model = kerasarch.create_model(name, vocab_size=vocab.size, max_length=vocab.max_length, units=units, embed_dim=units,
                                   embed_dropout=0.25, dropout=0.25, drop_rate=0.5)
    epochs = 1 if args.quick else args.epochs
    batch = 64
    steps = -(-len(x_train) // batch)
    kerasarch.compile_for_training(model, "adamw", epochs=epochs, steps_per_epoch=steps, learning_rate=2e-3,
                                   weight_decay=0.01, warmup=0.05, verbose=False)
    best = os.path.join(out, f"{name}.keras")
    keep = keras.callbacks.ModelCheckpoint(best, monitor="val_accuracy", mode="max", save_best_only=True)
    # Batches of similar lengths, cut to their longest sentence (LengthBuckets): 2-3x fewer steps.
    train = LengthBuckets(x_train, y_train, batch, seed=args.seed).dataset()
    val = LengthBuckets(x_val, y_val, 256, shuffle=False).dataset()
    history = model.fit(train, validation_data=val, epochs=epochs, callbacks=[keep], verbose=2).history
    vocab.save(os.path.join(out, f"{name}.vocabulary.json"))
    model = keras.saving.load_model(best)
    test_loss, test_acc = model.evaluate(LengthBuckets(x_test, y_test, 256, shuffle=False).dataset(), verbose=0)
    return {"params": int(model.count_params()), "epochs": epochs,
            "best_val_accuracy": round(100 * float(np.max(history["val_accuracy"])), 2),
            "best_epoch": int(np.argmax(history["val_accuracy"])) + 1,
            "test_accuracy": round(100 * float(test_acc), 2),
            "train_accuracy": [round(100 * float(a), 2) for a in history["accuracy"]],
            "val_accuracy": [round(100 * float(a), 2) for a in history["val_accuracy"]]}


def _serve(name, vocab, test, out):
    """Export ``name``'s best checkpoint with its vocabulary, reload the SavedModel and score the
    test sentences sent to it as strings."""
    import keras
    import numpy as np
    import tensorflow as tf

    from kerasarch.export import export_saved_model

    model = keras.saving.load_model(os.path.join(out, f"{name}.keras"))
    path = export_saved_model(model, os.path.join(out, "serving"), vocabulary=vocab, check_texts=test[0][:64],
                              overwrite=True, version=1)
    served = tf.saved_model.load(path).signatures["serving_default"]
    answers = served(text=tf.constant(test[0]))
    accuracy = float(np.mean(answers["probabilities"].numpy().argmax(-1) == test[1]))
    return {"model": name, "saved_model": str(path), "text_parity_max_diff": path.parity["text"]["max_diff"],
            "test_accuracy_from_strings": round(100 * accuracy, 2),
            "truncated_test_sentences": int(answers["truncated"].numpy().sum())}


def main(argv=None):
    args = experiment_args(__doc__, argv, extra=lambda p: p.add_argument("--epochs", type=int, default=8))
    exp = Experiment("sentence_polarity", args,
                     claim="Recurrent classifiers trained from scratch reach Kim (2014)'s CNN-rand 76.1% on the "
                           "movie-review sentences.")
    from kerasarch.seqdata import load_movie_sentences
    from kerasarch.text import Vocabulary

    splits = load_movie_sentences(seed=args.seed)
    train_texts, y_train = splits.train
    if args.quick:
        train_texts, y_train = train_texts[:800], y_train[:800]
    vocab = Vocabulary.build(train_texts, level="word", min_count=2, max_tokens=20_000)
    # Validation and test sentences longer than the longest training one keep their first words.
    encode = lambda texts: vocab.encode(texts, too_long="truncate")  # noqa: E731
    data = ((encode(train_texts), y_train), (encode(splits.val[0]), splits.val[1]),
            (encode(splits.test[0]), splits.test[1]))
    exp.result.update(sentences={"train": len(train_texts), "val": len(splits.val[0]), "test": len(splits.test[0])},
                      vocabulary=vocab.size, max_length=vocab.max_length,
                      unknown_rate_test=round(100 * vocab.unknown_rate(splits.test[0]), 2))
    runs = {name: _train(name, vocab, data, args, exp.out) for name in MODELS}
    exp.result["runs"] = runs

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, run in runs.items():
        epochs = range(1, len(run["val_accuracy"]) + 1)
        ax.plot(epochs, run["val_accuracy"], marker="o", label=f"{name} validation")
        ax.plot(epochs, run["train_accuracy"], linestyle="--", label=f"{name} train")
    ax.axhline(KIM_RAND, color="grey", linestyle=":", label="Kim 2014 CNN-rand (test)")
    ax.axhline(KIM_STATIC, color="black", linestyle=":", label="Kim 2014 CNN-static (test)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy (%)")
    ax.legend(fontsize=7)
    exp.save_plot(fig, "accuracy.png")

    # The better model as TF Serving would get it: raw sentences in, the vocabulary inside the graph.
    best_name = max(runs, key=lambda n: runs[n]["test_accuracy"])
    exp.result["served"] = _serve(best_name, vocab, splits.test, exp.out)

    best = max(runs.values(), key=lambda r: r["test_accuracy"])
    reached = best["test_accuracy"] >= KIM_RAND
    verdict = ", ".join(f"{n} {r['test_accuracy']:.1f}%" for n, r in runs.items())
    verdict = (f"test accuracy {verdict}: {'reaches' if reached else 'misses'} CNN-rand's {KIM_RAND}% from "
               f"scratch, {KIM_STATIC - best['test_accuracy']:.1f} points short of CNN-static's {KIM_STATIC}% "
               "(pretrained word vectors)")
    exp.finish(verdict)


if __name__ == "__main__":
    main()
