"""Session-based kNN (SKNN) and the sequence-aware variants of Ludewig & Jannach (2018).

The LLM-Sequential-Recommendation paper uses SKNN with cosine similarity between binary session
vectors (its Eq. 1) and reports "the best SKNN variant" of reference [53] (Ludewig & Jannach, Evaluation
of session-based recommendation algorithms, UMUAI 2018): V_SKNN on Beauty, S_SKNN on Steam. All four of
[53]'s variants are here, as one class with named presets:

    SKNN     score(i, s) = sum over n in N(s) of sim(s, n) * 1[i in n], sim = cosine of binary vectors.
    VSKNN    the prompt vector is real-valued: its last item weighs 1 and earlier items decay with their
             position (linear by default; log, quadratic, ...); sim = dot product with the neighbour's
             binary vector, so shared recent items count more.
    SSKNN    score(i, s) = sum of sim(s, n) * w_n(s) * 1[i in n] with w_n(s) = x_n(s) / |s|, x_n(s) the
             1-based position of the most recent prompt item that also occurs in n.
    SFSKNN   score(i, s) = sum of sim(s, n) * 1[i in n] * 1[(s_last, i) was a transition in training]:
             only items seen directly after the prompt's last item in some training session.

Neighbourhood N(s): candidate sessions share at least one item with the prompt; of those the
`sample_size` most recent (or a random sample) are kept, and of those the `k` most similar (ties: the
more recent). The embedding variant (SKNN_EMB) needs LLM item embeddings and lives with the LLM side.

Everything is sparse linear algebra on a [sessions, items] 0/1 matrix, prompt batches at a time: the
prompt/session overlap is one sparse product, sampling and top-k are row-wise masks, and the item scores
are a second sparse product, so ML-1M (6,040 long sessions) scores in seconds.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from engine.data.splits import Split
from engine.recommender import Ragged, Recommender, binary_matrix, block_rows, train_sessions

# Prompt position weights (pos = 1..n, n = prompt length; the last item always weighs 1). The shapes
# follow [53]'s reference implementation (session-rec, vsknn.py): linear loses 0.1 per step back and
# reaches 0 ten steps back, log is 1/log10(steps back + 1.7) rescaled to 1 at the end, div is pos/n and
# quadratic (pos/n)^2.
DECAYS = {
    "same": lambda pos, n: np.ones_like(pos, dtype=np.float64),
    "linear": lambda pos, n: np.maximum(1.0 - 0.1 * (n - pos), 0.0),
    "log": lambda pos, n: np.log10(1.7) / np.log10(n - pos + 1.7),
    "div": lambda pos, n: pos / n,
    "quadratic": lambda pos, n: (pos / n) ** 2,
}
SIMILARITIES = ("cosine", "dot")
SAMPLINGS = ("recent", "random")
PAIR_CHUNK = 16_384  # neighbour pairs per sparse gather in the S-SKNN position weights


class SessionKNN(Recommender):
    """SKNN family. Arguments map one to one to config keys model.<name> of a baseline run.

    k: neighbours per prompt. sample_size: candidate sessions considered per prompt (None: all).
    sampling: 'recent' (needs session times) or 'random'. similarity: 'cosine' or 'dot'.
    decay: prompt position weighting (DECAYS). sequence_weighting: S-SKNN's w_n(s).
    transition_filter: SF-SKNN's filter. seed: random sampling only."""

    name = "SKNN"
    options = ("k", "sample_size", "sampling", "similarity", "decay", "sequence_weighting", "transition_filter",
               "seed")
    uses_session_times = True

    def __init__(self, k: int = 100, sample_size: int | None = 500, sampling: str = "recent",
                 similarity: str = "cosine", decay: str = "same", sequence_weighting: bool = False,
                 transition_filter: bool = False, seed: int = 0):
        if not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"{self.name}: model.k={k!r} must be a positive integer")
        if sample_size is not None and (not isinstance(sample_size, (int, np.integer)) or sample_size < 1):
            raise ValueError(f"{self.name}: model.sample_size={sample_size!r} must be a positive integer or None")
        for key, value, known in (("sampling", sampling, SAMPLINGS), ("similarity", similarity, SIMILARITIES),
                                  ("decay", decay, tuple(DECAYS))):
            if value not in known:
                raise ValueError(f"{self.name}: model.{key}={value!r} is not one of {', '.join(known)}")
        self.k, self.sample_size, self.sampling, self.similarity = int(k), sample_size, sampling, similarity
        self.decay, self.sequence_weighting, self.transition_filter = decay, sequence_weighting, transition_filter
        self.seed = seed

    # --- fit: the session matrix (most recent session first), its norms, the transition set.
    def fit(self, split: Split, session_times: np.ndarray | None = None) -> SessionKNN:
        """session_times: one value per row of split.train_starts (e.g. the last timestamp of each
        training sequence); defaults to the split's own `train_times` (temporal_sessions has them)."""
        sessions, users = train_sessions(split)
        if len(sessions) == 0:
            raise ValueError(f"{self.name}: the split has no training sessions to find neighbours in")
        times = session_times if session_times is not None else getattr(split, "train_times", None)
        if times is None and self.sampling == "recent" and self.sample_size is not None:
            raise ValueError(f"{self.name}: model.sampling='recent' needs session times: this split has none "
                             "(only temporal_sessions carries them); pass fit(split, session_times=...), "
                             "or set model.sampling='random' or model.sample_size=None")
        order = np.arange(len(sessions))
        if times is not None:
            times = np.asarray(times)
            if times.shape != split.train_starts.shape:
                raise ValueError(f"{self.name}: session_times needs one entry per training row "
                                 f"({split.train_starts.shape[0]}), got shape {times.shape}")
            # Most recent first; equal times keep the split's order. Column order then doubles as the
            # recency rank used by sampling and by the top-k tie-break.
            order = np.lexsort((order, -times[users].astype(np.float64)))
        self.session_matrix = binary_matrix(sessions, split.num_items)[order]
        self.session_items = self.session_matrix.T.tocsr()
        self.session_norms = np.sqrt(self.session_matrix.getnnz(axis=1).astype(np.float64))
        self.session_users = users[order]
        if self.transition_filter:
            same_row = np.diff(sessions.rows) == 0
            pairs = (sessions.items[:-1][same_row], sessions.items[1:][same_row])
            t = sp.csr_matrix((np.ones(len(pairs[0])), pairs), shape=(split.num_items + 1,) * 2)
            t.sum_duplicates()
            self.transitions = t
        self._rng = np.random.default_rng(self.seed)
        self.num_items = split.num_items
        return self

    # --- scores: overlap -> sample -> similarity -> top-k -> weighted sum of neighbour items.
    def _scores(self, rows: Ragged) -> np.ndarray:
        out = np.zeros((len(rows), self.num_items + 1))
        step = min(block_rows(self.session_matrix.shape[0]), block_rows(self.num_items + 1))
        for lo in range(0, len(rows), step):
            hi = min(lo + step, len(rows))
            out[lo:hi] = self._score_block(rows.slice(lo, hi))
        return out

    def _score_block(self, rows: Ragged) -> np.ndarray:
        prompt_rows, items, positions, lengths = _latest_occurrences(rows)
        shape = (len(rows), self.num_items + 1)
        weights = DECAYS[self.decay](positions.astype(np.float64), lengths[prompt_rows].astype(np.float64))
        binary = sp.csr_matrix((np.ones(len(items)), (prompt_rows, items)), shape=shape)
        overlap = (binary @ self.session_items).toarray()          # shared items, [B, sessions]
        candidates = overlap > 0
        if self.sample_size is not None and self.sample_size < candidates.shape[1]:
            candidates &= self._sample(candidates)
        if self.decay == "same":
            dot = overlap
        else:
            dot = (sp.csr_matrix((weights, (prompt_rows, items)), shape=shape) @ self.session_items).toarray()
        if self.similarity == "cosine":
            prompt_norm = np.sqrt(np.bincount(prompt_rows, weights ** 2, minlength=len(rows)))
            denom = prompt_norm[:, None] * self.session_norms[None, :]
            sim = np.divide(dot, denom, out=np.zeros_like(dot), where=denom > 0)
        else:
            sim = dot
        sim = np.where(candidates, sim, 0.0)
        keep = _top_per_row(sim, self.k) & (sim > 0)
        b, n = np.nonzero(keep)
        w = sim[b, n]
        if self.sequence_weighting:
            position_matrix = sp.csr_matrix((positions.astype(np.float64), (prompt_rows, items)), shape=shape)
            w = w * _latest_shared_position(position_matrix, self.session_matrix, b, n) / lengths[b]
        neighbours = sp.csr_matrix((w, (b, n)), shape=(len(rows), self.session_matrix.shape[0]))
        scores = (neighbours @ self.session_matrix).toarray()
        if self.transition_filter:
            scores *= self.transitions[rows.last()].toarray() > 0  # row 0 (empty prompt) is empty
        return scores

    def _sample(self, candidates: np.ndarray) -> np.ndarray:
        m = self.sample_size
        if self.sampling == "recent":  # columns are ordered most recent first
            return np.cumsum(candidates, axis=1) <= m
        keys = np.where(candidates, self._rng.random(candidates.shape), -1.0)
        return _top_per_row(keys, m)


def _latest_occurrences(rows: Ragged):
    """(row, item, position, row lengths) with one entry per distinct item of a row, at its last position."""
    prompt_rows, positions = rows.rows, rows.positions
    keys = prompt_rows * (int(rows.items.max(initial=0)) + 1) + rows.items
    order = np.lexsort((positions, keys))
    last = np.ones(len(order), dtype=bool)
    last[:-1] = keys[order][1:] != keys[order][:-1]
    pick = order[last]
    return prompt_rows[pick], rows.items[pick], positions[pick], rows.lengths


def _top_per_row(values: np.ndarray, k: int) -> np.ndarray:
    """Mask of each row's k largest entries; among equal values the leftmost columns win."""
    width = values.shape[1]
    if k >= width:
        return np.ones(values.shape, dtype=bool)
    kth = np.partition(values, width - k, axis=1)[:, width - k:width - k + 1]
    above = values > kth
    tie = values == kth
    need = k - above.sum(axis=1, keepdims=True)
    return above | (tie & (np.cumsum(tie, axis=1) <= need))


def _latest_shared_position(position_matrix: sp.csr_matrix, sessions: sp.csr_matrix, b: np.ndarray,
                            n: np.ndarray) -> np.ndarray:
    """For each (prompt b, session n) pair: the largest prompt position whose item session n contains."""
    out = np.zeros(len(b))
    for lo in range(0, len(b), PAIR_CHUNK):
        chunk = slice(lo, lo + PAIR_CHUNK)
        shared = position_matrix[b[chunk]].multiply(sessions[n[chunk]]).tocsr()
        out[chunk] = shared.max(axis=1).toarray().ravel()
    return out


class SKNN(SessionKNN):
    name = "SKNN"


class VSKNN(SessionKNN):
    name = "V-SKNN"
    options = ("k", "sample_size", "sampling", "similarity", "decay", "seed")

    def __init__(self, k: int = 100, sample_size: int | None = 500, sampling: str = "recent",
                 similarity: str = "dot", decay: str = "linear", seed: int = 0):
        super().__init__(k, sample_size, sampling, similarity, decay, seed=seed)


class _SwitchedSKNN(SessionKNN):
    """SKNN with one of SessionKNN's switches fixed on (`switch`); no decay option."""

    options = ("k", "sample_size", "sampling", "similarity", "seed")
    switch: str

    def __init__(self, k: int = 100, sample_size: int | None = 500, sampling: str = "recent",
                 similarity: str = "cosine", seed: int = 0):
        super().__init__(k, sample_size, sampling, similarity, seed=seed, **{self.switch: True})


class SSKNN(_SwitchedSKNN):
    name = "S-SKNN"
    switch = "sequence_weighting"


class SFSKNN(_SwitchedSKNN):
    name = "SF-SKNN"
    switch = "transition_filter"
