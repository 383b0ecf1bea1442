"""temporal_sessions on a hand-made dataset with timestamps: every prompt, target and fold worked out by hand.

user  items       times         last  role (sessions ordered by last time; 10 of them, 30% test)
u0    1 2 3       1 2 3          3    bin 1
u1    2 3 4       2 4 5          5    bin 1
u2    1 3 5       1 2 6          6    bin 2
u3    4 2         6 7            7    bin 2
u4    5           8              8    one interaction: ignored
u5    5 6 2       5 7 9          9    bin 3
u6    6 1         9 10          10    bin 3
u7    3 7 6       3 4 11        11    bin 4
u8    1 8 2       10 11 12      12    test: 8 unseen -> prompt [1], target 2
u9    9 3 6       12 13 14      14    test: 9 unseen -> prompt [3], target 6
u10   10 2        15 16         16    test: 10 unseen -> [2] alone -> dropped
"""

import numpy as np
import pytest

from engine.data import DataError, SequenceDataset
from engine.data.splits import PROTOCOLS, make_split
from engine.data.temporal import NO_TIME, TemporalSplit, temporal_sessions
from engine.neighbors import SKNN
from engine.recommender import prompt_items

SEQUENCES = [([1, 2, 3], [1, 2, 3]), ([2, 3, 4], [2, 4, 5]), ([1, 3, 5], [1, 2, 6]), ([4, 2], [6, 7]),
             ([5], [8]), ([5, 6, 2], [5, 7, 9]), ([6, 1], [9, 10]), ([3, 7, 6], [3, 4, 11]),
             ([1, 8, 2], [10, 11, 12]), ([9, 3, 6], [12, 13, 14]), ([10, 2], [15, 16])]


def dataset(timestamps=True) -> SequenceDataset:
    items = np.concatenate([s for s, _ in SEQUENCES])
    times = np.concatenate([t for _, t in SEQUENCES]) if timestamps else None
    offsets = np.cumsum([0] + [len(s) for s, _ in SEQUENCES])
    return SequenceDataset(name="toy", num_items=10, offsets=offsets, items=items, timestamps=times,
                           user_ids=np.array([f"u{i}" for i in range(11)]),
                           item_ids=np.array([""] + [str(i) for i in range(1, 11)]))


def train_lists(split):
    return [split.items[a:b].tolist() for a, b in zip(split.train_starts, split.train_ends)]


def prompt_lists(split, name):
    prompts = split.prompts(name)
    rows = prompt_items(split, prompts)
    return prompts.users.tolist(), [rows.items[a:b].tolist() for a, b in zip(rows.offsets[:-1], rows.offsets[1:])], \
        prompts.targets.tolist()


@pytest.fixture(scope="module")
def split() -> TemporalSplit:
    return temporal_sessions(dataset(), test_fraction=0.3)


def test_test_sessions_are_the_most_recent_with_unseen_items_removed(split):
    assert prompt_lists(split, "test") == ([8, 9], [[1], [3]], [2, 6])


def test_training_holds_every_training_session_but_the_validation_targets(split):
    # u7's validation target is its 6 (7 is unseen before bin 4, so its prompt is [3]); its training
    # range stops before the target. u4 (one interaction) and the test users train on nothing.
    assert train_lists(split) == [[1, 2, 3], [2, 3, 4], [1, 3, 5], [4, 2], [], [5, 6, 2], [6, 1], [3, 7], [], [], []]
    assert prompt_lists(split, "valid") == ([7], [[3]], [6])
    np.testing.assert_array_equal(split.train_times, [3, 5, 6, 7, NO_TIME, 9, 10, 4, NO_TIME, NO_TIME, NO_TIME])


def test_three_forward_chaining_folds(split):
    f1, f2, f3 = split.folds
    assert [f.protocol for f in split.folds] == [f"temporal_sessions/fold{i}" for i in (1, 2, 3)]
    # Fold 1 trains on bin 1 (u0, u1; items 1-4): u2 loses item 5, u3 is kept whole.
    assert train_lists(f1)[:2] == [[1, 2, 3], [2, 3, 4]] and not any(train_lists(f1)[2:])
    assert prompt_lists(f1, "valid") == ([2, 3], [[1], [4]], [3, 2])
    # Fold 2 trains on bins 1-2 (items 1-5): u5 loses 6; u6 keeps only [1] and is dropped.
    assert prompt_lists(f2, "valid") == ([5], [[5]], [2])
    # Fold 3 trains on bins 1-3 (items 1-6): u7 loses 7. Its validation set is the final split's.
    assert train_lists(f3)[5:7] == [[5, 6, 2], [6, 1]] and train_lists(f3)[7] == []
    assert prompt_lists(f3, "valid") == prompt_lists(split, "valid") == prompt_lists(f3, "test")


def test_make_split_dispatches_and_sknn_uses_the_recorded_times(split):
    assert "temporal_sessions" in PROTOCOLS
    made = make_split(dataset(), "temporal_sessions")
    # Default 20% of 10 sessions: u9 and u10 are test (u10 is then dropped), u8 moves into bin 4.
    assert isinstance(made, TemporalSplit) and prompt_lists(made, "test") == ([9], [[3]], [6])
    # SKNN's 'recent' sampling needs no extra argument on this split.
    model = SKNN(k=5, sample_size=3).fit(split)
    assert model.scores(prompt_items(split, split.test)).shape == (2, 11)


def test_a_dataset_without_timestamps_is_a_clear_error():
    with pytest.raises(DataError, match="split.protocol='temporal_sessions'.*no timestamps"):
        make_split(dataset(timestamps=False), "temporal_sessions")


@pytest.mark.parametrize("kwargs, message", [({"test_fraction": 1.0}, "split.test_fraction"),
                                             ({"test_fraction": 0.01}, "too few"),
                                             ({"num_folds": 0}, "split.num_folds")])
def test_bad_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        temporal_sessions(dataset(), **kwargs)
