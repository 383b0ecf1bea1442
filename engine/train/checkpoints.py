"""Orbax checkpoints of a run: the last N (with the data iterator, to resume) and the best one on
validation (model state only, what evaluation restores), in two managers so that neither
retention policy evicts the other's checkpoints."""

from __future__ import annotations

import pathlib

import grain
import jax
import orbax.checkpoint as ocp


def abstract_like(tree):
    return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), tree)


class RunCheckpoints:
    def __init__(self, workdir: pathlib.Path, keep_last: int = 2):
        root = pathlib.Path(workdir).resolve() / "checkpoints"
        # Saves are synchronous: with two managers saving in the background, processes of a multi-host run
        # can reach orbax's cross-process barriers in different orders and deadlock (seen with 2 CPU
        # processes). Recommender states are megabytes, so a blocking save costs little.
        options = {"create": True, "enable_async_checkpointing": False}
        self.last = ocp.CheckpointManager(
            root / "last", options=ocp.CheckpointManagerOptions(max_to_keep=max(1, keep_last), **options),
            item_names=("state", "data", "progress"))
        self.best = ocp.CheckpointManager(
            root / "best", options=ocp.CheckpointManagerOptions(max_to_keep=1, **options),
            item_names=("state", "progress"))

    def save_last(self, step: int, state, iterator, progress: dict) -> None:
        self.last.save(step, args=ocp.args.Composite(
            state=ocp.args.StandardSave(state), data=grain.checkpoint.CheckpointSave(iterator),
            progress=ocp.args.JsonSave(progress)))

    def save_best(self, step: int, state, progress: dict) -> None:
        self.best.save(step, args=ocp.args.Composite(
            state=ocp.args.StandardSave(state), progress=ocp.args.JsonSave(progress)))

    def restore_last(self, state, iterator):
        """(state, progress) from the latest checkpoint, the iterator restored in place; None if none.

        grain writes one iterator file per process layout. A run resumed on another number of processes
        (a preempted job restarted on fewer hosts) has no file of its own; since every process reads its
        rows of the same global batch, numbered by the step, the iterator is set to the restored step."""
        step = self.last.latest_step()
        if step is None:
            return None
        layout = f"process_{jax.process_index()}-of-{jax.process_count()}.json"
        same_layout = (self.last.directory / str(step) / "data" / layout).exists()
        items = {"state": ocp.args.StandardRestore(abstract_like(state)), "progress": ocp.args.JsonRestore()}
        if same_layout:
            items["data"] = grain.checkpoint.CheckpointRestore(iterator)
        got = self.last.restore(step, args=ocp.args.Composite(**items))
        if not same_layout:
            iterator.set_state({**iterator.get_state(), "next_index": int(got.state["step"])})
            written = sorted(p.name for p in (self.last.directory / str(step) / "data").glob("process_*.json"))
            print(f"resuming step {step} on {jax.process_count()} process(es) from iterator state written as "
                  f"{', '.join(written) or 'nothing'}: the data position is set from the step", flush=True)
        return got.state, dict(got.progress)

    def restore_best(self, state):
        """(state, progress) of the best validation checkpoint; None if there is none."""
        step = self.best.latest_step()
        if step is None:
            return None
        got = self.best.restore(step, args=ocp.args.Composite(
            state=ocp.args.StandardRestore(abstract_like(state)), progress=ocp.args.JsonRestore()))
        return got.state, dict(got.progress)

    def close(self) -> None:
        for manager in (self.last, self.best):
            manager.wait_until_finished()
            manager.close()
