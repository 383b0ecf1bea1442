"""Negative-sampling losses with many negatives: sampled softmax (logQ-corrected) and gBCE.

Both score every target position against the same K uniformly drawn negatives (shared across the
batch): the negatives' logits are one [positions, K] matmul with a gathered [K, D] table slice,
instead of gathering a [positions, K, D] block as per-position negatives would. Each positive
still sees K uniform negatives, so the sampling rate (and gBCE's calibration below) is unchanged.
The `*_with_negatives` functions also accept per-position negatives [B, L, K].

A negative equal to the position's own target ("accidental hit") is left out of that position's
loss rather than redrawn, which keeps the sampler a single shared draw.

Both return (sum of per-position losses, number of target positions), like `losses.py`."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def uniform_negatives(key, num_items: int, num_negatives: int) -> jax.Array:
    """K item ids drawn uniformly, with replacement, from 1..num_items (never the padding id 0)."""
    return jax.random.randint(key, (num_negatives,), 1, num_items + 1)


def _scores(hidden, table, targets, negatives, bias):
    """fp32 logits of the targets [B, L] and of the negatives [B, L, K], plus the accidental-hit mask."""
    pos = jnp.einsum("bld,bld->bl", hidden, table[targets].astype(hidden.dtype), preferred_element_type=jnp.float32)
    rows = table[negatives].astype(hidden.dtype)
    shared = negatives.ndim == 1
    neg = jnp.einsum("bld,kd->blk" if shared else "bld,blkd->blk", hidden, rows, preferred_element_type=jnp.float32)
    if bias is not None:
        pos = pos + bias[targets].astype(jnp.float32)
        neg = neg + bias[negatives].astype(jnp.float32)
    hit = (negatives[None, None, :] if shared else negatives) == targets[..., None]
    return pos, neg, hit


def sampled_softmax_with_negatives(hidden, table, targets, negatives, bias=None, *, logq_correction: bool = True):
    """Softmax over {target} ∪ negatives.

    With `logq_correction` each negative's logit is shifted by -log(K·Q(item)), Q = 1/N being the
    uniform sampling probability, and the target's logit is left as is: then
    exp(s_target) + Σ_k exp(s_k - log(K/N)) is an unbiased estimate of the full partition function
    Σ_items exp(s_i) (accidental hits excluded, the target counted once), so the loss estimates
    the full-catalogue cross-entropy. Without it the loss is the plain softmax over K+1 logits."""
    num_items = table.shape[0] - 1
    pos, neg, hit = _scores(hidden, table, targets, negatives, bias)
    if logq_correction:
        neg = neg - jnp.log(negatives.shape[-1] / num_items)
    neg = jnp.where(hit, -jnp.inf, neg)
    losses = jax.nn.logsumexp(jnp.concatenate([pos[..., None], neg], axis=-1), axis=-1) - pos
    weight = targets > 0
    return jnp.sum(jnp.where(weight, losses, 0.0)), jnp.sum(weight)


def sampled_softmax(hidden, table, targets, key, bias=None, *, num_negatives: int = 1024,
                    logq_correction: bool = True):
    """Sampled softmax with `num_negatives` uniform negatives shared across the batch."""
    negatives = uniform_negatives(key, table.shape[0] - 1, num_negatives)
    return sampled_softmax_with_negatives(hidden, table, targets, negatives, bias, logq_correction=logq_correction)


def gbce_beta(num_items: int, num_negatives: int, t: float) -> float:
    """gSASRec's positive-term exponent β = α (t (1 - 1/α) + 1/α), α = k / (|I| - 1) (Petrov & Macdonald 2023).

    t = 0 gives β = 1 (plain BCE), t = 1 gives β = α (fully calibrated). α is capped at 1: drawing
    with replacement can exceed |I| - 1 draws on tiny catalogues, and a rate above one would push
    β above 1, which the calibration argument never intends."""
    if num_items < 2:
        raise ValueError(f"gBCE needs at least two items (got {num_items})")
    if not 0.0 <= t <= 1.0:
        raise ValueError(f"gBCE calibration t={t} must be in [0, 1]")
    alpha = min(num_negatives / (num_items - 1), 1.0)
    return alpha * (t * (1.0 - 1.0 / alpha) + 1.0 / alpha)


def gbce_with_negatives(hidden, table, targets, negatives, bias=None, *, t: float = 0.75):
    """Generalised BCE: -log σ(s⁺)^β - Σ_k log(1 - σ(s_k)), summed over the K negatives.

    Written with softplus (-log σ(x) = softplus(-x), -log(1 - σ(x)) = softplus(x)), which is the
    paper's loss without the clamping its reference code needs for the σ^β transform."""
    beta = gbce_beta(table.shape[0] - 1, negatives.shape[-1], t)
    pos, neg, hit = _scores(hidden, table, targets, negatives, bias)
    losses = beta * jax.nn.softplus(-pos) + jnp.sum(jnp.where(hit, 0.0, jax.nn.softplus(neg)), axis=-1)
    weight = targets > 0
    return jnp.sum(jnp.where(weight, losses, 0.0)), jnp.sum(weight)


def gbce(hidden, table, targets, key, bias=None, *, num_negatives: int = 256, t: float = 0.75):
    """gSASRec's gBCE with `num_negatives` uniform negatives shared across the batch (paper: 256, t=0.75)."""
    negatives = uniform_negatives(key, table.shape[0] - 1, num_negatives)
    return gbce_with_negatives(hidden, table, targets, negatives, bias, t=t)
