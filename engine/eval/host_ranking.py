"""Full-catalogue ranks and metrics for anything with a `scores(prompts)` method, on the host.

This is the numpy twin of engine.eval.ranking (same masking, same metrics_from_ranks), so a baseline
and a neural model evaluated on the same Prompts give comparable numbers. One difference is explicit:
ties. target_ranks counts only strictly higher scores, which is exact for continuous neural scores but
flatters score functions with plateaus: a kNN model gives most items a score of 0, and counting a
zero-scored target ahead of every other zero-scored item would credit hits the model never made. So
ties are counted against the target by default ('pessimistic'); 'optimistic' reproduces target_ranks.
A NaN score is an error here (a host recommender must score every item), and a target scored ±inf
gets the worst rank N, as in target_ranks.
"""

from __future__ import annotations

import numpy as np

from engine.data.splits import Prompts, Split
from engine.eval.metrics import DEFAULT_KS, check_ks, metrics_from_ranks
from engine.recommender import Ragged, block_rows, prompt_items

TIES = ("pessimistic", "optimistic")


def ranks_from_scores(scores: np.ndarray, targets: np.ndarray, history: Ragged | None = None,
                      ties: str = "pessimistic") -> np.ndarray:
    """0-based rank of each target among all items. scores [B, N+1] (column 0 = padding), targets [B];
    history: items to leave out of the ranking (the prompt), except the target itself."""
    if ties not in TIES:
        raise ValueError(f"eval.ties={ties!r} must be one of {', '.join(TIES)}")
    scores = np.array(scores, dtype=np.float64)  # a copy: masking below must not touch the caller's array
    if np.isnan(scores[:, 1:]).any():
        raise ValueError("scores contain NaN; a recommender must score every item")
    targets = np.asarray(targets, dtype=np.int64)
    rows = np.arange(len(targets))
    target_score = scores[rows, targets][:, None]
    scores[:, 0] = -np.inf
    if history is not None:
        scores[history.rows, history.items] = -np.inf
    scores[rows, targets] = -np.inf  # the target never competes with itself
    ranks = np.sum(scores > target_score, axis=1)
    if ties == "pessimistic":
        ranks += np.sum((scores == target_score) & np.isfinite(scores), axis=1)
    return np.where(np.isfinite(target_score[:, 0]), ranks, scores.shape[1] - 1)


def evaluate(model, split: Split, prompts: Prompts, ks=DEFAULT_KS, *, mask_history: bool = True,
             ties: str = "pessimistic", batch_size: int | None = None) -> tuple[dict[str, float], np.ndarray]:
    """(metrics, rank per prompt) for model.scores over every prompt of `prompts`, in prompt order."""
    ks = check_ks(ks, split.num_items)
    rows = prompt_items(split, prompts)
    step = batch_size or block_rows(split.num_items + 1)
    ranks = np.empty(len(prompts), dtype=np.int64)
    for lo in range(0, len(prompts), step):
        hi = min(lo + step, len(prompts))
        chunk = rows.slice(lo, hi)
        ranks[lo:hi] = ranks_from_scores(model.scores(chunk), prompts.targets[lo:hi],
                                         chunk if mask_history else None, ties)
    return metrics_from_ranks(ranks, ks), ranks
