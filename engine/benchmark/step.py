"""Training-step throughput, compile time, memory and FLOP/s of one config over catalogue sizes and losses.

Catalogue 0 is the dataset as configured; N > 0 keeps the dataset's sequences (so padding and bucket shapes
are real) and spreads its items over a synthetic catalogue of N items. Each (catalogue, loss) pair runs in
its own subprocess so that its peak memory is its own and an out-of-memory failure is recorded instead of
ending the benchmark.
"""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import sys
import time

from engine.benchmark.machine import available_memory_bytes, peak_rss_bytes, timed

# The subprocess of one case: the resolved config (a JSON file), catalogue size, steps and repetitions in,
# one JSON line of measure_step's figures out.
CASE = ("import json, pathlib, sys, ml_collections; from engine.benchmark.step import measure_step; "
        "config = ml_collections.ConfigDict(json.loads(pathlib.Path(sys.argv[1]).read_text())); "
        "print(json.dumps(measure_step(config, int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))))")


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
    state = exp.train_state(optimizer, exp.init_params())
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


def step_benchmark(config, catalogues, losses, steps: int, repeats: int, case_timeout: int = 0) -> list[dict]:
    """Every (catalogue, loss) pair in a fresh subprocess (`run_case`), so that its peak memory is its own;
    failures (e.g. out of memory) and cases slower than case_timeout seconds (0: no limit) are recorded."""
    import tempfile
    rows = []
    for num_items in catalogues:
        for loss in losses:
            config.train.loss = loss
            with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
                f.write(config.to_json())
                f.flush()
                command = [sys.executable, "-c", CASE, f.name, str(num_items), str(steps), str(repeats)]
                print(f"step: catalogue {num_items or 'dataset'}, loss {loss}", flush=True)
                try:
                    done = subprocess.run(command, check=False, capture_output=True, text=True,
                                          timeout=case_timeout or None)
                except subprocess.TimeoutExpired:
                    done = None
            lines = [l for l in done.stdout.splitlines() if l.startswith("{")] if done else []
            if done is None:
                rows.append({"num_items": num_items, "loss": loss,
                             "status": f"not finished within --case_timeout={case_timeout} s"})
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


def add_peak_fractions(report: dict) -> dict:
    """Each finished row's FLOP/s as a fraction of the measured matmul peak and of the data-sheet peak."""
    for row in report["rows"]:
        if row.get("status") == "ok" and row["achieved_flops_per_s"]:
            row["fraction_of_matmul_peak"] = row["achieved_flops_per_s"] / report["peak"]["matmul_flops_per_s"]
            if report["peak"]["nominal_flops_per_s"]:
                row["fraction_of_nominal_peak"] = (row["achieved_flops_per_s"]
                                                   / report["peak"]["nominal_flops_per_s"])
    return report
