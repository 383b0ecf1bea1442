"""NaN and ±inf scores never flatter a model (issue 41): in every ranking path a target whose score is not
finite gets the worst rank (N, behind every item), so a diverged model scores 0, never HR = NDCG = 1."""

import jax.numpy as jnp
import numpy as np
import pytest

from engine.eval.chunked_topk import chunked_target_ranks
from engine.eval.host_ranking import ranks_from_scores
from engine.eval.metrics import metrics_from_ranks
from engine.eval.ranking import target_ranks
from engine.eval.sampled import candidate_ranks

NUM_ITEMS = 6
BAD = [np.nan, np.inf, -np.inf]


def _scores(target_value):
    """Two prompts over 6 items; prompt 0's target (item 2) is scored `target_value`, prompt 1 is normal."""
    scores = np.array([[0, 0.1, target_value, 0.3, 0.2, 0.0, 0.5],
                       [0, 0.1, 0.9, 0.3, 0.2, 0.0, 0.5]], np.float32)
    return scores, np.array([2, 2])


@pytest.mark.parametrize("value", BAD)
def test_device_ranking(value):
    scores, targets = _scores(value)
    ranks = np.asarray(target_ranks(jnp.asarray(scores), jnp.asarray(targets), None))
    assert ranks.tolist() == [NUM_ITEMS, 0]


def test_device_ranking_all_nan_is_not_a_perfect_score():
    scores = np.full((4, NUM_ITEMS + 1), np.nan, np.float32)
    ranks = np.asarray(target_ranks(jnp.asarray(scores), jnp.asarray([1, 2, 3, 4]), jnp.zeros((4, 2), jnp.int32)))
    assert ranks.tolist() == [NUM_ITEMS] * 4
    assert metrics_from_ranks(ranks, (5,)) == {"HR@5": 0.0, "NDCG@5": 0.0, "MRR@5": 0.0}


def test_nan_competitor_counts_above_the_target():
    scores, targets = _scores(0.4)
    scores[0, 1] = np.nan
    assert np.asarray(target_ranks(jnp.asarray(scores), jnp.asarray(targets), None)).tolist() == [2, 0]


@pytest.mark.parametrize("value", BAD)
def test_chunked_ranking(value):
    # hidden · table reproduces the scores of _scores: table row i = [score_i], hidden = [1].
    scores, targets = _scores(value)
    table = jnp.asarray(scores[0][:, None])
    hidden = jnp.ones((1, 1), jnp.float32)
    got = chunked_target_ranks(hidden, table, jnp.asarray(targets[:1]), chunk_size=4)
    assert np.asarray(got.ranks).tolist() == [NUM_ITEMS]


def test_chunked_ranking_nan_competitor():
    table = jnp.asarray([[0.0], [0.1], [0.4], [np.nan], [0.2]])
    got = chunked_target_ranks(jnp.ones((1, 1)), table, jnp.asarray([2]), chunk_size=2)
    assert np.asarray(got.ranks).tolist() == [1]


@pytest.mark.parametrize("value", [np.inf, -np.inf])
@pytest.mark.parametrize("ties", ["pessimistic", "optimistic"])
def test_host_ranking_infinite_target(value, ties):
    scores, targets = _scores(value)
    assert ranks_from_scores(scores, targets, ties=ties).tolist() == [NUM_ITEMS, 0]


def test_host_ranking_refuses_nan():
    scores, targets = _scores(np.nan)
    with pytest.raises(ValueError, match="^scores contain NaN; a recommender must score every item$"):
        ranks_from_scores(scores, targets)


@pytest.mark.parametrize("value", BAD)
def test_sampled_ranking(value):
    scores, targets = _scores(value)
    negatives = np.array([[1, 3, 4], [1, 3, 4]])
    assert candidate_ranks(scores, targets, negatives).tolist() == [3, 0]
    scores[1, 3] = np.nan  # a NaN negative counts above the target
    assert candidate_ranks(scores, targets, negatives).tolist() == [3, 1]
