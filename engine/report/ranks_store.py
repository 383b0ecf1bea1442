"""Per-prompt test ranks of kept runs, many runs to one compressed file.

A run directory's ranks_<split>.npy is int32 with one entry per prompt; a published comparison needs it,
but 150 of them cost 6 MB in git. The store keeps them in one `<dataset>-<protocol>.npz` per set of prompts
(every run in a file scores the same prompts), keyed by the run's path relative to the results folder
(`sasrec-beauty-s0`, `sweep-ml-1m-temporal/sknn`), in the smallest unsigned integer type that holds the
largest rank. Packing reads every array back and compares it with its original before any file is removed.
"""

from __future__ import annotations

import json
import pathlib

import numpy as np

from engine.run_dir import write_atomic

STORE = "ranks"  # folder under the results folder
SPLIT = "test"


def store_dir(results_root: pathlib.Path) -> pathlib.Path:
    return pathlib.Path(results_root) / STORE


def smallest_dtype(arrays) -> np.dtype:
    low = min(int(a.min()) for a in arrays)
    high = max(int(a.max()) for a in arrays)
    if low < 0:
        raise ValueError(f"ranks must be >= 0, found {low}")
    for dtype in (np.uint8, np.uint16, np.uint32):
        if high <= np.iinfo(dtype).max:
            return np.dtype(dtype)
    raise ValueError(f"rank {high} does not fit in 32 bits")


def read_store(path: pathlib.Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {name: z[name] for name in z.files}


def write_store(path: pathlib.Path, arrays: dict[str, np.ndarray]) -> None:
    """Atomically: a half-written store would lose ranks that exist nowhere else."""
    dtype = smallest_dtype(arrays.values())
    path.parent.mkdir(parents=True, exist_ok=True)

    def write(f):
        np.savez_compressed(f, **{name: arrays[name].astype(dtype) for name in sorted(arrays)})

    write_atomic(path, "wb", write)


def store_name(run_dir: pathlib.Path) -> str:
    """The file a run's ranks go to: its dataset and protocol (results.json), i.e. the prompts it scored."""
    result = json.loads((run_dir / "results.json").read_text())
    return f"{result['dataset']}-{result['protocol']}.npz"


def pack(results_root: pathlib.Path) -> list[pathlib.Path]:
    """Moves every ranks_test.npy under results_root into the store (merging with what it holds) and returns
    the .npy files removed. Refuses a run already in the store with different ranks."""
    results_root = pathlib.Path(results_root)
    loose = sorted(p for p in results_root.rglob(f"ranks_{SPLIT}.npy") if STORE not in p.relative_to(results_root).parts)
    by_store: dict[str, dict[str, np.ndarray]] = {}
    for path in loose:
        by_store.setdefault(store_name(path.parent), {})[path.parent.relative_to(results_root).as_posix()] = \
            np.load(path, allow_pickle=False)
    for name, new in by_store.items():
        target = store_dir(results_root) / name
        arrays = read_store(target) if target.exists() else {}
        for run, ranks in new.items():
            if run in arrays and not np.array_equal(arrays[run], ranks):
                raise ValueError(f"{target}: holds other ranks for {run} than {results_root / run}")
        arrays.update(new)
        if len({len(a) for a in arrays.values()}) != 1:
            raise ValueError(f"{target}: runs with different numbers of prompts: "
                             f"{sorted({len(a) for a in arrays.values()})}")
        write_store(target, arrays)
        stored = read_store(target)
        for run, ranks in new.items():  # lossless, checked before the originals go
            if not np.array_equal(stored[run].astype(np.int64), ranks.astype(np.int64)):
                raise ValueError(f"{target}: {run} did not read back equal")
    for path in loose:
        path.unlink()
    return loose


def find_ranks(results_root: pathlib.Path, run: str) -> np.ndarray | None:
    """The stored test ranks of run (its path relative to results_root) as int32, or None."""
    for path in sorted(store_dir(results_root).glob("*.npz")):
        with np.load(path, allow_pickle=False) as z:
            if run in z.files:
                return z[run].astype(np.int32)
    return None
