"""Properties every new sequential model shares: padding invariance, padding isolation, dropout
only in training mode, the output layer's shapes; causality for the left-to-right models."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from tests.models.conftest import NEW_MODELS, make_model


@pytest.mark.parametrize("name", NEW_MODELS)
def test_padding_invariance_across_window_lengths(name):
    # The same 4 items in windows of 8 and of 6: the same last-position output (through `prompt`,
    # the input evaluation scores), and the same outputs at the real positions of the plain input.
    model = make_model(name, max_len=8)
    long, short = jnp.array([[0, 0, 0, 0, 5, 6, 7, 8]]), jnp.array([[0, 0, 5, 6, 7, 8]])
    np.testing.assert_allclose(model(model.prompt(long))[:, -1], model(model.prompt(short))[:, -1], atol=1e-5)
    np.testing.assert_allclose(model(long)[0, 4:], model(short)[0, 2:], atol=1e-5)


@pytest.mark.parametrize("name", NEW_MODELS)
def test_padding_embedding_does_not_reach_real_positions(name):
    model = make_model(name)
    seq = jnp.array([[0, 0, 0, 5, 6, 7, 8, 9]])
    before = model(seq)
    table = model.item_embedding.embedding
    table[...] = table[...].at[0].set(100.0)
    after = model(seq)
    assert np.all(np.isfinite(after))
    np.testing.assert_allclose(before[0, 3:], after[0, 3:], atol=1e-5)


@pytest.mark.parametrize("name", NEW_MODELS)
def test_dropout_only_in_training_mode(name):
    model = make_model(name)
    seq = jnp.array([[0, 1, 2, 3, 4, 5, 6, 7]])
    np.testing.assert_array_equal(model(seq), model(seq))
    a = model(seq, rngs=nnx.Rngs(dropout=jax.random.key(1)))
    b = model(seq, rngs=nnx.Rngs(dropout=jax.random.key(2)))
    assert not np.allclose(a, b)


@pytest.mark.parametrize("name", NEW_MODELS)
def test_output_layer_covers_padding_and_items_only(name):
    model = make_model(name, num_items=30)
    hidden = model(model.prompt(jnp.array([[0, 0, 0, 0, 1, 2, 3, 4]])))
    assert hidden.shape == (1, 8, 16)
    assert model.output_table.shape == (31, 16)
    if model.output_bias is not None:
        assert model.output_bias.shape == (31,)


@pytest.mark.parametrize("name", ["gru4rec", "lrurec"])
def test_causal_a_later_item_does_not_change_earlier_outputs(name):
    model = make_model(name)
    seq = jnp.array([[0, 0, 3, 7, 9, 11, 4, 2]])
    a, b = model(seq), model(seq.at[0, 5].set(25))
    np.testing.assert_allclose(a[0, :5], b[0, :5], atol=1e-6)
    assert not np.allclose(a[0, 5:], b[0, 5:])


@pytest.mark.parametrize("name", ["bert4rec", "fmlprec"])
def test_bidirectional_models_see_later_items(name):
    # Why these two need their own training_pairs: an earlier output depends on a later item.
    model = make_model(name)
    seq = jnp.array([[0, 0, 3, 7, 9, 11, 4, 2]])
    a, b = model(seq), model(seq.at[0, 5].set(25))
    assert not np.allclose(a[0, 2:5], b[0, 2:5], atol=1e-4)
