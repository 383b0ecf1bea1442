"""Speed and memory figures of the engine on this machine, as JSON (and a printed table).

    # training step: throughput, compile time, memory, FLOP/s against the device peak
    python -m launch.benchmark step --config configs/sasrec.py:ml-1m --losses ce,ce_fused \
        --catalogues 0,10000,100000,1000000 --out bench/step.json
    # full-ranking evaluation (dense scores vs item chunks) and the input pipeline on its own
    python -m launch.benchmark eval --config configs/sasrec.py:ml-1m --out bench/eval.json
    python -m launch.benchmark pipeline --config configs/sasrec.py:ml-1m --out bench/pipeline.json
    # time to quality of a finished (or running) training run
    python -m launch.benchmark ttq --workdir runs/sasrec-ml-1m-s0 --threshold 0.18

Catalogue 0 is the dataset as configured; N > 0 keeps the dataset's sequences (so padding and
bucket shapes are real) and spreads its items over a synthetic catalogue of N items. Each
(catalogue, loss) pair runs in its own subprocess so that its peak memory is its own and an
out-of-memory failure is recorded instead of ending the benchmark.

Timings are device-synchronised (`block_until_ready`), exclude compilation and data loading
(batches are on the device before the clock starts), and report the median over repetitions.
The measurements are in engine/benchmark.
"""

from __future__ import annotations

import json
import pathlib

from absl import app, flags
from ml_collections import config_flags


def define_flags() -> None:
    """Flags exist only when this module is the program: tests import its functions next to other
    entry points that define a --config flag of their own."""
    config_flags.DEFINE_config_file("config", "configs/sasrec.py:ml-1m", "Config file and preset.", lock_config=True)
    flags.DEFINE_string("out", "", "JSON file for the figures (default: print only).")
    flags.DEFINE_string("losses", "ce,ce_fused", "step: losses to compare (train.loss values).")
    flags.DEFINE_string("catalogues", "0", "step/eval: catalogue sizes; 0 = the dataset's own.")
    flags.DEFINE_integer("steps", 10, "step: timed steps per repetition.")
    flags.DEFINE_integer("repeats", 3, "Repetitions; the median is reported.")
    flags.DEFINE_integer("case_timeout", 0, "step: seconds one (catalogue, loss) case may take; 0 = no limit.")
    flags.DEFINE_integer("eval_chunk", 32768, "eval: item chunk of the chunked ranking.")
    flags.DEFINE_integer("batches", 200, "pipeline: batches per repetition.")
    flags.DEFINE_string("workdir", "", "ttq: the run directory.")
    flags.DEFINE_float("threshold", 0.18, "ttq: validation value to reach.")
    flags.DEFINE_string("metric", "NDCG@10", "ttq: validation metric.")


FLAGS = flags.FLAGS


def catalogues() -> list[int]:
    return [int(float(c)) for c in FLAGS.catalogues.split(",")]


def main(argv):
    if len(argv) != 2 or argv[1] not in ("step", "eval", "pipeline", "ttq"):
        raise app.UsageError("usage: python -m launch.benchmark {step,eval,pipeline,ttq} [flags]")
    from launch.common import run_guarded, start
    start(argv[:1])
    from engine import benchmark

    command, config = argv[1], FLAGS.config
    if command == "ttq":
        if not FLAGS.workdir:
            raise app.UsageError("ttq needs --workdir")
        report = run_guarded(lambda: benchmark.time_to_quality(pathlib.Path(FLAGS.workdir), FLAGS.metric,
                                                                FLAGS.threshold))
    else:
        work = {"step": lambda: benchmark.add_peak_fractions({
                    "rows": benchmark.step_benchmark(config, catalogues(), FLAGS.losses.split(","), FLAGS.steps,
                                                     FLAGS.repeats, FLAGS.case_timeout),
                    "peak": benchmark.device_peak(config.train.compute_dtype)}),
                "eval": lambda: {"rows": benchmark.eval_benchmark(config, catalogues(), FLAGS.eval_chunk,
                                                                  FLAGS.repeats)},
                "pipeline": lambda: benchmark.pipeline_benchmark(config, FLAGS.batches, FLAGS.repeats)}[command]
        report = {"benchmark": command, "machine": benchmark.machine(), "config": json.loads(config.to_json()),
                  **run_guarded(work)}
    if FLAGS.out:
        from engine.run_dir import write_json_atomic
        out = pathlib.Path(FLAGS.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(out, report)
        print(f"wrote {out}")


if __name__ == "__main__":
    define_flags()
    app.run(main)
