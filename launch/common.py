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
        # str() of a KeyError is the repr of its message, quotes and escapes included.
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)


def print_results(results: dict, workdir) -> None:
    for split in ("valid", "test"):
        if split in results:
            row = "  ".join(f"{k}={v:.4f}" for k, v in results[split].items())
            print(f"{split}: {row}")
    print(json.dumps({k: v for k, v in results.items() if k not in ("valid", "test", "popularity_breakdown")}))
    print(f"run directory: {workdir}")
