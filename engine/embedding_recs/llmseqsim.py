"""LLMSeqSim (LLM-Sequential-Recommendation, Section 3): recommend the catalogue items whose text
embedding is most similar to an embedding of the prompt session.

    model = LLMSeqSim("runs/emb-beauty", pooling="harmonic", similarity="cosine").fit(split)

Session embedding = weighted average of the prompt's item embeddings (Section 3.4, Table 1), or the
last item's embedding. With i = 1 for the last item, 2 for the one before, ..., |S| for the first
(steps back from the end of the session), the weight of the item i steps back is:

    mean               1
    last               1 for i = 1, else 0
    constant_linear    max(1 - (i - 1) / 10, 1e-5)        decays by 1/10 per step
    scaling_linear     1 - (i - 1) / |S|                  decays by 1/|S| per step (the first item: 1/|S|)
    scaling_quadratic  (1 - (i - 1) / |S|) ** 2
    scaling_cubic      (1 - (i - 1) / |S|) ** 3
    log                1 / log(i + 1)                     (natural log)
    harmonic           1 / i
    squared_harmonic   1 / i ** 2

The linear, quadratic and cubic shapes (including the 1e-5 floor, which keeps a weight positive) are those
of the authors' code (dh-r/LLM-Sequential-Recommendation, decay_utils.py). For `log` the paper's Table 1
(1 / log(i + 1)) and that code (1 / (log(i) + 1)) disagree; we follow the paper.

Similarity between the session vector q and item vector e: cosine, dot, or euclidean = 1 / (1 + |q - e|)
(the authors' definition). Scores are dense [B, N + 1] rows as for every Recommender; the prompt's own
items are left out of `recommend` (and by the evaluator's history mask), as for the other baselines.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from engine.data.item_embeddings import load_item_embeddings
from engine.data.splits import Split
from engine.recommender import Ragged, Recommender, block_rows


def _scaling_linear(i, n):
    return 1.0 - (i - 1.0) / n


POOLINGS = {
    "mean": lambda i, n: np.ones_like(i),
    "last": lambda i, n: (i == 1).astype(np.float64),
    "constant_linear": lambda i, n: np.maximum(1.0 - (i - 1.0) / 10.0, 1e-5),
    "scaling_linear": _scaling_linear,
    "scaling_quadratic": lambda i, n: _scaling_linear(i, n) ** 2,
    "scaling_cubic": lambda i, n: _scaling_linear(i, n) ** 3,
    "log": lambda i, n: 1.0 / np.log(i + 1.0),
    "harmonic": lambda i, n: 1.0 / i,
    "squared_harmonic": lambda i, n: 1.0 / i ** 2,
}
SIMILARITIES = ("cosine", "dot", "euclidean")


def dataset_identity(config, dataset=None) -> dict:
    """What an embeddings artifact is checked against: data.name and, given the loaded dataset, its cache key."""
    return {"dataset": str(config.data.name),
            "cache_key": str((getattr(dataset, "meta", None) or {}).get("cache_key", ""))}


def check_choice(owner: str, key: str, value, known) -> None:
    if value not in known:
        raise ValueError(f"{owner}: model.{key}={value!r} is not one of {', '.join(known)}")


def pooling_weights(rows: Ragged, pooling: str) -> np.ndarray:
    """Weight of every entry of rows.items, normalised to sum to 1 in each non-empty row."""
    lengths = rows.lengths[rows.rows].astype(np.float64)
    steps_back = lengths - rows.positions + 1.0  # 1 = the last item
    w = POOLINGS[pooling](steps_back, lengths).astype(np.float64)
    totals = np.bincount(rows.rows, w, minlength=len(rows))
    return w / totals[rows.rows]


def session_embeddings(rows: Ragged, table: np.ndarray, pooling: str) -> np.ndarray:
    """[len(rows), D] pooled embeddings (zeros for an empty row), one sparse-dense product."""
    weights = sp.csr_matrix((pooling_weights(rows, pooling), (rows.rows, rows.items)),
                            shape=(len(rows), table.shape[0]))  # duplicates (repeated items) are summed
    return np.asarray(weights @ table, dtype=np.float64)


def unit_rows(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)


def similarities(queries: np.ndarray, keys: np.ndarray, kind: str, key_sq_norms: np.ndarray | None = None) -> np.ndarray:
    """[Q, K] similarity of every query row with every key row. For 'cosine' pass unit-normalised keys."""
    if kind == "cosine":
        return unit_rows(queries) @ keys.T
    dot = queries @ keys.T
    if kind == "dot":
        return dot
    sq = key_sq_norms if key_sq_norms is not None else np.einsum("kd,kd->k", keys, keys)
    dist2 = np.einsum("qd,qd->q", queries, queries)[:, None] + sq[None, :] - 2.0 * dot
    return 1.0 / (1.0 + np.sqrt(np.maximum(dist2, 0.0)))


class LLMSeqSim(Recommender):
    """embeddings: artifact directory (engine.data.item_embeddings). pooling: POOLINGS key.
    similarity: 'cosine', 'dot' or 'euclidean'. dataset: expected dataset name ('' = unchecked)."""

    name = "LLMSeqSim"

    def __init__(self, embeddings: str, pooling: str = "mean", similarity: str = "cosine", dataset: str = "",
                 cache_key: str = ""):
        check_choice(self.name, "pooling", pooling, tuple(POOLINGS))
        check_choice(self.name, "similarity", similarity, SIMILARITIES)
        self.embeddings, self.pooling, self.similarity = embeddings, pooling, similarity
        self.dataset, self.cache_key = dataset, cache_key

    @classmethod
    def from_config(cls, config, dataset=None) -> LLMSeqSim:
        m = config.model
        return cls(m.embeddings, pooling=m.pooling, similarity=m.similarity, **dataset_identity(config, dataset))

    def fit(self, split: Split) -> LLMSeqSim:
        table = load_item_embeddings(self.embeddings, split.num_items, self.dataset,
                                     cache_key=self.cache_key).astype(np.float64)
        self.table = table
        # The item side of the similarity, prepared once: unit rows for cosine, squared norms for euclidean.
        self.keys = unit_rows(table) if self.similarity == "cosine" else table
        self.key_sq_norms = np.einsum("kd,kd->k", table, table)
        self.num_items = split.num_items
        return self

    def session_embeddings(self, rows: Ragged) -> np.ndarray:
        return session_embeddings(rows, self.table, self.pooling)

    def _scores(self, rows: Ragged) -> np.ndarray:
        out = np.empty((len(rows), self.num_items + 1))
        step = block_rows(self.num_items + 1)
        for lo in range(0, len(rows), step):
            hi = min(lo + step, len(rows))
            queries = self.session_embeddings(rows.slice(lo, hi))
            out[lo:hi] = similarities(queries, self.keys, self.similarity, self.key_sq_norms)
        return out
