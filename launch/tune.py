"""Hyperparameter search with Optuna TPE on the validation metric only (engine.runner.tune).

    python -m launch.tune --config configs/sasrec.py:ml-1m --dir runs/tune-sasrec-ml-1m --trials 30 \\
        --space train.learning_rate=loguniform:1e-4:1e-2 --space model.dropout=uniform:0.1:0.5 \\
        --space model.num_blocks=int:1:3 --space train.loss=choice:ce:gbce [--startup 10 --set key=value ...]

Search space entries are KEY=KIND:ARGS with KIND uniform:LO:HI, loguniform:LO:HI, int:LO:HI or
choice:A:B:.... Trials never evaluate on test. The study is <dir>/study.db, so the same command after a
crash runs only the remaining trials. Writes <dir>/best.json and <dir>/trials.md / trials.csv."""

import json

from absl import app, flags

flags.DEFINE_string("config", None, "Config file:preset, optionally with key=value overrides.")
flags.DEFINE_string("dir", None, "Tuning directory (study.db, trials/, best.json).")
flags.DEFINE_multi_string("space", [], "KEY=KIND:ARGS search-space entry (repeatable).")
flags.DEFINE_integer("trials", 20, "Total trials (finished ones count).")
flags.DEFINE_integer("startup", 10, "Random trials before TPE (and before pruning).")
flags.DEFINE_integer("seed", 0, "Sampler seed.")
flags.DEFINE_multi_string("set", [], "KEY=VALUE override of the config (repeatable).")
flags.mark_flags_as_required(["config", "dir"])


def main(argv):
    from launch.common import run_guarded, start
    start(argv)
    from engine.runner.tune import run_tune

    f = flags.FLAGS
    best = run_guarded(lambda: run_tune(f.config, f.space, f.dir, f.trials, f.startup, f.set, f.seed))
    print(json.dumps(best, indent=2))


if __name__ == "__main__":
    app.run(main)
