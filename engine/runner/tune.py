"""Hyperparameter search with Optuna TPE on the validation metric (eval.select_metric) only
(python -m launch.tune is the command):

    python -m launch.tune --config configs/sasrec.py:ml-1m --dir runs/tune-sasrec-ml-1m --trials 30 \\
        --space train.learning_rate=loguniform:1e-4:1e-2 --space model.dropout=uniform:0.1:0.5 \\
        --space model.num_blocks=int:1:3 --space train.loss=choice:ce:gbce [--startup 10 --set key=value ...]

Search space entries are KEY=KIND:ARGS with KIND uniform:LO:HI, loguniform:LO:HI, int:LO:HI or
choice:A:B:... (each value a Python literal or a string). The first --startup trials are random, then TPE;
neural runs report every validation to a MedianPruner, which stops unpromising trials early. Trials
never evaluate on test. Each trial is a run directory <dir>/trials/<number>; the study lives in
<dir>/study.db (SQLite), so re-running the same command after a crash finishes the remaining trials
(a trial that was running when the process died is run again, resuming from its checkpoint).
Writes <dir>/best.json (parameters, value, run directory) and <dir>/trials.md / trials.csv.
"""

from __future__ import annotations

import ast
import csv
import io
import pathlib

from engine.report.tables import to_markdown
from engine.run_dir import apply_override, write_json_atomic, write_text_atomic
from engine.runner.config_spec import load_config_spec
from engine.runner.driver import run_experiment

KINDS = ("uniform", "loguniform", "int", "choice")
STUDY = "tune"


def parse_space(entries) -> dict[str, tuple[str, list]]:
    space = {}
    for entry in entries:
        key, sep, rest = entry.partition("=")
        kind, *args = rest.split(":")
        if not sep or kind not in KINDS or (kind != "choice" and len(args) != 2) or not args:
            raise ValueError(f"--space {entry!r} must be KEY=KIND:ARGS with KIND one of {', '.join(KINDS)} "
                             "(uniform:LO:HI, loguniform:LO:HI, int:LO:HI, choice:A:B:...)")
        values = [_literal(a) for a in args]
        if kind != "choice" and not (values[0] < values[1]):
            raise ValueError(f"--space {entry!r}: LO must be smaller than HI")
        space[key] = (kind, values)
    if not space:
        raise ValueError("give at least one --space KEY=KIND:ARGS")
    return space


def _literal(text: str):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def suggest(trial, space) -> dict:
    params = {}
    for key, (kind, args) in space.items():
        if kind == "uniform":
            params[key] = trial.suggest_float(key, float(args[0]), float(args[1]))
        elif kind == "loguniform":
            params[key] = trial.suggest_float(key, float(args[0]), float(args[1]), log=True)
        elif kind == "int":
            params[key] = trial.suggest_int(key, int(args[0]), int(args[1]))
        else:
            params[key] = trial.suggest_categorical(key, args)
    return params


def _configure(spec, overrides, params):
    config, _ = load_config_spec(spec, overrides)
    for key, value in params.items():
        apply_override(config, f"{key}={value!r}")
    return config


def run_tune(spec, space_entries, directory, n_trials: int, n_startup: int = 10, overrides=(), seed: int = 0,
             log=print):
    import optuna

    space = parse_space(space_entries)
    # Every key and value kind is checked on a throwaway config before the study exists.
    base = _configure(spec, overrides, {})
    for key, (kind, args) in space.items():
        _configure(spec, overrides, {key: args[0] if kind != "int" else int(args[0])})
    metric = base.eval.select_metric
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        study_name=STUDY, storage=f"sqlite:///{directory / 'study.db'}", direction="maximize", load_if_exists=True,
        sampler=optuna.samplers.TPESampler(n_startup_trials=n_startup, seed=seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=n_startup))
    State = optuna.trial.TrialState
    # A trial left RUNNING (or failed by an interrupt) by a dead process is run again with its parameters
    # in its own run directory, which resumes from the last checkpoint.
    for stale in study.get_trials(deepcopy=False, states=(State.RUNNING,)):
        study._storage.set_trial_state_values(stale._trial_id, State.FAIL)
        study.enqueue_trial(stale.params, user_attrs={"workdir": stale.user_attrs.get("workdir", "")})
    finished = len(study.get_trials(deepcopy=False, states=(State.COMPLETE, State.PRUNED)))
    remaining = max(n_trials - finished, 0)
    log(f"{finished} trials finished, {remaining} to run (study {directory / 'study.db'})")

    def objective(trial):
        params = suggest(trial, space)
        workdir = trial.user_attrs.get("workdir") or str(directory / "trials" / f"{trial.number:04d}")
        trial.set_user_attr("workdir", workdir)
        config = _configure(spec, overrides, params)

        def report(step, metrics):
            trial.report(metrics[metric], step)
            if trial.should_prune():
                raise optuna.TrialPruned(f"step {step}: {metric}={metrics[metric]:.4f}")

        log(f"[trial {trial.number}] {params} -> {workdir}")
        results = run_experiment(config, workdir, splits=("valid",), on_validate=report)
        return results["valid"][metric]

    if remaining:
        study.optimize(objective, n_trials=remaining)
    return write_tune_report(study, directory, metric)


def write_tune_report(study, directory: pathlib.Path, metric: str) -> dict:
    trials = study.get_trials(deepcopy=False)
    keys = sorted({k for t in trials for k in t.params})
    rows = [[t.number, t.state.name, "" if t.value is None else f"{t.value:.6g}"]
            + [t.params.get(k, "") for k in keys] + [t.user_attrs.get("workdir", "")] for t in trials]
    head = ["trial", "state", f"valid {metric}", *keys, "workdir"]
    buffer = io.StringIO()
    csv.writer(buffer).writerows([head, *rows])
    write_text_atomic(directory / "trials.csv", buffer.getvalue())
    md = to_markdown([head, *([str(c) for c in row] for row in rows)])
    write_text_atomic(directory / "trials.md", "\n".join(md) + "\n")
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    if not complete:
        raise ValueError(f"{directory}: no trial completed, so there are no best parameters")
    best = study.best_trial
    summary = {"metric": f"valid {metric}", "value": best.value, "params": best.params, "trial": best.number,
               "workdir": best.user_attrs.get("workdir"), "num_complete": len(complete),
               "num_pruned": sum(t.state.name == "PRUNED" for t in trials)}
    write_json_atomic(directory / "best.json", summary)
    return summary
