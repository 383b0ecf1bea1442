"""Fixed shapes for the LM: bucketed lengths, padded batches, the one mesh (axis `data`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import jax
import numpy as np
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

DEFAULT_BUCKETS = (64, 128, 256, 512, 1024, 2048)


def bucket_for(length: int, buckets: Sequence[int], what: str = "sequence") -> int:
    """The smallest bucket that holds `length` tokens; an error naming the limit if none does."""
    for b in sorted(buckets):
        if length <= b:
            return b
    raise ValueError(f"{what} has {length} tokens, longer than the largest length bucket {max(buckets)} "
                     f"(raise the buckets up to the model's context, or shorten the prompt)")


def pad_batch(seqs: Sequence[Sequence[int]], length: int, pad_id: int, *, rows: int | None = None,
              side: str = "left") -> tuple[np.ndarray, np.ndarray]:
    """(ids [rows, length] int32, valid [rows, length] bool); filler rows (beyond len(seqs)) hold one valid pad
    token so that no row is entirely masked."""
    rows = rows or len(seqs)
    ids = np.full((rows, length), pad_id, np.int32)
    valid = np.zeros((rows, length), bool)
    for i, s in enumerate(seqs):
        n = len(s)
        if n > length:
            raise ValueError(f"row {i}: {n} tokens do not fit the padded length {length}")
        if side == "left":
            ids[i, length - n:], valid[i, length - n:] = s, True
        else:
            ids[i, :n], valid[i, :n] = s, True
    valid[len(seqs):, -1 if side == "left" else 0] = True
    return ids, valid


@dataclasses.dataclass(frozen=True)
class LMMesh:
    """One mesh over every device, axis `data`: batches split over it, weights replicated."""

    mesh: jax.sharding.Mesh
    replicated: NamedSharding
    batch: NamedSharding

    @classmethod
    def create(cls) -> LMMesh:
        mesh = jax.make_mesh((jax.device_count(),), ("data",), axis_types=(jax.sharding.AxisType.Auto,))
        return cls(mesh, NamedSharding(mesh, P()), NamedSharding(mesh, P("data")))

    def check_batch(self, batch_size: int, key: str) -> None:
        if batch_size % jax.device_count():
            raise ValueError(f"{key}={batch_size} must be divisible by the {jax.device_count()} devices")

    def put(self, *arrays):
        out = tuple(jax.device_put(a, self.batch) for a in arrays)
        return out if len(out) > 1 else out[0]
