"""Ranking metrics from the 0-based rank of the single held-out item.

With one relevant item, HR@K equals Recall@K, NDCG@K is 1/log2(rank+2) inside the cut-off and
MRR@K is 1/(rank+1) inside the cut-off."""

from __future__ import annotations

import numpy as np

DEFAULT_KS = (5, 10, 20)


METRIC_NAMES = ("HR", "NDCG", "MRR")


def metric_values(ranks: np.ndarray, metric: str) -> np.ndarray:
    """The value of `metric` ('NDCG@10', 'HR@20', 'MRR@5', ...) for each prompt: what a metric averages,
    and what a paired significance test compares prompt by prompt."""
    name, _, k = metric.partition("@")
    if name not in METRIC_NAMES or not k.isdigit() or int(k) < 1:
        raise ValueError(f"unknown metric {metric!r}: expected one of {', '.join(METRIC_NAMES)} '@' K, "
                         "e.g. 'NDCG@10'")
    ranks = np.asarray(ranks, dtype=np.float64)
    hit = ranks < int(k)
    if name == "HR":
        return hit.astype(np.float64)
    gain = 1.0 / np.log2(ranks + 2.0) if name == "NDCG" else 1.0 / (ranks + 1.0)
    return np.where(hit, gain, 0.0)


def metrics_from_ranks(ranks: np.ndarray, ks=DEFAULT_KS) -> dict[str, float]:
    ranks = np.asarray(ranks, dtype=np.float64)
    if ranks.size == 0:
        raise ValueError("no evaluation instances: cannot compute metrics")
    return {f"{name}@{k}": float(metric_values(ranks, f"{name}@{k}").mean()) for k in ks for name in METRIC_NAMES}


def check_ks(ks, num_items: int) -> tuple[int, ...]:
    ks = tuple(int(k) for k in ks)
    bad = [k for k in ks if k < 1 or k > num_items]
    if bad:
        raise ValueError(f"eval.ks={ks}: every K must be between 1 and the catalogue size {num_items}")
    return ks
