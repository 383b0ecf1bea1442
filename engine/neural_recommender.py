"""A trained neural model as a Recommender (engine.recommender), so that host-side protocols (sampled
negatives, beyond accuracy) and the hybrids (engine.embedding_recs.hybrids) treat it like a non-neural one.

- `TrainedRecommender(exp, params)`: an Experiment and its parameters, e.g. the best checkpoint a
  training run has just restored.
- `NeuralRun(workdir)`: a trained run directory; fit(split) restores its checkpoints/best.

    seq = NeuralRun("runs/llm2sasrec-beauty").fit(split)   # restores checkpoints/best
    scores = seq.scores(prompts)                          # [B, num_items + 1], column 0 = -inf

Prompts are scored exactly as evaluation scores them.
"""

from __future__ import annotations

import pathlib

import jax
import jax.numpy as jnp
import numpy as np

from engine.data.pipeline import bucket_of, left_pad
from engine.data.splits import Split
from engine.recommender import Ragged, Recommender
from engine.train.experiment import Experiment
from engine.train.restore import restore_best_params


class TrainedRecommender(Recommender):
    """A trained neural model as a Recommender: scores(prompts) -> [B, num_items + 1] on the host.

    Prompts are scored exactly as evaluation scores them: cut to their last model.max_len items, left-padded
    to the run's length buckets, in fixed-size batches (one compiled shape per bucket). Single-process:
    every row is scored by this process."""

    def __init__(self, exp: Experiment, params):
        if jax.process_count() > 1:
            raise ValueError("eval.num_negatives, eval.beyond_accuracy and eval.popularity_breakdown run in a "
                             "single process; evaluate the run with launch.evaluate on one host")
        self.name = exp.config.model.name
        self.exp, self.params, self.num_items = exp, params, exp.dataset.num_items
        self._score = jax.jit(exp.scores)

    def fit(self, split):
        if split.num_items != self.num_items:
            raise ValueError(f"the {self.name} run was trained on {self.num_items} items, the split has "
                             f"{split.num_items}")
        return self

    def _scores(self, rows: Ragged) -> np.ndarray:
        size = self.exp.config.eval.batch_size
        buckets = tuple(int(b) for b in self.exp.config.train.length_buckets)
        window = bucket_of(np.minimum(rows.lengths, self.exp.config.model.max_len), buckets)
        out = np.empty((len(rows), self.num_items + 1), dtype=np.float32)
        for length in buckets:
            members = np.flatnonzero(window == length)
            for i in range(0, len(members), size):
                chunk = members[i:i + size]
                starts, ends = np.zeros(size, np.int64), np.zeros(size, np.int64)
                starts[:len(chunk)], ends[:len(chunk)] = rows.offsets[chunk], rows.offsets[chunk + 1]
                inputs = left_pad(rows.items, starts, ends, length)
                out[chunk] = np.asarray(self._score(self.params, jnp.asarray(inputs)))[:len(chunk)]
        return out


class NeuralRun(Recommender):
    name = "NeuralRun"

    def __init__(self, workdir):
        self.workdir = pathlib.Path(workdir)
        self._model = None

    def fit(self, split: Split) -> NeuralRun:
        if self._model is None:
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
