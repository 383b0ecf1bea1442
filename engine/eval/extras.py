"""The evaluations a config can ask for on top of the full ranking, for neural and non-neural models alike.

Each takes a model with the Recommender shape (`scores(prompts)`, `recommend(prompts, k)`; neural
models are wrapped by engine.neural_recommender.TrainedRecommender) and adds keys to a split's metrics in
results.json:

- `eval.num_negatives > 0`: the `sampled` protocol (engine.eval.sampled), keys
  `sampled_<strategy><N>/NDCG@10`, ...; the negatives come from a fixed generator (seed 0), so every model
  and seed of a comparison is ranked against the same candidates.
- `eval.beyond_accuracy`: Coverage@K, Serendipity@K, Novelty@K (engine.eval.beyond_accuracy).
- `eval.popularity_breakdown`: rank metrics per popularity bucket of the prompt's last item
  (engine.eval.breakdown), stored separately as results["popularity_breakdown"][split].

`check_eval_config` rejects impossible settings before anything is trained or written.
"""

from __future__ import annotations

import numpy as np

from engine.data.splits import Split
from engine.eval.beyond_accuracy import beyond_accuracy
from engine.eval.breakdown import last_item_popularity_breakdown
from engine.eval.metrics import check_ks
from engine.eval.sampled import STRATEGIES, evaluate_sampled
from engine.recommender import most_popular_items, prompt_items, train_item_counts

NEGATIVES_SEED = 0
RANK_METRICS = ("HR", "NDCG", "MRR")


def check_eval_config(eval_config, num_items: int) -> tuple[int, ...]:
    """The checked ks; ValueError naming the config key for any impossible eval setting."""
    ks = check_ks(eval_config.ks, num_items)
    names = {f"{m}@{k}" for m in RANK_METRICS for k in ks}
    if eval_config.select_metric not in names:
        raise ValueError(f"eval.select_metric={eval_config.select_metric!r} is not a full-ranking validation "
                         f"metric of eval.ks={ks}; known: {', '.join(sorted(names))}")
    n = eval_config.get("num_negatives", 0)
    if not isinstance(n, int) or n < 0:
        raise ValueError(f"eval.num_negatives={n!r} must be 0 (off) or a positive integer")
    if n:
        if n >= num_items:
            raise ValueError(f"eval.num_negatives={n} must be smaller than the catalogue size {num_items}")
        if max(ks) > n + 1:
            raise ValueError(f"eval.ks={ks}: with eval.num_negatives={n} every K must be at most {n + 1}")
        if eval_config.negative_sampling not in STRATEGIES:
            raise ValueError(f"eval.negative_sampling={eval_config.negative_sampling!r} must be one of "
                             f"{', '.join(STRATEGIES)}")
    if eval_config.get("popularity_breakdown") and eval_config.popularity_buckets < 1:
        raise ValueError(f"eval.popularity_buckets={eval_config.popularity_buckets} must be at least 1")
    return ks


def wants_extras(eval_config) -> bool:
    return bool(eval_config.get("num_negatives", 0) or eval_config.get("beyond_accuracy")
                or eval_config.get("popularity_breakdown"))


def extra_metrics(model, split: Split, split_name: str, eval_config, ranks: np.ndarray) -> tuple[dict, list | None]:
    """(metrics to merge into results[split_name], popularity breakdown rows or None).

    ranks: the full-ranking rank of each prompt of `split_name`, in prompt order."""
    ks = tuple(int(k) for k in eval_config.ks)
    prompts = split.prompts(split_name)
    out, breakdown = {}, None
    if eval_config.num_negatives:
        sampled, _ = evaluate_sampled(model, split, prompts, eval_config.num_negatives,
                                      eval_config.negative_sampling, NEGATIVES_SEED, ks)
        out.update(sampled)
    counts = train_item_counts(split)
    if eval_config.beyond_accuracy:
        rows = prompt_items(split, prompts)
        lists = model.recommend(rows, max(ks))
        popular = most_popular_items(split, rows, max(ks))
        out.update(beyond_accuracy(lists, prompts.targets, popular, counts, split.num_items, ks))
    if eval_config.popularity_breakdown:
        last_items = split.items[prompts.ends - 1]
        breakdown = last_item_popularity_breakdown(last_items, counts, ranks=ranks, ks=ks,
                                                   num_buckets=eval_config.popularity_buckets)
    return out, breakdown


def add_extras(results: dict, model, split: Split, eval_config, ranks_by_split: dict) -> dict:
    """Merge the extras of every split in ranks_by_split into results (in place) and return it."""
    for split_name, ranks in ranks_by_split.items():
        metrics, breakdown = extra_metrics(model, split, split_name, eval_config, ranks)
        results[split_name].update(metrics)
        if breakdown is not None:
            results.setdefault("popularity_breakdown", {})[split_name] = breakdown
    return results
