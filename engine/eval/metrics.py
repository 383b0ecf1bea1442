"""Ranking metrics from the 0-based rank of the single held-out item.

With one relevant item, HR@K equals Recall@K, NDCG@K is 1/log2(rank+2) inside the cut-off and
MRR@K is 1/(rank+1) inside the cut-off."""

from __future__ import annotations

import numpy as np

DEFAULT_KS = (5, 10, 20)


def metrics_from_ranks(ranks: np.ndarray, ks=DEFAULT_KS) -> dict[str, float]:
    ranks = np.asarray(ranks, dtype=np.float64)
    if ranks.size == 0:
        raise ValueError("no evaluation instances: cannot compute metrics")
    out = {}
    for k in ks:
        hit = ranks < k
        out[f"HR@{k}"] = float(hit.mean())
        out[f"NDCG@{k}"] = float(np.where(hit, 1.0 / np.log2(ranks + 2.0), 0.0).mean())
        out[f"MRR@{k}"] = float(np.where(hit, 1.0 / (ranks + 1.0), 0.0).mean())
    return out


def check_ks(ks, num_items: int) -> tuple[int, ...]:
    ks = tuple(int(k) for k in ks)
    bad = [k for k in ks if k < 1 or k > num_items]
    if bad:
        raise ValueError(f"eval.ks={ks}: every K must be between 1 and the catalogue size {num_items}")
    return ks
