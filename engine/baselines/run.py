"""A non-neural run from a config: build the registered recommender, fit it on the split's training
sequences, evaluate it on valid and test, and write the same run files as a neural run (config.json,
metrics.jsonl, results.json), so that summaries, sweeps and tuning treat both alike.

There is nothing to select on validation (no checkpoints), so `best_step` is 0 and valid and test are
each scored once. A finished run directory is not fitted again.
"""

from __future__ import annotations

import inspect
import json
import pathlib
import time

import ml_collections
import numpy as np

from engine.baselines import gather_ranges, recommender_class
from engine.baselines.evaluate import evaluate
from engine.data.sources import load_dataset
from engine.data.splits import make_split
from engine.eval.extras import add_extras, check_eval_config, wants_extras
from engine.run_dir import RunLog, check_config, config_to_dict, write_json_atomic, write_ranks


def build_recommender(config: ml_collections.ConfigDict, dataset):
    cls = recommender_class(config.model.name)
    if hasattr(cls, "from_config"):
        return cls.from_config(config, dataset)
    kwargs = {k: v for k, v in config.model.items() if k != "name" and v is not None}  # None: the class default
    params = inspect.signature(cls).parameters
    unknown = [k for k in kwargs if k not in params and not any(p.kind == p.VAR_KEYWORD for p in params.values())]
    if unknown:
        raise ValueError(f"model.name={config.model.name!r} takes no key(s) {', '.join('model.' + k for k in unknown)};"
                         f" it takes {', '.join('model.' + p for p in params) or 'none'}")
    if "seed" in params and "seed" not in kwargs:
        kwargs["seed"] = config.seed
    return cls(**kwargs)


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


def fit_and_evaluate(config: ml_collections.ConfigDict, workdir, *, splits=("valid", "test")) -> dict:
    """Fit in `workdir` and evaluate on `splits`; returns (and writes) results.json's contents."""
    workdir = pathlib.Path(workdir)
    check_config(workdir, config)
    results_path = workdir / "results.json"
    if results_path.exists():
        done = json.loads(results_path.read_text())
        if all(s in done for s in splits):
            return done

    # --- Data, split and recommender; every config error surfaces before the workdir is written.
    dataset = load_dataset(config.data)
    split = make_split(dataset, config.split.protocol, test_fraction=config.split.test_fraction,
                       num_folds=config.split.num_folds)
    ks = check_eval_config(config.eval, dataset.num_items)
    model = build_recommender(config, dataset)
    workdir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(workdir / "config.json", config_to_dict(config))

    # --- Fit, then score every evaluation prompt.
    start = time.perf_counter()
    fit_params = inspect.signature(model.fit).parameters
    times = training_times(split, dataset) if "session_times" in fit_params else None
    model = model.fit(split, session_times=times) if times is not None else model.fit(split)
    fit_seconds = time.perf_counter() - start
    results = {"protocol": config.split.protocol, "seed": config.seed, "model": config.model.name,
               "dataset": config.data.name, "best_step": 0, "steps": 0, "stopped_early": False}
    log = RunLog(workdir)
    ranks = {}
    for split_name in splits:
        results[split_name], ranks[split_name] = evaluate(model, split, split.prompts(split_name), ks,
                                                          mask_history=config.eval.mask_history)
        log.write(0, split_name, results[split_name])
    if wants_extras(config.eval):
        add_extras(results, model, split, config.eval, ranks)
    for split_name in splits:
        log.write(0, f"best_{split_name}", results[split_name])
    if getattr(model, "selection", None):  # e.g. a hybrid's cut-off, chosen on validation prompts
        results["selection"] = model.selection
    results["timing"] = {"fit_seconds": fit_seconds, "evaluate_seconds": time.perf_counter() - start - fit_seconds}
    for split_name in splits:
        write_ranks(workdir, split_name, ranks[split_name])
    write_json_atomic(results_path, results)
    log.close()
    return results
