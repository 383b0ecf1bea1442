import jax
import jax.numpy as jnp
import numpy as np
import pytest

from engine.eval.chunked_topk import chunked_target_ranks
from engine.eval.ranking import target_ranks


def _case(seed, batch=16, items=203, dim=8, hist=12):
    rng = np.random.default_rng(seed)
    hidden = jnp.asarray(rng.normal(size=(batch, dim)), jnp.float32)
    table = jnp.asarray(rng.normal(size=(items + 1, dim)), jnp.float32)
    bias = jnp.asarray(rng.normal(size=(items + 1,)), jnp.float32)
    targets = rng.integers(1, items + 1, size=batch)
    targets[0], targets[1] = 1, items  # first and last item (the clamped last chunk)
    history = rng.integers(0, items + 1, size=(batch, hist))
    history[2, 0] = targets[2]         # the target was seen before: still ranked
    history[3] = 0                     # no history at all
    return hidden, table, bias, jnp.asarray(targets), jnp.asarray(history)


def _full_scores(hidden, table, bias):
    scores = jnp.einsum("bd,nd->bn", hidden, table, preferred_element_type=jnp.float32)
    return scores if bias is None else scores + bias


@pytest.mark.parametrize("chunk_size", [16, 50, 203, 4096])
@pytest.mark.parametrize("use_bias,use_history", [(False, True), (True, True), (True, False)])
def test_ranks_match_full_ranking(chunk_size, use_bias, use_history):
    hidden, table, bias, targets, history = _case(0)
    bias = bias if use_bias else None
    history = history if use_history else None
    want = target_ranks(_full_scores(hidden, table, bias), targets, history)
    got = jax.jit(lambda *a: chunked_target_ranks(*a, chunk_size=chunk_size))(hidden, table, targets, history, bias)
    np.testing.assert_array_equal(got.ranks, want)
    assert got.top_scores.shape == (16, 0)


@pytest.mark.parametrize("chunk_size,k", [(16, 10), (50, 64), (4096, 5)])
def test_running_top_k_is_the_top_k_of_the_masked_scores(chunk_size, k):
    hidden, table, bias, targets, history = _case(1)
    got = jax.jit(lambda *a: chunked_target_ranks(*a, k=k, chunk_size=chunk_size))(hidden, table, targets,
                                                                                    history, bias)
    scores = np.array(_full_scores(hidden, table, bias))
    scores[:, 0] = -np.inf
    scores[np.arange(16)[:, None], np.asarray(history)] = -np.inf
    want_items = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    np.testing.assert_array_equal(got.top_items, want_items)
    np.testing.assert_allclose(got.top_scores, np.take_along_axis(scores, want_items, axis=1), rtol=1e-6)
    assert not np.isin(np.asarray(got.top_items), [0]).any()


def test_hand_computed_ranks_with_ties_and_history():
    # One-dimensional scores: item i scores i * hidden; 6 items, chunks of 4 (the last one clamped).
    table = jnp.array([[0.0], [1.0], [2.0], [3.0], [3.0], [5.0], [6.0]])
    hidden = jnp.array([[1.0], [1.0], [-1.0]])
    targets = jnp.array([3, 3, 1])
    history = jnp.array([[0, 0], [6, 5], [0, 2]])
    got = chunked_target_ranks(hidden, table, targets, history, chunk_size=4, k=2)
    # Prompt 0: items 5, 6 beat 3.0 (item 4 ties and does not count). Prompt 1: both are masked.
    # Prompt 2: scores are negated; item 1 (-1) is the best, item 2 is masked anyway.
    np.testing.assert_array_equal(got.ranks, [2, 0, 0])
    np.testing.assert_array_equal(got.top_items, [[6, 5], [3, 4], [1, 3]])


def test_rejects_k_larger_than_the_catalogue():
    hidden, table, _, targets, history = _case(2, items=20)
    with pytest.raises(ValueError, match="top-k"):
        chunked_target_ranks(hidden, table, targets, history, k=21)
