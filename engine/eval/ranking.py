"""Full ranking over the whole catalogue on device (the `loo_full` scoring loop).

Scores for every item are computed in batches; items the user has already interacted with are
masked (configurable), except the target itself; the rank of the target is the number of items
scored strictly higher. Only ranks (one integer per prompt) come back to the host.

Non-finite scores never flatter a model: "strictly higher" is false for every comparison with NaN, so a
diverged model (all scores NaN) would rank every target first and report HR = NDCG = 1. A target whose
score is NaN or ±inf therefore gets the worst rank, N (behind every item), and an unmasked NaN competitor
counts as scored above the target."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils

from engine.data.pipeline import eval_batches
from engine.data.splits import Prompts, Split
from engine.eval.metrics import metrics_from_ranks


def target_ranks(scores: jax.Array, targets: jax.Array, history: jax.Array | None) -> jax.Array:
    """scores [B, N+1] (column 0 = padding), targets [B], history [B, H] item ids (0 = none)."""
    scores = scores.astype(jnp.float32).at[:, 0].set(-jnp.inf)
    target_score = jnp.take_along_axis(scores, targets[:, None], axis=1)
    if history is not None:
        rows = jnp.arange(scores.shape[0])[:, None]
        scores = scores.at[rows, history].set(-jnp.inf)
    ranks = jnp.sum((scores > target_score) | jnp.isnan(scores), axis=1)
    return worst_if_not_finite(ranks, target_score[:, 0], scores.shape[1] - 1)


def worst_if_not_finite(ranks: jax.Array, target_score: jax.Array, num_items: int) -> jax.Array:
    """ranks [B] with every prompt whose target score is NaN or ±inf moved to the worst rank, num_items."""
    return jnp.where(jnp.isfinite(target_score), ranks, num_items).astype(ranks.dtype)


def make_rank_fn(score_fn: Callable, mask_history: bool, sharding):
    """score_fn(params, inputs) -> scores [B, N+1]; returns a jitted (params, batch) -> ranks."""

    @jax.jit
    def rank(params, inputs, history, targets):
        return target_ranks(score_fn(params, inputs), targets, history if mask_history else None)

    def run(params, batch):
        put = lambda x: jax.make_array_from_process_local_data(sharding, x)
        ranks = rank(params, put(batch["inputs"]), put(batch["history"]), put(batch["targets"]))
        return np.asarray(multihost_utils.process_allgather(ranks, tiled=True))

    return run


def evaluate_prompts(rank_fn, params, split: Split, prompts: Prompts, *, batch_size: int, max_len: int,
                     buckets: tuple[int, ...], ks) -> tuple[dict[str, float], np.ndarray]:
    """Metrics over every prompt, plus the rank of each prompt's target (in prompt order)."""
    ranks = np.full(len(prompts), -1, dtype=np.int64)
    for batch in eval_batches(split, prompts, batch_size, max_len, buckets):
        rows = multihost_utils.process_allgather(batch["rows"], tiled=True) if jax.process_count() > 1 \
            else batch["rows"]
        got = rank_fn(params, batch)
        real = rows >= 0
        ranks[rows[real]] = got[real]
    assert (ranks >= 0).all(), "every prompt must be scored exactly once"
    return metrics_from_ranks(ranks, ks), ranks
