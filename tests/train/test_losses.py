import jax
import jax.numpy as jnp
import numpy as np
import pytest

from engine.train.losses import full_softmax_cross_entropy, get_loss, sampled_binary_cross_entropy


def test_full_softmax_matches_manual_log_softmax():
    rng = np.random.default_rng(0)
    hidden = jnp.asarray(rng.normal(size=(2, 3, 4)), jnp.float32)
    table = jnp.asarray(rng.normal(size=(6, 4)), jnp.float32)  # 5 items + padding row
    targets = jnp.array([[0, 2, 5], [1, 0, 3]])
    total, count = full_softmax_cross_entropy(hidden, table, targets)
    logits = np.einsum("bld,nd->bln", hidden, table[1:])
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    expected = sum(-logp[b, l, t - 1] for b in range(2) for l in range(3) if (t := int(targets[b, l])) > 0)
    assert int(count) == 4
    assert float(total) == pytest.approx(expected, rel=1e-5)


def test_sampled_bce_counts_only_targets_and_is_positive():
    hidden = jnp.ones((1, 4, 3))
    table = jnp.arange(18, dtype=jnp.float32).reshape(6, 3) / 10
    targets = jnp.array([[0, 0, 1, 2]])
    total, count = sampled_binary_cross_entropy(hidden, table, targets, jax.random.key(0))
    assert int(count) == 2 and float(total) > 0


def test_sampled_negative_never_equals_positive():
    targets = jnp.full((64, 50), 3)
    hidden = jnp.zeros((64, 50, 2))
    table = jnp.zeros((4, 2))
    # Zero embeddings give softplus(0) twice per position whatever the draws; the check is on the sampler.
    total, count = sampled_binary_cross_entropy(hidden, table, targets, jax.random.key(1))
    assert float(total) == pytest.approx(int(count) * 2 * np.log(2), rel=1e-5)
    negatives = jax.random.randint(jax.random.key(1), targets.shape, 1, 4)
    negatives = jnp.where(negatives == targets, negatives % 3 + 1, negatives)
    assert not bool(jnp.any(negatives == targets))


def test_unknown_loss_names_the_key():
    with pytest.raises(ValueError, match="train.loss"):
        get_loss("hinge")


def test_loss_hyperparameters_come_from_the_config():
    from configs.common import base_config
    from engine.train.losses import loss_from_config

    train = base_config().train
    train.loss, train.num_negatives, train.gbce_t = "gbce", 16, 0.5
    loss = loss_from_config(train)
    assert loss.keywords["num_negatives"] == 16 and loss.keywords["t"] == 0.5
    train.loss, train.num_negatives = "sampled_softmax", 0
    assert loss_from_config(train).keywords["num_negatives"] == 1024  # 0 keeps the loss's default
    train.loss, train.item_chunk = "ce_fused", 512
    assert loss_from_config(train).keywords["chunk_size"] == 512
    train.item_chunk = -1
    with pytest.raises(ValueError, match="train.item_chunk"):
        loss_from_config(train)
