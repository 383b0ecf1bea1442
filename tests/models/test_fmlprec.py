import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.models.conftest import make_model


def test_filter_shapes():
    model = make_model("fmlprec", max_len=8, hidden_dim=16, num_blocks=2)
    assert len(model.blocks) == 2
    for block in model.blocks:
        assert block.filter.filter.shape == (8 // 2 + 1, 16, 2)  # rfft frequencies x channels x (re, im)
    odd = make_model("fmlprec", max_len=7)
    assert odd.blocks[0].filter.filter.shape == (4, 16, 2)
    assert odd(jnp.array([[0, 1, 2, 3, 4, 5, 6]])).shape == (1, 7, 16)


def test_identity_filter_is_an_identity_token_mixer():
    # With the filter set to 1 + 0i, rfft -> multiply -> irfft returns its input exactly.
    model = make_model("fmlprec", max_len=8)
    layer = model.blocks[0].filter
    x = jax.random.normal(jax.random.key(0), (2, 8, 16))
    layer.filter[...] = jnp.zeros_like(layer.filter[...]).at[..., 0].set(1.0)
    np.testing.assert_allclose(layer(x, rngs=None), layer.norm(x + x), atol=1e-5)


def test_windows_longer_than_the_filter_are_refused():
    model = make_model("fmlprec", max_len=8)
    with pytest.raises(ValueError, match="max_len=8"):
        model(jnp.ones((1, 9), jnp.int32))


def test_training_pairs_are_prefixes_with_one_target_at_the_end():
    model = make_model("fmlprec", num_items=30, max_len=6, prefixes_per_sequence=3)
    window = np.array([[0, 0, 11, 12, 13, 14, 15], [21, 22, 23, 24, 25, 26, 27], [0] * 7])
    inputs, targets = window[:, :-1], window[:, 1:]
    prefixes, prefix_targets = map(np.asarray, model.training_pairs(jnp.asarray(inputs), jnp.asarray(targets),
                                                                     jax.random.key(0)))
    assert prefixes.shape == prefix_targets.shape == (9, 6)
    assert np.all(prefix_targets[:, :-1] == 0)
    for row in range(9):
        user = row // 3
        target = prefix_targets[row, -1]
        if user == 2:
            assert target == 0 and not prefixes[row].any()  # padding rows stay empty
            continue
        end = list(targets[user]).index(target)  # the prefix ends where that target was
        history = inputs[user, : end + 1]
        np.testing.assert_array_equal(prefixes[row, -len(history):], history)
        assert not prefixes[row, : 6 - len(history)].any()
    # Over many draws every position with an item and a target is a prefix end; 11 would be predicted
    # from padding alone, so it never is.
    _, many = model.training_pairs(jnp.asarray(inputs[:1].repeat(64, 0)), jnp.asarray(targets[:1].repeat(64, 0)),
                                   jax.random.key(1))
    assert set(np.asarray(many)[:, -1]) == {12, 13, 14, 15}
