"""Splits too small to measure anything: refused or warned about before a model is trained on them.

A rank is the number of items scored above the target among the items left after masking the prompt's
history. When a prompt leaves at most K of them, its target is inside the top K whatever the model does,
so a single-user dataset of a dozen items reports HR@10 = NDCG@10 = 1. Such prompts are counted: all of
them is an error (the metric would be a constant), some of them a warning naming the counts, as is a
split with so few prompts that one prompt moves a metric by more than a percentage point."""

from __future__ import annotations

import sys

import numpy as np

from engine.data.splits import Split
from engine.recommender import prompt_items

MIN_PROMPTS = 100


def left_to_rank(split: Split, name: str, mask_history: bool) -> np.ndarray:
    """Per prompt of `name`: how many items the target competes with (the catalogue less itself and,
    with masking, the distinct items of its prompt other than itself)."""
    prompts = split.prompts(name)
    competitors = np.full(len(prompts), split.num_items - 1, dtype=np.int64)
    if mask_history and len(prompts):
        rows = prompt_items(split, prompts)
        # Distinct (prompt, item) pairs, the target itself left out (it is never masked).
        keep = rows.items != prompts.targets[rows.rows]
        pairs = np.unique(rows.rows[keep] * (split.num_items + 1) + rows.items[keep])
        competitors -= np.bincount(pairs // (split.num_items + 1), minlength=len(prompts))
    return competitors


def check_split_size(split: Split, ks, mask_history: bool, *, warn=None) -> list[str]:
    """Raise ValueError when every prompt of valid or test is a hit by construction at the largest K;
    return (and pass to `warn`, default: print to stderr) a warning line for each smaller problem."""
    warn = warn or (lambda line: print(line, file=sys.stderr, flush=True))
    k = max(ks)
    users = int(np.count_nonzero(split.train_ends > split.train_starts))
    warnings = []
    for name in ("valid", "test"):
        count = len(split.prompts(name))
        if count == 0:
            continue  # metrics_from_ranks refuses an empty split with its own message
        sure = int(np.count_nonzero(left_to_rank(split, name, mask_history) < k))
        where = f"split {name!r} ({count} prompts, {users} training users, {split.num_items} items)"
        if sure == count:
            raise ValueError(f"{where}: every prompt leaves at most {k - 1} other items to rank once its history "
                             f"is masked, so HR@{k} is 1 whatever the model; use more data or a smaller eval.ks")
        if sure:
            warnings.append(f"warning: {where}: {sure} prompts leave at most {k - 1} other items to rank, "
                            f"so they count as hits at K={k} whatever the model")
        if count < MIN_PROMPTS:
            warnings.append(f"warning: {where}: one prompt moves a metric by {1 / count:.1%}; "
                            "too few prompts to compare models")
    for line in warnings:
        warn(line)
    return warnings
