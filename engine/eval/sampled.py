"""`sampled` protocol: rank each target among N sampled negatives instead of the whole catalogue.

TLRec reports NDCG@10 with 50 negatives. Sampled metrics can rank models differently from full
ranking (Krichene & Rendle, KDD 2020), so every metric key is labelled `sampled_<strategy><N>/...`
(e.g. `sampled_uniform50/NDCG@10`) and these numbers are never the headline.

Negatives of a prompt are distinct items, never its target and never an item of its prompt, drawn
uniformly from the catalogue ('uniform') or in proportion to training interactions ('popularity'; items
never seen in training are then never drawn). A generator seeded by `seed` alone draws them, so every
model is ranked against the same candidates.
"""

from __future__ import annotations

import numpy as np

from engine.data.splits import Prompts, Split
from engine.eval.metrics import metrics_from_ranks
from engine.recommender import Ragged, block_rows, prompt_items, train_item_counts

STRATEGIES = ("uniform", "popularity")
REJECTION_ROUNDS = 8  # vectorised rounds before the few rows still short are drawn one by one


def sample_negatives(split: Split, prompts: Prompts, num_negatives: int, strategy: str = "uniform",
                     seed: int = 0) -> np.ndarray:
    """int64 [len(prompts), num_negatives] negative item ids."""
    if strategy not in STRATEGIES:
        raise ValueError(f"eval.negative_sampling={strategy!r} must be one of {', '.join(STRATEGIES)}")
    if not isinstance(num_negatives, (int, np.integer)) or num_negatives < 1:
        raise ValueError(f"eval.num_negatives={num_negatives!r} must be a positive integer")
    n = split.num_items
    weights = np.ones(n + 1) if strategy == "uniform" else train_item_counts(split).astype(np.float64)
    weights[0] = 0.0
    probs = weights / weights.sum()

    # Forbidden (row, item) pairs: the prompt's items and the target, as sorted int64 keys.
    history = prompt_items(split, prompts)
    rows = np.concatenate([history.rows, np.arange(len(prompts))])
    items = np.concatenate([history.items, prompts.targets])
    forbidden = np.unique(rows * (n + 1) + items)
    forbidden_rows, forbidden_items = np.divmod(forbidden, n + 1)
    available = np.count_nonzero(probs) - np.bincount(forbidden_rows, probs[forbidden_items] > 0,
                                                      minlength=len(prompts))
    if len(prompts) and available.min() < num_negatives:
        row = int(np.argmin(available))
        raise ValueError(f"eval.num_negatives={num_negatives}: prompt {row} has only {int(available[row])} "
                         f"items left to sample ({strategy}) once its own items and target are excluded")

    rng = np.random.default_rng(seed)
    out = np.zeros((len(prompts), num_negatives), dtype=np.int64)
    pending = np.arange(len(prompts))
    draws_per_row = 2 * num_negatives
    for _ in range(REJECTION_ROUNDS):
        if not len(pending):
            break
        draws = rng.choice(n + 1, size=(len(pending), draws_per_row), p=probs)
        keys = pending[:, None] * (n + 1) + draws
        usable = _first_occurrence(keys) & ~np.isin(keys, forbidden)
        done = usable.sum(axis=1) >= num_negatives
        take = usable[done] & (np.cumsum(usable[done], axis=1) <= num_negatives)
        out[pending[done]] = draws[done][take].reshape(-1, num_negatives)  # row-major: draw order kept
        pending = pending[~done]
        draws_per_row *= 2
    for row in pending:  # rows with heavy exclusions under a skewed distribution: exact draw
        allowed = probs.copy()
        allowed[forbidden_items[forbidden_rows == row]] = 0.0
        out[row] = rng.choice(n + 1, size=num_negatives, replace=False, p=allowed / allowed.sum())
    return out


def _first_occurrence(keys: np.ndarray) -> np.ndarray:
    """Mask of entries that are the first of their value within the row (later repeats are redraws)."""
    order = np.argsort(keys, axis=1, kind="stable")
    ordered = np.take_along_axis(keys, order, axis=1)
    first_sorted = np.ones(keys.shape, dtype=bool)
    first_sorted[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    first = np.empty_like(first_sorted)
    np.put_along_axis(first, order, first_sorted, axis=1)
    return first


def candidate_ranks(scores: np.ndarray, targets, negatives: np.ndarray, ties: str = "pessimistic") -> np.ndarray:
    """0-based rank of each target among itself and its negatives (ties count against it unless
    ties='optimistic', as in engine.eval.host_ranking). A NaN negative counts above the target, and a
    target scored NaN or ±inf is ranked last: a diverged model must never look perfect."""
    if ties not in ("pessimistic", "optimistic"):
        raise ValueError(f"eval.ties={ties!r} must be 'pessimistic' or 'optimistic'")
    scores = np.asarray(scores, dtype=np.float64)
    target_score = np.take_along_axis(scores, np.asarray(targets, dtype=np.int64)[:, None], axis=1)
    negative_scores = np.take_along_axis(scores, negatives, axis=1)
    ranks = np.sum((negative_scores > target_score) | np.isnan(negative_scores), axis=1)
    if ties == "pessimistic":
        ranks += np.sum(negative_scores == target_score, axis=1)
    return np.where(np.isfinite(target_score[:, 0]), ranks, negatives.shape[1])


def evaluate_sampled(model, split: Split, prompts: Prompts, num_negatives: int = 50, strategy: str = "uniform",
                     seed: int = 0, ks=(10,), ties: str = "pessimistic") -> tuple[dict[str, float], np.ndarray]:
    """(metrics labelled sampled_<strategy><N>/..., rank per prompt among 1 + N candidates)."""
    ks = tuple(int(k) for k in ks)
    if any(k < 1 or k > num_negatives + 1 for k in ks):
        raise ValueError(f"eval.ks={ks}: with eval.num_negatives={num_negatives} every K must be between 1 "
                         f"and {num_negatives + 1}")
    negatives = sample_negatives(split, prompts, num_negatives, strategy, seed)
    rows = prompt_items(split, prompts)
    ranks = np.empty(len(prompts), dtype=np.int64)
    step = block_rows(split.num_items + 1)
    for lo in range(0, len(prompts), step):
        hi = min(lo + step, len(prompts))
        chunk: Ragged = rows.slice(lo, hi)
        ranks[lo:hi] = candidate_ranks(model.scores(chunk), prompts.targets[lo:hi], negatives[lo:hi], ties)
    label = f"sampled_{strategy}{num_negatives}/"
    return {label + key: value for key, value in metrics_from_ranks(ranks, ks).items()}, ranks
