"""Raw interactions -> per-user chronological sequences with dense ids.

Pure numpy on whole arrays (no Python loop over interactions), so the same code serves the 100k and
the million-interaction datasets and can be unit-tested on hand-worked examples. The order of the
steps is part of the contract:

1. rating threshold (needs ratings; ignored with a note when the source has none),
2. chronological order per user, ties broken by file order (np.lexsort is stable, file position is
   the last key anyway),
3. de-duplication of (user, item) keeping the chronologically first,
4. iterative user/item k-core until nothing changes (dropping an item can push a user below its
   threshold and vice versa, so one pass is not enough),
5. id remapping: users -> rows 0..U-1, items -> 1..N (0 is padding), both in numeric order when
   every original id is an integer, else lexicographic. SASRec files therefore keep their own ids.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from engine.data.errors import DataError
from engine.data.readers import RawInteractions


@dataclasses.dataclass(frozen=True)
class Options:
    """The preprocessing settings; they are part of the processed dataset's cache key."""

    min_rating: float = 0.0
    user_core: int = 0
    item_core: int = 0
    dedup: bool = False

    def describe(self) -> str:
        return (f"min_rating={self.min_rating:g}, user_core={self.user_core}, "
                f"item_core={self.item_core}, dedup={self.dedup}")


@dataclasses.dataclass(frozen=True)
class Sequences:
    """The preprocessed arrays, in the layout SequenceDataset stores."""

    offsets: np.ndarray  # int64 [U + 1]
    items: np.ndarray  # int32 [n], 1-based
    timestamps: np.ndarray | None  # int64 [n]
    user_ids: np.ndarray  # str [U]
    item_ids: np.ndarray  # str [N + 1], entry 0 = ""
    numeric_ids: bool  # item ids were all integers (text lookups must then compare as integers)
    stats: dict
    notes: list


def encode(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """Sorted distinct ids (as str), each entry's code into them, and whether the sort was numeric."""
    try:
        numbers = np.asarray(ids).astype(np.int64)
    except (ValueError, OverflowError):
        distinct, codes = np.unique(np.asarray(ids, dtype=str), return_inverse=True)
        return distinct, codes.reshape(-1), False
    distinct, codes = np.unique(numbers, return_inverse=True)
    return distinct.astype(str), codes.reshape(-1), True


def chronological_order(users: np.ndarray, timestamps: np.ndarray | None) -> np.ndarray:
    """Permutation grouping interactions by user, by time within a user, file order on ties."""
    position = np.arange(len(users))
    if timestamps is None:
        return np.lexsort((position, users))
    return np.lexsort((position, timestamps, users))


def first_occurrences(users: np.ndarray, items: np.ndarray) -> np.ndarray:
    """Mask keeping the first occurrence of each (user, item) pair in the current order."""
    pairs = users.astype(np.int64) * (int(items.max(initial=0)) + 1) + items
    _, first = np.unique(pairs, return_index=True)
    keep = np.zeros(len(users), bool)
    keep[first] = True
    return keep


def k_core(users: np.ndarray, items: np.ndarray, user_core: int, item_core: int) -> tuple[np.ndarray, int]:
    """Mask of the interactions in the iterative (user_core, item_core)-core, and the passes it took."""
    keep = np.ones(len(users), bool)
    passes = 0
    if user_core <= 1 and item_core <= 1:  # every present user/item has >= 1 interaction already
        return keep, passes
    n_users, n_items = int(users.max(initial=-1)) + 1, int(items.max(initial=-1)) + 1
    while True:
        passes += 1
        user_counts = np.bincount(users[keep], minlength=n_users)
        item_counts = np.bincount(items[keep], minlength=n_items)
        drop = keep & ((user_counts[users] < user_core) | (item_counts[items] < item_core))
        if not drop.any():
            return keep, passes
        keep &= ~drop


def preprocess(raw: RawInteractions, options: Options, name: str = "dataset") -> Sequences:
    """Filter, order and remap raw interactions; DataError when the filters leave nothing."""
    notes = []
    stats = {"read": len(raw)}
    keep = np.ones(len(raw), bool)
    if options.min_rating > 0:
        if raw.ratings is None:
            notes.append(f"min_rating={options.min_rating:g} ignored: the source has no ratings")
        else:
            keep = raw.ratings >= options.min_rating
    stats["after_min_rating"] = int(keep.sum())

    user_ids, users, _ = encode(raw.users[keep])
    item_ids, items, numeric_items = encode(raw.items[keep])
    timestamps = raw.timestamps[keep] if raw.timestamps is not None else None

    order = chronological_order(users, timestamps)
    users, items = users[order], items[order]
    timestamps = timestamps[order] if timestamps is not None else None

    if options.dedup:
        keep = first_occurrences(users, items)
        users, items = users[keep], items[keep]
        timestamps = timestamps[keep] if timestamps is not None else None
    stats["after_dedup"] = len(users)

    keep, passes = k_core(users, items, options.user_core, options.item_core)
    users, items = users[keep], items[keep]
    timestamps = timestamps[keep] if timestamps is not None else None
    stats["after_k_core"] = len(users)
    stats["k_core_passes"] = passes

    if len(users) == 0:
        raise DataError(
            f"dataset {name!r} is empty after filtering ({options.describe()}): "
            f"{stats['read']} interactions read, {stats['after_min_rating']} after min_rating, "
            f"{stats['after_dedup']} after dedup, 0 after the k-core; relax these settings"
        )

    # Codes are ranks in sorted-id order, so compacting them with np.unique keeps that order.
    kept_users, rows = np.unique(users, return_inverse=True)
    kept_items, item_index = np.unique(items, return_inverse=True)
    counts = np.bincount(rows.reshape(-1), minlength=len(kept_users))
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return Sequences(
        offsets=offsets,
        items=(item_index.reshape(-1) + 1).astype(np.int32),
        timestamps=None if timestamps is None else timestamps.astype(np.int64),
        user_ids=user_ids[kept_users],
        item_ids=np.concatenate([np.array([""], dtype=str), item_ids[kept_items]]),
        numeric_ids=numeric_items,
        stats=stats,
        notes=notes,
    )
