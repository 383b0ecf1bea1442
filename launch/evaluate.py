"""Restore the best validation checkpoint of a run directory and evaluate it.

    python -m launch.evaluate --workdir runs/sasrec-ml-1m [--split test] [--set eval.beyond_accuracy=True ...]

Prints the metrics and writes them to <workdir>/evaluate_<split>.json (and the per-prompt ranks to
ranks_<split>.npy). --set changes eval.* keys only: Coverage/Serendipity/Novelty, sampled negatives or the
popularity breakdown for a run trained without them."""

from absl import app, flags

flags.DEFINE_string("workdir", None, "Run directory written by launch.train.")
flags.DEFINE_enum("split", "test", ["valid", "test"], "Which evaluation prompts to score.")
flags.DEFINE_multi_string("set", [], "eval.KEY=VALUE override of the run's saved config (repeatable).")
flags.mark_flags_as_required(["workdir"])


def main(argv):
    from launch.common import print_results, run_guarded, start
    start(argv, processes=True)
    from engine.runner import evaluate_run

    results = run_guarded(lambda: evaluate_run(flags.FLAGS.workdir, flags.FLAGS.split, flags.FLAGS.set))
    print_results(results, flags.FLAGS.workdir)


if __name__ == "__main__":
    app.run(main)
