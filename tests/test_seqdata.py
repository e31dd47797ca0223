"""Text and series data (real files from PyPI packages), vocabularies and windows."""

import numpy as np
import pytest

from kerasarch.seqdata import LengthBuckets, ShuffledBatches, load_elecdemand, load_movie_sentences, make_windows
from kerasarch.text import SubwordVocabulary, Vocabulary


@pytest.fixture(scope="module")
def sentences():
    return load_movie_sentences()


def test_movie_sentences_are_pang_and_lees_with_a_fixed_disjoint_split(sentences):
    texts = sentences.train[0] + sentences.val[0] + sentences.test[0]
    labels = np.concatenate([sentences.train[1], sentences.val[1], sentences.test[1]])
    # 10,605 rated sentences less the 37 rated exactly 0; the published class sizes.
    assert len(texts) == 10_568 and (labels == 1).sum() == 5_242 and (labels == 0).sum() == 5_326
    assert (len(sentences.train[0]), len(sentences.val[0]), len(sentences.test[0])) == (8_454, 1_057, 1_057)
    assert not set(sentences.train[0]) & set(sentences.test[0])
    assert load_movie_sentences().test[0][:5] == sentences.test[0][:5]  # the same split every time
    assert sentences.class_names == ("negative", "positive")


def test_vocabulary_comes_from_the_training_split_and_handles_bad_text(sentences, tmp_path):
    vocab = Vocabulary.build(sentences.train[0], min_count=2)
    assert vocab.tokens[:2] == ["", "[UNK]"] and vocab.max_length == 51
    ids = vocab.encode(["The movie is a gorgeous zzyzxq mess"])
    assert ids.shape == (1, 51) and ids.dtype == np.int32
    assert ids[0, 5] == 1 and (ids[0, 7:] == 0).all()  # an unknown word is [UNK]; padding at the end
    assert vocab.decode(ids) == ["the movie is a gorgeous [UNK] mess"]
    with pytest.raises(ValueError, match="no word tokens"):
        vocab.encode(["good", " ?! "])
    with pytest.raises(ValueError, match="more than max_length=51"):
        vocab.encode(["word " * 60])
    assert (vocab.encode(["good " * 60], too_long="truncate") != 0).sum() == 51
    with pytest.raises(ValueError, match="outside this vocabulary"):
        vocab.decode([[vocab.size]])
    with pytest.raises(TypeError, match="must be strings"):
        vocab.encode([3])
    path = vocab.save(str(tmp_path))
    again = Vocabulary.load(path)
    assert again.tokens == vocab.tokens and np.array_equal(again.encode(sentences.test[0][:20], too_long="truncate"),
                                                           vocab.encode(sentences.test[0][:20], too_long="truncate"))
    assert 0 < vocab.unknown_rate(sentences.test[0]) < 0.2


def test_character_vocabulary():
    vocab = Vocabulary.build(["hello", "world"], level="char")
    assert vocab.max_length == 5 and set(vocab.tokens[2:]) == set("helowrd")
    assert vocab.decode(vocab.encode(["lower"])) == ["lower"]
    assert vocab.decode(vocab.encode(["Hax"])) == ["h[UNK][UNK]"]


def test_subword_vocabulary_spells_unseen_words_from_training_pieces(sentences, tmp_path):
    words = Vocabulary.build(sentences.train[0], min_count=2)
    vocab = Vocabulary.build(sentences.train[0], level="subword", max_tokens=8000, min_count=2)
    assert isinstance(vocab, SubwordVocabulary) and vocab.size == 8000 and vocab.tokens[:2] == ["", "[UNK]"]
    # The point of subwords: a test word the training split never had is pieces, not [UNK].
    assert words.unknown_rate(sentences.test[0]) > 0.05 and vocab.unknown_rate(sentences.test[0]) < 0.001
    unseen = next(w for w in "the movie is a gorgeous mess of unwatchableness".split()
                  if w not in set(" ".join(sentences.train[0]).lower().split()))
    ids = vocab.encode([f"a {unseen} film"])
    pieces = [vocab.tokens[i] for i in ids[0] if i]
    assert len(pieces) > 3 and any(p.startswith("##") for p in pieces) and 1 not in ids
    assert vocab.decode(ids) == [f"a {unseen} film"]
    # Every training sentence fits (max_length is the longest in pieces) and comes back standardized.
    train = vocab.encode(sentences.train[0][:200])
    assert train.shape == (200, vocab.max_length) and (train[:, 0] != 0).all()
    assert vocab.decode(train[:3]) == [" ".join(vocab._tokenizer.decode(vocab._pieces([t])[0]).split())
                                       for t in sentences.train[0][:3]]
    with pytest.raises(ValueError, match="no subword tokens"):
        vocab.encode(["good", "   "])
    with pytest.raises(ValueError, match=f"more than max_length={vocab.max_length}"):
        vocab.encode(["word " * (vocab.max_length + 1)])
    assert (vocab.encode(["good " * 100], too_long="truncate") != 0).sum() == vocab.max_length
    again = Vocabulary.load(vocab.save(str(tmp_path)))
    assert isinstance(again, SubwordVocabulary) and again.tokens == vocab.tokens
    np.testing.assert_array_equal(again.encode(sentences.test[0], too_long="truncate"),
                                  vocab.encode(sentences.test[0], too_long="truncate"))
    markers = Vocabulary.build(sentences.train[0][:500], level="subword", max_tokens=500, reserved=("<s>", "</s>"))
    assert markers.id("<s>") == 2 and markers.id("</s>") == 3
    with pytest.raises(ValueError, match="a SavedModel cannot hold"):
        vocab.layer()


def test_epoch_streams_are_the_epochs_of_the_seed_whatever_range_they_are_drawn_in():
    """What a resumed run relies on: epoch e's batches depend on (seed, e) alone, and a stream that
    starts part-way into an epoch goes on with exactly the batches an unbroken one has there."""
    rng = np.random.default_rng(1)
    ids = np.zeros((100, 12), "int32")
    for i, n in enumerate(rng.integers(1, 12, size=100)):
        ids[i, :n] = rng.integers(2, 30, size=n)
    for plan in (LengthBuckets(ids, np.arange(100), batch_size=8, seed=3),
                 ShuffledBatches(rng.normal(size=(100, 6, 2)).astype("float32"), np.arange(100), batch_size=8, seed=3)):
        whole = [np.asarray(y) for _, y in plan.stream(range(0, 3))]
        assert len(whole) == 3 * len(plan) and len(plan) == 13
        resumed = [np.asarray(y) for _, y in plan.stream(range(1, 2), skip=5)] + \
                  [np.asarray(y) for _, y in plan.stream(range(2, 3))]
        for a, b in zip(whole[13 + 5:], resumed, strict=True):
            np.testing.assert_array_equal(a, b)
        assert sorted(np.concatenate(whole[:13])) == list(range(100))  # each row once an epoch
        with pytest.raises(ValueError, match=r"skip must be an integer in \[0, 13\)"):
            plan.stream(range(1), skip=13)


def test_length_buckets_visit_every_row_once_and_cut_padding():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 40, size=300)
    ids = np.zeros((300, 40), "int32")
    for i, n in enumerate(lengths):
        ids[i, :n] = rng.integers(2, 50, size=n)
    buckets = LengthBuckets(ids, np.arange(300), batch_size=16, multiple=8)
    data = buckets.dataset()  # what fit takes: batches of several widths, one epoch per pass
    epochs = [[(np.asarray(x), np.asarray(y)) for x, y in data] for _ in range(2)]
    for batches in epochs:
        seen = []
        for x, y in batches:
            assert x.shape[1] % 8 == 0 or x.shape[1] == 40
            assert (x != 0).sum(1).max() > x.shape[1] - 8  # cut to its longest row
            np.testing.assert_array_equal(x, ids[y, :x.shape[1]])
            seen += list(y)
        assert sorted(seen) == list(range(300))
    assert len({x.shape[1] for x, _ in epochs[0]}) > 2
    assert [list(y) for _, y in epochs[0]] != [list(y) for _, y in epochs[1]]  # reshuffled


def test_elecdemand_splits_in_time():
    s = load_elecdemand()
    assert len(s.train) + len(s.val) + len(s.test) == 17_520 and s.train.shape[1] == 5
    assert len(s.test) == 61 * 48 and len(s.val) == 30 * 48
    np.testing.assert_allclose(s.scale(s.train).mean(0), 0, atol=1e-4)
    assert 3 < s.train[:, 0].mean() < 6  # GW


def test_windows_align_targets_with_the_steps_after_each_window():
    series = np.arange(40, dtype="float32")[:, None] * np.array([[1.0, -1.0]], "float32")
    x, y = make_windows(series, lookback=5, horizon=3, stride=4)
    assert x.shape == (9, 5, 2) and y.shape == (9, 3)
    np.testing.assert_array_equal(x[1, :, 0], np.arange(4, 9))
    np.testing.assert_array_equal(y[1], [9, 10, 11])
    # With context, the first window looks back into it and its target is the series' first steps.
    xc, yc = make_windows(series[20:], lookback=5, horizon=3, stride=3, context=series[:20])
    np.testing.assert_array_equal(xc[0, :, 0], np.arange(15, 20))
    np.testing.assert_array_equal(yc[0], [20, 21, 22])


def test_known_future_columns_run_on_through_the_horizon_and_nothing_else_does():
    series = np.stack([np.arange(40), 100 + np.arange(40), 200 + np.arange(40)], axis=1).astype("float32")
    x, y = make_windows(series, lookback=5, horizon=3, stride=4, known_future=[2])
    assert x.shape == (9, 8, 4) and y.shape == (9, 3)
    np.testing.assert_array_equal(x[1, :5, :3], series[4:9])      # the past, every column
    np.testing.assert_array_equal(x[1, 5:, 2], series[9:12, 2])     # the known column, ahead
    assert (x[1, 5:, :2] == 0).all()                                # the target and the unknown: hidden
    np.testing.assert_array_equal(x[1, :, 3], [0, 0, 0, 0, 0, 1, 1, 1])  # which steps to forecast
    np.testing.assert_array_equal(y[1], series[9:12, 0])
    with pytest.raises(ValueError, match="known_future must name feature columns in \\[0, 3\\) other than the target"):
        make_windows(series, 5, 3, known_future=[0])


def test_windows_refuse_nan_and_short_series():
    series = np.ones((30, 2), "float32")
    series[7, 1] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite value.*step 7, feature 1"):
        make_windows(series, 5, 2)
    with pytest.raises(ValueError, match="too short for one window.*at least 12 steps"):
        make_windows(np.ones((10, 1)), 8, 4)
