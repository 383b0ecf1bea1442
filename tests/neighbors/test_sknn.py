"""SKNN and its variants on the toy split (tests/toy.py), every score worked out by hand.

Training sessions (time): S1 [1,2,3] (10), S2 [2,3,4] (20), S3 [1,4,5] (30), S4 [5,6] (40), S5 [3,5,6] (50).
Prompt [1, 3]. Binary cosine with the prompt: S1 2/sqrt(2*3) = 0.8165; S2, S3, S5 1/sqrt(6) = 0.4082;
S4 shares nothing. Equal similarities prefer the more recent session.
"""

import numpy as np
import pytest

from engine.neighbors import SFSKNN, SKNN, SSKNN, VSKNN, SessionKNN
from engine.recommender import Ragged
from tests.toy import PROMPT, SESSION_TIMES, make_split

A, B = 2 / np.sqrt(6), 1 / np.sqrt(6)  # 0.8165, 0.4082


def scores(model, prompts=(PROMPT,)):
    return model.fit(make_split(), session_times=SESSION_TIMES).scores(list(prompts))


def test_sknn_two_neighbours_tie_goes_to_the_most_recent_session():
    # Neighbours S1 (A) and, among S2/S3/S5 tied at B, the most recent S5 = [3, 5, 6].
    expected = [-np.inf, A, A, A + B, 0.0, B, B]
    np.testing.assert_allclose(scores(SKNN(k=2, sample_size=None)), [expected])


def test_sknn_samples_the_most_recent_candidates_before_choosing_neighbours():
    # Candidates sharing an item: S1, S2, S3, S5; the two most recent are S5 and S3, so S1 is never seen.
    expected = [-np.inf, B, 0.0, B, B, 2 * B, B]
    np.testing.assert_allclose(scores(SKNN(k=2, sample_size=2)), [expected])


def test_vsknn_linear_decay_prefers_sessions_sharing_the_recent_item():
    # Prompt weights: item 1 (one step back) 0.9, item 3 (last) 1. Dot products: S1 1.9, S2 1, S5 1, S3 0.9,
    # so k=3 takes S1, S5, S2 (S2 shares the last item; plain SKNN would take S3, tied with S2 and newer).
    expected = [-np.inf, 1.9, 2.9, 3.9, 1.0, 1.0, 1.0]
    np.testing.assert_allclose(scores(VSKNN(k=3, sample_size=None)), [expected])
    plain = scores(SKNN(k=3, sample_size=None))
    assert plain[0, 4] == pytest.approx(B) and plain[0, 5] == pytest.approx(2 * B)  # S3 = [1, 4, 5] chosen


@pytest.mark.parametrize("decay, older_weight", [("same", 1.0), ("linear", 0.9), ("div", 0.5),
                                                 ("quadratic", 0.25), ("log", np.log10(1.7) / np.log10(2.7))])
def test_decay_weight_of_the_older_item_in_a_two_item_prompt(decay, older_weight):
    # Prompt [4, 6] with dot similarity: S2 and S3 share only the older item 4 (similarity = its weight),
    # S4 and S5 only the last item 6 (weight 1), S1 nothing. Item 2 occurs in S1 and S2 alone, so its
    # score is exactly the older item's weight.
    got = scores(SessionKNN(k=5, sample_size=None, similarity="dot", decay=decay), prompts=([4, 6],))
    assert got[0, 2] == pytest.approx(older_weight)
    assert got[0, 6] == pytest.approx(2.0)  # S4 and S5, weight 1 each


def test_ssknn_weights_neighbours_by_their_most_recent_shared_position():
    # Neighbours S1 (A), S5 (B), S3 (B). Most recent shared prompt position: S1 item 3 -> 2/2, S5 item 3 ->
    # 2/2, S3 item 1 -> 1/2. So S3 counts B/2.
    expected = [-np.inf, A + B / 2, A, A + B, B / 2, B + B / 2, B]
    np.testing.assert_allclose(scores(SSKNN(k=3, sample_size=None)), [expected])


def test_sfsknn_keeps_only_items_that_followed_the_last_prompt_item():
    # Training transitions out of item 3: 3->4 (S2) and 3->5 (S5). Neighbours S1, S5, S3 as in SKNN k=3.
    expected = [-np.inf, 0.0, 0.0, 0.0, B, 2 * B, 0.0]
    np.testing.assert_allclose(scores(SFSKNN(k=3, sample_size=None)), [expected])


def test_random_sampling_is_seeded_and_draws_only_candidates():
    a = scores(SKNN(k=10, sample_size=1, sampling="random", seed=3), prompts=[PROMPT] * 50)
    b = scores(SKNN(k=10, sample_size=1, sampling="random", seed=3), prompts=[PROMPT] * 50)
    np.testing.assert_array_equal(a, b)
    # One sampled session per prompt: each row scores exactly that session's items. It is one of the
    # candidates S1, S2, S3, S5 (S4 shares no item), and 50 draws do not all pick the same one.
    drawn = {tuple(np.flatnonzero(row[1:] > 0) + 1) for row in a}
    assert drawn <= {(1, 2, 3), (2, 3, 4), (1, 4, 5), (3, 5, 6)} and len(drawn) > 1


def test_prompt_duplicates_count_once_and_batches_are_independent():
    model = SKNN(k=2, sample_size=None).fit(make_split(), session_times=SESSION_TIMES)
    one = model.scores([PROMPT])
    np.testing.assert_allclose(model.scores([[1, 3, 1, 3]]), one)  # same set, last item still 3
    many = model.scores(Ragged(np.array([0, 2, 3, 3]), np.array([1, 3, 6])))
    np.testing.assert_allclose(many[0], one[0])
    assert np.all(many[2, 1:] == 0)  # an empty prompt has no neighbours


def test_recommend_excludes_prompt_items_and_breaks_ties_by_id():
    model = SKNN(k=2, sample_size=None).fit(make_split(), session_times=SESSION_TIMES)
    np.testing.assert_array_equal(model.recommend([PROMPT], 4), [[2, 5, 6, 4]])


def test_recent_sampling_without_times_is_a_clear_error():
    with pytest.raises(ValueError, match="model.sampling='recent' needs session times"):
        SKNN().fit(make_split())
    SKNN(sample_size=None).fit(make_split())  # no sampling, no times needed


@pytest.mark.parametrize("kwargs, key", [({"k": 0}, "model.k"), ({"sample_size": 0}, "model.sample_size"),
                                         ({"sampling": "oldest"}, "model.sampling"),
                                         ({"decay": "cubic"}, "model.decay"),
                                         ({"similarity": "jaccard"}, "model.similarity")])
def test_bad_arguments_name_their_key(kwargs, key):
    with pytest.raises(ValueError, match=key):
        SessionKNN(**kwargs)


def test_scoring_before_fit_and_bad_items_fail():
    with pytest.raises(RuntimeError, match="fit"):
        SKNN().scores([PROMPT])
    model = SKNN(sample_size=None).fit(make_split())
    with pytest.raises(ValueError, match="1..6"):
        model.scores([[0, 3]])
