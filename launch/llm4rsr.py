"""LLM4RSR end to end: instances, item memory, TGD data, TGD, backbone confidence, correction, retraining.

    python -m launch.llm4rsr --config configs/llm4rsr.py:ml-100k-cpu --workdir runs/llm4rsr-ml-100k \
        [--config.llm.url=http://127.0.0.1:30000/v1 --config.llm.model=NAME ...]

Every stage writes <workdir>/<stage>/ (artifacts, meta.json, cost.json) and is skipped when it is up to date;
re-running the same command after a kill resumes (the LLM answers are cached in <workdir>/llm_cache.jsonl)."""

from absl import app, flags
from ml_collections import config_flags

config_flags.DEFINE_config_file("config", None, "Config file and preset, e.g. configs/llm4rsr.py:ml-100k-cpu.",
                                lock_config=True)
flags.DEFINE_string("workdir", None, "Run directory (created; resumed when it holds finished stages).")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
    from launch.common import run_guarded, start
    from llm.errors import LLMError

    start(argv)
    from llm.stages.llm4rsr import run

    def go():
        try:
            return run(flags.FLAGS.config, flags.FLAGS.workdir)
        except LLMError as error:  # server unreachable, corrupt cache: one line, the stages done so far are kept
            raise ValueError(str(error)) from error

    run_guarded(go)


if __name__ == "__main__":
    app.run(main)
