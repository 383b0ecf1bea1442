"""Full ranking over very large catalogues without the [prompts, items] score matrix.

`ranking.target_ranks` needs all N+1 scores of a prompt at once ([B, N+1] fp32, plus the masked
copy). Here the scores are computed one item chunk at a time inside a `lax.scan`; per chunk the
target's rank is advanced by the number of eligible items scoring strictly higher, and a running
top-k is merged with the chunk's own `lax.top_k`. Memory is O(B × chunk + B × k), so 10^6 items
evaluate in the same footprint as 10^4.

Semantics match `target_ranks` exactly: the padding item 0 never counts, items in `history` are
masked (the target itself is never counted against itself, also when it is in the history),
ties do not count against the target, an eligible NaN score counts above it and a NaN or ±inf target
score gets the worst rank N. The top-k list is what a recommender would show: padding
and history masked (the target too, if it was seen), no target knowledge.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.experimental import multihost_utils

from engine.eval.ranking import worst_if_not_finite
from engine.tiling import chunk_layout

DEFAULT_CHUNK = 32768


class ChunkedRanking(NamedTuple):
    ranks: jax.Array       # [B] int32, number of eligible items scored strictly above the target
    top_scores: jax.Array  # [B, k] fp32, best first (-inf where fewer than k items are eligible)
    top_items: jax.Array   # [B, k] int32 item ids


def _history_mask(history, first_item, width: int):
    """[B, width] bool: which of items first_item .. first_item+width-1 each prompt has seen."""
    batch = history.shape[0]
    local = history - first_item
    inside = (history > 0) & (local >= 0) & (local < width)
    # Out-of-chunk ids go to a spare column that is cut off (negative indices would wrap around).
    cols = jnp.where(inside, local, width)
    return jnp.zeros((batch, width + 1), bool).at[jnp.arange(batch)[:, None], cols].set(True)[:, :width]


def chunked_target_ranks(hidden, table, targets, history=None, bias=None, *, k: int = 0,
                         chunk_size: int = DEFAULT_CHUNK) -> ChunkedRanking:
    """hidden [B, D] (the prompt's last hidden state), table [N+1, D] (row 0 = padding), targets [B],
    history [B, H] item ids (0 = none) or None, bias [N+1] or None. k = 0 skips the top-k list.

    Scores are hidden · table[i] (+ bias[i]) accumulated in fp32, as `Experiment.scores` computes them."""
    num_items = table.shape[0] - 1
    batch = hidden.shape[0]
    chunks, width = chunk_layout(num_items, chunk_size)
    if not 0 <= k <= num_items:
        raise ValueError(f"top-k k={k} must be between 0 and the number of items {num_items}")
    target_score = jnp.einsum("bd,bd->b", hidden, table[targets].astype(hidden.dtype),
                              preferred_element_type=jnp.float32)
    if bias is not None:
        target_score = target_score + bias[targets].astype(jnp.float32)

    def step(carry, j):
        ranks, best_scores, best_items = carry
        # Clamped window (see fused_softmax): columns the previous chunk covered are not fresh.
        offset = jnp.minimum(j * width, num_items - width)
        first_item = offset + 1
        items = first_item + jnp.arange(width)
        rows = lax.dynamic_slice_in_dim(table, first_item, width, 0).astype(hidden.dtype)
        scores = jnp.einsum("bd,cd->bc", hidden, rows, preferred_element_type=jnp.float32)
        if bias is not None:
            scores = scores + lax.dynamic_slice_in_dim(bias, first_item, width, 0).astype(jnp.float32)
        eligible = (items >= j * width + 1)[None, :]
        if history is not None:
            eligible = eligible & ~_history_mask(history, first_item, width)
        # The target's own column is excluded explicitly: its score here and `target_score` come from
        # different matmuls and need not agree to the last bit.
        beats = ((scores > target_score[:, None]) | jnp.isnan(scores)) & eligible & (items[None, :] != targets[:, None])
        ranks = ranks + jnp.sum(beats, axis=1, dtype=jnp.int32)
        if k:
            chunk_scores, chunk_pos = lax.top_k(jnp.where(eligible, scores, -jnp.inf), min(k, width))
            merged_scores = jnp.concatenate([best_scores, chunk_scores], axis=1)
            merged_items = jnp.concatenate([best_items, first_item + chunk_pos.astype(jnp.int32)], axis=1)
            best_scores, pick = lax.top_k(merged_scores, k)
            best_items = jnp.take_along_axis(merged_items, pick, axis=1)
        return (ranks, best_scores, best_items), None

    init = (jnp.zeros((batch,), jnp.int32), jnp.full((batch, k), -jnp.inf, jnp.float32),
            jnp.zeros((batch, k), jnp.int32))
    (ranks, best_scores, best_items), _ = lax.scan(step, init, jnp.arange(chunks))
    ranks = worst_if_not_finite(ranks, target_score, num_items)
    return ChunkedRanking(ranks, best_scores, best_items)


def make_chunked_rank_fn(hidden_fn: Callable, mask_history: bool, sharding, *, chunk_size: int = DEFAULT_CHUNK):
    """Drop-in for `ranking.make_rank_fn` when the catalogue is too large for [B, N+1] scores.

    hidden_fn(params, inputs) -> (hidden [B, D], table [N+1, D], bias [N+1] or None); the returned
    run(params, batch) gives host ranks like `make_rank_fn`'s, so `evaluate_prompts` works unchanged."""

    @jax.jit
    def rank(params, inputs, history, targets):
        hidden, table, bias = hidden_fn(params, inputs)
        return chunked_target_ranks(hidden, table, targets, history if mask_history else None, bias,
                                    chunk_size=chunk_size).ranks

    def run(params, batch):
        put = lambda x: jax.make_array_from_process_local_data(sharding, x)
        ranks = rank(params, put(batch["inputs"]), put(batch["history"]), put(batch["targets"]))
        return np.asarray(multihost_utils.process_allgather(ranks, tiled=True))

    return run
