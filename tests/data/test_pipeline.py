import numpy as np
import pytest

from engine.data import pipeline
from engine.data.dataset import SequenceDataset
from engine.data.errors import DataError
from engine.data.pipeline import TrainBatches, bucket_of, eval_batches, left_pad
from engine.data.splits import leave_one_out, make_split


def dataset(sequences):
    lengths = [len(s) for s in sequences]
    items = np.concatenate(sequences)
    return SequenceDataset(name="hand", num_items=int(items.max()), offsets=np.concatenate([[0], np.cumsum(lengths)]),
                           items=items, timestamps=None, user_ids=[f"u{i}" for i in range(len(sequences))],
                           item_ids=[""] + [str(i) for i in range(1, int(items.max()) + 1)])


SEQS = [np.array([1, 2, 3, 4, 5]), np.array([6, 7, 8]), np.array([9, 1, 2, 3, 4, 5, 6, 7])]


def test_leave_one_out_by_hand():
    split = leave_one_out(dataset(SEQS))
    assert [list(split.items[s:e]) for s, e in zip(split.train_starts, split.train_ends)] == \
        [[1, 2, 3], [6], [9, 1, 2, 3, 4, 5]]
    assert list(split.valid.targets) == [4, 7, 6] and list(split.test.targets) == [5, 8, 7]
    # The test prompt includes the validation item.
    assert [list(split.items[s:e]) for s, e in zip(split.test.starts, split.test.ends)][1] == [6, 7]


def test_users_too_short_for_the_split():
    with pytest.raises(DataError, match="fewer than 3 interactions.*user 'u1' with 2.*data.user_core"):
        leave_one_out(dataset([np.array([1, 2, 3]), np.array([4, 5])]))


def test_unknown_protocol():
    with pytest.raises(ValueError, match="split.protocol"):
        make_split(dataset(SEQS), "random_holdout")


def test_left_pad_takes_the_last_items():
    items = np.arange(1, 11)
    out = left_pad(items, np.array([0, 2, 5]), np.array([3, 9, 5]), 4)
    np.testing.assert_array_equal(out, [[0, 1, 2, 3], [6, 7, 8, 9], [0, 0, 0, 0]])


def test_bucket_of():
    np.testing.assert_array_equal(bucket_of(np.array([1, 10, 11, 50, 999]), (10, 20, 50)), [10, 10, 20, 50, 50])


def test_train_windows_are_next_item_pairs():
    split = leave_one_out(dataset(SEQS))
    batches = TrainBatches(split, batch_size=4, max_len=4, buckets=(2, 4), seed=0)
    seen = {}
    for step in range(batches.steps_per_epoch):
        b = batches.batch(step)
        for x, y in zip(b["inputs"], b["targets"]):
            if y.any():
                seen[tuple(y[y > 0])] = tuple(x[x > 0])
    # user 0 trains on [1,2,3]; user 2 on the last 5 of [9,1,2,3,4,5] (window 4 + 1); user 1 has no pair.
    assert seen == {(2, 3): (1, 2), (2, 3, 4, 5): (1, 2, 3, 4)}


def test_plan_is_deterministic_and_covers_every_user_once_per_epoch():
    rng = np.random.default_rng(0)
    seqs = [rng.integers(1, 50, size=n) for n in rng.integers(3, 40, size=37)]
    split = leave_one_out(dataset(seqs))
    a = TrainBatches(split, batch_size=8, max_len=16, buckets=(4, 8, 16), seed=3)
    b = TrainBatches(split, batch_size=8, max_len=16, buckets=(4, 8, 16), seed=3)
    windows, rows, _ = a.plan(0)
    np.testing.assert_array_equal(rows, b.plan(0)[1])
    trainable = np.flatnonzero(split.train_ends - split.train_starts >= 2)  # at least one (input, target) pair
    assert sorted(rows[rows >= 0]) == list(trainable)
    assert not np.array_equal(rows, a.plan(1)[1])
    assert len(windows) == a.steps_per_epoch
    # Every sequence in a batch fits the batch's window (no truncation beyond max_len).
    lengths = split.train_ends - split.train_starts - 1
    for w, r in zip(windows, rows):
        assert all(min(lengths[u], 16) <= w for u in r[r >= 0])


def test_random_window_end_covers_every_full_window_of_a_long_sequence():
    # User 0 has 10 training items (9 pairs); windows of 4 + 1 items can end at item 5..10.
    split = leave_one_out(dataset([np.arange(1, 13), np.arange(20, 24)]))
    last = TrainBatches(split, batch_size=2, max_len=4, buckets=(4,), seed=0)
    rand = TrainBatches(split, batch_size=2, max_len=4, buckets=(4,), seed=0, window_end="random")
    targets = set()
    for epoch in range(60):
        b = rand.batch(epoch * rand.steps_per_epoch)
        row = b["targets"][np.argmax(b["targets"].max(axis=1) < 20)]  # user 0's row
        np.testing.assert_array_equal(np.diff(row), 1)  # a contiguous window, no padding
        targets.add(int(row[-1]))
        short = b["targets"][b["targets"].max(axis=1) >= 20][0]
        assert list(short[short > 0]) == [20, 21]  # user 1: its whole window [20, 21], as always
    assert targets == {5, 6, 7, 8, 9, 10}
    assert {int(last.batch(e)["targets"].min(axis=1).max()) for e in range(5)} == {7}  # always the last window
    with pytest.raises(ValueError, match="train.window_end"):
        TrainBatches(split, batch_size=2, max_len=4, buckets=(4,), seed=0, window_end="middle")


def test_process_shards_tile_the_global_batch(monkeypatch):
    split = leave_one_out(dataset(SEQS * 5))
    whole = TrainBatches(split, batch_size=4, max_len=4, buckets=(4,), seed=0).batch(1)
    parts = []
    for index in range(2):
        monkeypatch.setattr(pipeline.jax, "process_count", lambda: 2)
        monkeypatch.setattr(pipeline.jax, "process_index", lambda i=index: i)
        parts.append(TrainBatches(split, batch_size=4, max_len=4, buckets=(4,), seed=0).batch(1))
    for key in whole:
        np.testing.assert_array_equal(np.concatenate([p[key] for p in parts]), whole[key])


def test_eval_batches_cover_each_prompt_once_with_full_history():
    seqs = [np.arange(1, n + 1) for n in (3, 5, 12, 4)]
    split = leave_one_out(dataset(seqs))
    rows = []
    for b in eval_batches(split, split.test, batch_size=3, max_len=4, buckets=(2, 4)):
        for r, x, h, t in zip(b["rows"], b["inputs"], b["history"], b["targets"]):
            if r < 0:
                assert t == 0 and not x.any()
                continue
            rows.append(r)
            n = len(seqs[r])
            assert t == n and list(h[h > 0]) == list(range(1, n))  # full history, beyond the window
            assert list(x[x > 0]) == list(range(max(1, n - 4), n))
    assert sorted(rows) == [0, 1, 2, 3]
