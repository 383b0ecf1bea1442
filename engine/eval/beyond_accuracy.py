"""Beyond-accuracy metrics of top-K lists, as defined in LLM-Sequential-Recommendation §7.1.2.

- Coverage@K: fraction of the catalogue that appears in at least one top-K list.
- Serendipity@K: fraction of prompts whose target is in the model's top-K list but not in MostPopular's
  top-K list for the same prompt ("correct recommendations not made by a popularity baseline").
- Novelty@K: mean self-information -log2(p(i)) of the recommended items, p(i) = the item's share of all
  training interactions. An item never seen in training counts as seen once, so its self-information is
  large but finite.

Lists are [prompts, >= K] arrays of item ids as returned by Recommender.recommend; 0 marks an empty slot
and is ignored.
"""

from __future__ import annotations

import numpy as np

from engine.eval.metrics import DEFAULT_KS


def _top(lists, k: int) -> np.ndarray:
    lists = np.asarray(lists, dtype=np.int64)
    if lists.ndim != 2 or lists.shape[1] < k:
        raise ValueError(f"recommendation lists of shape {lists.shape} are too short for K={k} (eval.ks)")
    return lists[:, :k]


def catalog_coverage(lists, num_items: int, k: int) -> float:
    items = np.unique(_top(lists, k))
    return float(np.count_nonzero(items) / num_items)


def serendipity(lists, targets, popular_lists, k: int) -> float:
    """popular_lists: MostPopular's lists, [prompts, >= K] or one [>= K] list shared by all prompts."""
    top = _top(lists, k)
    targets = np.asarray(targets, dtype=np.int64)[:, None]
    popular = np.asarray(popular_lists, dtype=np.int64)
    popular = _top(np.broadcast_to(popular, (len(top), popular.shape[-1])) if popular.ndim == 1 else popular, k)
    if len(popular) != len(top) or len(targets) != len(top):
        raise ValueError(f"{len(top)} lists, {len(targets)} targets and {len(popular)} MostPopular lists differ")
    hit = np.any(top == targets, axis=1)
    popular_hit = np.any(popular == targets, axis=1)
    return float(np.mean(hit & ~popular_hit))


def self_information(item_counts) -> np.ndarray:
    """-log2 of each item's share of the training interactions; [num_items + 1], entry 0 unused."""
    counts = np.asarray(item_counts, dtype=np.float64)
    total = counts[1:].sum()
    if total <= 0:
        raise ValueError("item counts are all zero: novelty needs training interactions")
    return -np.log2(np.maximum(counts, 1.0) / total)


def novelty(lists, item_counts, k: int) -> float:
    top = _top(lists, k)
    filled = top > 0
    if not filled.any():
        raise ValueError("no recommended items: novelty is undefined")
    return float(self_information(item_counts)[top[filled]].mean())


def beyond_accuracy(lists, targets, popular_lists, item_counts, num_items: int, ks=DEFAULT_KS) -> dict[str, float]:
    out = {}
    for k in ks:
        out[f"Coverage@{k}"] = catalog_coverage(lists, num_items, k)
        out[f"Serendipity@{k}"] = serendipity(lists, targets, popular_lists, k)
        out[f"Novelty@{k}"] = novelty(lists, item_counts, k)
    return out
