import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from engine.models.sasrec import SASRec


def make(max_len=8, positions="from_end"):
    return SASRec(num_items=30, max_len=max_len, hidden_dim=16, num_blocks=2, num_heads=2, dropout=0.3,
                  positions=positions, rngs=nnx.Rngs(0))


@pytest.mark.parametrize("positions", ["from_end", "from_start"])
def test_causal_a_later_item_does_not_change_earlier_outputs(positions):
    model = make(positions=positions)
    seq = jnp.array([[0, 0, 3, 7, 9, 11, 4, 2]])
    changed = seq.at[0, 5].set(25)
    a, b = model(seq), model(changed)
    np.testing.assert_allclose(a[0, :5], b[0, :5], atol=1e-6)
    assert not np.allclose(a[0, 5:], b[0, 5:])


@pytest.mark.parametrize("positions", ["from_end", "from_start"])
def test_padding_invariance_across_window_lengths(positions):
    # The same 4 items in a window of 8 and of 6: identical outputs at the real positions.
    model = make(max_len=8, positions=positions)
    long = model(jnp.array([[0, 0, 0, 0, 5, 6, 7, 8]]))
    short = model(jnp.array([[0, 0, 5, 6, 7, 8]]))
    np.testing.assert_allclose(long[0, 4:], short[0, 2:], atol=1e-5)


@pytest.mark.parametrize("positions", ["from_end", "from_start"])
def test_padding_embedding_does_not_leak_into_real_positions(positions):
    model = make(positions=positions)
    seq = jnp.array([[0, 0, 0, 5, 6, 7, 8, 9]])
    before = model(seq)
    table = model.item_embedding.embedding
    table[...] = table[...].at[0].set(100.0)  # whatever the padding row holds, it is masked out
    after = model(seq)
    assert np.all(np.isfinite(after))
    np.testing.assert_allclose(before[0, 3:], after[0, 3:], atol=1e-5)


def test_positions_from_start_count_the_real_items_before():
    # Items [5, 6, 7] then [5, 6, 7, 8]: from the start, item 7 has position 2 in both, so the outputs at
    # 5, 6, 7 agree; from the end its position changes (2 -> 1), so they do not.
    short, longer = jnp.array([[0, 0, 5, 6, 7]]), jnp.array([[0, 5, 6, 7, 8]])
    # Causal attention keeps item 8 out of the earlier rows; large position vectors make any shift visible.
    for positions, same in (("from_start", True), ("from_end", False)):
        model = make(positions=positions)
        model.position_embedding.embedding[...] = jax.random.normal(jax.random.key(3), (8, 16))
        a, b = model(short)[0, 2:], model(longer)[0, 1:4]
        assert np.allclose(a, b, atol=1e-5) == same, positions
    # A window longer than max_len reuses the last position rather than indexing past the table.
    model = make(max_len=4, positions="from_start")
    assert np.all(np.isfinite(model(jnp.array([[1, 2, 3, 4, 5, 6]]))))


def test_unknown_position_scheme_is_refused():
    with pytest.raises(ValueError, match="model.positions"):
        make(positions="absolute")


def test_dropout_only_in_training_mode():
    model = make()
    seq = jnp.array([[0, 1, 2, 3, 4, 5, 6, 7]])
    np.testing.assert_allclose(model(seq), model(seq))
    a = model(seq, rngs=nnx.Rngs(dropout=jax.random.key(1)))
    b = model(seq, rngs=nnx.Rngs(dropout=jax.random.key(2)))
    assert not np.allclose(a, b)


def test_item_scores_tied_to_embeddings_and_padding_excluded():
    model = make()
    hidden = model(jnp.array([[0, 0, 0, 0, 1, 2, 3, 4]]))[:, -1]
    scores = model.item_scores(hidden)
    assert scores.shape == (1, 31) and scores[0, 0] == -jnp.inf
    np.testing.assert_allclose(scores[0, 1:], hidden[0] @ model.output_table[1:].T, rtol=1e-5)


def test_next_item_pairs_skip_targets_predicted_from_padding_alone():
    # Window [0, 0, 5, 6, 7]: inputs [0, 0, 5, 6], targets [0, 5, 6, 7]; item 5 has no history.
    model = SASRec(num_items=10, max_len=4, hidden_dim=8, num_blocks=1, num_heads=1, dropout=0.0, rngs=nnx.Rngs(0))
    inputs, targets = model.training_pairs(jnp.array([[0, 0, 5, 6]]), jnp.array([[0, 5, 6, 7]]), jax.random.key(0))
    np.testing.assert_array_equal(inputs, [[0, 0, 5, 6]])
    np.testing.assert_array_equal(targets, [[0, 0, 6, 7]])
