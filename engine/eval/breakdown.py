"""Metrics broken down by the popularity of each prompt's last item (LLM-Sequential-Recommendation Fig. 9).

The paper observes that collaborative models hit far more often when the prompt ends in a popular
item, and picks its hybrid's switch-over point among the quantiles of item popularity. Buckets are
therefore quantiles of the training popularity of the catalogue's items (items with at least one
training interaction): bucket 0 holds the least popular fifth of the catalogue (with num_buckets=5),
and items never seen in training also fall into bucket 0. Ties in popularity can merge quantile edges;
such empty buckets are left out of the result.
"""

from __future__ import annotations

import numpy as np

from engine.eval.metrics import DEFAULT_KS, metrics_from_ranks


def popularity_edges(item_counts, num_buckets: int = 5) -> np.ndarray:
    """Increasing bucket boundaries (len <= num_buckets - 1) over the popularity of seen items."""
    if num_buckets < 1:
        raise ValueError(f"eval.popularity_buckets={num_buckets} must be at least 1")
    counts = np.asarray(item_counts)[1:]
    seen = counts[counts > 0]
    if len(seen) == 0:
        raise ValueError("item counts are all zero: no popularity to bucket by")
    return np.unique(np.quantile(seen, np.linspace(0, 1, num_buckets + 1)[1:-1]))


def popularity_bucket(items, item_counts, edges) -> np.ndarray:
    """Bucket of each item: b such that edges[b-1] <= count < edges[b]."""
    return np.searchsorted(edges, np.asarray(item_counts)[np.asarray(items)], side="right")


def last_item_popularity_breakdown(last_items, item_counts, *, ranks=None, values: dict | None = None,
                                   ks=DEFAULT_KS, num_buckets: int = 5) -> list[dict]:
    """One row per non-empty bucket: its popularity range, prompt count, rank metrics (from `ranks`) and
    the mean of each per-prompt array in `values` (e.g. {"serendipitous_hit@10": 0/1 per prompt})."""
    if ranks is None and not values:
        raise ValueError("nothing to break down: pass ranks and/or per-prompt values")
    last_items = np.asarray(last_items)
    arrays = dict(values or {})
    for name, array in [("ranks", ranks)] + list(arrays.items()):
        if array is not None and len(array) != len(last_items):
            raise ValueError(f"{name} has {len(array)} entries for {len(last_items)} prompts")
    edges = popularity_edges(item_counts, num_buckets)
    bucket = popularity_bucket(last_items, item_counts, edges)
    bounds = np.concatenate([[0], edges, [np.inf]])
    rows = []
    for b in range(len(edges) + 1):
        members = bucket == b
        if not members.any():
            continue
        row = {"bucket": b, "popularity_from": float(bounds[b]),
               "popularity_to": None if b == len(edges) else float(bounds[b + 1]),
               "num_prompts": int(members.sum())}
        if ranks is not None:
            row.update(metrics_from_ranks(np.asarray(ranks)[members], ks))
        for name, array in arrays.items():
            row[name] = float(np.asarray(array, dtype=np.float64)[members].mean())
        rows.append(row)
    return rows
