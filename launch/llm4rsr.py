"""LLM4RSR end to end: instances, item memory, TGD data, TGD, backbone confidence, correction, retraining.

    python -m launch.llm4rsr --config configs/llm4rsr.py:ml-100k-cpu --workdir runs/llm4rsr-ml-100k \
        [--config.llm.url=http://127.0.0.1:30000/v1 --config.llm.model=NAME ...]
    python -m launch.llm4rsr --config ... --workdir W --mode=throughput [--concurrency=1,2,4 --prompts=40 \
        --out=docs/benchmarks/llm4rsr_throughput.md]

Every stage writes <workdir>/<stage>/ (artifacts, meta.json, cost.json) and is skipped when it is up to date;
re-running the same command after a kill resumes (the LLM answers are cached in <workdir>/llm_cache.jsonl).
With sweep.alphas set, the alpha sweep's stages (alpha_correction, alpha_sweep) run in the same workdir.
--mode=throughput sends the correction stage's prompts of a finished workdir at each --concurrency, with no
answer cache, and prints (and with --out writes) calls/s and tokens/s (llm/stages/llm4rsr/throughput.py)."""

from absl import app, flags
from ml_collections import config_flags

config_flags.DEFINE_config_file("config", None, "Config file and preset, e.g. configs/llm4rsr.py:ml-100k-cpu.",
                                lock_config=True)
flags.DEFINE_string("workdir", None, "Run directory (created; resumed when it holds finished stages).")
flags.DEFINE_enum("mode", "run", ["run", "throughput"], "run: every stage; throughput: the correction calls' "
                  "throughput at each --concurrency on a finished workdir.")
flags.DEFINE_list("concurrency", ["1", "2", "4"], "With --mode=throughput: requests in flight per measurement.")
flags.DEFINE_integer("prompts", 40, "With --mode=throughput: correction prompts (least confident instances) sent "
                     "at each concurrency.")
flags.DEFINE_string("out", None, "With --mode=throughput: also write the table here (and its .json beside it).")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
    from launch.common import run_guarded, start
    from llm.errors import LLMError

    start(argv)
    f = flags.FLAGS

    def go():
        try:
            if f.mode == "throughput":
                from llm.stages.llm4rsr import throughput

                levels = [int(c) for c in f.concurrency]
                if not levels or min(levels) < 1 or f.prompts < 1:
                    raise ValueError(f"--concurrency needs levels >= 1 and --prompts >= 1, got {f.concurrency} and "
                                     f"{f.prompts}")
                text, record = throughput.measure_levels(f.config, f.workdir, levels, f.prompts)
                print(text, flush=True)
                if f.out:
                    throughput.write(text, record, f.out)
                return record
            from llm.stages.llm4rsr import run

            return run(f.config, f.workdir)
        except LLMError as error:  # server unreachable, corrupt cache: one line, the stages done so far are kept
            raise ValueError(str(error)) from error

    run_guarded(go)


if __name__ == "__main__":
    app.run(main)
