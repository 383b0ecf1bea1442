"""Fixed shapes for the LM: bucketed lengths, padded batches, the one mesh (axes `data` and `model`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import jax
import numpy as np
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from engine.lm.model import weight_axes
from engine.lm.weights import param_path

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
    """One mesh over every device, axes (`data`, `model`): batch rows split over `data`, and with model > 1 the
    weights split over `model` by engine.lm.model.weight_axes (tensor parallelism for a model too large for one
    device; its activations are then split the same way inside each block). model = 1: weights replicated."""

    mesh: jax.sharding.Mesh
    replicated: NamedSharding
    batch: NamedSharding

    @classmethod
    def create(cls, model: int = 1) -> LMMesh:
        devices = jax.device_count()
        if model < 1 or devices % model:
            raise ValueError(f"mesh.model={model} must be a divisor of the {devices} devices")
        mesh = jax.make_mesh((devices // model, model), ("data", "model"),
                             axis_types=(jax.sharding.AxisType.Auto,) * 2)
        return cls(mesh, NamedSharding(mesh, P()), NamedSharding(mesh, P("data")))

    @property
    def data_size(self) -> int:
        return self.mesh.shape["data"]

    def check_batch(self, batch_size: int, key: str) -> None:
        if batch_size % self.data_size:
            raise ValueError(f"{key}={batch_size} must be divisible by the mesh's {self.data_size} data shards")

    def put(self, *arrays):
        out = tuple(jax.device_put(a, self.batch) for a in arrays)
        return out if len(out) > 1 else out[0]

    def weight_sharding(self, path: tuple[str, ...], shape: tuple[int, ...]) -> NamedSharding:
        """Where the weight at `path` (parameter names, e.g. ("layers", "q_proj", "kernel")) lives; a dimension
        split over `model` must divide evenly."""
        axes = weight_axes(path, len(shape))
        for dim, (size, axis) in enumerate(zip(shape, axes, strict=True)):
            if axis is not None and size % self.mesh.shape[axis]:
                raise ValueError(f"mesh.model={self.mesh.shape[axis]} does not divide dimension {dim} (size {size}) "
                                 f"of the weight {'.'.join(path)}")
        return NamedSharding(self.mesh, P(*axes))

    def place_weights(self, tree):
        """A tree of weights (nnx.State of the base or the adapter) moved to its shardings."""
        return jax.tree_util.tree_map_with_path(
            lambda kp, x: jax.device_put(x, self.weight_sharding(param_path(kp), x.shape)), tree)
