"""MostPopular, the shared recommend() and the host-side ranking/metrics path, on hand-computed cases."""

import jax.numpy as jnp
import numpy as np
import pytest

from engine.eval.host_ranking import evaluate, ranks_from_scores
from engine.eval.ranking import target_ranks
from engine.neighbors import MostPopular
from engine.recommender import Ragged, prompt_items, train_item_counts
from tests.toy import PROMPT, make_split

# Training counts of items 1..6 in the toy sessions: 1:2, 2:2, 3:3, 4:2, 5:3, 6:2.
COUNTS = [0, 2, 2, 3, 2, 3, 2]


def test_most_popular_scores_are_training_counts():
    split = make_split()
    np.testing.assert_array_equal(train_item_counts(split), COUNTS)  # the prompt row is not training data
    got = MostPopular().fit(split).scores([PROMPT, []])
    np.testing.assert_array_equal(got, [[-np.inf] + COUNTS[1:]] * 2)


def test_recommend_skips_own_items_orders_ties_by_id_and_pads_when_exhausted():
    model = MostPopular().fit(make_split())
    np.testing.assert_array_equal(model.recommend([PROMPT, [5]], 3), [[5, 2, 4], [3, 1, 2]])
    np.testing.assert_array_equal(model.recommend([[1, 2, 3, 4, 5]], 3), [[6, 0, 0]])
    with pytest.raises(ValueError, match="between 1 and the catalogue size 6"):
        model.recommend([PROMPT], 7)


def test_pessimistic_ties_count_against_the_target():
    # Prompt [1, 3], target 2 (count 2): item 5 (3) is higher; items 4 and 6 tie at 2.
    split = make_split()
    metrics, ranks = evaluate(MostPopular().fit(split), split, split.test, ks=(1, 2, 4))
    np.testing.assert_array_equal(ranks, [3])
    assert metrics["HR@2"] == 0.0 and metrics["HR@4"] == 1.0
    assert metrics["NDCG@4"] == pytest.approx(1 / np.log2(5)) and metrics["MRR@4"] == pytest.approx(0.25)
    _, optimistic = evaluate(MostPopular().fit(split), split, split.test, ks=(1,), ties="optimistic")
    np.testing.assert_array_equal(optimistic, [1])


def test_history_masking_and_target_in_history():
    scores = np.array([[9.0, 0.5, 0.9, 0.1, 0.7, 0.3]] * 2)
    history = Ragged(np.array([0, 1, 3]), np.array([2, 2, 4]))
    np.testing.assert_array_equal(ranks_from_scores(scores, [4, 1], None), [1, 2])
    np.testing.assert_array_equal(ranks_from_scores(scores, [4, 1], history), [0, 0])
    # A target also present in the prompt is still ranked (only the other items are masked).
    np.testing.assert_array_equal(ranks_from_scores(scores, [2, 4], Ragged(np.array([0, 1, 2]),
                                                                           np.array([2, 4]))), [0, 1])


def test_optimistic_ranks_match_the_device_ranking():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 4, size=(32, 12)).astype(np.float32)  # small integers: many ties
    targets = rng.integers(1, 12, size=32)
    history = rng.integers(0, 12, size=(32, 3))  # 0 = padding, as in eval batches
    rows = Ragged(np.arange(0, 97, 3), history.ravel())
    expected = target_ranks(jnp.asarray(scores), jnp.asarray(targets), jnp.asarray(history))
    np.testing.assert_array_equal(ranks_from_scores(scores, targets, rows, ties="optimistic"), expected)
    pessimistic = ranks_from_scores(scores, targets, rows)
    assert np.all(pessimistic >= expected) and np.any(pessimistic > expected)


def test_evaluate_checks_ks_and_ties():
    split = make_split()
    with pytest.raises(ValueError, match="eval.ks"):
        evaluate(MostPopular().fit(split), split, split.test, ks=(10,))
    with pytest.raises(ValueError, match="eval.ties"):
        ranks_from_scores(np.zeros((1, 3)), [1], ties="random")


def test_prompt_items_gathers_the_split_ranges():
    split = make_split()
    rows = prompt_items(split, split.test)
    np.testing.assert_array_equal(rows.offsets, [0, 2])
    np.testing.assert_array_equal(rows.items, PROMPT)
