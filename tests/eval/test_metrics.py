import math

import numpy as np
import pytest

from engine.eval.metrics import check_ks, metrics_from_ranks


def test_metrics_hand_computed():
    # Ranks 0, 1, 4, 12 (0-based) for four users.
    m = metrics_from_ranks(np.array([0, 1, 4, 12]), ks=(1, 5, 10))
    assert m["HR@1"] == pytest.approx(1 / 4)
    assert m["HR@5"] == pytest.approx(3 / 4)
    assert m["HR@10"] == pytest.approx(3 / 4)
    ndcg5 = (1 / math.log2(2) + 1 / math.log2(3) + 1 / math.log2(6)) / 4
    assert m["NDCG@5"] == pytest.approx(ndcg5)
    assert m["NDCG@10"] == pytest.approx(ndcg5)
    assert m["MRR@5"] == pytest.approx((1 + 1 / 2 + 1 / 5) / 4)
    assert m["NDCG@1"] == pytest.approx(1 / 4)


def test_rank_exactly_at_cutoff_is_a_miss():
    m = metrics_from_ranks(np.array([5]), ks=(5, 6))
    assert m["HR@5"] == 0.0 and m["HR@6"] == 1.0
    assert m["NDCG@6"] == pytest.approx(1 / math.log2(7))


def test_empty_and_bad_k():
    with pytest.raises(ValueError, match="no evaluation instances"):
        metrics_from_ranks(np.array([]))
    with pytest.raises(ValueError, match="catalogue size 10"):
        check_ks((5, 20), num_items=10)
    assert check_ks([5, 10], 10) == (5, 10)
