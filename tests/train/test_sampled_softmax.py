import jax
import jax.numpy as jnp
import numpy as np
import pytest

from engine.train.losses import LOSSES, full_softmax_cross_entropy, get_loss
from engine.train.sampled_softmax import (
    gbce_beta,
    gbce_with_negatives,
    sampled_softmax_with_negatives,
    uniform_negatives,
)

# One-dimensional embeddings: item i scores hidden * i, so every logit is readable by eye.
TABLE = jnp.arange(4, dtype=jnp.float32)[:, None]  # padding row 0, items 1..3 with embeddings 1, 2, 3
HIDDEN = jnp.ones((1, 2, 1))
TARGETS = jnp.array([[0, 2]])                       # one padding position, one target (item 2, logit 2)


def test_sampled_softmax_hand_computed():
    negatives = jnp.array([1, 3, 3])  # duplicates count twice; K = N = 3, so the logQ shift log(N/K) is 0
    total, count = sampled_softmax_with_negatives(HIDDEN, TABLE, TARGETS, negatives)
    assert int(count) == 1
    assert float(total) == pytest.approx(np.log(np.exp(2) + np.exp(1) + 2 * np.exp(3)) - 2, rel=1e-6)


def test_logq_correction_and_accidental_hits():
    negatives = jnp.array([2, 1])  # the first one is the target itself: left out
    # Corrected: the remaining negative's logit 1 is shifted by log(N/K) = log(3/2).
    total, _ = sampled_softmax_with_negatives(HIDDEN, TABLE, TARGETS, negatives)
    assert float(total) == pytest.approx(np.log(np.exp(2) + 1.5 * np.exp(1)) - 2, rel=1e-6)
    total, _ = sampled_softmax_with_negatives(HIDDEN, TABLE, TARGETS, negatives, logq_correction=False)
    assert float(total) == pytest.approx(np.log(np.exp(2) + np.exp(1)) - 2, rel=1e-6)


def test_sampled_softmax_over_every_item_is_the_full_softmax():
    rng = np.random.default_rng(0)
    hidden = jnp.asarray(rng.normal(size=(2, 5, 4)), jnp.float32)
    table = jnp.asarray(rng.normal(size=(9, 4)), jnp.float32)
    bias = jnp.asarray(rng.normal(size=(9,)), jnp.float32)
    targets = jnp.asarray(rng.integers(0, 9, size=(2, 5)))
    everything = jnp.arange(1, 9)  # K = N: the correction is 0 and the hit removal leaves each item once
    got = sampled_softmax_with_negatives(hidden, table, targets, everything, bias)
    want = full_softmax_cross_entropy(hidden, table, targets, bias=bias)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-6)
    assert int(got[1]) == int(want[1])
    per_position = jnp.broadcast_to(everything, (2, 5, 8))  # per-position negatives give the same
    np.testing.assert_allclose(sampled_softmax_with_negatives(hidden, table, targets, per_position, bias)[0],
                               want[0], rtol=1e-6)


def test_gbce_beta_formula():
    # 101 items, 25 negatives: alpha = 25/100 = 0.25; beta = 0.25 * (0.75 * (1 - 4) + 4) = 0.4375.
    assert gbce_beta(101, 25, 0.75) == pytest.approx(0.4375)
    assert gbce_beta(101, 25, 0.0) == pytest.approx(1.0)   # plain BCE
    assert gbce_beta(101, 25, 1.0) == pytest.approx(0.25)  # beta = alpha
    assert gbce_beta(3, 256, 0.75) == pytest.approx(1.0)   # more draws than items: alpha capped at 1
    with pytest.raises(ValueError):
        gbce_beta(101, 25, 1.5)


def test_gbce_hand_computed():
    negatives = jnp.array([1, 3, 2])  # the last one is an accidental hit and is left out
    sp = lambda x: np.log1p(np.exp(x))
    # N = 3, K = 3: alpha = min(3/2, 1) = 1 -> beta = 1 whatever t.
    total, count = gbce_with_negatives(HIDDEN, TABLE, TARGETS, negatives, t=0.75)
    assert int(count) == 1
    assert float(total) == pytest.approx(sp(-2) + sp(1) + sp(3), rel=1e-6)
    # 11 items, one negative: alpha = 0.1, t = 0.5 -> beta = 0.1 * (0.5 * (1 - 10) + 10) = 0.55.
    table = jnp.arange(12, dtype=jnp.float32)[:, None] / 4
    total, _ = gbce_with_negatives(HIDDEN, table, TARGETS, jnp.array([5]), t=0.5)
    assert float(total) == pytest.approx(0.55 * sp(-0.5) + sp(1.25), rel=1e-6)


def test_uniform_negatives_are_items_and_shared():
    draws = uniform_negatives(jax.random.key(0), 5, 2000)
    assert draws.shape == (2000,) and int(draws.min()) == 1 and int(draws.max()) == 5
    assert np.all(np.bincount(np.asarray(draws), minlength=6)[1:] > 300)  # ~400 each


@pytest.mark.parametrize("name", ["ce_fused", "sampled_softmax", "gbce"])
def test_registered_losses_take_the_trainer_call(name):
    rng = np.random.default_rng(1)
    hidden = jnp.asarray(rng.normal(size=(2, 6, 8)), jnp.float32)
    table = jnp.asarray(rng.normal(size=(41, 8)), jnp.float32)
    bias = jnp.zeros((41,), jnp.float32)
    targets = jnp.asarray(rng.integers(0, 41, size=(2, 6)))
    loss = get_loss(name)
    def mean_loss(h, w, b, key):
        total, count = loss(h, w, targets, key, b)
        return total / count

    step = jax.jit(jax.value_and_grad(mean_loss, (0, 1, 2)))
    value, grads = step(hidden, table, bias, jax.random.key(0))
    assert np.isfinite(float(value)) and float(value) > 0
    assert all(bool(jnp.all(jnp.isfinite(g))) and float(jnp.abs(g).max()) > 0 for g in grads)
    assert name in LOSSES
