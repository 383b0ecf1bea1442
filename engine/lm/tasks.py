"""Instruction data built from the shared datasets.

ml100k_yesno (TALLRec's movie task on MovieLens-100K): for one target rating of a user, the prompt lists the
user's `history` most recent rated movies before it (titles, split into liked: rating > 3, and disliked) and asks
whether the user will like the target; the answer is "Yes" (rating > 3) or "No". Users are split into disjoint
train / valid / test groups, one example per user at a random target position with a full history, so no user
appears in two splits. Everything is a function of data.seed.
"""

from __future__ import annotations

import json
import pathlib

import numpy as np

from engine.run_dir import write_text_atomic

INSTRUCTION = ("Given the user's preference and unpreference, identify whether the user will like the target movie "
               "by answering \"Yes\" or \"No\".")


def _read_ml100k(root: pathlib.Path):
    ratings_path, items_path = root / "u.data", root / "u.item"
    for path in (ratings_path, items_path):
        if not path.is_file():
            raise FileNotFoundError(f"{path}: not found (config key data.root should be the ml-100k folder)")
    ratings = np.loadtxt(ratings_path, dtype=np.int64)
    if ratings.ndim != 2 or ratings.shape[1] != 4:
        raise ValueError(f"{ratings_path}: expected 4 tab-separated columns (user, item, rating, time)")
    titles = {}
    for n, line in enumerate(items_path.read_text(encoding="latin-1").splitlines(), 1):
        parts = line.split("|")
        if len(parts) < 2:
            raise ValueError(f"{items_path}:{n}: expected '|'-separated fields")
        titles[int(parts[0])] = parts[1]
    return ratings, titles


def ml100k_yesno(root, *, num_train: int, num_valid: int, num_test: int, history: int, seed: int) -> dict:
    ratings, titles = _read_ml100k(pathlib.Path(root))
    rng = np.random.default_rng(seed)
    users = np.unique(ratings[:, 0])
    # Stable order per user: time, then item id for equal timestamps.
    ratings = ratings[np.lexsort((ratings[:, 1], ratings[:, 3], ratings[:, 0]))]
    starts = np.searchsorted(ratings[:, 0], users)
    ends = np.append(starts[1:], len(ratings))
    eligible = [i for i, (s, e) in enumerate(zip(starts, ends, strict=True)) if e - s > history]
    order = rng.permutation(eligible)
    need = num_train + num_valid + num_test
    if len(order) < need:
        raise ValueError(f"data: {len(order)} users with more than {history} ratings, fewer than the {need} asked")
    out, taken = {}, 0
    for name, count in (("train", num_train), ("valid", num_valid), ("test", num_test)):
        rows = []
        for u in order[taken:taken + count]:
            user = ratings[starts[u]:ends[u]]
            t = int(rng.integers(history, len(user)))
            past = user[t - history:t]
            liked = [titles[int(i)] for i, r in zip(past[:, 1], past[:, 2], strict=True) if r > 3]
            disliked = [titles[int(i)] for i, r in zip(past[:, 1], past[:, 2], strict=True) if r <= 3]
            quote = lambda names: ", ".join(f'"{n}"' for n in names) or "none"
            target = titles[int(user[t, 1])]
            text = (f"User Preference: {quote(liked)}\nUser Unpreference: {quote(disliked)}\n"
                    f"Whether the user will like the target movie \"{target}\"?")
            rows.append({"instruction": INSTRUCTION, "input": text, "output": "Yes" if user[t, 2] > 3 else "No",
                         "user": int(users[u]), "item": int(user[t, 1])})
        out[name] = rows
        taken += count
    return out


def build_task(config, out_dir) -> dict[str, pathlib.Path]:
    """Write the task's train/valid/test JSONL files to out_dir (atomically; reused when present and built
    from the same settings) and return their paths."""
    dc = config.data
    if dc.task != "ml100k_yesno":
        raise ValueError(f"unknown data.task {dc.task!r}; known: ml100k_yesno")
    out_dir = pathlib.Path(out_dir)
    settings = {"task": dc.task, "root": str(dc.root), "num_train": dc.num_train, "num_valid": dc.num_valid,
                "num_test": dc.num_test, "history": dc.history, "seed": dc.seed}
    paths = {name: out_dir / f"{name}.jsonl" for name in ("train", "valid", "test")}
    meta = out_dir / "meta.json"
    if meta.is_file() and json.loads(meta.read_text()) == settings and all(p.is_file() for p in paths.values()):
        return paths
    splits = ml100k_yesno(dc.root, num_train=dc.num_train, num_valid=dc.num_valid, num_test=dc.num_test,
                          history=dc.history, seed=dc.seed)
    for name, rows in splits.items():
        write_text_atomic(paths[name], "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    write_text_atomic(meta, json.dumps(settings, indent=2) + "\n")  # last: it vouches for the files
    return paths
