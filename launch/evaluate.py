"""Restore the best validation checkpoint of a run directory and evaluate it.

    python -m launch.evaluate --workdir runs/sasrec-ml-1m [--split test]

Prints the metrics and writes them to <workdir>/evaluate_<split>.json."""

from absl import app, flags, logging

flags.DEFINE_string("workdir", None, "Run directory written by launch.train.")
flags.DEFINE_enum("split", "test", ["valid", "test"], "Which evaluation prompts to score.")
flags.mark_flags_as_required(["workdir"])


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    from launch.distributed import initialize_or_exit
    initialize_or_exit()  # several processes (SEQREC_* or srun) must meet before JAX picks its devices
    logging.set_verbosity(logging.WARNING)  # orbax reports every file it writes at INFO
    from launch.common import print_results, run_guarded
    from engine.train.evaluation import evaluate_run

    results = run_guarded(lambda: evaluate_run(flags.FLAGS.workdir, flags.FLAGS.split))
    print_results(results, flags.FLAGS.workdir)


if __name__ == "__main__":
    app.run(main)
