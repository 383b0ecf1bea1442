"""A trained neural run directory as a scorer with the Recommender `scores(prompts)` shape, so that
hybrids (engine.baselines.hybrids) can combine it with non-neural recommenders.

    seq = NeuralRun("runs/llm2sasrec-beauty").fit(split)   # restores checkpoints/best
    scores = seq.scores(prompts)                          # [B, num_items + 1], column 0 = -inf

Scores are computed exactly as evaluation computes them (engine.train.evaluation.TrainedRecommender).
"""

from __future__ import annotations

import pathlib

from engine.data.splits import Split
from engine.recommender import Ragged, Recommender


class NeuralRun(Recommender):
    name = "NeuralRun"

    def __init__(self, workdir):
        self.workdir = pathlib.Path(workdir)
        self._model = None

    def fit(self, split: Split) -> NeuralRun:
        if self._model is None:
            from engine.train.evaluation import TrainedRecommender, restore_best_params
            exp, params, _ = restore_best_params(self.workdir)
            self._model = TrainedRecommender(exp, params)
        try:
            self._model.fit(split)
        except ValueError as error:
            raise ValueError(f"{self.workdir}: {error}") from None
        self.num_items = split.num_items
        return self

    def _scores(self, rows: Ragged):
        return self._model._scores(rows)
