"""MostPopular: every prompt gets the training items ordered by how often they were interacted with.

It is the floor every model must clear, and the reference list that serendipity discounts
(engine.eval.beyond_accuracy): a hit MostPopular would also have made is not serendipitous."""

from __future__ import annotations

import numpy as np

from engine.data.splits import Split
from engine.recommender import Ragged, Recommender, train_item_counts


class MostPopular(Recommender):
    name = "MostPopular"

    def fit(self, split: Split) -> MostPopular:
        self.counts = train_item_counts(split)
        self.num_items = split.num_items
        return self

    def _scores(self, rows: Ragged) -> np.ndarray:
        return np.broadcast_to(self.counts.astype(np.float64), (len(rows), self.num_items + 1)).copy()
