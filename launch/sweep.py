"""Several models (configs) over several seeds on one dataset, then a results table and plots (engine.runner.sweep).

    python -m launch.sweep --out runs/sweep-ml-1m --seeds 0 1 2 \\
        --config configs/sasrec.py:ml-1m --config configs/sknn.py:ml-1m \\
        --config "configs/sknn.py:ml-1m model.name=v_sknn" --config configs/popularity.py:ml-1m \\
        [--set eval.beyond_accuracy=True ...]

Every (config, seed) is its own run directory <out>/<label>/s<seed> (label: model.name, or a `label=NAME`
token in the config spec); finished runs are skipped, so re-running the command finishes a sweep. Writes
<out>/table.md, <out>/table.csv and <out>/plots/*.png. --seeds takes `0 1 2` or `0,1,2`."""

import pathlib
import sys

from absl import app, flags

flags.DEFINE_multi_string("config", None, "Config file:preset, optionally followed by key=value overrides and "
                          "label=NAME (repeatable).")
flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds of every config.")
flags.DEFINE_string("out", None, "Output directory (one run directory per model and seed).")
flags.DEFINE_multi_string("set", [], "KEY=VALUE override applied to every config (repeatable).")
flags.mark_flags_as_required(["config", "out"])


def parse_flags(argv):
    """absl flags, with `--seeds 0 1 2` (space-separated values, as the usage lines write it) read as 0,1,2."""
    out, i = [], 0
    while i < len(argv):
        if argv[i] == "--seeds":
            j = i + 1
            while j < len(argv) and not argv[j].startswith("-"):
                j += 1
            out.append("--seeds=" + ",".join(argv[i + 1:j]))
            i = j
        else:
            out.append(argv[i])
            i += 1
    try:
        return flags.FLAGS(out)
    except flags.Error as error:  # as absl's own parser reports it: one line, no traceback
        sys.exit(f"FATAL Flags parsing error: {error}\nPass --helpshort or --helpfull to see help on flags.")


def main(argv):
    from launch.common import run_guarded, start
    start(argv)
    from engine.runner.sweep import run_sweep

    f = flags.FLAGS
    run_guarded(lambda: run_sweep(f.config, [int(s) for s in f.seeds], f.out, f.set))
    print((pathlib.Path(f.out) / "table.md").read_text())


if __name__ == "__main__":
    app.run(main, argv=sys.argv, flags_parser=parse_flags)
