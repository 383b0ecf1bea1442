"""Training instances as LLM4RSR defines them, and the item co-occurrence counts built from them.

A training instance is <x, v>: the target v = items[p] at a training position p of a user's training
sequence, and the input x = the (at most) L items before it, [items[p-L], ..., items[p-1]], cut at the start
of the user's training sequence. Every training position with at least one item before it is an instance
(the paper's Table 1: # instances = # interactions - # users for ML-1M, minus the held-out items here).

Inputs are stored as one int32 array [n, L], left-padded with 0 (the padding item), so an instance whose
input was shortened (by the user's history start, or by LLM4RSR's correction dropping irrelevant items) keeps
its remaining items right-aligned, next to the target, in their original order. That one layout is what the
instance-table trainer mode reads, whatever the origin of the table.

co(v_i, v_j) = number of training instances with v_i in the input and v_j as the target (an item that occurs
twice in one input counts once for that instance), a scipy.sparse CSR matrix indexed by internal item ids
(row/column 0 = padding, always empty).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import pathlib

import numpy as np
import scipy.sparse as sp

from engine.data.errors import DataError

ARRAYS = ("user", "position", "target", "inputs")


@dataclasses.dataclass(frozen=True, eq=False)
class Instances:
    user: np.ndarray      # int64 [n]: row of the split (user index)
    position: np.ndarray  # int64 [n]: index of the original target in split.items (-1 for a synthetic instance)
    target: np.ndarray    # int32 [n]: target item
    inputs: np.ndarray    # int32 [n, L]: input items, left-padded with 0

    def __post_init__(self):
        n = len(self.user)
        if self.inputs.ndim != 2 or any(len(a) != n for a in (self.position, self.target, self.inputs)):
            raise DataError(f"instance arrays disagree in length or shape: user {self.user.shape}, position "
                            f"{self.position.shape}, target {self.target.shape}, inputs {self.inputs.shape}")

    def __len__(self) -> int:
        return len(self.user)

    @property
    def max_inputs(self) -> int:
        return self.inputs.shape[1]

    @property
    def lengths(self) -> np.ndarray:
        return (self.inputs != 0).sum(axis=1)

    def subset(self, index) -> Instances:
        return Instances(self.user[index], self.position[index], self.target[index], self.inputs[index])

    def digest(self) -> str:
        """SHA-256 of the arrays: names the table in the meta.json of anything derived from it."""
        h = hashlib.sha256()
        for name in ARRAYS:
            a = np.ascontiguousarray(getattr(self, name))
            h.update(f"{name}:{a.dtype.str}:{a.shape}".encode())
            h.update(a.tobytes())
        return h.hexdigest()

    def arrays(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name) for name in ARRAYS}


def training_instances(split, max_inputs: int = 5) -> Instances:
    """Every training instance of `split` (any protocol with per-user training ranges), in user then position
    order, with at most `max_inputs` (the paper's L) input items."""
    if max_inputs < 1:
        raise ValueError(f"the input length L must be >= 1, got {max_inputs}")
    starts = np.asarray(split.train_starts, np.int64)
    ends = np.asarray(split.train_ends, np.int64)
    counts = np.maximum(ends - starts - 1, 0)  # positions start+1 .. end-1 have an item before them
    user = np.repeat(np.arange(len(starts), dtype=np.int64), counts)
    offset = np.arange(counts.sum(), dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
    position = np.repeat(starts + 1, counts) + offset
    # Index of input slot j (0 = oldest) is position - L + j; slots before the user's start are padding.
    index = position[:, None] - max_inputs + np.arange(max_inputs)[None, :]
    valid = index >= starts[user][:, None]
    items = np.asarray(split.items)
    inputs = np.where(valid, items[np.where(valid, index, 0)], 0).astype(np.int32)
    return Instances(user, position, items[position].astype(np.int32), inputs)


def co_occurrence(instances: Instances, num_items: int) -> sp.csr_matrix:
    """co[i, j] = number of instances with item i in the input and item j as the target (int64 CSR)."""
    inputs = np.sort(instances.inputs, axis=1)
    # After sorting a row, a repeat of an item sits right after its first occurrence: keep first occurrences.
    first = np.ones_like(inputs, dtype=bool)
    first[:, 1:] = inputs[:, 1:] != inputs[:, :-1]
    keep = first & (inputs != 0)
    rows = inputs[keep].astype(np.int64)
    cols = np.broadcast_to(instances.target[:, None], inputs.shape)[keep].astype(np.int64)
    if len(rows) and (rows.max() > num_items or cols.max() > num_items):
        raise DataError(f"instance items go up to {max(rows.max(), cols.max())}, beyond the catalogue's "
                        f"{num_items} items")
    counts = sp.coo_matrix((np.ones(len(rows), np.int64), (rows, cols)), shape=(num_items + 1, num_items + 1))
    return counts.tocsr()  # duplicates (same pair in several instances) are summed


def save_instances(path, instances: Instances, **extra: np.ndarray) -> None:
    """Write the table (and any extra per-instance arrays) as one .npz, atomically."""
    from engine.run_dir import write_atomic

    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, "wb", lambda f: np.savez(f, **instances.arrays(), **extra))


def load_instances(path) -> Instances:
    """Read a table written by save_instances; a missing array or a bad shape names the file."""
    path = pathlib.Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [name for name in ARRAYS if name not in z]
            if missing:
                raise DataError(f"{path}: not an instance table, it lacks {', '.join(missing)}")
            arrays = {name: z[name] for name in ARRAYS}
    except (OSError, ValueError) as error:
        raise DataError(f"{path}: cannot read the instance table ({error})") from error
    try:
        return Instances(arrays["user"].astype(np.int64), arrays["position"].astype(np.int64),
                         arrays["target"].astype(np.int32), arrays["inputs"].astype(np.int32))
    except DataError as error:
        raise DataError(f"{path}: {error}") from None


@dataclasses.dataclass(frozen=True, eq=False)
class InstanceBatches:
    """Training batches from an explicit instance table (the trainer's mode for LLM4RSR's corrected data).

    The same interface as engine.data.pipeline.TrainBatches: a batch plan that is a pure function of (seed,
    epoch), so the iterator state is the step and a resumed run sees the same batches. Each row is one instance:
    its inputs right-aligned in a window of `window` positions (left-padded with 0), its target at the last
    position and 0 (no loss) elsewhere, so a next-item model's loss is exactly one target per instance.
    Evaluation is untouched: the split's loo_full validation and test prompts."""

    instances: Instances
    batch_size: int
    window: int
    seed: int
    source: str = "instance table"

    def __post_init__(self):
        if self.instances.max_inputs > self.window:
            raise DataError(f"{self.source}: instances have up to {self.instances.max_inputs} inputs but the "
                            f"training window is {self.window} (model.max_len / train.length_buckets)")
        if not len(self.instances):
            raise DataError(f"{self.source}: the instance table is empty")

    @classmethod
    def from_file(cls, path, split, batch_size: int, buckets: tuple[int, ...], seed: int) -> InstanceBatches:
        """The table at `path` (data.instances_path), checked against the split; its window is the smallest
        length bucket that holds its inputs."""
        table = load_instances(path)
        num_items, num_users = split.num_items, len(split.train_starts)
        if len(table) and (table.inputs.max() > num_items or table.target.min() < 1 or table.target.max() > num_items):
            raise DataError(f"{path}: instance items outside the dataset's catalogue 1..{num_items} "
                            f"(data.instances_path belongs to another dataset?)")
        if len(table) and (table.user.min() < 0 or table.user.max() >= num_users):
            raise DataError(f"{path}: instance users outside the split's {num_users} users")
        if (table.inputs[:, -1] == 0).any():
            raise DataError(f"{path}: {int((table.inputs[:, -1] == 0).sum())} instances have no input item next to "
                            f"their target (inputs must be left-padded and non-empty)")
        fits = [b for b in buckets if b >= table.max_inputs]
        window = fits[0] if fits else table.max_inputs
        return cls(table, batch_size, window, seed, str(path))

    @functools.cached_property
    def steps_per_epoch(self) -> int:
        return -(-len(self.instances) // self.batch_size)

    @functools.cached_property
    def targets_per_step(self) -> float:
        return len(self.instances) / self.steps_per_epoch

    def plan(self, epoch: int) -> np.ndarray:
        """Instance rows [steps, batch_size] of an epoch, -1 for the padding rows of the last batch."""
        cache = self.__dict__.setdefault("_plans", {})
        if epoch not in cache:
            cache.clear()
            order = np.random.default_rng([self.seed, epoch]).permutation(len(self.instances))
            cache[epoch] = np.pad(order, (0, self.steps_per_epoch * self.batch_size - len(order)),
                                  constant_values=-1).reshape(self.steps_per_epoch, self.batch_size)
        return cache[epoch]

    def batch(self, step: int) -> dict[str, np.ndarray]:
        from engine.data.pipeline import _process_rows

        epoch, index = divmod(step, self.steps_per_epoch)
        rows = self.plan(epoch)[index][_process_rows(self.batch_size)]
        real = rows >= 0
        inputs = np.zeros((len(rows), self.window), np.int32)
        inputs[:, self.window - self.instances.max_inputs:] = np.where(real[:, None],
                                                                       self.instances.inputs[np.maximum(rows, 0)], 0)
        targets = np.zeros_like(inputs)
        targets[:, -1] = np.where(real, self.instances.target[np.maximum(rows, 0)], 0)
        return {"inputs": inputs, "targets": targets}

    def dataset(self, num_steps: int):
        import grain

        return grain.MapDataset.range(num_steps).map(self.batch)

    def iterator(self, num_steps: int, prefetch: int = 4):
        import grain

        options = grain.ReadOptions(num_threads=1, prefetch_buffer_size=prefetch)
        return iter(self.dataset(num_steps).to_iter_dataset(read_options=options))
