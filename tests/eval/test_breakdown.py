"""Metrics by the popularity bucket of the prompt's last item."""

import numpy as np
import pytest

from engine.eval.breakdown import last_item_popularity_breakdown, popularity_bucket, popularity_edges

# Items 1..10 with training counts 1,1,2,2,3,3,4,4,5,5; item 11 never seen.
COUNTS = np.array([0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 0])


def test_edges_are_quantiles_of_seen_item_popularity():
    np.testing.assert_allclose(popularity_edges(COUNTS, 2), [3.0])
    np.testing.assert_allclose(popularity_edges(COUNTS, 4), [2.0, 3.0, 4.0])
    np.testing.assert_array_equal(popularity_bucket([1, 3, 5, 9, 11], COUNTS, [3.0]), [0, 0, 1, 1, 0])


def test_breakdown_of_rank_metrics_and_per_prompt_values():
    last = np.array([1, 5, 9, 3])          # counts 1, 3, 5, 2 -> buckets 0, 1, 1, 0
    ranks = np.array([0, 5, 12, 1])
    rows = last_item_popularity_breakdown(last, COUNTS, ranks=ranks, ks=(1, 10), num_buckets=2,
                                          values={"hit": np.array([1, 0, 0, 0])})
    assert [r["bucket"] for r in rows] == [0, 1]
    low, high = rows
    assert (low["popularity_from"], low["popularity_to"], low["num_prompts"]) == (0.0, 3.0, 2)
    assert (high["popularity_from"], high["popularity_to"], high["num_prompts"]) == (3.0, None, 2)
    assert low["HR@1"] == 0.5 and low["HR@10"] == 1.0 and low["MRR@10"] == pytest.approx(0.75)
    assert high["HR@1"] == 0.0 and high["HR@10"] == 0.5 and high["NDCG@10"] == pytest.approx(0.5 / np.log2(7))
    assert low["hit"] == 0.5 and high["hit"] == 0.0


def test_merged_quantiles_leave_no_empty_rows_and_errors_are_clear():
    counts = np.array([0, 1, 1, 1, 1, 9])
    rows = last_item_popularity_breakdown([1, 5], counts, ranks=[0, 0], ks=(1,), num_buckets=5)
    assert sum(r["num_prompts"] for r in rows) == 2 and all(r["num_prompts"] > 0 for r in rows)
    with pytest.raises(ValueError, match="nothing to break down"):
        last_item_popularity_breakdown([1], counts)
    with pytest.raises(ValueError, match="3 entries for 2 prompts"):
        last_item_popularity_breakdown([1, 5], counts, ranks=[0, 1, 2])
    with pytest.raises(ValueError, match="eval.popularity_buckets"):
        popularity_edges(counts, 0)
