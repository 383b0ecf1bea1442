"""Preprocessing on hand-worked examples: filters, order, de-duplication, k-core and id remapping."""

import numpy as np
import pytest

from engine.data.errors import DataError
from engine.data.preprocess import Options, encode, k_core, preprocess
from engine.data.readers import RawInteractions


def raw(pairs, timestamps=None, ratings=None):
    users, items = zip(*pairs)
    return RawInteractions(np.array(users, dtype=str), np.array(items, dtype=str),
                           None if timestamps is None else np.array(timestamps, np.int64),
                           None if ratings is None else np.array(ratings, np.float32))


def sequences(seqs):
    """{original user id: [original item ids]} for easy comparison with the hand-worked answer."""
    return {str(seqs.user_ids[u]): [str(seqs.item_ids[i]) for i in seqs.items[seqs.offsets[u]:seqs.offsets[u + 1]]]
            for u in range(len(seqs.user_ids))}


def test_k_core_needs_several_passes():
    # 2-core by hand: u4 has one interaction -> dropped (pass 1); item c is then left with one (u3) ->
    # dropped (pass 2); u3 is then left with one -> dropped (pass 3); pass 4 finds nothing more.
    # A single pass would wrongly keep u3.
    data = raw([("u1", "a"), ("u1", "b"), ("u2", "a"), ("u2", "b"), ("u3", "a"), ("u3", "c"), ("u4", "c")])
    seqs = preprocess(data, Options(user_core=2, item_core=2))
    assert sequences(seqs) == {"u1": ["a", "b"], "u2": ["a", "b"]}
    assert seqs.stats["k_core_passes"] == 4 and seqs.stats["after_k_core"] == 4
    assert seqs.item_ids.tolist() == ["", "a", "b"]


def test_k_core_mask_is_a_fixed_point():
    rng = np.random.default_rng(0)
    users, items = rng.integers(0, 50, 2000), rng.integers(0, 80, 2000)
    keep, _ = k_core(users, items, 5, 7)
    assert np.bincount(users[keep]).max(initial=0) >= 5
    assert all(c == 0 or c >= 5 for c in np.bincount(users[keep]))
    assert all(c == 0 or c >= 7 for c in np.bincount(items[keep]))


def test_item_core_only():
    data = raw([("1", "a"), ("2", "a"), ("2", "b")])
    assert sequences(preprocess(data, Options(item_core=2))) == {"1": ["a"], "2": ["a"]}


def test_chronological_order_with_stable_ties():
    # Equal timestamps keep file order (c, a, b for user 1), even when users are interleaved.
    data = raw([("1", "c"), ("2", "z"), ("1", "a"), ("1", "b"), ("1", "d"), ("2", "y")],
               timestamps=[5, 9, 5, 5, 1, 3])
    seqs = preprocess(data, Options())
    assert sequences(seqs) == {"1": ["d", "c", "a", "b"], "2": ["y", "z"]}
    assert seqs.timestamps.tolist() == [1, 5, 5, 5, 3, 9]


def test_without_timestamps_file_order_is_the_order():
    seqs = preprocess(raw([("1", "3"), ("2", "1"), ("1", "2"), ("1", "3")]), Options())
    assert sequences(seqs) == {"1": ["3", "2", "3"], "2": ["1"]} and seqs.timestamps is None


def test_dedup_keeps_the_chronologically_first():
    data = raw([("1", "a"), ("1", "b"), ("1", "a"), ("2", "a")], timestamps=[5, 1, 3, 1])
    seqs = preprocess(data, Options(dedup=True))
    assert sequences(seqs) == {"1": ["b", "a"], "2": ["a"]}
    assert seqs.timestamps.tolist() == [1, 3, 1]
    assert preprocess(data, Options()).stats["after_dedup"] == 4


def test_dedup_runs_before_k_core():
    # Without dedup user 1 has 2 interactions; with it only 1, so the 2-core drops the user.
    data = raw([("1", "a"), ("1", "a"), ("2", "a"), ("2", "b")])
    assert sequences(preprocess(data, Options(dedup=True, user_core=2))) == {"2": ["a", "b"]}


def test_numeric_ids_sort_numerically():
    seqs = preprocess(raw([("10", "100"), ("2", "9"), ("10", "10")]), Options())
    assert seqs.user_ids.tolist() == ["2", "10"]
    assert seqs.item_ids.tolist() == ["", "9", "10", "100"]
    assert seqs.items.tolist() == [1, 3, 2] and seqs.items.dtype == np.int32  # user 2: 9; user 10: 100, 10
    assert seqs.offsets.tolist() == [0, 1, 3] and seqs.offsets.dtype == np.int64
    assert seqs.numeric_ids


def test_text_ids_sort_lexicographically():
    seqs = preprocess(raw([("bob", "b"), ("alice", "10"), ("alice", "a")]), Options())
    assert seqs.user_ids.tolist() == ["alice", "bob"]
    assert seqs.item_ids.tolist() == ["", "10", "a", "b"] and not seqs.numeric_ids


def test_sasrec_ids_are_kept():
    seqs = preprocess(raw([("2", "3"), ("1", "1"), ("1", "2"), ("2", "1")]), Options())
    assert seqs.item_ids.tolist() == ["", "1", "2", "3"] and seqs.user_ids.tolist() == ["1", "2"]
    assert seqs.items.tolist() == [1, 2, 3, 1]


def test_filtered_ids_are_compacted():
    data = raw([("1", "5"), ("1", "7"), ("2", "6")], ratings=[5, 4, 1])
    seqs = preprocess(data, Options(min_rating=4))
    assert seqs.user_ids.tolist() == ["1"] and seqs.item_ids.tolist() == ["", "5", "7"]
    assert seqs.items.tolist() == [1, 2] and seqs.stats["after_min_rating"] == 2


def test_min_rating_is_ignored_without_ratings():
    seqs = preprocess(raw([("1", "a")]), Options(min_rating=4))
    assert seqs.stats["after_min_rating"] == 1 and "ignored" in seqs.notes[0]


def test_empty_after_filtering_names_dataset_and_settings():
    data = raw([("1", "a"), ("2", "b")], ratings=[5, 5])
    with pytest.raises(DataError, match=r"dataset 'tiny' is empty after filtering \(min_rating=0, user_core=3"):
        preprocess(data, Options(user_core=3), name="tiny")
    with pytest.raises(DataError, match=r"min_rating=5.5"):
        preprocess(data, Options(min_rating=5.5), name="tiny")


def test_encode_mixed_ids_falls_back_to_text():
    distinct, codes, numeric = encode(np.array(["2", "x", "10"]))
    assert distinct.tolist() == ["10", "2", "x"] and codes.tolist() == [1, 2, 0] and not numeric
