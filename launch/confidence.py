"""Per-instance confidence of a trained run on its training data (engine.train.confidence).

    python -m launch.confidence --workdir runs/sasrec-ml-1m [--mode prefix|window] [--batch_size 256]

Restores <workdir>/checkpoints/best and writes <workdir>/artifacts/confidence.npz: user, position,
target, top_item, confidence (max softmax probability), target_prob and user_id per training instance."""

from absl import app, flags

flags.DEFINE_string("workdir", None, "Run directory written by launch.train (a neural model).")
flags.DEFINE_enum("mode", "prefix", ["prefix", "window"],
                  "prefix: each prompt scored at its last position (any model); window: one pass per training "
                  "window (next-item models only, faster).")
flags.DEFINE_integer("batch_size", 0, "Rows per forward pass; 0 -> eval.batch_size of the run.")
flags.mark_flags_as_required(["workdir"])


def main(argv):
    from launch.common import run_guarded, start
    start(argv)
    from engine.train.confidence import write_confidence

    f = flags.FLAGS
    path = run_guarded(lambda: write_confidence(f.workdir, f.mode, f.batch_size or None))
    print(f"wrote {path}")


if __name__ == "__main__":
    app.run(main)
