import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from engine.models.sasrec import SASRec


def make(**kwargs):
    options = {"num_items": 30, "max_len": 8, "hidden_dim": 16, "num_blocks": 2, "num_heads": 2,
               "dropout": 0.3} | kwargs
    return SASRec(rngs=nnx.Rngs(0), **options)


# Every position scheme with each block: the structural properties must hold for all of them.
VARIANTS = [{"positions": p} for p in ("from_end", "from_start")] + [
    {"positions": "from_start", "block": "sasrec", "ffn_dim": 16, "activation": "relu"}]


@pytest.mark.parametrize("variant", VARIANTS)
def test_causal_a_later_item_does_not_change_earlier_outputs(variant):
    model = make(**variant)
    seq = jnp.array([[0, 0, 3, 7, 9, 11, 4, 2]])
    changed = seq.at[0, 5].set(25)
    a, b = model(seq), model(changed)
    np.testing.assert_allclose(a[0, :5], b[0, :5], atol=1e-6)
    assert not np.allclose(a[0, 5:], b[0, 5:])


@pytest.mark.parametrize("variant", VARIANTS)
def test_padding_invariance_across_window_lengths(variant):
    # The same 4 items in a window of 8 and of 6: identical outputs at the real positions.
    model = make(max_len=8, **variant)
    long = model(jnp.array([[0, 0, 0, 0, 5, 6, 7, 8]]))
    short = model(jnp.array([[0, 0, 5, 6, 7, 8]]))
    np.testing.assert_allclose(long[0, 4:], short[0, 2:], atol=1e-5)


@pytest.mark.parametrize("variant", VARIANTS)
def test_padding_embedding_does_not_leak_into_real_positions(variant):
    model = make(**variant)
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


@pytest.mark.parametrize("kwargs, key", [({"positions": "absolute"}, "model.positions"),
                                         ({"block": "post_norm"}, "model.block"),
                                         ({"activation": "swish"}, "model.activation"),
                                         ({"ffn_dim": -1}, "model.ffn_dim")])
def test_unknown_options_are_refused_by_key(kwargs, key):
    with pytest.raises(ValueError, match=key):
        make(**kwargs)


def test_feed_forward_width_defaults_to_four_times_hidden():
    assert make().blocks[0].ffn.up.kernel.shape == (16, 64)
    assert make(ffn_dim=16).blocks[0].ffn.up.kernel.shape == (16, 16)


def test_sasrec_block_against_a_hand_written_forward():
    # The original block, written out: q = LN1(x); x = q + Attn(q, x, x); h = LN2(x); out = h + FFN(h),
    # with Attn's query weights applied to q and its key/value weights to the unnormalised x.
    model = make(block="sasrec", ffn_dim=8, activation="relu", num_heads=1)
    block = model.blocks[0]
    x = jax.random.normal(jax.random.key(0), (1, 5, 16))
    mask = jnp.tril(jnp.ones((5, 5), bool))[None, None]
    w, b = block.attn.qkv.kernel[...], block.attn.qkv.bias[...]
    q = block.attn_norm(x)
    queries, keys, values = q @ w[:, :16] + b[:16], x @ w[:, 16:32] + b[16:32], x @ w[:, 32:] + b[32:]
    logits = jnp.where(mask[0, 0], queries[0] @ keys[0].T / jnp.sqrt(16.0), -jnp.inf)
    attended = jax.nn.softmax(logits, axis=-1) @ values[0]
    h = block.ffn_norm(q[0] + block.attn.out(attended))
    expected = h + block.ffn.down(jax.nn.relu(block.ffn.up(h)))
    np.testing.assert_allclose(block(x, mask, rngs=None)[0], expected, atol=1e-5)
    # The pre-norm block with the same weights computes something else.
    block.kind = "pre_norm"
    assert not np.allclose(block(x, mask, rngs=None)[0], expected, atol=1e-3)


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
