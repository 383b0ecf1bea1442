import jax.numpy as jnp
import numpy as np

from engine.eval.ranking import target_ranks


def test_ranks_with_and_without_history_mask():
    # Items 1..5 (column 0 is padding and must never count).
    scores = jnp.array([[9.0, 0.5, 0.9, 0.1, 0.7, 0.3],
                        [9.0, 0.5, 0.9, 0.1, 0.7, 0.3]])
    targets = jnp.array([4, 1])
    history = jnp.array([[2, 0], [2, 4]])
    # Without masking: target 4 (0.7) is beaten by item 2 (0.9) -> rank 1; target 1 (0.5) by 2 and 4 -> rank 2.
    np.testing.assert_array_equal(target_ranks(scores, targets, None), [1, 2])
    # Masking the seen items 2 (user 0) and 2, 4 (user 1) moves both targets to the top.
    np.testing.assert_array_equal(target_ranks(scores, targets, history), [0, 0])


def test_target_in_history_is_not_masked_away():
    scores = jnp.array([[0.0, 0.2, 0.8, 0.5]])
    # The target (3) was also seen earlier: it is still ranked, behind item 2 only.
    np.testing.assert_array_equal(target_ranks(scores, jnp.array([3]), jnp.array([[3, 1]])), [1])


def test_ties_are_not_counted_against_the_target():
    scores = jnp.array([[0.0, 0.5, 0.5, 0.5]])
    np.testing.assert_array_equal(target_ranks(scores, jnp.array([2]), None), [0])
