"""Training of a sequential recommender, top to bottom:

config check → mesh, data, model → optimiser and sharded state → compiled step → checkpoints
(resume) → loop (step; log at intervals; validate, checkpoint, early-stop) → best checkpoint restored.
The run driver (engine.runner.driver) evaluates it on valid and test and writes results.json, as it does
for every kind of model.

The step loop never pulls a device value to the host except at logging and validation intervals.
"""

from __future__ import annotations

import dataclasses
import math
import pathlib
import statistics
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import ml_collections
import optax
from flax import nnx
from tqdm import tqdm

from engine.data.instances import InstanceBatches
from engine.data.pipeline import TrainBatches
from engine.eval.split_size import check_split_size
from engine.run_dir import RunLog, check_config, config_changes, config_to_dict, write_json_atomic
from engine.train.checkpoints import RunCheckpoints
from engine.train.experiment import Experiment, make_optimizer
from engine.train.losses import loss_from_config


def _cast_floats(tree, dtype):
    return jax.tree.map(lambda x: x.astype(dtype) if jnp.issubdtype(x.dtype, jnp.floating) else x, tree)


LOSS_WEIGHTINGS = ("batch", "token")


def matmul_precision() -> str:
    """JAX's float32 matmul precision: under 'default' a GPU computes it in TF32, a CPU in float32."""
    return jax.config.jax_default_matmul_precision or "default"


def make_train_step(exp: Experiment, optimizer, loss: Callable, compute_dtype: str,
                    targets_per_step: float | None = None):
    """targets_per_step=None averages the loss over each batch's targets. A number divides the summed loss
    by that constant instead, so every target position weighs the same in an epoch: with length buckets,
    a batch of short sequences holds few targets, and a per-batch mean would give each of them more weight
    than a position in a batch of long ones (a mixed batch, as in most public code, does not)."""
    dtype = jnp.dtype(compute_dtype)
    base_key = jax.random.key(exp.config.seed)

    def train_step(state, batch):
        # Dropout noise is a function of (seed, step): a resumed run draws the same noise.
        key = jax.random.fold_in(base_key, state["step"])

        def loss_fn(params):
            model = exp.model(_cast_floats(params, dtype))
            inputs, targets = model.training_pairs(batch["inputs"], batch["targets"], jax.random.fold_in(key, 2))
            hidden = model(inputs, rngs=nnx.Rngs(dropout=key))
            total, count = loss(hidden, model.output_table, targets, jax.random.fold_in(key, 1), model.output_bias)
            mean = total / jnp.maximum(count, 1)
            objective = mean if targets_per_step is None else total / targets_per_step
            return objective, (mean, count)

        (_, (value, count)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state["params"])
        updates, opt_state = optimizer.update(grads, state["opt_state"], state["params"])
        new_state = {"params": optax.apply_updates(state["params"], updates), "opt_state": opt_state,
                     "step": state["step"] + 1}
        sequences = jnp.sum(jnp.any(batch["targets"] > 0, axis=1))
        return new_state, {"loss": value, "targets": count, "sequences": sequences}

    return jax.jit(train_step, donate_argnums=0)


class TrainingDiverged(ValueError):
    """A non-finite train loss or parameters; the message names the step and how to resume."""


@jax.jit
def _all_finite(params) -> jax.Array:
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(params) if jnp.issubdtype(x.dtype, jnp.inexact)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.array(True)


def diverged(workdir: pathlib.Path, what: str, step: int, good_step: int | None, learning_rate: float):
    """The one-line error of a diverged run. Validation checks the parameters before saving, so the latest
    kept checkpoint is finite; a re-run with a smaller rate resumes from it (run_dir.config_changes records
    the change), or, without one, replaces the run directory."""
    smaller = f"a smaller --config.train.learning_rate (now {learning_rate:g})"
    how = (f"the last good checkpoint is step {good_step}: re-run the same command with {smaller} to resume from "
           "it (the change is recorded in config.json)" if good_step is not None else
           f"no checkpoint was written before it: re-run the same command with {smaller}")
    return TrainingDiverged(f"{workdir}: training diverged: {what} at step {step}; {how}")


def first_non_finite(fetched: list[dict], last_step: int) -> tuple[int, float] | None:
    """(step, loss) of the first non-finite loss among the fetched step metrics ending at last_step."""
    for k, m in enumerate(fetched):
        if not math.isfinite(float(m["loss"])):
            return last_step - len(fetched) + k + 1, float(m["loss"])
    return None


def steady_rates(windows: list[tuple[int, float]]) -> list[float]:
    """Steps per second of one session's logging windows after its first (which holds warm-up effects)."""
    return [n / s for n, s in windows[1:]]


@dataclasses.dataclass
class TrainedRun:
    """What training leaves for the run driver: the best validation checkpoint's parameters and the run's
    open log and checkpoints (closed by the driver once results.json is written)."""

    exp: Experiment
    params: object
    best_step: int
    steps: int
    stopped_early: bool
    timing: dict
    log: RunLog
    checkpoints: RunCheckpoints


def train(config: ml_collections.ConfigDict, workdir, *, on_step: Callable[[int], None] | None = None,
          on_validate: Callable[[int, dict], None] | None = None) -> TrainedRun:
    """Train (or resume) in `workdir` and restore the best validation checkpoint. Use it through
    engine.runner.run_experiment, which then evaluates that checkpoint and writes the run directory.

    on_step(step) runs after every step, on_validate(step, metrics) after every validation (a tuner's
    pruning hook: an exception it raises stops training, the checkpoints stay for a resume)."""
    workdir = pathlib.Path(workdir)
    is_main = jax.process_index() == 0

    # --- Run directory: refuse a workdir that holds another experiment (recorded once the config checks pass).
    check_config(workdir, config)

    # --- Mesh, data, model definition.
    exp = Experiment.create(config)
    check_split_size(exp.split, exp.ks, config.eval.mask_history, warn=None if is_main else lambda line: None)
    tc = config.train
    buckets = tuple(tc.length_buckets)
    if config.data.get("instances_path"):
        batches = InstanceBatches.from_file(config.data.instances_path, exp.split, tc.batch_size, buckets, config.seed)
    else:
        batches = TrainBatches(exp.split, tc.batch_size, config.model.max_len, buckets, config.seed, tc.window_end)
    total_steps = tc.max_steps or tc.num_epochs * batches.steps_per_epoch
    if tc.loss_weighting not in LOSS_WEIGHTINGS:
        raise ValueError(f"unknown train.loss_weighting {tc.loss_weighting!r}; known: {', '.join(LOSS_WEIGHTINGS)}")
    eval_every = tc.eval_every or batches.steps_per_epoch
    # Under 'wsd' the peak-rate phase is expected to plateau and the gain comes from the decay, so patience
    # counts only validations inside the decay (on ML-1M, LRURec was stopped at the decay's first step).
    patience_from = total_steps - tc.decay_steps if tc.schedule == "wsd" else 0

    # --- Optimiser and state, created with its sharding (parameters replicated over `data`).
    optimizer = make_optimizer(tc, total_steps)
    state = exp.train_state(optimizer, exp.init_params())

    # --- Checkpoints: resume from the last one when the workdir has it.
    iterator = batches.iterator(total_steps, prefetch=tc.prefetch)
    checkpoints = RunCheckpoints(workdir, tc.keep_last)
    state, progress = checkpoints.resume(state, iterator)
    start_step = int(state["step"])
    # Every config check has passed: record the experiment, with any key changed since the saved config.
    will_train = start_step < total_steps and progress["bad_evals"] < tc.patience
    changes = config_changes(workdir, config, start_step, will_train)
    if is_main:
        workdir.mkdir(parents=True, exist_ok=True)
        write_json_atomic(workdir / "config.json", {**config_to_dict(config), **({"changes": changes} if changes else {})})
    log = RunLog(workdir, resume_step=start_step)

    # --- Compiled step, one executable per window length, compiled before the clock starts.
    step_fn = make_train_step(exp, optimizer, loss_from_config(tc), tc.compute_dtype,
                              batches.targets_per_step if tc.loss_weighting == "token" else None)
    compile_start = time.perf_counter()
    local_rows = tc.batch_size // jax.process_count()
    compiled = {}
    for length in buckets:
        spec = jax.ShapeDtypeStruct((tc.batch_size, length), jnp.int32, sharding=exp.batch_sharding)
        compiled[length] = step_fn.lower(state, {"inputs": spec, "targets": spec}).compile()
    compile_seconds = time.perf_counter() - compile_start

    def put(batch):
        return {k: jax.make_array_from_process_local_data(exp.batch_sharding, v) for k, v in batch.items()}

    def stop_if_diverged(fetched: list[dict], step: int) -> None:
        """Raise TrainingDiverged for a non-finite loss among `fetched` (or, with fetched=None, non-finite
        parameters), after closing the checkpoints so the last good one stays readable."""
        if fetched is not None:
            bad = first_non_finite(fetched, step)
            if bad is None:
                return
            what, at = f"the train loss is {bad[1]}", bad[0]
        elif bool(_all_finite(state["params"])):
            return
        else:
            what, at = "the parameters are not finite", step
        good_step = checkpoints.last.latest_step()
        bar.close()
        checkpoints.close()
        log.close()
        raise diverged(workdir, what, at, good_step, tc.learning_rate)

    def validate(step: int) -> bool:
        """Validation, checkpointing and early stopping; True when training should stop."""
        stop_if_diverged(None, step)  # nothing non-finite is ever saved
        metrics, _ = exp.evaluate(state["params"], "valid")
        # Wall time spent training up to this validation, summed over resumed sessions (time to quality).
        progress["train_seconds"] = seconds_before + time.perf_counter() - train_start
        progress["step_rates"] = rates_before + steady_rates(windows)
        log.write(step, "valid", {**metrics, "train_seconds": progress["train_seconds"]})
        value = metrics[config.eval.select_metric]
        if value > progress["best_metric"]:
            progress.update(best_metric=value, best_step=step, bad_evals=0)
            checkpoints.save_best(step, state, progress)
        elif step > patience_from:
            progress["bad_evals"] += 1
        checkpoints.save_last(step, state, iterator, progress)
        bar.set_postfix_str(f"valid {config.eval.select_metric}={value:.4f} best={progress['best_metric']:.4f}"
                            f"@{progress['best_step']}")
        if on_validate is not None:
            on_validate(step, metrics)
        return progress["bad_evals"] >= tc.patience

    # --- Loop.
    bar = tqdm(total=total_steps, initial=start_step, disable=not is_main, desc="train", unit="step",
               dynamic_ncols=True)
    pending, windows = [], []
    data_seconds, window_start = 0.0, time.perf_counter()
    train_start = time.perf_counter()
    seconds_before = progress.get("train_seconds", 0.0)
    # Step rates of earlier sessions, so a run resumed at its last step still reports its throughput.
    rates_before = progress.get("step_rates", [])
    step = start_step
    stopped_early = progress["bad_evals"] >= tc.patience
    while step < total_steps and not stopped_early:
        fetch_start = time.perf_counter()
        batch = next(iterator)
        data_seconds += time.perf_counter() - fetch_start
        assert batch["inputs"].shape[0] == local_rows
        state, metrics = compiled[batch["inputs"].shape[1]](state, put(batch))
        pending.append(metrics)
        step += 1
        if on_step is not None:
            on_step(step)

        if step % tc.log_every == 0 or step == total_steps:
            fetched = jax.device_get(pending)  # the only host sync between validations
            stop_if_diverged(fetched, step)
            seconds = time.perf_counter() - window_start
            sequences = sum(int(m["sequences"]) for m in fetched)
            targets = sum(int(m["targets"]) for m in fetched)
            loss = sum(float(m["loss"]) * int(m["targets"]) for m in fetched) / max(targets, 1)
            windows.append((len(fetched), seconds))
            log.write(step, "train", {"loss": loss, "sequences_per_s": sequences / seconds,
                                      "targets_per_s": targets / seconds, "steps_per_s": len(fetched) / seconds,
                                      "data_seconds": data_seconds})
            bar.update(len(fetched))
            bar.set_description_str(f"train loss={loss:.4f} {sequences / seconds:.0f} seq/s")
            pending, data_seconds = [], 0.0
            window_start = time.perf_counter()

        if step % eval_every == 0 or step == total_steps:
            if pending:
                stop_if_diverged(jax.device_get(pending), step)
            stopped_early = validate(step)
            window_start = time.perf_counter()  # validation time is not step time
    bar.close()
    train_seconds = time.perf_counter() - train_start

    # --- The best checkpoint on validation, restored for the run driver (engine.runner.driver), which
    # evaluates it once on valid and test and writes results.json.
    checkpoints.last.wait_until_finished()
    checkpoints.best.wait_until_finished()
    best = checkpoints.restore_best(state)
    if best is None:
        raise RuntimeError(f"{workdir}: no validation checkpoint was written (total_steps={total_steps})")
    best_state, best_progress = best
    # Steady state: the median logging window over all sessions, each session's first window (warm-up) left out.
    rates = rates_before + steady_rates(windows) or [n / s for n, s in windows]
    timing = {"train_wall_seconds": seconds_before + train_seconds, "compile_seconds": compile_seconds,
              "steady_steps_per_second": statistics.median(rates) if rates else None,
              "devices": jax.device_count(), "platform": jax.devices()[0].platform,
              "device_kind": jax.devices()[0].device_kind,
              "matmul_precision": matmul_precision(),
              "resumed_from_step": start_step}
    return TrainedRun(exp, best_state["params"], best_progress["best_step"], step, stopped_early, timing, log,
                      checkpoints)
