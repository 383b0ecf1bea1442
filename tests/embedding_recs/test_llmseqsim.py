"""LLMSeqSim and SKNN_EMB on hand-computed cases.

Item embeddings (2-D): e1 (1, 0), e2 (0, 1), e3 (1, 1), e4 (-1, 0), e5 (0, -1), e6 (2, 1).
"""

import numpy as np
import pytest

from engine.data.errors import DataError
from engine.data.item_embeddings import write_item_embeddings
from engine.embedding_recs.llmseqsim import POOLINGS, LLMSeqSim, pooling_weights
from engine.embedding_recs.sknn_emb import SKNNEmb
from engine.recommender import Ragged
from tests.toy import SESSION_TIMES, make_split

TABLE = np.array([[0, 0], [1, 0], [0, 1], [1, 1], [-1, 0], [0, -1], [2, 1]], dtype=np.float32)


@pytest.fixture
def emb(tmp_path):
    return str(write_item_embeddings(tmp_path / "emb", TABLE, dataset="toy"))


# A 3-item session: positions 1, 2, 3 are 3, 2, 1 steps back from the end.
WEIGHTS = {
    "mean": [1 / 3, 1 / 3, 1 / 3],
    "last": [0, 0, 1],
    "constant_linear": np.array([0.8, 0.9, 1.0]) / 2.7,
    "scaling_linear": np.array([1 / 3, 2 / 3, 1]) / 2,
    "scaling_quadratic": np.array([1, 4, 9]) / 14,
    "scaling_cubic": np.array([1, 8, 27]) / 36,
    "log": np.array([1 / np.log(4), 1 / np.log(3), 1 / np.log(2)]) / sum(1 / np.log([4, 3, 2])),
    "harmonic": np.array([2, 3, 6]) / 11,
    "squared_harmonic": np.array([4, 9, 36]) / 49,
}


def test_every_pooling_is_hand_checked():
    assert set(WEIGHTS) == set(POOLINGS)


@pytest.mark.parametrize("pooling", sorted(WEIGHTS))
def test_pooling_weights_of_a_three_item_session(pooling):
    rows = Ragged.of([[1, 2, 3], [5]])
    w = pooling_weights(rows, pooling)
    np.testing.assert_allclose(w[:3], WEIGHTS[pooling], rtol=1e-12)
    assert w[3] == pytest.approx(1.0)  # a one-item session is that item, whatever the scheme


def test_constant_linear_floors_the_weight_of_old_items():
    w = pooling_weights(Ragged.of([list(range(1, 7)) * 2]), "constant_linear")
    assert w[0] > 0 and w[0] == pytest.approx(w[1])  # 12 and 11 steps back: both at the floor


def test_session_vector_and_ranking_mean_cosine(emb):
    model = LLMSeqSim(emb, pooling="mean", similarity="cosine").fit(make_split())
    np.testing.assert_allclose(model.session_embeddings(Ragged.of([[1, 2, 3]])), [[2 / 3, 2 / 3]])
    s = model.scores([[1, 2, 3]])[0]
    r = 1 / np.sqrt(2)
    np.testing.assert_allclose(s, [-np.inf, r, r, 1.0, -r, -r, 3 / np.sqrt(10)])
    # Own items 1, 2, 3 are never recommended; 4 and 5 tie and keep id order.
    np.testing.assert_array_equal(model.recommend([[1, 2, 3]], k=3), [[6, 4, 5]])


def test_harmonic_dot_and_euclidean(emb):
    split = make_split()
    q = np.array([8 / 11, 9 / 11])  # harmonic weights 2/11, 3/11, 6/11 on e1, e2, e3
    dot = LLMSeqSim(emb, pooling="harmonic", similarity="dot").fit(split)
    np.testing.assert_allclose(dot.session_embeddings(Ragged.of([[1, 2, 3]]))[0], q)
    np.testing.assert_allclose(dot.scores([[1, 2, 3]])[0, 1:], TABLE[1:] @ q)
    euc = LLMSeqSim(emb, pooling="harmonic", similarity="euclidean").fit(split)
    np.testing.assert_allclose(euc.scores([[1, 2, 3]])[0, 1:], 1 / (1 + np.linalg.norm(TABLE[1:] - q, axis=1)))
    # Last item pooling: e3 = (1, 1); dot ranks e6 (3) first, then e3 itself (excluded), then e1/e2.
    last = LLMSeqSim(emb, pooling="last", similarity="dot").fit(split)
    np.testing.assert_array_equal(last.recommend([[4, 3]], k=3), [[6, 1, 2]])


def test_artifact_must_match_the_split(tmp_path, emb):
    with pytest.raises(DataError, match="bad.meta.json: embeddings are for 8 items but this dataset has 6"):
        bad = write_item_embeddings(tmp_path / "bad", np.zeros((9, 2)), dataset="toy")
        LLMSeqSim(str(bad)).fit(make_split())
    (bad / "meta.json").unlink()  # without meta.json the row count still has to fit
    with pytest.raises(DataError, match="bad.item_embeddings.npy: 9 rows but this dataset needs num_items"):
        LLMSeqSim(str(bad)).fit(make_split())
    with pytest.raises(DataError, match="meta.json.*'toy'.*'beauty'"):
        LLMSeqSim(emb, dataset="beauty").fit(make_split())
    with pytest.raises(DataError, match="not found"):
        LLMSeqSim(str(tmp_path / "missing")).fit(make_split())
    with pytest.raises(ValueError, match="model.pooling"):
        LLMSeqSim(emb, pooling="max")


# --- SKNN_EMB. Toy sessions S1 [1,2,3] (t=10), S2 [2,3,4] (20), S3 [1,4,5] (30), S4 [5,6] (40), S5 [3,5,6] (50).
# Mean-pooled: S1 (2/3, 2/3), S2 (0, 2/3), S3 (0, -1/3), S4 (1, 0), S5 (1, 1/3). Prompt [1, 3] -> (1, 1/2).
# Cosine with the prompt: S5 0.9899, S1 0.9487, S4 0.8944, S2 0.4472, S3 -0.4472. S4 shares no item.
COS = {name: float(np.dot(v, [1, .5]) / np.linalg.norm(v) / np.linalg.norm([1, .5]))
       for name, v in {"S1": [2 / 3, 2 / 3], "S2": [0, 2 / 3], "S4": [1, 0], "S5": [1, 1 / 3]}.items()}


def sknn_emb_scores(emb, prompt=(1, 3), **kwargs):
    model = SKNNEmb(emb, **kwargs).fit(make_split(), session_times=SESSION_TIMES)
    return model.scores([list(prompt)])[0]


def test_sknn_emb_neighbours_by_embedding_similarity(emb):
    s1, s2, s4, s5 = COS["S1"], COS["S2"], COS["S4"], COS["S5"]
    assert s5 > s1 > s4 > s2
    # k=2: S5 and S1.
    np.testing.assert_allclose(sknn_emb_scores(emb, k=2), [-np.inf, s1, s1, s1 + s5, 0, s5, s5])
    # k=3 among sessions sharing an item: S2 (not S4, which shares nothing).
    np.testing.assert_allclose(sknn_emb_scores(emb, k=3), [-np.inf, s1, s1 + s2, s1 + s2 + s5, s2, s5, s5])
    # k=3 over all sessions: S4 = [5, 6].
    np.testing.assert_allclose(sknn_emb_scores(emb, k=3, candidates="all"),
                               [-np.inf, s1, s1, s1 + s5, 0, s4 + s5, s4 + s5])


def test_sknn_emb_sampling_and_separate_pooling(emb):
    # The two most recent sharing sessions are S5 and S3; S3's similarity is negative, so it is dropped.
    s5 = COS["S5"]
    np.testing.assert_allclose(sknn_emb_scores(emb, k=2, sample_size=2, sampling="recent"),
                               [-np.inf, 0, 0, s5, 0, s5, s5])
    # Prompt pooled by its last item e3 = (1, 1): S1 (cosine 1) is now the single nearest neighbour.
    np.testing.assert_allclose(sknn_emb_scores(emb, k=1, prompt_pooling="last"), [-np.inf, 1, 1, 1, 0, 0, 0])
    # Training sessions pooled by their last item: S1 -> e3, S5 -> e6; prompt (1, .5) is parallel to e6.
    got = sknn_emb_scores(emb, k=1, session_pooling="last")
    np.testing.assert_allclose(got, [-np.inf, 0, 0, 1, 0, 1, 1])
