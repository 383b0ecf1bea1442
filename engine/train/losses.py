"""Next-item losses over hidden states [B, L, D] and an item table [N+1, D] (row 0 = padding).

Targets are item ids with 0 marking positions that carry no target (padding). Every loss (the two here and the registered fused and sampled ones) returns
(sum of per-position losses, number of target positions) so that a global mean over a sharded
batch is one division after the reduction."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import optax

from engine.train.fused_softmax import fused_softmax_cross_entropy
from engine.train.sampled_softmax import gbce, sampled_softmax


def full_softmax_cross_entropy(hidden, table, targets, key=None, bias=None):
    """Softmax over the whole catalogue (SASRec+/gSASRec 'CE'); the padding row is left out."""
    logits = jnp.einsum("bld,nd->bln", hidden, table[1:].astype(hidden.dtype),
                        preferred_element_type=jnp.float32)
    if bias is not None:
        logits = logits + bias[1:]
    weight = targets > 0
    losses = optax.softmax_cross_entropy_with_integer_labels(logits, jnp.maximum(targets - 1, 0))
    return jnp.sum(losses * weight), jnp.sum(weight)


def sampled_binary_cross_entropy(hidden, table, targets, key, bias=None):
    """The original SASRec recipe: the positive against one uniformly sampled negative per position.

    Negatives are drawn from all items; a draw equal to the positive is redrawn once by shifting it,
    which keeps the sampler a single vectorised op."""
    num_items = table.shape[0] - 1
    negatives = jax.random.randint(key, targets.shape, 1, num_items + 1)
    negatives = jnp.where(negatives == targets, negatives % num_items + 1, negatives)
    pos = jnp.einsum("bld,bld->bl", hidden, table[targets].astype(hidden.dtype), preferred_element_type=jnp.float32)
    neg = jnp.einsum("bld,bld->bl", hidden, table[negatives].astype(hidden.dtype), preferred_element_type=jnp.float32)
    if bias is not None:
        pos, neg = pos + bias[targets], neg + bias[negatives]
    weight = targets > 0
    losses = jax.nn.softplus(-pos) + jax.nn.softplus(neg)
    return jnp.sum(losses * weight), jnp.sum(weight)


# Extra hyperparameters are bound here and can be overridden per call (a partial's keywords give
# way to the caller's): ce_fused(chunk_size, position_chunk, groups), sampled_softmax(num_negatives,
# logq_correction), gbce(num_negatives, t).
LOSSES = {
    "ce": full_softmax_cross_entropy,
    "bce": sampled_binary_cross_entropy,
    # Same value and gradients as "ce" without the [positions, items] logits; groups=None: one per device.
    "ce_fused": functools.partial(fused_softmax_cross_entropy, chunk_size=4096, position_chunk=4096, groups=None),
    "sampled_softmax": functools.partial(sampled_softmax, num_negatives=1024, logq_correction=True),
    # gSASRec's published setting (256 negatives, t = 0.75).
    "gbce": functools.partial(gbce, num_negatives=256, t=0.75),
}


def get_loss(name: str):
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r} (config key train.loss); known: {', '.join(LOSSES)}")
    return LOSSES[name]


def loss_from_config(train):
    """train.loss with the hyperparameters the config sets for it (0 keeps the loss's own default)."""
    for key in ("item_chunk", "position_chunk", "num_negatives"):
        if train[key] < 0 or train[key] != int(train[key]):
            raise ValueError(f"config key train.{key}={train[key]} must be a non-negative integer")
    if not 0.0 <= train.gbce_t <= 1.0:
        raise ValueError(f"config key train.gbce_t={train.gbce_t} must lie in [0, 1]")
    options = {
        "ce_fused": {"chunk_size": train.item_chunk, "position_chunk": train.position_chunk},
        "sampled_softmax": {"num_negatives": train.num_negatives},
        "gbce": {"num_negatives": train.num_negatives, "t": train.gbce_t},
    }.get(train.loss, {})
    return functools.partial(get_loss(train.loss), **{k: v for k, v in options.items() if v})
