"""The popularity hybrids of LLM-Sequential-Recommendation (Section 6), cut-offs chosen on validation only.

LLMSeqSim & Sequential (Section 6.1, `PopularitySwitch`): a prompt whose last item is unpopular (training
count < cut-off) is answered by LLMSeqSim, any other prompt by a sequential model (LLM2BERT4Rec,
LLM2SASRec, SKNN_EMB, ...: anything with the Recommender `scores(prompts)` shape; a trained neural run
directory through engine.neural_recommender.NeuralRun, see `from_config`).

LLMSeqSim & Popularity (Section 6.2, `PopularityFloor`): LLMSeqSim does not recommend obscure items:
every item with training count < cut-off is ranked below every other item (their order among themselves
kept, so a list is still filled when too few popular items remain).

The cut-off: the candidates are quantiles of the training item counts (`quantiles`); `fit(split)` scores
the split's *validation* prompts once per component and keeps the candidate with the best validation
`metric` (ties: the lowest cut-off). The paper tunes it "on the training set" with validation folds; the
test prompts are never looked at. `selection` records every candidate's validation value and the choice.
"""

from __future__ import annotations

import numpy as np

from engine.data.splits import Split
from engine.eval.host_ranking import evaluate, ranks_from_scores
from engine.eval.metrics import metrics_from_ranks
from engine.recommender import Ragged, Recommender, block_rows, gather_ranges, prompt_items, train_item_counts

DEFAULT_QUANTILES = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)


def _similarity_from_config(config, dataset):
    from engine.embedding_recs.llmseqsim import LLMSeqSim
    return LLMSeqSim.from_config(config, dataset)


def _common_from_config(config) -> dict:
    m = config.model
    return {"quantiles": tuple(m.quantiles), "metric": m.metric or config.eval.select_metric, "cutoff": m.cutoff,
            "mask_history": config.eval.mask_history}


def _ks_of(metric: str) -> tuple[int, ...]:
    try:
        return (int(metric.rsplit("@", 1)[1]),)
    except (IndexError, ValueError):
        raise ValueError(f"model.metric={metric!r} must look like 'NDCG@20'") from None


def _fit_if_needed(model, split: Split):
    if getattr(model, "num_items", None) is None and hasattr(model, "fit"):
        model.fit(split)
    if getattr(model, "num_items", None) != split.num_items:
        raise ValueError(f"{getattr(model, 'name', type(model).__name__)} scores "
                         f"{getattr(model, 'num_items', None)} items but the split has {split.num_items}")
    return model


def cutoff_candidates(counts: np.ndarray, quantiles) -> list[tuple[float, float]]:
    """(quantile, cut-off) pairs over the counts of items 1..N, duplicate cut-offs dropped (lowest q kept)."""
    qs = np.asarray(sorted({float(q) for q in quantiles}))
    if len(qs) == 0 or qs.min() < 0 or qs.max() > 1:
        raise ValueError(f"model.quantiles={tuple(quantiles)} must be values in [0, 1]")
    values = np.quantile(counts[1:].astype(np.float64), qs)
    out, seen = [], set()
    for q, v in zip(qs, values):
        if float(v) not in seen:
            seen.add(float(v))
            out.append((float(q), float(v)))
    return out


def _choose(candidates, values: list[float], metric: str) -> dict:
    best = int(np.argmax(values))  # first maximum = lowest cut-off among ties
    return {"metric": metric, "split": "valid", "quantile": candidates[best][0], "cutoff": candidates[best][1],
            "value": values[best],
            "candidates": [{"quantile": q, "cutoff": c, "value": v} for (q, c), v in zip(candidates, values)]}


class _CutoffHybrid(Recommender):
    """What both hybrids share: LLMSeqSim plus a training-popularity cut-off, fixed or chosen on validation
    once the components are fitted, by the subclass's `select_cutoff(split) -> (cutoff, selection)` (each
    hybrid applies a cut-off its own way)."""

    def __init__(self, similarity, quantiles=DEFAULT_QUANTILES, metric: str = "NDCG@20",
                 cutoff: float | None = None, mask_history: bool = True, ties: str = "pessimistic"):
        self.similarity = similarity
        self.quantiles, self.metric, self.cutoff = tuple(quantiles), metric, cutoff
        self.mask_history, self.ties = mask_history, ties
        self.ks = _ks_of(metric)
        self.selection: dict | None = None

    def components(self) -> tuple:
        return (self.similarity,)

    def fit(self, split: Split):
        for model in self.components():
            _fit_if_needed(model, split)
        self.counts = train_item_counts(split)
        self.num_items = split.num_items
        if self.cutoff is None:
            self.cutoff, self.selection = self.select_cutoff(split)
        return self


class PopularitySwitch(_CutoffHybrid):
    """LLMSeqSim & Sequential. similarity: the LLMSeqSim model; sequential: any scorer (see module doc).
    cutoff: fixed cut-off (skips the selection) or None to choose it on validation."""

    name = "LLMSeqSim&Sequential"

    def __init__(self, similarity, sequential, **kwargs):
        super().__init__(similarity, **kwargs)
        self.sequential = sequential

    @classmethod
    def from_config(cls, config, dataset=None, sequential=None) -> PopularitySwitch:
        """model.sequential_run: a trained neural run directory (LLM2BERT4Rec, ...), which the caller restores
        as `sequential` (engine.runner.registry passes engine.neural_recommender.NeuralRun: neural runs live in
        a layer above this one); '' = SKNN_EMB on the same embeddings (the paper's other choice) with its
        default neighbourhood."""
        m = config.model
        if m.sequential_run and sequential is None:
            raise ValueError(f"model.sequential_run={m.sequential_run!r}: build this model through "
                             "engine.runner.registry.build_recommender, which restores the trained run")
        if sequential is None:
            from engine.embedding_recs.llmseqsim import dataset_identity
            from engine.embedding_recs.sknn_emb import SKNNEmb
            sequential = SKNNEmb(m.embeddings, seed=config.seed, **dataset_identity(config, dataset))
        return cls(_similarity_from_config(config, dataset), sequential, **_common_from_config(config))

    def components(self) -> tuple:
        return (self.similarity, self.sequential)

    def select_cutoff(self, split: Split) -> tuple[float, dict]:
        """Route each validation prompt for every candidate cut-off; each component scores once."""
        prompts = split.valid
        last = prompt_items(split, prompts).last()
        common = {"ks": self.ks, "mask_history": self.mask_history, "ties": self.ties}
        _, sim_ranks = evaluate(self.similarity, split, prompts, **common)
        _, seq_ranks = evaluate(self.sequential, split, prompts, **common)
        candidates = cutoff_candidates(self.counts, self.quantiles)
        values = []
        for _, cutoff in candidates:
            ranks = np.where(self.counts[last] < cutoff, sim_ranks, seq_ranks)
            values.append(metrics_from_ranks(ranks, self.ks)[self.metric])
        choice = _choose(candidates, values, self.metric)
        return choice["cutoff"], choice

    def _scores(self, rows: Ragged) -> np.ndarray:
        use_sim = self.counts[rows.last()] < self.cutoff
        out = np.empty((len(rows), self.num_items + 1))
        for model, pick in ((self.similarity, np.flatnonzero(use_sim)), (self.sequential, np.flatnonzero(~use_sim))):
            if len(pick):
                sub = gather_ranges(rows.items, rows.offsets[:-1][pick], rows.offsets[1:][pick])
                out[pick] = model.scores(sub)
        return out


def demote_unpopular(scores: np.ndarray, popular: np.ndarray) -> np.ndarray:
    """Shift the scores of unpopular items below every popular item's score in each row (order kept)."""
    finite = np.isfinite(scores)
    high = np.where(finite, scores, -np.inf).max(axis=1, keepdims=True)
    low = np.where(finite, scores, np.inf).min(axis=1, keepdims=True)
    shift = np.where(np.isfinite(high - low), high - low, 0.0) + 1.0
    return np.where(popular[None, :], scores, scores - shift)


class PopularityFloor(_CutoffHybrid):
    """LLMSeqSim & Popularity. similarity: the LLMSeqSim model. cutoff: fixed, or None to choose on validation."""

    name = "LLMSeqSim&Popularity"

    @classmethod
    def from_config(cls, config, dataset=None) -> PopularityFloor:
        return cls(_similarity_from_config(config, dataset), **_common_from_config(config))

    def select_cutoff(self, split: Split) -> tuple[float, dict]:
        """Score each block of validation prompts once and rank the target under every candidate."""
        prompts = split.valid
        rows = prompt_items(split, prompts)
        candidates = cutoff_candidates(self.counts, self.quantiles)
        ranks = np.empty((len(candidates), len(prompts)), dtype=np.int64)
        step = block_rows(self.num_items + 1)
        for lo in range(0, len(prompts), step):
            hi = min(lo + step, len(prompts))
            chunk = rows.slice(lo, hi)
            base = self.similarity.scores(chunk)
            for c, (_, cutoff) in enumerate(candidates):
                ranks[c, lo:hi] = ranks_from_scores(demote_unpopular(base, self.counts >= cutoff),
                                                    prompts.targets[lo:hi], chunk if self.mask_history else None,
                                                    self.ties)
        values = [metrics_from_ranks(r, self.ks)[self.metric] for r in ranks]
        choice = _choose(candidates, values, self.metric)
        return choice["cutoff"], choice

    def _scores(self, rows: Ragged) -> np.ndarray:
        return demote_unpopular(self.similarity.scores(rows), self.counts >= self.cutoff)
