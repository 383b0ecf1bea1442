"""The popularity hybrids choose their cut-off on validation prompts only.

Training counts: item 1: 5, item 2: 4, item 3: 3, item 4: 2, item 5: 1, item 6: 1, item 7: 0.
"Sim" always ranks item 6 first, "Seq" always item 2. On validation, prompts ending in an item seen
fewer than 3 times want 6 (Sim is right), the others want 2 (Seq is right).
"""

import numpy as np
import pytest

from engine.data.splits import Prompts, Split
from engine.embedding_recs.hybrids import PopularityFloor, PopularitySwitch, cutoff_candidates, demote_unpopular
from engine.recommender import Ragged, Recommender

TRAIN = [[1, 2, 3, 4], [1, 2, 3, 5], [1, 2, 3, 4], [1, 2, 6], [1]]


def make_split(valid, test) -> Split:
    """valid/test: lists of (prompt, target); one user per prompt, training rows first."""
    chunks = []

    def add(sequences):  # (start, end) of each sequence appended to the flat item array
        out = []
        for s in sequences:
            start = sum(len(c) for c in chunks)
            chunks.append(list(s))
            out.append((start, start + len(s)))
        return np.array(out, dtype=np.int64).reshape(-1, 2)

    def prompts(pairs):
        ranges = add([list(p) + [t] for p, t in pairs])
        return Prompts(np.arange(len(pairs)), ranges[:, 0], ranges[:, 1] - 1, np.array([t for _, t in pairs]))

    train = add(TRAIN)
    v, t = prompts(valid), prompts(test)
    items = np.array([i for c in chunks for i in c], dtype=np.int32)
    return Split("test", items, train[:, 0], train[:, 1], v, t, 7)


class Constant(Recommender):
    def __init__(self, favourite):
        self.favourite, self.fits = favourite, 0

    def fit(self, split):
        self.num_items, self.fits = split.num_items, self.fits + 1
        return self

    def _scores(self, rows: Ragged):
        s = np.tile(np.arange(self.num_items + 1, dtype=np.float64) / 100, (len(rows), 1))
        s[:, self.favourite] = 1.0
        return s


VALID = [([7, 5], 6), ([7, 4], 6), ([7, 3], 2), ([7, 1], 2), ([7, 2], 2)]
TEST_A = [([7, 1], 2), ([7, 5], 6)]
TEST_B = [([7, 1], 6), ([7, 5], 2), ([7, 6], 2), ([7, 3], 6)]  # the opposite preference


def test_switch_chooses_the_cutoff_that_routes_validation_prompts_correctly():
    hybrid = PopularitySwitch(Constant(6), Constant(2), quantiles=np.linspace(0, 1, 11), metric="HR@1")
    hybrid.fit(make_split(VALID, TEST_A))
    assert 2 < hybrid.cutoff <= 3  # counts 1, 2 -> Sim; counts 3, 4, 5 -> Seq
    assert hybrid.selection["value"] == 1.0 and hybrid.selection["split"] == "valid"
    assert len(hybrid.selection["candidates"]) >= 3
    top = hybrid.recommend([[7, 5], [7, 1]], k=1)
    np.testing.assert_array_equal(top, [[6], [2]])


def test_changing_the_test_prompts_does_not_change_the_choice():
    a = PopularitySwitch(Constant(6), Constant(2), quantiles=np.linspace(0, 1, 11), metric="HR@1")
    b = PopularitySwitch(Constant(6), Constant(2), quantiles=np.linspace(0, 1, 11), metric="HR@1")
    a.fit(make_split(VALID, TEST_A))
    b.fit(make_split(VALID, TEST_B))
    assert a.cutoff == b.cutoff and a.selection == b.selection
    # ...while changing the validation prompts does: now Seq is always right, so the lowest cut-off wins.
    c = PopularitySwitch(Constant(6), Constant(2), quantiles=np.linspace(0, 1, 11), metric="HR@1")
    c.fit(make_split([(p, 2) for p, _ in VALID], TEST_A))
    assert c.cutoff == min(x["cutoff"] for x in c.selection["candidates"]) != a.cutoff


def test_floor_pushes_unpopular_items_below_popular_ones_and_is_chosen_on_validation():
    scores = np.array([[-np.inf, 0.1, 0.5, 0.9, 0.2]])
    np.testing.assert_allclose(demote_unpopular(scores, np.array([True, True, True, False, True]))[0, 1:],
                               [0.1, 0.5, 0.9 - 1.8, 0.2])
    # Sim ranks 6 (count 1) first, then 5 (count 1), then by id 4 (count 2), 3, 2, 1. Validation targets
    # are item 4: lifting the floor above count 1 puts 4 first.
    sim = Constant(6)
    sim._scores = lambda rows: np.tile([0, .1, .2, .3, .4, .8, .9, 0], (len(rows), 1))
    valid = [([7, 1], 4), ([7, 2], 4)]
    a = PopularityFloor(sim, quantiles=np.linspace(0, 1, 11), metric="HR@1").fit(make_split(valid, TEST_A))
    b = PopularityFloor(sim, quantiles=np.linspace(0, 1, 11), metric="HR@1").fit(make_split(valid, TEST_B))
    assert 1 < a.cutoff <= 2 and a.selection == b.selection
    np.testing.assert_array_equal(a.recommend([[7, 1]], k=2), [[4, 3]])
    assert sim.fits == 1  # an already fitted component is not fitted again


def test_cutoff_candidates_are_distinct_quantiles_of_item_counts():
    got = cutoff_candidates(np.array([0, 5, 4, 3, 2, 1, 1, 0]), (0.0, 0.5, 0.51, 1.0))
    assert [c for _, c in got] == sorted({c for _, c in got})
    with pytest.raises(ValueError, match="quantiles"):
        cutoff_candidates(np.array([0, 1]), (1.5,))
