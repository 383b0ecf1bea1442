"""What the entry points share: turning expected failures into one clear line, printing results."""

from __future__ import annotations

import json
import sys

from engine.data.errors import DataError


def start(argv, *, processes: bool = False) -> None:
    """The first lines of an absl entry point's main(): refuse stray arguments; with `processes`, join the
    other processes of a multi-process run before anything picks JAX's devices; quiet orbax, which logs
    every file it writes at INFO."""
    from absl import app, logging

    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    if processes:
        from launch.distributed import initialize_or_exit
        initialize_or_exit()
    logging.set_verbosity(logging.WARNING)


def run_guarded(fn):
    """Bad input (data, config, run directory) ends the program with its message, not a traceback."""
    try:
        return fn()
    except (DataError, ValueError, KeyError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)


def print_results(results: dict, workdir) -> None:
    for split in ("valid", "test"):
        if split in results:
            row = "  ".join(f"{k}={v:.4f}" for k, v in results[split].items())
            print(f"{split}: {row}")
    print(json.dumps({k: v for k, v in results.items() if k not in ("valid", "test", "popularity_breakdown")}))
    print(f"run directory: {workdir}")


def run_experiment(config, workdir, *, splits=("valid", "test"), on_validate=None) -> dict:
    """Train a neural model (engine.train) or fit a registered non-neural recommender (engine.baselines.run),
    whichever config.model.name names; both write the same run files."""
    from engine.baselines import RECOMMENDERS
    from engine.models import MODELS

    name = config.model.name
    if name in MODELS:
        from engine.train.trainer import train
        return train(config, workdir, on_validate=on_validate, splits=splits)
    if name in RECOMMENDERS:
        from engine.baselines.run import fit_and_evaluate
        return fit_and_evaluate(config, workdir, splits=splits)
    raise ValueError(f"unknown model {name!r} (config key model.name); neural: {', '.join(sorted(MODELS))}; "
                     f"non-neural: {', '.join(sorted(RECOMMENDERS))}")


def load_config_spec(spec: str, overrides=()):
    """'configs/sknn.py:tiny [key=value ...]' -> (config, label). A `label=NAME` token names the run
    group (default: model.name); other tokens and `overrides` (applied first) are config overrides."""
    import importlib.util
    import pathlib

    from engine.run_dir import apply_override

    path, _, arg = spec.split()[0].partition(":")
    file = pathlib.Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"config file {path} not found (spec {spec!r})")
    module_spec = importlib.util.spec_from_file_location(f"_config_{file.stem}", file)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    config = module.get_config(arg) if arg else module.get_config()
    config.lock()
    label = None
    for token in [*overrides, *spec.split()[1:]]:
        if token.startswith("label="):
            label = token.partition("=")[2]
        else:
            apply_override(config, token)
    return config, label or config.model.name
