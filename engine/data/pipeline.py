"""Fixed-shape, left-padded batches for training and evaluation.

A batch plan is a pure function of (seed, epoch): users are shuffled, grouped into length
buckets (so short sequences are not padded to the longest window), cut into global batches and
the batches shuffled. Training reads it through a `grain` MapDataset indexed by the global step,
which makes the iterator state one integer that orbax checkpoints, and makes the global batch
identical whatever the number of processes: each process takes its own rows of it.
"""

from __future__ import annotations

import dataclasses
import functools

import grain
import jax
import numpy as np

from engine.data.splits import Prompts, Split

PAD = 0


def bucket_of(lengths: np.ndarray, buckets: tuple[int, ...]) -> np.ndarray:
    """Smallest bucket length that holds each sequence (the last bucket is the window length)."""
    return np.asarray(buckets)[np.minimum(np.searchsorted(buckets, lengths), len(buckets) - 1)]


def left_pad(items: np.ndarray, starts: np.ndarray, ends: np.ndarray, length: int) -> np.ndarray:
    """Rows of the last `length` items of items[starts[i]:ends[i]], left-padded with 0.

    Rows with start == end (padding rows of a batch) come out all zero."""
    take = np.minimum(ends - starts, length)
    cols = np.arange(length)[None, :]
    first = (length - take)[:, None]
    index = (ends - take)[:, None] + (cols - first)
    out = np.where(cols >= first, items[np.clip(index, 0, len(items) - 1)], PAD)
    return out.astype(np.int32)


def _process_rows(batch_size: int) -> slice:
    count, index = jax.process_count(), jax.process_index()
    if batch_size % count:
        raise ValueError(f"batch size {batch_size} is not divisible by the {count} JAX processes")
    per = batch_size // count
    return slice(index * per, (index + 1) * per)


@dataclasses.dataclass(frozen=True, eq=False)
class TrainBatches:
    """Training windows: inputs are a user's items t-L..t-1, targets the items t-L+1..t (next item).

    window_end says where the window of a sequence longer than max_len ends: 'last' (always its most
    recent items, the SASRec recipe) or 'random' (uniformly among the full windows, drawn anew each
    epoch, so the items before the last max_len are trained on too)."""

    split: Split
    batch_size: int
    max_len: int
    buckets: tuple[int, ...]
    seed: int
    window_end: str = "last"

    def __post_init__(self):
        if not self.buckets or self.buckets[-1] != self.max_len or list(self.buckets) != sorted(set(self.buckets)):
            raise ValueError(f"train.length_buckets={self.buckets} must be increasing and end with "
                             f"model.max_len={self.max_len}")
        if self.window_end not in ("last", "random"):
            raise ValueError(f"unknown train.window_end {self.window_end!r}; known: last, random")

    @functools.cached_property
    def _lengths(self) -> np.ndarray:
        # A sequence of n items gives n-1 (input, target) pairs.
        return np.maximum(self.split.train_ends - self.split.train_starts - 1, 0)

    @functools.cached_property
    def steps_per_epoch(self) -> int:
        trainable = self._lengths > 0
        per_bucket = np.bincount(np.searchsorted(self.buckets, bucket_of(self._lengths[trainable], self.buckets)),
                                 minlength=len(self.buckets))
        return int(sum(-(-n // self.batch_size) for n in per_bucket))

    @functools.cached_property
    def targets_per_step(self) -> float:
        """Target positions in an average batch of an epoch (a window holds at most max_len of a user's pairs)."""
        return float(np.minimum(self._lengths, self.max_len).sum()) / self.steps_per_epoch

    def plan(self, epoch: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(window length per batch [steps], user rows [steps, batch_size] with -1 for padding rows,
        the end of each user's window in split.items [users])."""
        cache = self.__dict__.setdefault("_plans", {})
        if epoch not in cache:
            cache.clear()  # batches are read in step order, so one epoch's plan is enough
            cache[epoch] = self._make_plan(epoch)
        return cache[epoch]

    def _make_plan(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng([self.seed, epoch])
        users = rng.permutation(np.flatnonzero(self._lengths > 0))
        bucket = bucket_of(self._lengths[users], self.buckets)
        windows, rows = [], []
        for length in self.buckets:
            members = users[bucket == length]
            for i in range(0, len(members), self.batch_size):
                chunk = members[i:i + self.batch_size]
                rows.append(np.pad(chunk, (0, self.batch_size - len(chunk)), constant_values=-1))
                windows.append(length)
        order = rng.permutation(len(rows))
        ends = self.split.train_ends.copy()
        if self.window_end == "random":
            # A window holds max_len + 1 items; a sequence of n items has n - max_len full windows.
            long = np.flatnonzero(self._lengths > self.max_len)
            choices = self._lengths[long] - self.max_len + 1
            ends[long] -= rng.integers(0, choices)
        return np.asarray(windows)[order], np.stack(rows)[order], ends

    def batch(self, step: int) -> dict[str, np.ndarray]:
        """This process's rows of global batch number `step`."""
        epoch, index = divmod(step, self.steps_per_epoch)
        windows, rows, window_ends = self.plan(epoch)
        users = rows[index][_process_rows(self.batch_size)]
        real = users >= 0
        starts = np.where(real, self.split.train_starts[users], 0)
        ends = np.where(real, window_ends[users], 0)
        window = left_pad(self.split.items, starts, ends, int(windows[index]) + 1)
        return {"inputs": window[:, :-1], "targets": window[:, 1:]}

    def dataset(self, num_steps: int) -> grain.MapDataset:
        return grain.MapDataset.range(num_steps).map(self.batch)

    def iterator(self, num_steps: int, prefetch: int = 4):
        options = grain.ReadOptions(num_threads=1, prefetch_buffer_size=prefetch)
        return iter(self.dataset(num_steps).to_iter_dataset(read_options=options))


def eval_batches(split: Split, prompts: Prompts, batch_size: int, max_len: int,
                 buckets: tuple[int, ...], history_buckets: tuple[int, ...] = (64, 256, 1024, 4096)):
    """Yield this process's rows of evaluation batches, grouped by prompt length, in a fixed order.

    Each batch holds the prompt window, the full history (for masking already-seen items; it can be
    longer than the window), the target and the row index into `prompts` (-1 for padding rows)."""
    lengths = prompts.ends - prompts.starts
    window = bucket_of(np.minimum(lengths, max_len), buckets)
    longest = int(lengths.max())
    history_buckets = tuple(b for b in history_buckets if b < longest) + (longest,)
    rows_slice = _process_rows(batch_size)
    for length in buckets:
        members = np.flatnonzero(window == length)
        for i in range(0, len(members), batch_size):
            chunk = members[i:i + batch_size]
            idx = np.pad(chunk, (0, batch_size - len(chunk)), constant_values=-1)
            # Shapes come from the global batch so that every process compiles the same program.
            hist_len = int(bucket_of(lengths[chunk].max(keepdims=True), history_buckets)[0])
            idx = idx[rows_slice]
            real = idx >= 0
            starts = np.where(real, prompts.starts[idx], 0)
            ends = np.where(real, prompts.ends[idx], 0)
            yield {
                "inputs": left_pad(split.items, starts, ends, length),
                "history": left_pad(split.items, starts, ends, hist_len),
                "targets": np.where(real, prompts.targets[idx], 0).astype(np.int32),
                "rows": idx,
            }
