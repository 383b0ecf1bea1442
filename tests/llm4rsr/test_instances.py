"""Training instances (input = the L items before each training target) and co-occurrence counts, by hand."""

import numpy as np
import pytest

from engine.data.errors import DataError
from engine.data.instances import Instances, co_occurrence, load_instances, save_instances, training_instances
from engine.data.splits import Prompts, Split


def _split(sequences):
    """A loo_full-like split whose training sequences are exactly `sequences`."""
    items = np.concatenate([np.asarray(s, np.int32) for s in sequences])
    lengths = np.array([len(s) for s in sequences])
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    empty = Prompts(*(np.zeros(0, np.int64) for _ in range(4)))
    return Split("loo_full", items, starts, starts + lengths, empty, empty, int(items.max()))


def test_every_training_position_is_an_instance_with_the_l_items_before_it():
    split = _split([[1, 2, 3, 4], [5, 1], [7]])
    got = training_instances(split, max_inputs=2)
    assert got.user.tolist() == [0, 0, 0, 1]
    assert got.position.tolist() == [1, 2, 3, 5]
    assert got.target.tolist() == [2, 3, 4, 1]
    # Left-padded with 0, never reaching into the previous user's items.
    assert got.inputs.tolist() == [[0, 1], [1, 2], [2, 3], [0, 5]]
    assert got.lengths.tolist() == [1, 2, 2, 1]


def test_instances_of_a_real_split_match_a_loop(tmp_path):
    rng = np.random.default_rng(0)
    seqs = [rng.integers(1, 30, rng.integers(1, 12)) for _ in range(40)]
    split = _split(seqs)
    got = training_instances(split, max_inputs=5)
    expect = [(u, s[max(0, t - 5):t].tolist(), s[t]) for u, s in enumerate(seqs) for t in range(1, len(s))]
    assert len(got) == len(expect)
    for i, (u, inputs, target) in enumerate(expect):
        assert got.user[i] == u and got.target[i] == target
        assert got.inputs[i][got.inputs[i] != 0].tolist() == inputs


def test_co_occurrence_counts_instances_not_occurrences():
    # Instances (L=3): [0,0,1]->2, [0,1,2]->1, [1,2,1]->3, [0,0,2]->1, [0,2,1]->2
    split = _split([[1, 2, 1, 3], [2, 1, 2]])
    inst = training_instances(split, max_inputs=3)
    assert inst.inputs.tolist() == [[0, 0, 1], [0, 1, 2], [1, 2, 1], [0, 0, 2], [0, 2, 1]]
    co = co_occurrence(inst, num_items=3).toarray()
    expect = np.zeros((4, 4), np.int64)
    expect[1, 2] = 2  # instances 0 and 4
    expect[1, 1] = 1  # instance 1 (item 1 in the input, 1 the target)
    expect[2, 1] = 2  # instances 1 and 3
    expect[1, 3] = 1  # instance 2: item 1 twice in the input counts once
    expect[2, 3] = 1
    expect[2, 2] = 1  # instance 4
    np.testing.assert_array_equal(co, expect)
    assert co[0].sum() == 0 and co[:, 0].sum() == 0


def test_co_occurrence_refuses_items_beyond_the_catalogue():
    inst = Instances(np.zeros(1, np.int64), np.zeros(1, np.int64), np.array([2], np.int32),
                     np.array([[0, 9]], np.int32))
    with pytest.raises(DataError, match="beyond the catalogue"):
        co_occurrence(inst, num_items=5)


def test_instance_table_round_trip_and_bad_file(tmp_path):
    inst = training_instances(_split([[1, 2, 3], [3, 2]]), 2)
    save_instances(tmp_path / "t.npz", inst, confidence=np.ones(len(inst), np.float32))
    back = load_instances(tmp_path / "t.npz")
    assert back.digest() == inst.digest()
    np.savez(tmp_path / "bad.npz", user=np.zeros(2))
    with pytest.raises(DataError, match="bad.npz: not an instance table, it lacks position"):
        load_instances(tmp_path / "bad.npz")
