"""Full-catalogue softmax cross-entropy that never materialises the (positions × items) logits.

The plain loss (`losses.full_softmax_cross_entropy`) builds a [positions, items] fp32 matrix and
keeps it (and the softmax) for the backward pass: at 25k positions × 1M items that is 100 GB.
Here the loss is split as  CE = logsumexp(logits) - target logit:

* the target logit is one gathered dot product per position (ordinary autodiff);
* the log-sum-exp is computed tile by tile — item chunks inside position chunks — with an online
  (running max, running sum) reduction, and its `custom_vjp` backward pass recomputes each tile's
  logits from the saved per-position log-sum-exp to form d hidden and d table, so at most a few
  [position chunk, item chunk] tiles are alive at any time.

Padding positions (target 0) are moved behind the real ones (a stable argsort per group), so whole
position chunks made of padding are skipped by a `lax.cond`: they contribute nothing and cost
nothing, with all shapes static.

Row 0 of the table (padding) is never a class. Item counts that are not a multiple of the chunk
size need no padded copy of the table: the last chunk's window is clamped to end at the last
item, and the columns it shares with the previous chunk get a -inf logit (so they add nothing
to the sum and get zero gradient).

`groups` splits the batch axis into independent groups that are compacted separately. With the
batch sharded over G devices (data parallelism with compiler-propagated shardings) one group per
device keeps the sort, the chunk loops and the table-gradient accumulator device-local; the only
cross-device traffic is the final sum of the table gradient over groups, i.e. the usual gradient
all-reduce.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax

from engine.tiling import chunk_layout

DEFAULT_ITEM_CHUNK = 4096
DEFAULT_POSITION_CHUNK = 4096


def _item_tile(table, bias, j, width: int, num_items: int, dtype):
    """Rows of item chunk j (table rows 1..num_items) and the per-column additive bias.

    The window is clamped to the catalogue's end; columns that the previous chunk already covered
    get -inf so each item is counted exactly once."""
    offset = jnp.minimum(j * width, num_items - width)  # 0-based item index of the first column
    rows = lax.dynamic_slice_in_dim(table, offset + 1, width, 0).astype(dtype)
    fresh = offset + jnp.arange(width) >= j * width
    col = jnp.zeros((width,), jnp.float32) if bias is None else \
        lax.dynamic_slice_in_dim(bias, offset + 1, width, 0).astype(jnp.float32)
    return offset + 1, rows, jnp.where(fresh, col, -jnp.inf)


def _tile_logits(h, rows, col_bias):
    return jnp.einsum("gpd,cd->gpc", h, rows, preferred_element_type=jnp.float32) + col_bias


def _positions_lse(h, table, bias, item_chunks: int, width: int):
    """log-sum-exp over all items for a position chunk h [G, Pc, D], one item tile at a time."""
    num_items = table.shape[0] - 1

    def step(carry, j):
        run_max, run_sum = carry
        _, rows, col_bias = _item_tile(table, bias, j, width, num_items, h.dtype)
        logits = _tile_logits(h, rows, col_bias)
        new_max = jnp.maximum(run_max, logits.max(-1))  # finite: every chunk has a fresh column
        run_sum = run_sum * jnp.exp(run_max - new_max) + jnp.exp(logits - new_max[..., None]).sum(-1)
        return (new_max, run_sum), None

    init = (jnp.full(h.shape[:2], -jnp.inf, jnp.float32), jnp.zeros(h.shape[:2], jnp.float32))
    (run_max, run_sum), _ = lax.scan(step, init, jnp.arange(item_chunks))
    return run_max + jnp.log(run_sum)


def _compact(valid, position_chunk: int):
    """Per group: positions with a target first (stable), padded to whole position chunks.

    Returns the gather order [G, chunks * width] (padding slots point at slot 0 and are never
    used: their cotangent is zero), the number of live positions, and the chunk layout."""
    per_group = valid.shape[1]
    chunks, width = chunk_layout(per_group, position_chunk)
    order = jnp.argsort(~valid, axis=1, stable=True)
    order = jnp.pad(order, ((0, 0), (0, chunks * width - per_group)))
    return order, jnp.max(jnp.sum(valid, axis=1)), chunks, width


_gather_rows = jax.vmap(lambda x, idx: x[idx])


def _scatter_rows(values, order, per_group: int):
    """Inverse of `_gather_rows` for the first `per_group` slots (a permutation: indices are unique)."""
    return jax.vmap(lambda v, idx: jnp.zeros((per_group,) + v.shape[1:], v.dtype).at[idx].set(
        v[:per_group], unique_indices=True))(values, order[:, :per_group])


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def _masked_lse(item_chunk: int, position_chunk: int, hidden, table, bias, valid):
    """hidden [G, P, D], table [N+1, D], bias [N+1] or None, valid [G, P] -> lse over items 1..N
    at valid positions, 0 elsewhere ([G, P], fp32)."""
    return _masked_lse_fwd(item_chunk, position_chunk, hidden, table, bias, valid)[0]


def _masked_lse_fwd(item_chunk, position_chunk, hidden, table, bias, valid):
    groups, per_group, _ = hidden.shape
    item_chunks, item_width = chunk_layout(table.shape[0] - 1, item_chunk)
    order, live_positions, pos_chunks, pos_width = _compact(valid, position_chunk)
    sorted_hidden = _gather_rows(hidden, order)

    def step(_, k):
        h = lax.dynamic_slice_in_dim(sorted_hidden, k * pos_width, pos_width, 1)
        lse = lax.cond(k * pos_width < live_positions,
                       lambda h: _positions_lse(h, table, bias, item_chunks, item_width),
                       lambda h: jnp.zeros(h.shape[:2], jnp.float32), h)
        return None, lse

    _, sorted_lse = lax.scan(step, None, jnp.arange(pos_chunks))  # [chunks, G, width]
    sorted_lse = sorted_lse.transpose(1, 0, 2).reshape(groups, pos_chunks * pos_width)
    lse = jnp.where(valid, _scatter_rows(sorted_lse, order, per_group), 0.0)
    return lse, (hidden, table, bias, valid, order, sorted_lse)


def _masked_lse_bwd(item_chunk, position_chunk, residuals, cotangent):
    hidden, table, bias, valid, order, sorted_lse = residuals
    groups, per_group, dim = hidden.shape
    num_items = table.shape[0] - 1
    item_chunks, item_width = chunk_layout(num_items, item_chunk)
    pos_chunks, pos_width = chunk_layout(per_group, position_chunk)
    live_positions = jnp.max(jnp.sum(valid, axis=1))
    sorted_hidden = _gather_rows(hidden, order)
    # Padding positions (and the pad slots past the last position) get a zero cotangent.
    weight = _gather_rows(jnp.where(valid, cotangent, 0.0).astype(jnp.float32), order)
    weight = weight.at[:, per_group:].set(0.0)
    dtype = hidden.dtype

    def position_step(carry, k):
        h = lax.dynamic_slice_in_dim(sorted_hidden, k * pos_width, pos_width, 1)
        w = lax.dynamic_slice_in_dim(weight, k * pos_width, pos_width, 1)
        lse = lax.dynamic_slice_in_dim(sorted_lse, k * pos_width, pos_width, 1)

        def live(carry):
            def item_step(inner, j):
                d_h, d_table, d_bias = inner
                start, rows, col_bias = _item_tile(table, bias, j, item_width, num_items, dtype)
                # d logits of the lse term: softmax × cotangent (masked columns give exactly 0).
                probs = jnp.exp(_tile_logits(h, rows, col_bias) - lse[..., None]) * w[..., None]
                low = probs.astype(dtype)  # matmul inputs in the compute dtype, fp32 accumulation
                d_h = d_h + jnp.einsum("gpc,cd->gpd", low, rows, preferred_element_type=jnp.float32)
                d_rows = jnp.einsum("gpc,gpd->gcd", low, h, preferred_element_type=jnp.float32)
                d_table = lax.dynamic_update_slice_in_dim(
                    d_table, lax.dynamic_slice_in_dim(d_table, start, item_width, 1) + d_rows, start, 1)
                if d_bias is not None:
                    d_bias = lax.dynamic_update_slice_in_dim(
                        d_bias, lax.dynamic_slice_in_dim(d_bias, start, item_width, 1) + probs.sum(1), start, 1)
                return (d_h, d_table, d_bias), None

            d_h = jnp.zeros((groups, pos_width, dim), jnp.float32)
            (d_h, d_table, d_bias), _ = lax.scan(item_step, (d_h, *carry), jnp.arange(item_chunks))
            return d_h, (d_table, d_bias)

        def dead(carry):
            return jnp.zeros((groups, pos_width, dim), jnp.float32), carry

        d_h, carry = lax.cond(k * pos_width < live_positions, live, dead, carry)
        return carry, d_h

    # Table/bias gradients are accumulated per group (device-local when groups follow the sharding).
    d_table = jnp.zeros((groups,) + table.shape, jnp.float32)
    d_bias = None if bias is None else jnp.zeros((groups,) + bias.shape, jnp.float32)
    (d_table, d_bias), d_sorted = lax.scan(position_step, (d_table, d_bias), jnp.arange(pos_chunks))
    d_sorted = d_sorted.transpose(1, 0, 2, 3).reshape(groups, pos_chunks * pos_width, dim)
    d_hidden = _scatter_rows(d_sorted, order, per_group).astype(hidden.dtype)
    d_table = d_table.sum(0).astype(table.dtype)
    d_bias = None if bias is None else d_bias.sum(0).astype(bias.dtype)
    return d_hidden, d_table, d_bias, None


_masked_lse.defvjp(_masked_lse_fwd, _masked_lse_bwd)


def _resolve_groups(groups: int | None, batch: int) -> int:
    if groups is None:  # one group per device when the batch splits evenly (data-parallel sharding)
        groups = jax.device_count() if batch % jax.device_count() == 0 else 1
    if groups < 1 or batch % groups:
        raise ValueError(f"groups={groups} must be >= 1 and divide the batch size {batch}")
    return groups


def fused_softmax_cross_entropy(hidden, table, targets, key=None, bias=None, *,
                                chunk_size: int = DEFAULT_ITEM_CHUNK,
                                position_chunk: int = DEFAULT_POSITION_CHUNK,
                                groups: int | None = None):
    """Same value and gradients as `full_softmax_cross_entropy`, in O(chunk) extra memory.

    hidden [B, L, D] (any float dtype; matmuls accumulate in fp32), table [N+1, D], targets [B, L]
    (0 = no target), bias [N+1] or None. `chunk_size` / `position_chunk` bound the tile
    [position_chunk, chunk_size] (balanced, rounded to multiples of 128). Returns
    (sum of per-position losses, number of target positions). `key` is unused (deterministic)."""
    del key
    batch, dim = hidden.shape[0], hidden.shape[-1]
    groups = _resolve_groups(groups, batch)
    flat_hidden = hidden.reshape(groups, -1, dim)
    flat_targets = targets.reshape(groups, -1)
    valid = flat_targets > 0
    lse = _masked_lse(chunk_size, position_chunk, flat_hidden, table, bias, valid)
    target_logit = jnp.einsum("gpd,gpd->gp", flat_hidden, table[flat_targets].astype(hidden.dtype),
                              preferred_element_type=jnp.float32)
    if bias is not None:
        target_logit = target_logit + bias[flat_targets].astype(jnp.float32)
    losses = jnp.where(valid, lse - target_logit, 0.0)
    return jnp.sum(losses), jnp.sum(valid)
