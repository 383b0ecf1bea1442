"""Train a sequential recommender and evaluate its best validation checkpoint on test, or fit a
non-neural recommender (configs/popularity.py, configs/sknn.py: model.name in engine.runner.registry.NON_NEURAL)
and evaluate it (engine.runner.driver); both write config.json, metrics.jsonl and results.json to --workdir.

    python -m launch.train --config configs/sasrec.py:ml-1m --workdir runs/sasrec-ml-1m [--config.seed=1 ...]
    python -m launch.train --config configs/sknn.py:ml-1m --workdir runs/sknn-ml-1m [--config.model.k=50]

Re-running with the same --workdir resumes from its last checkpoint. --help lists the presets and every config
key with its default (--config_help prints only that)."""

from absl import app, flags
from ml_collections import config_flags

config_flags.DEFINE_config_file("config", None, "Config file and preset, e.g. configs/sasrec.py:ml-1m.",
                                lock_config=True)
flags.DEFINE_string("workdir", None, "Run directory (created; resumed if it holds a checkpoint).")
flags.DEFINE_bool("config_help", False, "Print the presets of --config (default configs/sasrec.py) and every config "
                  "key with its default, then exit.")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
    from launch.common import print_results, run_guarded, start
    start(argv, processes=True)
    from engine.runner import run_experiment

    results = run_guarded(lambda: run_experiment(flags.FLAGS.config, flags.FLAGS.workdir))
    print_results(results, flags.FLAGS.workdir)


if __name__ == "__main__":
    from launch.config_cli import parse_flags
    app.run(main, flags_parser=parse_flags)
