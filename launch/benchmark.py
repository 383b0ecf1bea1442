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
"""

from __future__ import annotations

import json
import os
import pathlib
import platform
import re
import resource
import statistics
import subprocess
import sys
import time

from absl import app, flags, logging
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
    flags.DEFINE_string("single", "", "Internal: run one step measurement on this resolved config (JSON file).")


FLAGS = flags.FLAGS

# Dense peak FLOP/s of known accelerators (vendor data sheets, SXM parts): plain fp32, TF32 and bf16 tensor cores.
NOMINAL_PEAK = {"H100": {"float32": 67e12, "tensorfloat32": 495e12, "bfloat16": 989e12},
                "H200": {"float32": 67e12, "tensorfloat32": 495e12, "bfloat16": 989e12},
                "A100": {"float32": 19.5e12, "tensorfloat32": 156e12, "bfloat16": 312e12}}


# --- shared pieces ---------------------------------------------------------------------------------

def machine() -> dict:
    import jax

    from engine.train.trainer import matmul_precision
    device = jax.devices()[0]
    return {"platform": device.platform, "device_kind": device.device_kind, "devices": jax.device_count(),
            "processes": jax.process_count(), "cpu": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "jax": jax.__version__, "xla_flags": os.environ.get("XLA_FLAGS", ""),
            "matmul_precision": matmul_precision()}


def spread_catalogue(dataset, num_items: int, seed: int = 0):
    """The dataset's sequences with its items mapped to distinct random ids of an N-item catalogue."""
    import numpy as np

    from engine.data.dataset import SequenceDataset
    if num_items < dataset.num_items:
        raise ValueError(f"--catalogues {num_items} is smaller than the dataset's {dataset.num_items} items")
    rng = np.random.default_rng(seed)
    mapping = np.concatenate([[0], rng.choice(num_items, dataset.num_items, replace=False) + 1])
    return SequenceDataset(name=f"{dataset.name}-spread-{num_items}", num_items=num_items, offsets=dataset.offsets,
                           items=mapping[dataset.items], timestamps=dataset.timestamps, user_ids=dataset.user_ids,
                           item_ids=np.array([""] + [str(i) for i in range(1, num_items + 1)]))


def experiment(config, num_items: int):
    from engine.data.sources import load_dataset
    from engine.train.experiment import Experiment
    dataset = load_dataset(config.data)
    return Experiment.create(config, spread_catalogue(dataset, num_items) if num_items else dataset)


def timed(fn, repeats: int) -> list[float]:
    """Seconds per call of fn(), which must block until its device work is done; one untimed warm-up."""
    fn()
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def matmul_peak(dtype: str = "float32", n: int = 0) -> float:
    """Achieved FLOP/s of a large square matmul: the practical peak to compare a step against (n = 0: 2048 on
    a CPU, 8192 on an accelerator, whose 2048 product is over before launch overhead stops mattering)."""
    import jax
    import jax.numpy as jnp
    n = n or (2048 if jax.devices()[0].platform == "cpu" else 8192)
    a = jnp.ones((n, n), dtype)
    f = jax.jit(lambda x: x @ x)
    f(a).block_until_ready()
    seconds = min(timed(lambda: f(a).block_until_ready(), 5))
    return 2 * n ** 3 / seconds


def device_peak(dtype: str) -> dict:
    import jax

    from engine.train.trainer import matmul_precision
    kind = jax.devices()[0].device_kind
    rate = dtype
    if dtype == "float32" and matmul_precision() in ("default", "tensorfloat32"):
        rate = "tensorfloat32"  # what a GPU's float32 matmul runs as under JAX's default precision
    nominal = next((v[rate] for k, v in NOMINAL_PEAK.items() if k in kind), None)
    return {"nominal_flops_per_s": nominal, "matmul_flops_per_s": matmul_peak(dtype)}


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def available_memory_bytes() -> int:
    """Free host memory on a CPU; the device's allocator limit on an accelerator."""
    import jax
    device = jax.devices()[0]
    if device.platform != "cpu":
        return int((device.memory_stats() or {}).get("bytes_limit", 0))
    for line in pathlib.Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return 0


# --- training step ---------------------------------------------------------------------------------

def measure_step(config, num_items: int, steps: int, repeats: int) -> dict:
    """One (catalogue, loss) pair in this process: compile, memory, steady-state throughput, FLOP/s."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from engine.data.pipeline import TrainBatches
    from engine.train.experiment import make_optimizer
    from engine.train.losses import full_softmax_cross_entropy, loss_from_config
    from engine.train.trainer import make_train_step

    tc = config.train
    exp = experiment(config, num_items)
    buckets = tuple(tc.length_buckets)
    batches = TrainBatches(exp.split, tc.batch_size, config.model.max_len, buckets, config.seed, tc.window_end)
    optimizer = make_optimizer(tc, 10 ** 6)
    state = jax.jit(lambda p: {"params": p, "opt_state": optimizer.init(p), "step": jnp.zeros((), jnp.int32)},
                    out_shardings=exp.replicated)(exp.init_params())
    step_fn = make_train_step(exp, optimizer, loss_from_config(tc), tc.compute_dtype)
    reference_step = make_train_step(exp, optimizer, full_softmax_cross_entropy, tc.compute_dtype)

    # The real batch plan of the first epoch, on the device before any clock starts.
    host = [batches.batch(i) for i in range(min(batches.steps_per_epoch, steps * 4))]
    put = lambda b: {k: jax.make_array_from_process_local_data(exp.batch_sharding, v) for k, v in b.items()}
    device_batches = [put(b) for b in host]
    lengths = sorted({b["inputs"].shape[1] for b in host})

    compiled, compile_seconds, memory, flops = {}, {}, {}, {}
    for length in lengths:
        spec = jax.ShapeDtypeStruct((tc.batch_size, length), jnp.int32, sharding=exp.batch_sharding)
        start = time.perf_counter()
        compiled[length] = step_fn.lower(state, {"inputs": spec, "targets": spec}).compile()
        compile_seconds[length] = time.perf_counter() - start
        analysis = compiled[length].memory_analysis()
        memory[length] = {"temp_bytes": analysis.temp_size_in_bytes,
                          "argument_bytes": analysis.argument_size_in_bytes,
                          "output_bytes": analysis.output_size_in_bytes}
        # Model FLOPs: those of the plain-loss step (same math; the fused loss's recomputation and
        # loops are not useful work, and XLA counts a loop body once), from the unoptimised HLO.
        cost = reference_step.lower(state, {"inputs": spec, "targets": spec}).cost_analysis()
        cost = cost[0] if isinstance(cost, list) else cost
        # Some backends (JAX 0.11 on GPU) give no count here: None, never a made-up 0.
        flops[length] = float(cost["flops"]) if cost and cost.get("flops") else None

    widest = max(lengths)
    need = memory[widest]["temp_bytes"] + memory[widest]["argument_bytes"] + memory[widest]["output_bytes"]
    result = {"num_items": exp.dataset.num_items, "loss": tc.loss, "batch_size": tc.batch_size,
              "bucket_lengths": lengths, "compile_seconds": sum(compile_seconds.values()),
              "temp_bytes_widest_bucket": memory[widest]["temp_bytes"], "memory_by_bucket": memory,
              "flops_by_bucket": flops}
    free = available_memory_bytes()
    if free and need > 0.8 * free:  # an allocation failure could take the device (or the machine) with it
        result["status"] = f"skipped: needs {need / 2**30:.1f} GiB, {free / 2**30:.1f} GiB free"
        return result

    order = [i % len(device_batches) for i in range(steps)]
    holder = {"state": state}

    def run_steps():
        s = holder["state"]
        for i in order:
            s, metrics = compiled[host[i]["inputs"].shape[1]](s, device_batches[i])
        jax.block_until_ready((s, metrics))
        holder["state"] = s

    seconds = timed(run_steps, repeats)
    per_step = statistics.median(seconds) / steps
    sequences = np.mean([np.any(host[i]["targets"] > 0, axis=1).sum() for i in order])
    tokens = np.mean([(host[i]["targets"] > 0).sum() for i in order])
    counted = None not in flops.values()
    step_flops = float(np.mean([flops[host[i]["inputs"].shape[1]] for i in order])) if counted else None
    result.update(status="ok", seconds_per_step=per_step, steps_per_s=1 / per_step,
                  sequences_per_s=float(sequences) / per_step, tokens_per_s=float(tokens) / per_step,
                  model_flops_per_step=step_flops, achieved_flops_per_s=step_flops / per_step if counted else None,
                  repeats_seconds=seconds, timed_steps=steps)
    if jax.devices()[0].platform != "cpu":
        stats = jax.devices()[0].memory_stats() or {}
        result["device_peak_bytes"] = stats.get("peak_bytes_in_use")
    result["process_peak_rss_bytes"] = peak_rss_bytes()
    return result


def step_benchmark(config) -> list[dict]:
    """Every (catalogue, loss) pair in a fresh subprocess; failures (e.g. out of memory) are recorded."""
    import tempfile
    rows = []
    for num_items in [int(float(c)) for c in FLAGS.catalogues.split(",")]:
        for loss in FLAGS.losses.split(","):
            config.train.loss = loss
            with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
                f.write(config.to_json())
                f.flush()
                command = [sys.executable, "-m", "launch.benchmark", "step", f"--single={f.name}",
                           f"--catalogues={num_items}", f"--steps={FLAGS.steps}", f"--repeats={FLAGS.repeats}"]
                print(f"step: catalogue {num_items or 'dataset'}, loss {loss}", flush=True)
                try:
                    done = subprocess.run(command, check=False, capture_output=True, text=True,
                                          timeout=FLAGS.case_timeout or None)
                except subprocess.TimeoutExpired:
                    done = None
            lines = [l for l in done.stdout.splitlines() if l.startswith("{")] if done else []
            if done is None:
                rows.append({"num_items": num_items, "loss": loss,
                             "status": f"not finished within --case_timeout={FLAGS.case_timeout} s"})
            elif done.returncode == 0 and lines:
                rows.append(json.loads(lines[-1]))
            else:
                reason = "killed (out of memory?)" if done.returncode < 0 else failure_reason(done.stderr)
                rows.append({"num_items": num_items, "loss": loss, "status": f"failed: {reason}"})
            print("  " + summary_line(rows[-1]), flush=True)
    return rows


def failure_reason(stderr: str) -> str:
    """The exception line of a failed case's traceback (e.g. XLA's RESOURCE_EXHAUSTED), else the end of stderr."""
    lines = [l.strip() for l in stderr.strip().splitlines() if l.strip()]
    errors = [l for l in lines if re.match(r"^[\w.]+(Error|Exception)\b", l)]
    return (errors[-1] if errors else " ".join(lines[-3:]))[:400]


def summary_line(row: dict) -> str:
    if row.get("status") != "ok":
        temp = row.get("temp_bytes_widest_bucket")
        return f"{row['num_items']:>8} {row['loss']:<16} {row['status']}" + \
            (f" (temp {temp / 2**30:.2f} GiB)" if temp else "")
    return (f"{row['num_items']:>8} {row['loss']:<16} {row['steps_per_s']:7.3f} steps/s "
            f"{row['sequences_per_s']:8.1f} seq/s {row['tokens_per_s']:10.0f} tok/s "
            f"compile {row['compile_seconds']:6.1f} s  temp {row['temp_bytes_widest_bucket'] / 2**20:9.1f} MiB  "
            + (f"{row['achieved_flops_per_s'] / 1e9:8.1f} GFLOP/s" if row["achieved_flops_per_s"] else "GFLOP/s n/a"))


# --- evaluation and pipeline -----------------------------------------------------------------------

def eval_benchmark(config) -> list[dict]:
    """Users/s of full-ranking validation, dense [B, N] scores vs item chunks with a running rank."""
    rows = []
    for num_items in [int(float(c)) for c in FLAGS.catalogues.split(",")]:
        for chunk in (0, FLAGS.eval_chunk):
            config.eval.chunk_size = chunk
            exp = experiment(config, num_items)
            params = exp.init_params()
            users = len(exp.split.prompts("valid"))
            seconds = timed(lambda exp=exp, params=params: exp.evaluate(params, "valid"), FLAGS.repeats)
            rows.append({"num_items": exp.dataset.num_items, "chunk_size": chunk, "users": users,
                         "users_per_s": users / statistics.median(seconds), "repeats_seconds": seconds})
            print(f"eval: {rows[-1]['num_items']:>8} items chunk {chunk:>6}: {rows[-1]['users_per_s']:9.0f} users/s",
                  flush=True)
    return rows


def pipeline_benchmark(config) -> dict:
    """Host-side batches/s of the training input pipeline alone (grain, bucketing, padding)."""
    import numpy as np

    from engine.data.pipeline import TrainBatches
    exp = experiment(config, 0)
    tc = config.train
    batches = TrainBatches(exp.split, tc.batch_size, config.model.max_len, tuple(tc.length_buckets), config.seed,
                           tc.window_end)

    def pull():
        iterator = batches.iterator(FLAGS.batches, prefetch=tc.prefetch)
        for _ in range(FLAGS.batches):
            batch = next(iterator)
        return batch

    seconds = timed(pull, FLAGS.repeats)
    rate = FLAGS.batches / statistics.median(seconds)
    row = {"batches_per_s": rate, "sequences_per_s": rate * tc.batch_size, "batches": FLAGS.batches,
           "repeats_seconds": seconds, "tokens_per_batch": float(np.mean(
               [(batches.batch(i)["targets"] > 0).sum() for i in range(min(50, batches.steps_per_epoch))]))}
    print(f"pipeline: {rate:.0f} batches/s ({row['sequences_per_s']:.0f} sequences/s)", flush=True)
    return row


# --- time to quality -------------------------------------------------------------------------------

def time_to_quality(workdir: pathlib.Path, metric: str, threshold: float) -> dict:
    """Training wall time (validation excluded, summed over resumed sessions) until `metric` >= threshold."""
    path = workdir / "metrics.jsonl"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: is {workdir} a run directory made by launch.train?")
    valid = [json.loads(l) for l in path.read_text().splitlines() if l.strip()]
    valid = [l for l in valid if l["split"] == "valid"]
    if valid and metric not in valid[0]:
        raise KeyError(f"{path}: validation lines have no {metric!r}; they have {', '.join(valid[0])}")
    reached = next((l for l in valid if l[metric] >= threshold), None)
    best = max(valid, key=lambda l: l[metric]) if valid else None
    row = {"workdir": str(workdir), "metric": metric, "threshold": threshold, "reached": reached is not None,
           "step": reached and reached["step"], "train_seconds": reached and reached.get("train_seconds"),
           "best_value": best and best[metric], "best_step": best and best["step"]}
    results = workdir / "results.json"
    if results.exists():
        row["timing"] = json.loads(results.read_text()).get("timing")
    print(f"ttq: {metric} >= {threshold}: " + (f"step {row['step']}, {row['train_seconds'] / 60:.1f} min of training"
                                               if reached else f"not reached (best {row['best_value']})"))
    return row


def main(argv):
    if len(argv) != 2 or argv[1] not in ("step", "eval", "pipeline", "ttq"):
        raise app.UsageError("usage: python -m launch.benchmark {step,eval,pipeline,ttq} [flags]")
    logging.set_verbosity(logging.WARNING)
    from launch.common import run_guarded
    command, config = argv[1], FLAGS.config
    if command == "ttq":
        if not FLAGS.workdir:
            raise app.UsageError("ttq needs --workdir")
        report = run_guarded(lambda: time_to_quality(pathlib.Path(FLAGS.workdir), FLAGS.metric, FLAGS.threshold))
    elif command == "step" and FLAGS.single:
        import ml_collections
        config = ml_collections.ConfigDict(json.loads(pathlib.Path(FLAGS.single).read_text()))
        print(json.dumps(run_guarded(lambda: measure_step(config, int(float(FLAGS.catalogues)), FLAGS.steps,
                                                          FLAGS.repeats))))
        return
    else:
        work = {"step": lambda: {"rows": step_benchmark(config),
                                 "peak": device_peak(config.train.compute_dtype)},
                "eval": lambda: {"rows": eval_benchmark(config)},
                "pipeline": lambda: pipeline_benchmark(config)}[command]
        report = {"benchmark": command, "machine": machine(), "config": json.loads(config.to_json()),
                  **run_guarded(work)}
        if command == "step":
            for row in report["rows"]:
                if row.get("status") == "ok" and row["achieved_flops_per_s"]:
                    row["fraction_of_matmul_peak"] = row["achieved_flops_per_s"] / report["peak"]["matmul_flops_per_s"]
                    if report["peak"]["nominal_flops_per_s"]:
                        row["fraction_of_nominal_peak"] = (row["achieved_flops_per_s"]
                                                           / report["peak"]["nominal_flops_per_s"])
    if FLAGS.out:
        from engine.run_dir import write_json_atomic
        out = pathlib.Path(FLAGS.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(out, report)
        print(f"wrote {out}")


if __name__ == "__main__":
    define_flags()
    app.run(main)
