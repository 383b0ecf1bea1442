"""Per-instance confidence of a trained model on its own training data (LLM4RSR's uncertainty selection).

A training instance is (user, position): the target items[position] of the user's training sequence
and the items before it as the prompt, for exactly the targets the trainer learns from (the last
model.max_len of each training sequence, the prompt cut to the training window). Its confidence is the
largest probability of the model's softmax over the catalogue (padding excluded, nothing masked).

Two ways to compute the next-item distribution:
- 'prefix' (default, any model): every prompt is scored as an evaluation prompt is, its last item at the
  last position; one forward pass per instance.
- 'window' (next-item models only, i.e. models trained at every position): one forward pass per
  training window gives every position's distribution, as the training loss saw them.

The artifact (<workdir>/artifacts/confidence.npz, written atomically) holds int64 `user` (row of the
split), `position` (index into the split's items; the target is items[position]), `target`, `top_item`
and float32 `confidence` and `target_prob`, plus the raw `user_id` strings to join with the data.
"""

from __future__ import annotations

import pathlib

import jax
import jax.numpy as jnp
import numpy as np

from engine.data.pipeline import bucket_of, left_pad
from engine.models.base import SequentialModel
from engine.run_dir import write_atomic

MODES = ("prefix", "window")


def training_instances(split, max_len: int):
    """(user, position, window_start) of every training target the trainer sees."""
    lengths = np.maximum(split.train_ends - split.train_starts, 0)
    window_start = np.maximum(split.train_starts, split.train_ends - max_len - 1)
    counts = np.where(lengths >= 2, split.train_ends - window_start - 1, 0)
    users = np.repeat(np.arange(len(lengths)), counts)
    first = np.repeat(window_start + 1, counts)
    position = first + np.arange(counts.sum()) - np.repeat(np.concatenate([[0], np.cumsum(counts)[:-1]]), counts)
    return users, position, window_start


def _summaries(logits, targets):
    """(max probability, argmax, probability of the target) over the last axis; column 0 excluded."""
    logits = logits.astype(jnp.float32).at[..., 0].set(-jnp.inf)
    log_probs = jax.nn.log_softmax(logits, axis=-1)
    target_lp = jnp.take_along_axis(log_probs, targets[..., None], axis=-1)[..., 0]
    return jnp.exp(jnp.max(log_probs, axis=-1)), jnp.argmax(log_probs, axis=-1), jnp.exp(target_lp)


def instance_confidence(exp, params, mode: str = "prefix", batch_size: int | None = None) -> dict[str, np.ndarray]:
    if mode not in MODES:
        raise ValueError(f"confidence mode {mode!r} must be one of {', '.join(MODES)}")
    split, max_len = exp.split, exp.config.model.max_len
    users, position, window_start = training_instances(split, max_len)
    targets = split.items[position].astype(np.int64)
    size = batch_size or exp.config.eval.batch_size
    conf = np.empty(len(users), np.float32)
    top = np.empty(len(users), np.int64)
    tprob = np.empty(len(users), np.float32)

    if mode == "prefix":
        fn = jax.jit(lambda p, inputs, t: _summaries(exp.scores(p, inputs), t))
        for lo in range(0, len(users), size):
            hi = min(lo + size, len(users))
            pad = size - (hi - lo)
            starts = np.pad(window_start[users[lo:hi]], (0, pad))
            ends = np.pad(position[lo:hi], (0, pad))
            got = fn(params, jnp.asarray(left_pad(split.items, starts, ends, max_len)),
                     jnp.asarray(np.pad(targets[lo:hi], (0, pad)), jnp.int32))
            conf[lo:hi], top[lo:hi], tprob[lo:hi] = (np.asarray(g)[:hi - lo] for g in got)
    else:
        model_type = type(exp.model(params))
        if model_type.training_pairs is not SequentialModel.training_pairs:
            raise ValueError(f"confidence mode 'window' needs a next-item model trained at every position; "
                             f"model.name={exp.config.model.name!r} is not one (use mode 'prefix')")

        def window_fn(p, inputs, t):
            model = exp.model(p)
            logits = jnp.einsum("bld,nd->bln", model(inputs), model.output_table)
            return _summaries(logits if model.output_bias is None else logits + model.output_bias, t)

        fn = jax.jit(window_fn)
        owners = np.unique(users)
        # Instances of one user are contiguous in `users`, in position order: window slot j <-> instance.
        first_instance = np.searchsorted(users, owners)
        count = np.bincount(users, minlength=len(split.train_starts))[owners]
        buckets = tuple(exp.config.train.length_buckets)
        windows = bucket_of(count, buckets)
        for length in buckets:
            members = np.flatnonzero(windows == length)
            for lo in range(0, len(members), size):
                chunk = members[lo:lo + size]
                pad = size - len(chunk)
                u = owners[chunk]
                window = left_pad(split.items, np.pad(window_start[u], (0, pad)),
                                  np.pad(split.train_ends[u], (0, pad)), length + 1)
                got = [np.asarray(g) for g in fn(params, jnp.asarray(window[:, :-1]), jnp.asarray(window[:, 1:]))]
                for row, owner in enumerate(chunk):
                    n, at = count[owner], first_instance[owner]
                    conf[at:at + n], top[at:at + n], tprob[at:at + n] = (g[row, length - n:] for g in got)
    return {"user": users.astype(np.int64), "position": position.astype(np.int64), "target": targets,
            "top_item": top, "confidence": conf, "target_prob": tprob,
            "user_id": np.asarray(exp.dataset.user_ids)[users].astype(str)}


def save_npz_atomic(path, arrays: dict) -> None:
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, "wb", lambda f: np.savez(f, **arrays))


def write_confidence(workdir, mode: str = "prefix", batch_size: int | None = None) -> pathlib.Path:
    """Restore checkpoints/best of `workdir` and write artifacts/confidence.npz; returns its path."""
    from engine.train.restore import restore_best_params

    exp, params, _ = restore_best_params(workdir)
    arrays = instance_confidence(exp, params, mode, batch_size)
    path = pathlib.Path(workdir) / "artifacts" / "confidence.npz"
    if jax.process_index() == 0:
        save_npz_atomic(path, arrays)
    return path
