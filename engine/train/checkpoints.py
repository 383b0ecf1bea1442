"""Orbax checkpoints of a run: the last N (with the data iterator, to resume) and the best one on
validation (model state only, what evaluation restores), in two managers so that neither
retention policy evicts the other's checkpoints."""

from __future__ import annotations

import contextlib
import os
import pathlib
import shutil
import sys
import time

import grain
import jax
import orbax.checkpoint as ocp


class DamagedCheckpoint(ValueError):
    """A checkpoint that cannot be read and no older one to fall back to; the message says what to do."""


@contextlib.contextmanager
def _stray_callbacks_silenced(grace_seconds: float = 1.0):
    """stderr (the file descriptor) to /dev/null while a restore runs, and for a moment after a failed one.

    When one array of a damaged checkpoint fails, orbax closes its event loop while TensorStore still has the
    other reads in flight; each of their completion callbacks then prints an "Event loop is closed"
    traceback from a C++ thread (about a hundred for a small model). The failure itself is reported by the
    caller in one line, and a successful restore prints nothing here, so nothing of value is lost."""
    sys.stderr.flush()
    saved = os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    try:
        yield
    except BaseException:
        time.sleep(grace_seconds)
        raise
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


def _reason(error: BaseException) -> str:
    """The first line of an orbax / TensorStore error (which can run to hundreds of lines), shortened."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    first = lines[0] if lines else type(error).__name__
    return first if len(first) <= 160 else first[:157] + "..."


def abstract_like(tree):
    return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), tree)


class RunCheckpoints:
    def __init__(self, workdir: pathlib.Path, keep_last: int = 2):
        root = pathlib.Path(workdir).resolve() / "checkpoints"
        # Saves are synchronous: with two managers saving in the background, processes of a multi-host run
        # can reach orbax's cross-process barriers in different orders and deadlock (seen with 2 CPU
        # processes). Recommender states are megabytes, so a blocking save costs little.
        options = {"create": True, "enable_async_checkpointing": False}
        self.root, self._keep_last = root, max(1, keep_last)
        self.last = self._last_manager()
        self.best = ocp.CheckpointManager(
            root / "best", options=ocp.CheckpointManagerOptions(max_to_keep=1, **options),
            item_names=("state", "progress"))

    def _last_manager(self) -> ocp.CheckpointManager:
        return ocp.CheckpointManager(
            self.root / "last", item_names=("state", "data", "progress"),
            options=ocp.CheckpointManagerOptions(max_to_keep=self._keep_last, create=True,
                                                 enable_async_checkpointing=False))

    def _set_aside(self, kind: str, step: int) -> pathlib.Path:
        """Move a damaged step out of its manager's directory (checkpoints/damaged/<kind>-<step>), so that
        training past that step again can save it anew, and the files stay for inspection."""
        target = self.root / "damaged" / f"{kind}-{step}"
        if jax.process_index() == 0:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.rmtree(target, ignore_errors=True)
            shutil.move(str(self.root / kind / str(step)), target)
        return target

    def save_last(self, step: int, state, iterator, progress: dict) -> None:
        self.last.save(step, args=ocp.args.Composite(
            state=ocp.args.StandardSave(state), data=grain.checkpoint.CheckpointSave(iterator),
            progress=ocp.args.JsonSave(progress)))

    def save_best(self, step: int, state, progress: dict) -> None:
        self.best.save(step, args=ocp.args.Composite(
            state=ocp.args.StandardSave(state), progress=ocp.args.JsonSave(progress)))

    def resume(self, state, iterator):
        """(state, progress): the latest checkpoint's (see restore_last), else `state` with a fresh progress."""
        restored = self.restore_last(state, iterator)
        if restored is not None:
            return restored
        return state, {"best_metric": float("-inf"), "best_step": -1, "bad_evals": 0, "train_seconds": 0.0}

    def restore_last(self, state, iterator):
        """(state, progress) from the latest checkpoint, the iterator restored in place; None if none.

        grain writes one iterator file per process layout. A run resumed on another number of processes
        (a preempted job restarted on fewer hosts) has no file of its own; since every process reads its
        rows of the same global batch, numbered by the step, the iterator is set to the restored step."""
        for step in sorted(self.last.all_steps(), reverse=True):
            try:
                return self._restore_last_step(step, state, iterator)
            except Exception as error:  # noqa: BLE001 - orbax, TensorStore, JSON and OS errors alike
                older = [s for s in self.last.all_steps() if s < step]
                if not older:
                    raise DamagedCheckpoint(
                        f"{self.root / 'last' / str(step)}: checkpoint cannot be read ({_reason(error)}); no older "
                        "one is kept: delete the checkpoints folder to train from the start, or use a new "
                        "--workdir") from None
                moved = self._set_aside("last", step)
                print(f"{self.root / 'last' / str(step)}: checkpoint cannot be read ({_reason(error)}); moved to "
                      f"{moved}, resuming from the previous checkpoint, step {max(older)}", flush=True)
                self.last.reload()
        return None

    def _restore_last_step(self, step: int, state, iterator):
        layout = f"process_{jax.process_index()}-of-{jax.process_count()}.json"
        same_layout = (self.last.directory / str(step) / "data" / layout).exists()
        items = {"state": ocp.args.StandardRestore(abstract_like(state)), "progress": ocp.args.JsonRestore()}
        if same_layout:
            items["data"] = grain.checkpoint.CheckpointRestore(iterator)
        with _stray_callbacks_silenced():
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
        try:
            with _stray_callbacks_silenced():
                got = self.best.restore(step, args=ocp.args.Composite(
                    state=ocp.args.StandardRestore(abstract_like(state)), progress=ocp.args.JsonRestore()))
        except Exception as error:  # noqa: BLE001 - orbax, TensorStore, JSON and OS errors alike
            where = f"{self.root / 'best' / str(step)}: best checkpoint cannot be read ({_reason(error)})"
            if step not in self.last.all_steps():
                raise DamagedCheckpoint(f"{where}; no other copy of step {step} is kept: train anew in a new "
                                        "--workdir") from None
            # The last-N checkpoint of the same step holds the same train state.
            print(f"{where}; using the copy in {self.root / 'last' / str(step)}", flush=True)
            got = self.last.restore(step, args=ocp.args.Composite(
                state=ocp.args.StandardRestore(abstract_like(state)), progress=ocp.args.JsonRestore()))
        return got.state, dict(got.progress)

    def close(self) -> None:
        for manager in (self.last, self.best):
            manager.wait_until_finished()
            manager.close()
