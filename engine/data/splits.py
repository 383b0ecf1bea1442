"""Evaluation protocols that cut a sequence dataset into training sequences and evaluation prompts.

Every split is a set of index ranges into the dataset's flat `items` array, so no sequence is copied.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from engine.data.errors import DataError


@dataclasses.dataclass(frozen=True)
class Prompts:
    """Evaluation instances: the prompt is items[starts[i]:ends[i]], the answer is targets[i]."""

    users: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    targets: np.ndarray

    def __len__(self) -> int:
        return len(self.users)


@dataclasses.dataclass(frozen=True)
class Split:
    protocol: str
    items: np.ndarray          # the dataset's flat item array
    train_starts: np.ndarray   # per user: training sequence is items[train_starts[u]:train_ends[u]]
    train_ends: np.ndarray
    valid: Prompts
    test: Prompts
    num_items: int

    def prompts(self, name: str) -> Prompts:
        if name not in ("valid", "test"):
            raise ValueError(f"unknown evaluation split {name!r}; expected 'valid' or 'test'")
        return getattr(self, name)


PROTOCOLS = ("loo_full", "temporal_sessions")


def make_split(dataset, protocol: str, *, test_fraction: float = 0.2, num_folds: int = 3) -> Split:
    """The split of config key split.protocol; test_fraction and num_folds apply to temporal_sessions."""
    if protocol == "temporal_sessions":
        from engine.data.temporal import temporal_sessions  # temporal.py builds on this module's classes
        return temporal_sessions(dataset, test_fraction, num_folds)
    if protocol != "loo_full":
        raise ValueError(f"unknown protocol {protocol!r} (config key split.protocol); known: {', '.join(PROTOCOLS)}")
    return leave_one_out(dataset)


def split_from_config(dataset, split_config) -> Split:
    """The split a config's `split` section names: how every run makes its split, so that neural and
    non-neural runs of one config score the same prompts."""
    return make_split(dataset, split_config.protocol, test_fraction=split_config.get("test_fraction", 0.2),
                      num_folds=split_config.get("num_folds", 3))


def leave_one_out(dataset) -> Split:
    """`loo_full`: train on all but the last two items, validate on the second last, test on the last.

    The test prompt includes the validation item, as in SASRec and BERT4Rec."""
    starts, ends = dataset.offsets[:-1], dataset.offsets[1:]
    lengths = ends - starts
    short = np.flatnonzero(lengths < 3)
    if len(short):
        first = str(dataset.user_ids[short[0]])
        raise DataError(
            f"{dataset.path or dataset.name}: {len(short)} of {dataset.num_users} users have fewer than 3 "
            f"interactions (first: user {first!r} with {lengths[short[0]]}); loo_full needs 3 per user "
            "(one to train on, one to validate, one to test). Raise data.user_core to at least 3.")
    users = np.arange(dataset.num_users)
    items = dataset.items
    valid = Prompts(users, starts, ends - 2, items[ends - 2])
    test = Prompts(users, starts, ends - 1, items[ends - 1])
    return Split("loo_full", items, starts, ends - 2, valid, test, dataset.num_items)
