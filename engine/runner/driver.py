"""One run, whatever the model: fit or train → select on validation → evaluate → write the run directory.

    results = run_experiment(config, workdir)                  # launch.train, launch.sweep, launch.tune
    results = evaluate_run(workdir, "test", ["eval.ks=(10,)"])  # launch.evaluate: a trained run again

A neural model (engine.models) is trained by engine.train.trainer, which selects the checkpoint on
validation and restores it. A non-neural recommender (engine.runner.registry) is fitted on the training
sequences: it has nothing to select (`best_step` 0; a hybrid chooses its cut-off on validation prompts
inside fit), and a finished run directory is not fitted again. Both then end the same way (`_finish`):
score the evaluation prompts, add the eval.* extras, log the best_<split> rows, write ranks_<split>.npy
and, last, results.json, whose presence says the run is complete. So summaries, sweeps and tuning treat
both alike.
"""

from __future__ import annotations

import dataclasses
import pathlib
import time
from collections.abc import Callable

import jax
import ml_collections
import numpy as np

from engine.data.sources import load_dataset
from engine.data.splits import Split, split_from_config
from engine.eval.extras import add_extras, check_eval_config, wants_extras
from engine.eval.host_ranking import evaluate
from engine.eval.split_size import check_split_size
from engine.neural_recommender import TrainedRecommender
from engine.recommender import Recommender, gather_ranges
from engine.run_dir import (
    RunLog,
    apply_override,
    changed_keys,
    check_config,
    config_to_dict,
    load_config,
    read_json,
    write_json_atomic,
    write_ranks,
)
from engine.runner.config_checks import check_values
from engine.runner.registry import build_recommender, is_neural
from engine.train.restore import restore_best_params
from engine.train.trainer import train


@dataclasses.dataclass
class Fitted:
    """What fitting or training leaves for the common ending of a run."""

    header: dict                                        # results.json's first keys (protocol, ..., best_step)
    split: Split
    evaluate: Callable[[str], tuple[dict, np.ndarray]]  # split name -> (metrics, rank per prompt)
    recommender: Callable[[], Recommender]              # the model as a Recommender, for the eval.* extras
    timing: Callable[[], dict]
    log: RunLog
    selection: dict | None = None                       # what fit chose on validation (a hybrid's cut-off)
    close: Callable[[], None] = lambda: None


def run_experiment(config: ml_collections.ConfigDict, workdir, *, splits=("valid", "test"),
                   on_step: Callable[[int], None] | None = None,
                   on_validate: Callable[[int, dict], None] | None = None) -> dict:
    """Train or fit the model config.model.name names in `workdir`, evaluate it on `splits` and write the run
    directory; returns results.json's contents. on_step / on_validate: the trainer's hooks (neural only)."""
    workdir = pathlib.Path(workdir)
    check_values(config)
    if is_neural(config.model.name):
        fitted = _trained(config, workdir, on_step, on_validate)
    else:
        done = _finished(config, workdir, splits)
        if done is not None:
            return done
        fitted = _fit(config, workdir)
    return _finish(config, workdir, fitted, splits)


def _trained(config, workdir: pathlib.Path, on_step, on_validate) -> Fitted:
    run = train(config, workdir, on_step=on_step, on_validate=on_validate)
    return Fitted(_header(config, run.best_step, run.steps, run.stopped_early), run.exp.split, lambda name: run.exp.evaluate(run.params, name),
                  lambda: TrainedRecommender(run.exp, run.params), lambda: run.timing, run.log,
                  close=run.checkpoints.close)


def _header(config, best_step: int, steps: int, stopped_early: bool) -> dict:
    """results.json's first keys, for trained and fitted runs alike."""
    return {"protocol": config.split.protocol, "seed": config.seed, "model": config.model.name,
            "dataset": config.data.name, "best_step": best_step, "steps": steps, "stopped_early": stopped_early}


def _finished(config, workdir: pathlib.Path, splits) -> dict | None:
    """results.json of a finished non-neural run with these splits (the config checked against it). Fitting
    has no steps to resume, so a config that differs in any key but where files live is fitted again."""
    check_config(workdir, config)
    results_path = workdir / "results.json"
    if results_path.exists() and not changed_keys(workdir, config, free=("data.root", "data.cache_dir")):
        done = read_json(results_path, "results file")
        if all(s in done for s in splits):
            return done
    return None


def _fit(config, workdir: pathlib.Path) -> Fitted:
    # --- Data, split and recommender; every config error surfaces before the workdir is written.
    dataset = load_dataset(config.data)
    split = split_from_config(dataset, config.split)
    ks = check_eval_config(config.eval, dataset.num_items)
    check_split_size(split, ks, config.eval.mask_history)
    model = build_recommender(config, dataset)
    workdir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(workdir / "config.json", config_to_dict(config))

    # --- Fit; the evaluation prompts are scored by the common ending.
    start = time.perf_counter()
    times = training_times(split, dataset) if model.uses_session_times else None
    model = model.fit(split, session_times=times) if times is not None else model.fit(split)
    fit_seconds = time.perf_counter() - start
    log = RunLog(workdir)

    def evaluate_split(name: str):
        metrics, ranks = evaluate(model, split, split.prompts(name), ks, mask_history=config.eval.mask_history)
        log.write(0, name, metrics)
        return metrics, ranks

    timing = lambda: {"fit_seconds": fit_seconds, "evaluate_seconds": time.perf_counter() - start - fit_seconds}
    return Fitted(_header(config, 0, 0, False), split, evaluate_split, lambda: model, timing, log,
                  selection=getattr(model, "selection", None))


def training_times(split, dataset) -> np.ndarray | None:
    """Time of the last training item of each row of split.train_starts, where the data has times."""
    if getattr(split, "train_times", None) is not None:
        return split.train_times
    if dataset.timestamps is None or len(split.items) != len(dataset.items):
        return None
    from engine.data.temporal import NO_TIME
    times = np.full(len(split.train_starts), NO_TIME, dtype=np.int64)
    ranges = gather_ranges(dataset.timestamps, split.train_starts, np.maximum(split.train_ends, split.train_starts))
    np.maximum.at(times, ranges.rows, ranges.items)
    return times


def _finish(config, workdir: pathlib.Path, fitted: Fitted, splits) -> dict:
    """Evaluate once per split (plus the eval.* extras asked for) and write the run directory."""
    results, ranks = dict(fitted.header), {}
    for split_name in splits:
        results[split_name], ranks[split_name] = fitted.evaluate(split_name)
    if wants_extras(config.eval):
        add_extras(results, fitted.recommender(), fitted.split, config.eval, ranks)
    for split_name in splits:
        fitted.log.write(results["best_step"], f"best_{split_name}", results[split_name])
    if fitted.selection:
        results["selection"] = fitted.selection
    results["timing"] = fitted.timing()
    for split_name in splits:  # before results.json, whose presence says the run is complete
        write_ranks(workdir, split_name, ranks[split_name])
    if jax.process_index() == 0:
        write_json_atomic(workdir / "results.json", results)
    fitted.close()
    fitted.log.close()
    return results


def evaluate_run(workdir, split: str = "test", eval_overrides=()) -> dict:
    """Scores `split` with a trained run's best checkpoint; writes ranks_<split>.npy and evaluate_<split>.json.

    eval_overrides (e.g. 'eval.beyond_accuracy=True') add protocols the run was not trained with."""
    workdir = pathlib.Path(workdir)
    preview = load_config(workdir)  # the overridden eval values checked before the checkpoint is read
    for assignment in eval_overrides:
        if assignment.startswith("eval."):
            apply_override(preview, assignment)
    check_values(preview)
    exp, params, progress = restore_best_params(workdir, eval_overrides)
    config = exp.config
    metrics, ranks = exp.evaluate(params, split)
    results = {split: metrics, "best_step": progress["best_step"], "protocol": config.split.protocol,
               "seed": config.seed, "model": config.model.name, "dataset": config.data.name,
               "eval_overrides": list(eval_overrides)}
    if wants_extras(config.eval):
        add_extras(results, TrainedRecommender(exp, params), exp.split, config.eval, {split: ranks})
    write_ranks(workdir, split, ranks)
    if jax.process_index() == 0:
        write_json_atomic(workdir / f"evaluate_{split}.json", results)
    return results
