"""Grapheme to phoneme on CMUdict: a sequence-to-sequence LSTM with attention, letters in, phonemes out.

The source texts' claim for the encoder-decoder family: an encoder reads the input sequence,
a decoder with attention writes a different-length output sequence from it. CMUdict's
117,493 alphabetic words are split once by word (85/5/10, a word and all its pronunciations
in one split); phonemes lose their stress (the 39-symbol set). Anchors on an older CMUdict
split: bi-LSTM 5.45% PER / 23.55% WER (Yao & Zweig 2015), Transformer 5.23% / 22.1%
(Yolchuyeva et al. 2019). The target here: PER <= 8% and WER <= 35%.

A character vocabulary (words) and a phoneme vocabulary with start and end markers, both from
the training split only; ``seq2seq_lstm_attention`` (2 bidirectional encoder levels, additive
attention) trained with teacher forcing on every (word, pronunciation) pair, the "adamw"
recipe, the checkpoint with the best validation token accuracy kept. The test split is
decoded once, greedily and with a beam of 5 (a word counts as right when it equals any of its
references; PER against the closest one). The model is exported as a SavedModel that takes
words and returns phoneme strings, reloaded, and asked again.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import Experiment, experiment_args  # noqa: E402

ANCHORS = {"bi-LSTM (Yao & Zweig 2015)": (5.45, 23.55), "Transformer (Yolchuyeva et al. 2019)": (5.23, 22.1)}
TARGET_PER, TARGET_WER = 8.0, 35.0
START, END = "<s>", "</s>"


def _pairs(words, prons, chars, phones):
    """Every (word, pronunciation) pair as source ids, decoder inputs and next-token labels."""
    from kerasarch.decoding import teacher_forcing

    flat_words = [w for w, refs in zip(words, prons) for _ in refs]
    flat_prons = [p for refs in prons for p in refs]
    source = chars.encode(flat_words)
    target, labels = teacher_forcing(phones.encode(flat_prons), phones.id(START), phones.id(END))
    return {"source": source, "target": target}, labels


def _decode(model, chars, phones, words, beam_width):
    from kerasarch.decoding import generate

    tokens = generate(model, chars.encode(words), beam_width=beam_width, batch_size=512)
    return phones.decode(tokens, stop_at=phones.id(END))


def _plot_alignments(model, chars, phones, words, exp):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from kerasarch.decoding import attention_weights, generate

    source = chars.encode(words)
    tokens = generate(model, source)
    # The decoder's inputs when it wrote these tokens: the start marker, then what it wrote.
    target = np.concatenate([np.full((len(words), 1), phones.id(START)), tokens[:, :-1]], axis=1)
    weights = attention_weights(model, source, target)
    predicted = phones.decode(tokens, stop_at=phones.id(END))
    fig, axes = plt.subplots(1, len(words), figsize=(3.2 * len(words), 3.4))
    for ax, word, pron, w in zip(np.atleast_1d(axes), words, predicted, weights):
        rows = pron.split() + [END]
        ax.imshow(w[:len(rows), :len(word)], cmap="Greys", vmin=0, vmax=1, aspect="auto")
        ax.set_xticks(range(len(word)), list(word))
        ax.set_yticks(range(len(rows)), rows, fontsize=7)
        ax.set_title(word, fontsize=9)
    exp.save_plot(fig, "alignments.png")


def main(argv=None):
    def extra(p):
        p.add_argument("--epochs", type=int, default=5)
        p.add_argument("--batch-size", type=int, default=256)

    args = experiment_args(__doc__, argv, extra=extra)
    exp = Experiment("g2p_cmudict", args,
                     claim=f"An LSTM encoder-decoder with attention converts spelling to pronunciation: "
                           f"PER <= {TARGET_PER}% and WER <= {TARGET_WER}% on held-out CMUdict words.")
    import keras
    import numpy as np

    import kerasarch
    from kerasarch.decoding import error_rates
    from kerasarch.export import export_seq2seq_saved_model
    from kerasarch.seqdata import LengthBuckets, load_cmudict
    from kerasarch.text import Vocabulary

    splits = load_cmudict(seed=args.seed)
    (train_w, train_p), (val_w, val_p), (test_w, test_p) = splits.train, splits.val, splits.test
    if args.quick:
        train_w, train_p, val_w, val_p, test_w, test_p = (train_w[:800], train_p[:800], val_w[:100], val_p[:100],
                                                          test_w[:100], test_p[:100])
    chars = Vocabulary.build(train_w, level="char", max_length=32)
    phones = Vocabulary.build([p for refs in train_p for p in refs], level="word", lowercase=False,
                              strip_punctuation=False, reserved=(START, END), max_length=32)
    x_train, y_train = _pairs(train_w, train_p, chars, phones)
    x_val, y_val = _pairs(val_w, val_p, chars, phones)
    exp.result.update(words={"train": len(train_w), "val": len(val_w), "test": len(test_w)},
                      pairs_train=int(len(y_train)), letters=chars.size, phonemes=phones.size)

    keras.utils.set_random_seed(args.seed)
    small = args.quick
    model = kerasarch.create_model(
        "seq2seq_lstm_attention", vocab_size=chars.size, target_vocab_size=phones.size, max_length=32,
        max_target_length=33, start_id=phones.id(START), end_id=phones.id(END), embed_dim=32 if small else 64,
        encoder_units=32 if small else 128, decoder_units=64 if small else 256, dropout=0.1 if small else 0.2)
    epochs = 1 if args.quick else args.epochs
    batch = args.batch_size
    train = LengthBuckets(x_train, y_train, batch, seed=args.seed).dataset()
    val = LengthBuckets(x_val, y_val, 512, shuffle=False).dataset()
    steps = len(LengthBuckets(x_train, y_train, batch).batches(0))
    kerasarch.compile_for_training(model, "adamw", epochs=epochs, steps_per_epoch=steps, learning_rate=3e-3,
                                   weight_decay=0.01, warmup=0.03, label_smoothing=0.0, verbose=False)
    best = os.path.join(exp.out, "g2p.keras")
    keep = keras.callbacks.ModelCheckpoint(best, monitor="val_accuracy", mode="max", save_best_only=True)
    history = model.fit(train, validation_data=val, epochs=epochs, callbacks=[keep], verbose=2).history
    chars.save(os.path.join(exp.out, "g2p.source_vocabulary.json"))
    phones.save(os.path.join(exp.out, "g2p.target_vocabulary.json"))
    model = keras.saving.load_model(best)
    exp.result.update(params=int(model.count_params()), epochs=epochs,
                      best_epoch=int(np.argmax(history["val_accuracy"])) + 1,
                      val_token_accuracy=[round(100 * float(a), 2) for a in history["val_accuracy"]],
                      train_token_accuracy=[round(100 * float(a), 2) for a in history["accuracy"]])

    import time

    scores = {}
    # The quick run decodes the test words only (each search compiles once per split's shapes).
    splits_to_decode = (("test", test_w, test_p),) if args.quick else (("val", val_w, val_p), ("test", test_w, test_p))
    for split, words, refs in splits_to_decode:
        for beam in (1, 5):
            start = time.time()
            rates = error_rates(_decode(model, chars, phones, words, beam), refs)
            scores[f"{split}_{'greedy' if beam == 1 else 'beam5'}"] = {
                "per": round(rates["per"], 2), "wer": round(rates["wer"], 2), "decode_s": round(time.time() - start, 1)}
    exp.result["error_rates"] = scores
    _plot_alignments(model, chars, phones, ["knight", "photograph", "xylophone", "psychology"] if not args.quick
                     else ["knight"], exp)

    # As TF Serving gets it: words in, phoneme strings out, the beam search inside the graph.
    import tensorflow as tf

    chosen = "test" if args.quick else "val"  # the full run picks the search on validation, never on test
    beam = 5 if scores[f"{chosen}_beam5"]["wer"] <= scores[f"{chosen}_greedy"]["wer"] else 1
    path = export_seq2seq_saved_model(model, os.path.join(exp.out, "serving"), chars, phones, beam_width=beam,
                                      check_texts=test_w[:32], overwrite=True, version=1)
    served = tf.saved_model.load(path).signatures["serving_default"]
    asked = test_w[:500]
    answers = [t.decode() for t in served(text=tf.constant(asked))["output_text"].numpy()]
    exp.result["served"] = {"saved_model": str(path), "beam_width": beam,
                            "words_asked": len(asked), "wer_from_strings": round(error_rates(answers, test_p[:500])["wer"], 2),
                            "examples": dict(zip(asked[:5], answers[:5]))}

    greedy, beam5 = scores["test_greedy"], scores["test_beam5"]
    reached = min(greedy["per"], beam5["per"]) <= TARGET_PER and min(greedy["wer"], beam5["wer"]) <= TARGET_WER
    verdict = (f"test PER/WER greedy {greedy['per']:.2f}% / {greedy['wer']:.2f}%, beam 5 {beam5['per']:.2f}% / "
               f"{beam5['wer']:.2f}%: {'reaches' if reached else 'misses'} PER <= {TARGET_PER}% and WER <= "
               f"{TARGET_WER}%; the bi-LSTM anchor is 5.45% / 23.55% (another split)")
    exp.finish(verdict)


if __name__ == "__main__":
    main()
