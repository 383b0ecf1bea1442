"""`temporal_sessions`: the temporal protocol of LLM-Sequential-Recommendation (its §7.1.1 and §7.1.4).

1. Sessions are ordered by their last timestamp; the most recent 20% are the test sessions, so every test
   session ends after every training session ends.
2. In each test session, items never seen in the training sessions are removed; the last remaining item
   is the target and the items before it are the prompt. Sessions left with fewer than two items have no
   prompt and are dropped.
3. Tuning uses three forward-chaining folds over the training sessions cut into four equal time bins:
   fold f trains on bins 1..f and validates on bin f+1 (prepared exactly like the test sessions,
   against the items of bins 1..f). They are `split.folds`; the paper sums NDCG@20 over them.

What a session is. The paper defines a session as a user's interaction sequence S^u, and its Table 2
counts one session per user for Beauty (22,363 sessions = users) and Steam. MovieLens-1M is the same
kind of data, one long rating history per user, so a session here is a user's whole chronological
sequence (ML-1M: 6,040 sessions). We do not cut histories at inactivity gaps: MovieLens users rate in
bulk sittings, the paper does not do it, and results would stop being comparable to per-user protocols.
Sessions of a single interaction are ignored throughout: they can be neither a prompt with a target nor
a transition to learn from.

The returned split (what `make_split(dataset, "temporal_sessions")` gives a trainer):
- train: every training session, except that for the last bin's sessions the validation target and
  anything after it are held out (as loo_full holds out the validation item), so that
- valid: the third fold's validation prompts are never trained on, and checkpoint selection or early
  stopping on them is honest, while the final model still sees the whole training period, as in the
  paper;
- test: the test prompts, filtered against all items of the training sessions (the paper's test set);
- folds: the three tuning folds, each a split whose `valid` and `test` are its validation bin;
- train_times: the timestamp of the last training item of each row (SKNN's "most recent" sampling).

Filtered sessions no longer match index ranges of the dataset's `items`, so each split's `items` is
the dataset's items followed by its filtered evaluation sessions; prompts index into that tail.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from engine.data.errors import DataError
from engine.data.splits import Prompts, Split

NO_TIME = np.iinfo(np.int64).min  # train_times of rows without a training sequence


@dataclasses.dataclass(frozen=True)
class TemporalSplit(Split):
    train_times: np.ndarray  # int64 per row of train_starts: time of its last training item, NO_TIME if none
    folds: tuple = ()        # the forward-chaining tuning folds (TemporalSplits), oldest first


@dataclasses.dataclass(frozen=True)
class _HeldOut:
    """Filtered evaluation sessions: their items (a block to append to the split's items) and prompts."""

    items: np.ndarray
    users: np.ndarray
    starts: np.ndarray        # relative to the block
    ends: np.ndarray
    targets: np.ndarray
    target_index: np.ndarray  # index of each target in the dataset's items

    def prompts(self, base: int) -> Prompts:
        return Prompts(self.users, self.starts + base, self.ends + base, self.targets)


def temporal_sessions(dataset, test_fraction: float = 0.2, num_folds: int = 3) -> TemporalSplit:
    if dataset.timestamps is None:
        raise DataError(f"{dataset.path or dataset.name}: split.protocol='temporal_sessions' orders sessions by "
                        "time, but this dataset has no timestamps (the SASRec-format files and Beauty have "
                        "none); use a dataset with timestamps (e.g. data.name='ml-1m') or split.protocol='loo_full'")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"split.test_fraction={test_fraction} must lie strictly between 0 and 1")
    if num_folds < 1:
        raise ValueError(f"split.num_folds={num_folds} must be at least 1")
    starts, ends = dataset.offsets[:-1], dataset.offsets[1:]
    last_time = session_last_times(dataset)

    # --- Order sessions by last timestamp (ties: user order), cut off the most recent test_fraction.
    sessions = np.flatnonzero(ends - starts >= 2)
    order = sessions[np.lexsort((sessions, last_time[sessions]))]
    num_test = round(test_fraction * len(order))
    num_train = len(order) - num_test
    if num_test < 1 or num_train < num_folds + 1:
        raise DataError(f"{dataset.path or dataset.name}: {len(order)} sessions with at least two interactions "
                        f"are too few for split.protocol='temporal_sessions' (test fraction {test_fraction}, "
                        f"{num_folds} folds need at least one test session and {num_folds + 1} training sessions)")
    train_users, test_users = order[:num_train], order[num_train:]
    bins = np.array_split(train_users, num_folds + 1)

    # --- Tuning folds: train on bins 1..f, validate on bin f+1.
    folds = []
    for f in range(1, num_folds + 1):
        fold_train = np.concatenate(bins[:f])
        held = _held_out(dataset, bins[f], _seen(dataset, fold_train))
        train_ends = _ranges(dataset, fold_train, ends)
        items = np.concatenate([dataset.items, held.items])
        prompts = held.prompts(len(dataset.items))
        folds.append(TemporalSplit(f"temporal_sessions/fold{f}", items, starts, train_ends, prompts, prompts,
                                   dataset.num_items, _train_times(dataset, train_ends), ()))

    # --- The final split: all training sessions, the last fold's validation targets held out.
    valid = _held_out(dataset, bins[-1], _seen(dataset, np.concatenate(bins[:-1])))
    test = _held_out(dataset, test_users, _seen(dataset, train_users))
    train_ends = _ranges(dataset, train_users, ends)
    train_ends[valid.users] = valid.target_index
    items = np.concatenate([dataset.items, valid.items, test.items])
    return TemporalSplit("temporal_sessions", items, starts, train_ends, valid.prompts(len(dataset.items)),
                         test.prompts(len(dataset.items) + len(valid.items)), dataset.num_items,
                         _train_times(dataset, train_ends), tuple(folds))


def session_last_times(dataset) -> np.ndarray:
    """Latest timestamp of each user's sequence (NO_TIME for an empty one)."""
    starts, ends = dataset.offsets[:-1], dataset.offsets[1:]
    out = np.full(dataset.num_users, NO_TIME, dtype=np.int64)
    filled = np.flatnonzero(ends > starts)
    if len(filled):
        # Consecutive non-empty users' ranges tile the items array, so reduceat sees exactly each range.
        out[filled] = np.maximum.reduceat(dataset.timestamps, starts[filled])
    return out


def _ranges(dataset, users: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """train_ends with the full sequence for `users` and an empty range for everyone else."""
    train_ends = dataset.offsets[:-1].copy()
    train_ends[users] = ends[users]
    return train_ends


def _seen(dataset, users: np.ndarray) -> np.ndarray:
    """Boolean [num_items + 1]: which items occur in the given users' sequences."""
    seen = np.zeros(dataset.num_items + 1, dtype=bool)
    seen[dataset.items[_flat_index(dataset.offsets[users], dataset.offsets[users + 1])]] = True
    return seen


def _flat_index(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    lengths = ends - starts
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    return np.arange(offsets[-1]) + np.repeat(starts - offsets[:-1], lengths)


def _held_out(dataset, users: np.ndarray, seen: np.ndarray) -> _HeldOut:
    """Drop unseen items from the users' sessions; last remaining item = target, the rest = prompt."""
    starts, ends = dataset.offsets[users], dataset.offsets[users + 1]
    index = _flat_index(starts, ends)
    rows = np.repeat(np.arange(len(users)), ends - starts)
    keep = seen[dataset.items[index]]
    kept_per_row = np.bincount(rows[keep], minlength=len(users))
    keep &= kept_per_row[rows] >= 2
    index, lengths = index[keep], kept_per_row[kept_per_row >= 2]
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    last = offsets[1:] - 1
    items = dataset.items[index]
    return _HeldOut(items, users[kept_per_row >= 2], offsets[:-1], last, items[last], index[last])


def _train_times(dataset, train_ends: np.ndarray) -> np.ndarray:
    starts = dataset.offsets[:-1]
    filled = train_ends > starts
    times = np.full(len(starts), NO_TIME, dtype=np.int64)
    # Sequences are chronological, but max over the range does not rely on it.
    index = _flat_index(starts[filled], train_ends[filled])
    rows = np.repeat(np.flatnonzero(filled), (train_ends - starts)[filled])
    np.maximum.at(times, rows, dataset.timestamps[index])
    return times
