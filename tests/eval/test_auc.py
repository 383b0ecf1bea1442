"""yes_no_auc against a hand count of positive/negative pairs."""

import numpy as np
import pytest

from engine.eval.auc import p_yes_from_logits, yes_no_auc


def test_auc_with_ties_counts_half_a_pair():
    # Positives 0.9, 0.8; negatives 0.8, 0.3, 0.8. Pairs won: 0.9 beats all three (3); 0.8 beats 0.3 (1)
    # and ties twice (2 x 1/2). AUC = 5 / 6.
    assert yes_no_auc([0.9, 0.8, 0.8, 0.3, 0.8], [1, 1, 0, 0, 0]) == pytest.approx(5 / 6)


def test_auc_extremes_and_bool_labels():
    assert yes_no_auc([0.1, 0.2, 0.7, 0.9], [False, False, True, True]) == 1.0
    assert yes_no_auc([0.9, 0.7, 0.2], [0, 0, 1]) == 0.0
    assert yes_no_auc([0.5, 0.5, 0.5], [1, 0, 1]) == 0.5


def test_p_yes_from_logits_is_the_two_token_softmax():
    yes, no = np.array([2.0, -1.0, 1000.0]), np.array([1.0, 1.0, -1000.0])
    expected = np.exp(yes[:2]) / (np.exp(yes[:2]) + np.exp(no[:2]))
    np.testing.assert_allclose(p_yes_from_logits(yes, no)[:2], expected)
    assert p_yes_from_logits(yes, no)[2] == 1.0  # no overflow


@pytest.mark.parametrize("scores, labels, message", [
    ([0.1, 0.2], [1, 1], "both classes"),
    ([0.1, 0.2], [1, 2], "0/1"),
    ([0.1], [1, 0], "one score per label"),
    ([0.1, np.nan], [1, 0], "finite"),
])
def test_bad_input(scores, labels, message):
    with pytest.raises(ValueError, match=message):
        yes_no_auc(scores, labels)
