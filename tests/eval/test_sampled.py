"""The sampled protocol: which negatives may be drawn, from which distribution, and the labelled metrics."""

import numpy as np
import pytest

from engine.data.splits import Prompts, Split
from engine.eval.sampled import candidate_ranks, evaluate_sampled, sample_negatives
from engine.neighbors import MostPopular


def toy_split(num_prompts=1, prompt=(1,), target=2, num_items=4, train=(1, 1, 1, 2, 3)):
    """One training sequence `train`; num_prompts copies of (prompt -> target)."""
    items = np.array(list(train) + (list(prompt) + [target]) * num_prompts, dtype=np.int32)
    base = len(train) + np.arange(num_prompts) * (len(prompt) + 1)
    users = np.arange(num_prompts) + 1
    starts = np.zeros(num_prompts + 1, dtype=np.int64)
    ends = np.zeros(num_prompts + 1, dtype=np.int64)
    ends[0] = len(train)
    prompts = Prompts(users, base, base + len(prompt), np.full(num_prompts, target))
    return Split("toy", items, starts, ends, prompts, prompts, num_items)


def test_negatives_exclude_the_prompt_and_target():
    # Items 1..4, prompt [1], target 2: two negatives can only be {3, 4}.
    negatives = sample_negatives(toy_split(num_prompts=20), toy_split(num_prompts=20).test, 2, seed=1)
    np.testing.assert_array_equal(np.sort(negatives, axis=1), [[3, 4]] * 20)


def test_popularity_sampling_never_draws_unseen_items_and_follows_counts():
    split = toy_split(num_prompts=4000, prompt=(4,), target=5, num_items=6, train=(1, 1, 1, 2, 3, 3))
    negatives = sample_negatives(split, split.test, 1, strategy="popularity", seed=0)
    counts = np.bincount(negatives.ravel(), minlength=7)
    assert counts[4] == counts[5] == counts[6] == 0  # prompt, target, and item 6 never trained on
    np.testing.assert_allclose(counts[1:4] / 4000, [0.5, 1 / 6, 1 / 3], atol=0.03)
    # Only items 1, 2, 3 have training interactions: four negatives are impossible.
    with pytest.raises(ValueError, match="eval.num_negatives=4"):
        sample_negatives(split, split.test, 4, strategy="popularity")


def test_uniform_negatives_are_distinct_uniform_and_seeded():
    split = toy_split(num_prompts=3000, num_items=12)
    a = sample_negatives(split, split.test, 5, seed=7)
    np.testing.assert_array_equal(a, sample_negatives(split, split.test, 5, seed=7))
    assert not np.array_equal(a, sample_negatives(split, split.test, 5, seed=8))
    assert all(len(set(row)) == 5 for row in a) and not np.isin(a, [0, 1, 2]).any()
    np.testing.assert_allclose(np.bincount(a.ravel(), minlength=13)[3:] / a.size, 0.1, atol=0.01)


def test_candidate_ranks_by_hand():
    scores = np.array([[-np.inf, 0.1, 0.5, 0.7, 0.5]])
    # Target 2 (0.5) against negatives 3 (0.7) and 4 (0.5, a tie).
    np.testing.assert_array_equal(candidate_ranks(scores, [2], np.array([[3, 4]])), [2])
    np.testing.assert_array_equal(candidate_ranks(scores, [2], np.array([[3, 4]]), ties="optimistic"), [1])
    np.testing.assert_array_equal(candidate_ranks(scores, [2], np.array([[1, 4]]), ties="optimistic"), [0])


def test_evaluate_sampled_labels_its_metrics():
    # MostPopular counts 1:3, 2:1, 3:1, 4:0. Target 2 against {3, 4}: 3 ties with it -> rank 1.
    split = toy_split(num_prompts=2)
    metrics, ranks = evaluate_sampled(MostPopular().fit(split), split, split.test, num_negatives=2, ks=(1, 3))
    np.testing.assert_array_equal(ranks, [1, 1])
    assert metrics["sampled_uniform2/HR@1"] == 0.0 and metrics["sampled_uniform2/HR@3"] == 1.0
    assert metrics["sampled_uniform2/NDCG@3"] == pytest.approx(1 / np.log2(3))
    with pytest.raises(ValueError, match="every K must be between 1 and 3"):
        evaluate_sampled(MostPopular().fit(split), split, split.test, num_negatives=2, ks=(10,))
    with pytest.raises(ValueError, match="eval.negative_sampling"):
        sample_negatives(split, split.test, 2, strategy="adversarial")
