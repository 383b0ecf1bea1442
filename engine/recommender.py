"""The shape every non-neural recommender shares, and the ragged (CSR) arrays it works on.

    model = MostPopular().fit(split)
    scores = model.scores(prompts)        # [B, num_items + 1]; column 0 (padding) is -inf
    top = model.recommend(prompts, k=10)  # [B, k] item ids, the prompt's own items excluded

`prompts` is a list of item arrays or a `Ragged` (CSR offsets + items); `prompt_items(split,
prompts)` turns a split's `Prompts` into one without copying item by item. Scores are dense numpy rows
so that baselines and neural models meet in the same ranking and metrics code (engine.eval.host_ranking).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.sparse as sp

from engine.data.splits import Prompts, Split

# Rows per scoring call are chosen so that one [rows, columns] float64 block stays around 32 MB.
DENSE_BLOCK = 4_000_000


@dataclasses.dataclass(frozen=True)
class Ragged:
    """Variable-length item lists in CSR form: row i is items[offsets[i]:offsets[i + 1]]."""

    offsets: np.ndarray  # int64 [rows + 1]
    items: np.ndarray    # int64 [total]

    def __post_init__(self):
        object.__setattr__(self, "offsets", np.asarray(self.offsets, dtype=np.int64))
        object.__setattr__(self, "items", np.asarray(self.items, dtype=np.int64))
        o = self.offsets
        if o.ndim != 1 or len(o) < 1 or o[0] != 0 or o[-1] != len(self.items) or np.any(np.diff(o) < 0):
            raise ValueError("prompt offsets must be 1-D, non-decreasing, start at 0 and end at len(items)")

    @classmethod
    def of(cls, prompts) -> Ragged:
        """Accept a Ragged or a sequence of item arrays (a pair of arrays means two prompts, never CSR)."""
        if isinstance(prompts, Ragged):
            return prompts
        rows = [np.asarray(p, dtype=np.int64).ravel() for p in prompts]
        offsets = np.concatenate([[0], np.cumsum([len(r) for r in rows], dtype=np.int64)])
        return cls(offsets, np.concatenate(rows) if rows else np.zeros(0, np.int64))

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    @property
    def rows(self) -> np.ndarray:
        """Row index of every entry of `items`."""
        return np.repeat(np.arange(len(self)), self.lengths)

    @property
    def positions(self) -> np.ndarray:
        """1-based position of every entry inside its row."""
        return np.arange(len(self.items)) - np.repeat(self.offsets[:-1], self.lengths) + 1

    def slice(self, lo: int, hi: int) -> Ragged:
        o = self.offsets[lo:hi + 1]
        return Ragged(o - o[0], self.items[o[0]:o[-1]])

    def last(self) -> np.ndarray:
        """Each row's last item, 0 for an empty row."""
        out = np.zeros(len(self), dtype=np.int64)
        filled = self.lengths > 0
        out[filled] = self.items[self.offsets[1:][filled] - 1]
        return out


def gather_ranges(items: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> Ragged:
    """Ragged rows items[starts[i]:ends[i]] in one vectorised gather."""
    starts, ends = np.asarray(starts, np.int64), np.asarray(ends, np.int64)
    lengths = ends - starts
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    index = np.arange(offsets[-1]) + np.repeat(starts - offsets[:-1], lengths)
    return Ragged(offsets, np.asarray(items)[index])


def prompt_items(split: Split, prompts: Prompts) -> Ragged:
    return gather_ranges(split.items, prompts.starts, prompts.ends)


def train_sessions(split: Split) -> tuple[Ragged, np.ndarray]:
    """The non-empty training sequences of a split and the user (row of train_starts) of each."""
    users = np.flatnonzero(split.train_ends > split.train_starts)
    return gather_ranges(split.items, split.train_starts[users], split.train_ends[users]), users


def train_item_counts(split: Split) -> np.ndarray:
    """Training interactions per item, int64 [num_items + 1] (entry 0 = padding = 0)."""
    sessions, _ = train_sessions(split)
    return np.bincount(sessions.items, minlength=split.num_items + 1)[:split.num_items + 1]


def binary_matrix(rows: Ragged, num_items: int) -> sp.csr_matrix:
    """[len(rows), num_items + 1] 0/1 matrix; an item repeated inside a row still counts once."""
    m = sp.csr_matrix((np.ones(len(rows.items)), (rows.rows, rows.items)), shape=(len(rows), num_items + 1))
    m.sum_duplicates()
    m.data[:] = 1.0
    return m


def check_items(rows: Ragged, num_items: int) -> None:
    if len(rows.items) and (rows.items.min() < 1 or rows.items.max() > num_items):
        raise ValueError(f"prompt items must lie in 1..{num_items} (0 is padding and may not appear in a prompt)")


def block_rows(columns: int, block: int = DENSE_BLOCK) -> int:
    return max(1, block // max(columns, 1))


class Recommender:
    """Base class: subclasses set `num_items` in fit() and implement `_scores(rows: Ragged)`."""

    name = "recommender"
    num_items: int | None = None
    # The model.* config keys `from_config` passes to the constructor ('seed' among them: the run's seed
    # unless model.seed is set), declared rather than read off the signature.
    options: tuple[str, ...] = ()
    # Whether fit(split, session_times=...) wants the time of each training row's last item.
    uses_session_times = False

    @classmethod
    def from_config(cls, config, dataset=None) -> Recommender:
        """The recommender of config.model: every model.* key but `name` is a declared option (None: the
        class default). Recommenders that need more (item text, embedding files) override this."""
        kwargs = {k: v for k, v in config.model.items() if k != "name" and v is not None}
        unknown = [k for k in kwargs if k not in cls.options]
        if unknown:
            raise ValueError(f"model.name={config.model.name!r} takes no key(s) {', '.join('model.' + k for k in unknown)};"
                             f" it takes {', '.join('model.' + p for p in cls.options) or 'none'}")
        if "seed" in cls.options and "seed" not in kwargs:
            kwargs["seed"] = config.seed
        return cls(**kwargs)

    def fit(self, split: Split) -> Recommender:
        raise NotImplementedError

    def _scores(self, rows: Ragged) -> np.ndarray:
        raise NotImplementedError

    def scores(self, prompts) -> np.ndarray:
        """Scores [B, num_items + 1] for every item; column 0 (padding) is -inf."""
        if self.num_items is None:
            raise RuntimeError(f"{self.name}: call fit(split) before scoring")
        rows = Ragged.of(prompts)
        check_items(rows, self.num_items)
        out = np.asarray(self._scores(rows), dtype=np.float64)
        out[:, 0] = -np.inf
        return out

    def recommend(self, prompts, k: int) -> np.ndarray:
        """[B, k] item ids by decreasing score (ties: lower id first), never the prompt's own items.

        Where fewer than k items are left to recommend the row is padded with 0."""
        if self.num_items is None:
            raise RuntimeError(f"{self.name}: call fit(split) before recommending")
        if not 1 <= int(k) <= self.num_items:
            raise ValueError(f"k={k} must be between 1 and the catalogue size {self.num_items}")
        return top_items(self.scores, Ragged.of(prompts), k, self.num_items)


def top_items(scores_of, rows: Ragged, k: int, num_items: int) -> np.ndarray:
    """[B, k] item ids by decreasing score (ties: lower id first), never the prompt's own items; 0 where
    fewer than k items are left. scores_of(rows) -> [b, num_items + 1] float scores, column 0 = -inf."""
    out = np.zeros((len(rows), int(k)), dtype=np.int64)
    step = block_rows(num_items + 1)
    for lo in range(0, len(rows), step):
        chunk = rows.slice(lo, min(lo + step, len(rows)))
        scores = scores_of(chunk)
        scores[chunk.rows, chunk.items] = -np.inf
        # A stable sort on -score keeps equal scores in id order, so lists are reproducible.
        top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        usable = np.isfinite(np.take_along_axis(scores, top, axis=1))
        out[lo:lo + len(chunk)] = np.where(usable, top, 0)
    return out


def most_popular_items(split: Split, rows: Ragged, k: int) -> np.ndarray:
    """[B, k]: the training items by decreasing count, each prompt's own items left out: MostPopular's
    lists (engine.neighbors.popularity), which serendipity discounts, computed here so that evaluation
    needs no concrete recommender."""
    counts = train_item_counts(split).astype(np.float64)

    def scores_of(chunk: Ragged) -> np.ndarray:
        out = np.broadcast_to(counts, (len(chunk), split.num_items + 1)).copy()
        out[:, 0] = -np.inf
        return out

    return top_items(scores_of, rows, k, split.num_items)
