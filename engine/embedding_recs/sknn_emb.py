"""SKNN_EMB (LLM-Sequential-Recommendation, Section 5.2, Eq. 2): session kNN whose session similarity
comes from pooled item text embeddings instead of shared items:

    score(i, S) = sum over S' in N(S) of sim(e_S', e_S) * 1[i in S']

e_S and e_S' are pooled with LLMSeqSim's schemes (engine.embedding_recs.llmseqsim.POOLINGS), one scheme for the
training sessions (`session_pooling`) and another for the prompt (`prompt_pooling`), as in the paper.

Neighbourhood N(S), as in the authors' code and in engine.neighbors.sknn: the candidate sessions share at
least one item with the prompt (`candidates='shared'`; 'all' drops this requirement), `sample_size` of them
are kept (the most recent, or a random sample), and of those the `k` most similar by embedding (ties: the
more recent, i.e. the session listed first). Neighbours with similarity <= 0 are dropped, as in SKNN, so a
neighbour never lowers a score. Vectorised: one dense [prompts, sessions] similarity block at a time.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from engine.data.item_embeddings import load_item_embeddings
from engine.data.splits import Split
from engine.embedding_recs.llmseqsim import (
    POOLINGS,
    SIMILARITIES,
    check_choice,
    dataset_identity,
    session_embeddings,
    similarities,
    unit_rows,
)
from engine.neighbors.sknn import SessionKNN, _top_per_row
from engine.recommender import Ragged, train_sessions

CANDIDATES = ("shared", "all")


class SKNNEmb(SessionKNN):
    """embeddings: artifact directory. k, sample_size, sampling, seed: as SessionKNN.
    session_pooling / prompt_pooling: POOLINGS keys. similarity: 'cosine', 'dot' or 'euclidean'."""

    name = "SKNN_EMB"

    def __init__(self, embeddings: str, k: int = 100, sample_size: int | None = None, sampling: str = "random",
                 similarity: str = "cosine", session_pooling: str = "mean", prompt_pooling: str = "mean",
                 candidates: str = "shared", seed: int = 0, dataset: str = "", cache_key: str = ""):
        super().__init__(k=k, sample_size=sample_size, sampling=sampling, similarity="cosine", seed=seed)
        check_choice(self.name, "similarity", similarity, SIMILARITIES)
        check_choice(self.name, "session_pooling", session_pooling, tuple(POOLINGS))
        check_choice(self.name, "prompt_pooling", prompt_pooling, tuple(POOLINGS))
        check_choice(self.name, "candidates", candidates, CANDIDATES)
        self.similarity, self.session_pooling, self.prompt_pooling = similarity, session_pooling, prompt_pooling
        self.embeddings, self.candidates, self.dataset, self.cache_key = embeddings, candidates, dataset, cache_key

    @classmethod
    def from_config(cls, config, dataset=None) -> SKNNEmb:
        m = config.model
        return cls(m.embeddings, k=m.k, sample_size=m.sample_size or None, sampling=m.sampling,
                   similarity=m.similarity, session_pooling=m.session_pooling, prompt_pooling=m.prompt_pooling,
                   candidates=m.candidates, seed=config.seed, **dataset_identity(config, dataset))

    def fit(self, split: Split, session_times: np.ndarray | None = None) -> SKNNEmb:
        super().fit(split, session_times)  # session matrix in recency order, sampling state
        self.table = load_item_embeddings(self.embeddings, split.num_items, self.dataset,
                                          cache_key=self.cache_key).astype(np.float64)
        sessions, users = train_sessions(split)
        order = np.searchsorted(users, self.session_users)  # users ascend; session_users is recency order
        pooled = session_embeddings(sessions, self.table, self.session_pooling)[order]
        self.session_keys = unit_rows(pooled) if self.similarity == "cosine" else pooled
        self.session_sq_norms = np.einsum("sd,sd->s", pooled, pooled)
        return self

    def _score_block(self, rows: Ragged) -> np.ndarray:
        num_sessions = self.session_matrix.shape[0]
        if self.candidates == "shared":
            binary = sp.csr_matrix((np.ones(len(rows.items)), (rows.rows, rows.items)),
                                   shape=(len(rows), self.num_items + 1))
            candidates = (binary @ self.session_items).toarray() > 0
        else:
            candidates = np.ones((len(rows), num_sessions), dtype=bool)
        if self.sample_size is not None and self.sample_size < num_sessions:
            candidates &= self._sample(candidates)
        queries = session_embeddings(rows, self.table, self.prompt_pooling)
        sim = similarities(queries, self.session_keys, self.similarity, self.session_sq_norms)
        ranked = np.where(candidates, sim, -np.inf)
        keep = _top_per_row(ranked, self.k) & candidates & (sim > 0)
        b, n = np.nonzero(keep)
        neighbours = sp.csr_matrix((sim[b, n], (b, n)), shape=(len(rows), num_sessions))
        return (neighbours @ self.session_matrix).toarray()
