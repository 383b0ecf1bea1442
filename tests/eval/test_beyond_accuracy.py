"""Coverage, serendipity and novelty on lists small enough to check by hand."""

import numpy as np
import pytest

from engine.eval.beyond_accuracy import beyond_accuracy, catalog_coverage, novelty, self_information, serendipity

LISTS = np.array([[2, 5, 6], [4, 5, 1]])
TARGETS = np.array([5, 1])
POPULAR = np.array([[5, 3, 2], [3, 5, 2]])  # MostPopular's per-prompt lists
# Training counts of items 1..6 (total 16): self-information 2, 3, 4, 4, 4 (unseen: counted once), 1 bits.
COUNTS = np.array([0, 4, 2, 1, 1, 0, 8])


def test_catalog_coverage():
    assert catalog_coverage(LISTS, 6, 2) == pytest.approx(3 / 6)   # {2, 4, 5}
    assert catalog_coverage(LISTS, 6, 3) == pytest.approx(5 / 6)   # {1, 2, 4, 5, 6}
    assert catalog_coverage([[3, 0]], 6, 2) == pytest.approx(1 / 6)  # empty slots are not items


def test_serendipity_counts_hits_that_most_popular_would_not_have_made():
    # K=2: prompt 0 hits 5, but MostPopular's top 2 has 5 too; prompt 1 misses.
    assert serendipity(LISTS, TARGETS, POPULAR, 2) == 0.0
    # K=3: prompt 1 now hits 1, which MostPopular's top 3 lacks.
    assert serendipity(LISTS, TARGETS, POPULAR, 3) == pytest.approx(0.5)
    # One global popularity list is broadcast to every prompt.
    assert serendipity(LISTS, TARGETS, np.array([3, 2, 4]), 3) == pytest.approx(1.0)


def test_novelty_is_mean_self_information():
    np.testing.assert_allclose(self_information(COUNTS)[1:], [2, 3, 4, 4, 4, 1])
    assert novelty(LISTS, COUNTS, 2) == pytest.approx((3 + 4 + 4 + 4) / 4)
    assert novelty([[2, 0]], COUNTS, 2) == pytest.approx(3.0)


def test_beyond_accuracy_keys_and_errors():
    out = beyond_accuracy(LISTS, TARGETS, POPULAR, COUNTS, 6, ks=(2, 3))
    assert out == pytest.approx({"Coverage@2": 0.5, "Serendipity@2": 0.0, "Novelty@2": 3.75,
                                 "Coverage@3": 5 / 6, "Serendipity@3": 0.5, "Novelty@3": 18 / 6})
    with pytest.raises(ValueError, match="too short for K=4"):
        catalog_coverage(LISTS, 6, 4)
    with pytest.raises(ValueError, match="differ"):
        serendipity(LISTS, TARGETS[:1], POPULAR, 2)
