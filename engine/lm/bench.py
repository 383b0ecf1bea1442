"""JAX vs transformers+PEFT (PyTorch) on the same model, batch and lengths:

  score     next-token log-probabilities of a batch of prompts (the verbalizer's pass): tokens/s
  train     one LoRA step (forward, backward, AdamW on the adapter; loss on the last `answer` tokens): tokens/s and
            the process's peak resident memory
  generate  greedy decoding with a KV cache, EOS ignored so both produce the same count: new tokens/s
  gemm      one matrix product of the training batch's MLP shape ([B*T, hidden] x [hidden, intermediate]) in
            the compute dtype: each framework's GEMM rate, GFLOP/s

The GEMM rate bounds the other figures (a roofline): scoring and training are mostly matrix products whose FLOPs
follow from the model's shape (step_flops), so FLOPs / a framework's GEMM rate is the time its step would take
if it were nothing but those products. The output gives each framework's efficiency against its own bound and
the ceiling of the JAX / transformers ratio: transformers' measured time over JAX's bound.

Each measurement runs in its own subprocess (python -m engine.lm.bench WORKER ...), so peak memory belongs to one
framework and one task. Timers are steady state: warm-up calls (compilation, first-touch allocations) are
excluded, JAX results are blocked on, and the median of the timed repetitions is reported.

`profile` (run_profile, `--bench_profile=score|train`) traces JAX's side of one of them instead and sums the
time per XLA operation, and the wall time with no, one or several matrix products running: where a step spends
the time beyond its GEMM bound.

Both frameworks use the CPUs this process may run on (its affinity, inherited by the workers): pin the whole
benchmark with `taskset -c 0 python -m launch.lm --mode=bench ...` for one-core figures. The output records the
affinity and torch's thread count, so a figure says which it is.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time

import numpy as np


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _timed(fn, steps: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _tokens(vocab: int, batch: int, length: int, seed: int = 0) -> np.ndarray:
    # Ordinary tokens only (ids past the specials), the same for both frameworks.
    return np.random.default_rng(seed).integers(100, vocab, (batch, length)).astype(np.int32)


def _jax_call(task: str, a: dict):
    """One blocking call of JAX's side of `task` (score: the batch's next-token log-probabilities, returned;
    train: one LoRA step, which returns its metrics), compiled on first use."""
    import jax
    import jax.numpy as jnp

    from engine.lm.model import LoRASpec
    from engine.lm.weights import load_lm

    dtype = a.get("dtype", "float32")  # compute dtype; log-probabilities and the adapter stay float32
    ids = _tokens(49152, a["batch"], a["length"])
    valid = np.ones_like(ids, bool)
    if task == "score":
        lm = load_lm(a["model_dir"], dtype=dtype)

        def last_logprobs(params, ids, valid):
            model = lm.model(params)
            return jax.nn.log_softmax(model.logits(model.hidden(ids, valid)[0][:, -1]), axis=-1)

        fn = jax.jit(last_logprobs)
        return lambda: jax.block_until_ready(fn(lm.params, ids, valid))
    if task == "train":
        import ml_collections

        from engine.lm.train import make_train_step
        from engine.train.experiment import make_optimizer

        lm = load_lm(a["model_dir"], lora=LoRASpec(a["rank"], 2.0 * a["rank"], 0.0, tuple(a["targets"])))
        optimizer = make_optimizer(ml_collections.ConfigDict(a["train_config"]), 1000)
        state = {"lora": lm.lora, "opt_state": optimizer.init(lm.lora), "step": jnp.zeros((), jnp.int32)}
        mask = np.zeros_like(valid)
        mask[:, -a["answer"]:] = True
        batch = {"ids": ids[None], "valid": valid[None], "loss_mask": mask[None]}
        step = make_train_step(lm, optimizer, dtype, 0, a["answer"])
        holder = [state]

        def run():
            holder[0], metrics = step(holder[0], lm.params, batch)
            return jax.block_until_ready(metrics)

        return run
    raise ValueError(task)


def jax_worker(task: str, a: dict) -> dict:
    import jax
    import jax.numpy as jnp

    if task == "gemm":  # the model's own product (engine.lm.model.matmul: bf16 weights take the autocast path)
        from engine.lm.model import matmul

        x, w = (jnp.asarray(v) for v in _gemm_operands(a))
        fn = jax.jit(matmul)
        w = w.astype(a.get("dtype", "float32"))
        return _gemm_rate(a, lambda: jax.block_until_ready(fn(x, w)))
    if task in ("score", "train"):
        run = _jax_call(task, a)
        seconds = _timed(run, a["steps"])
        if task == "score" and a.get("save"):  # the parent compares the two frameworks' numbers on this batch
            np.save(a["save"], np.asarray(run(), np.float32))
        tokens = a["batch"] * a["length"]
        return {"tokens_per_s": tokens / seconds, "seconds": seconds, "peak_rss_mb": _peak_rss_mb()}
    if task == "generate":
        from engine.lm.generate import Generator
        from engine.lm.tokenizer import LMTokenizer
        from engine.lm.weights import load_lm

        lm = load_lm(a["model_dir"])
        gen = Generator(lm, LMTokenizer(a["model_dir"]), batch_size=a["batch"], buckets=(a["length"],))
        prompts = _tokens(49152, a["batch"], a["length"]).tolist()
        seconds = _timed(lambda: gen.generate(prompts, max_new_tokens=a["new_tokens"], ignore_eos=True), a["steps"],
                         warmup=1)
        return {"tokens_per_s": a["batch"] * a["new_tokens"] / seconds, "seconds": seconds}
    raise ValueError(task)


# Trace events that are not XLA operations: Python frames, the executor's own spans, thread-pool bookkeeping.
_NOT_OPS = ("$", "ThunkExecutor", "SlinkyThreadPool", "ThreadpoolListener", "end:")


def profile_worker(task: str, a: dict) -> dict:
    """JAX's scoring call or training step (after two warm-up calls) traced once with jax.profiler, summed per
    XLA operation. Matrix products are the YNNPACK fusions (`ynn_fusion*`, XLA's CPU GEMMs) and generic dots
    (`dot*`, the layouts YNNPACK does not take); a product spread over several threads appears once, on the
    thread that started it. `gemm_concurrency_ms`: wall time with 0, 1 or 2+ YNNPACK products running, which
    shows how much of the call runs no product at all."""
    import collections
    import glob
    import gzip
    import tempfile

    import jax

    run = _jax_call(task, a)
    for _ in range(2):
        run()
    trace_dir = tempfile.mkdtemp(prefix="lm_profile_")
    jax.profiler.start_trace(trace_dir, create_perfetto_trace=True)
    t0 = time.perf_counter()
    run()
    wall = time.perf_counter() - t0
    jax.profiler.stop_trace()
    with gzip.open(glob.glob(f"{trace_dir}/**/*.trace.json.gz", recursive=True)[0]) as f:
        events = [e for e in json.load(f)["traceEvents"] if e.get("ph") == "X" and not e["name"].startswith(_NOT_OPS)]
    kind = lambda name: "ynnpack" if name.startswith("ynn") else "generic_dot" if name.startswith("dot") else "other"
    by_kind, by_op, count = collections.Counter(), collections.Counter(), collections.Counter()
    for e in events:
        by_kind[kind(e["name"])] += e["dur"] / 1000
        by_op[e["name"]] += e["dur"] / 1000
        count[e["name"]] += 1
    # Sweep over the products' start and end times: the wall time spent at each number of products in flight.
    edges = sorted(p for e in events if kind(e["name"]) == "ynnpack"
                   for p in ((e["ts"], 1), (e["ts"] + e["dur"], -1)))
    span = (min(e["ts"] for e in events), max(e["ts"] + e["dur"] for e in events))
    concurrency, depth, last = collections.Counter(), 0, span[0]
    for t, step in [*edges, (span[1], 0)]:
        concurrency[min(depth, 2)] += (t - last) / 1000
        depth, last = depth + step, t
    return {"wall_ms": wall * 1000, "traced_ops_ms": (span[1] - span[0]) / 1000,
            "gemm_concurrency_ms": {("0", "1", "2+")[k]: v for k, v in sorted(concurrency.items())},
            "op_ms_by_kind": dict(by_kind),
            "top_ops": [{"op": n, "ms": ms, "calls": count[n]} for n, ms in by_op.most_common(15)]}


def torch_worker(task: str, a: dict) -> dict:
    import torch
    import transformers

    torch.manual_seed(0)
    if task == "gemm":  # bfloat16: both operands bfloat16 (what either of torch's paths hands the GEMM)
        x, w = (torch.from_numpy(v) for v in _gemm_operands(a))
        if a.get("dtype", "float32") == "bfloat16":
            x, w = x.bfloat16(), w.bfloat16()
        return {**_gemm_rate(a, lambda: torch.matmul(x, w)), "torch_threads": torch.get_num_threads()}
    # bfloat16, torch's two CPU paths: "weights" loads the model in bfloat16 (for training the adapter is then
    # bfloat16 too), "autocast" keeps float32 weights and runs the matmuls in bfloat16 (as the JAX step does).
    bf16 = a.get("dtype", "float32") == "bfloat16"
    mode = a.get("torch_bf16", "weights") if bf16 else "none"
    if mode not in ("none", "weights", "autocast"):
        raise ValueError(f"torch_bf16 must be weights or autocast, got {mode!r}")
    model = transformers.AutoModelForCausalLM.from_pretrained(
        a["model_dir"], dtype=torch.bfloat16 if mode == "weights" else torch.float32)
    autocast = lambda: torch.autocast("cpu", dtype=torch.bfloat16, enabled=mode == "autocast")
    ids = torch.from_numpy(_tokens(49152, a["batch"], a["length"]).astype(np.int64))
    mask = torch.ones_like(ids)
    if task == "score":
        model.eval()

        def run():
            with torch.no_grad(), autocast():
                logits = model(ids, attention_mask=mask, logits_to_keep=1).logits[:, -1]
            return torch.log_softmax(logits.float(), -1)

        seconds = _timed(run, a["steps"])
        if a.get("save"):
            np.save(a["save"], run().numpy())
        return {"tokens_per_s": ids.numel() / seconds, "seconds": seconds, "peak_rss_mb": _peak_rss_mb(),
                "torch_threads": torch.get_num_threads(), "torch_bf16": mode}
    if task == "train":
        import peft

        config = peft.LoraConfig(r=a["rank"], lora_alpha=2 * a["rank"], lora_dropout=0.0,
                                 target_modules=list(a["targets"]), task_type="CAUSAL_LM")
        model = peft.get_peft_model(model, config)
        model.train()
        optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4,
                                      weight_decay=0.0)
        k = a["answer"]

        def run():
            # The same loss positions as the JAX step: the last k tokens, each predicted from the one before.
            with autocast():
                logits = model(ids, attention_mask=mask, logits_to_keep=k + 1).logits[:, :-1].float()
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids[:, -k:].reshape(-1))
            loss.backward()
            torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

        seconds = _timed(run, a["steps"])
        return {"tokens_per_s": ids.numel() / seconds, "seconds": seconds, "peak_rss_mb": _peak_rss_mb(),
                "torch_threads": torch.get_num_threads(), "torch_bf16": mode}
    if task == "generate":
        model.eval()

        def run():
            with torch.no_grad():
                model.generate(ids, attention_mask=mask, max_new_tokens=a["new_tokens"],
                               min_new_tokens=a["new_tokens"], do_sample=False, pad_token_id=2)

        seconds = _timed(run, a["steps"], warmup=1)
        return {"tokens_per_s": a["batch"] * a["new_tokens"] / seconds, "seconds": seconds,
                "torch_threads": torch.get_num_threads()}
    raise ValueError(task)


# The JAX / transformers ratio the LM's issue asks for on scoring and training. A run whose ceiling (transformers'
# time over JAX's pure-GEMM bound) is below it cannot reach it whatever JAX's step does beyond the products.
GOAL_RATIO = 1.5
GEMM_REPS = 50  # a product takes 10-60 ms: the median of a few is at the mercy of the core's speed phases


def _gemm_operands(a: dict) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return (rng.standard_normal((a["m"], a["k"]), np.float32), rng.standard_normal((a["k"], a["n"]), np.float32))


def _gemm_rate(a: dict, product) -> dict:
    seconds = _timed(product, max(a["steps"], GEMM_REPS), warmup=5)
    return {"gflops": 2 * a["m"] * a["k"] * a["n"] / seconds / 1e9, "seconds": seconds}


def step_flops(cfg, task: str, s: dict) -> float:
    """Matrix-product FLOPs (a multiply-add is 2) of one measured scoring call or training step: every linear layer
    at every token, attention's two products over the causal triangle, the LM head at the positions kept (the
    last one per row when scoring, the `answer` positions when training). Training adds the backward products
    that give the input gradients (the same FLOPs as the forward linear layers and LM head, twice attention's);
    the frozen base has no weight gradient, and the rank-r adapters' products are left out (under 1%)."""
    q, kv = cfg.num_heads * cfg.head_dim, cfg.num_kv_heads * cfg.head_dim
    per_token = 2 * cfg.num_layers * (cfg.hidden_size * (2 * q + 2 * kv) + 3 * cfg.hidden_size * cfg.intermediate_size)
    tokens, length = s["batch"] * s["length"], s["length"]
    attention = 2 * 2 * cfg.num_layers * q * s["batch"] * length * (length + 1) / 2
    head = 2 * cfg.hidden_size * cfg.vocab_size * s["batch"] * (s["answer"] if task == "train" else 1)
    forward = per_token * tokens + attention + head
    return forward if task == "score" else forward + per_token * tokens + 2 * attention + head


SETTINGS = {  # the sizes: scoring at prompt 256 x batch 16
    "score": {"batch": 16, "length": 256},
    "train": {"batch": 8, "length": 256, "answer": 4, "rank": 8, "targets": ["q_proj", "v_proj"]},
    "generate": {"batch": 8, "length": 64, "new_tokens": 32},
}
# The training batch's tokens as rows; k, n: the model's hidden and intermediate sizes (run_bench).
SETTINGS["gemm"] = {"m": SETTINGS["train"]["batch"] * SETTINGS["train"]["length"]}


def _worker(name: str, args: dict) -> dict:
    """Run one measurement (`python -m engine.lm.bench jax-score '<json>'`) in its own process; its result."""
    done = subprocess.run([sys.executable, "-m", "engine.lm.bench", name, json.dumps(args)],
                          capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"bench worker {name} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _worker_args(config, settings: dict, dtype: str, **extra) -> dict:
    """A worker's JSON: the measurement's settings, the model directory and the config's optimiser (both
    frameworks' training steps use it), the compute dtype."""
    from engine.lm.train import model_dir

    return {**settings, "model_dir": str(model_dir(config)), "train_config": config.train.to_dict(), "dtype": dtype,
            **extra}


def run_profile(config, task: str, dtype: str = "float32") -> dict:
    """profile_worker on the bench's scoring call or training step (its settings and the config's optimiser)."""
    if task not in ("score", "train"):
        raise ValueError(f"bench profile must be score or train, got {task!r}")
    out = _worker(f"profile-{task}", _worker_args(config, SETTINGS[task], dtype))
    c = out["gemm_concurrency_ms"]
    print(f"profile {task} ({dtype}): {out['wall_ms']:.0f} ms; wall ms with 0 / 1 / 2+ matrix products running: "
          f"{c.get('0', 0):.0f} / {c.get('1', 0):.0f} / {c.get('2+', 0):.0f}", flush=True)
    for row in out["top_ops"]:
        print(f"  {row['ms']:8.1f} ms  x{row['calls']:<4d} {row['op']}", flush=True)
    return {"task": task, "dtype": dtype, "settings": SETTINGS[task], "load_average": os.getloadavg(),
            "cpu_affinity": sorted(os.sched_getaffinity(0)), **out}


def run_bench(config, *, steps: int = 5, tasks=("gemm", "score", "train", "generate"), dtype: str = "float32",
              torch_bf16: str = "weights", rounds: int = 1) -> dict:
    """dtype: the compute dtype of scoring and training in both frameworks (generation stays float32); with
    bfloat16, torch_bf16 picks torch's path (bfloat16 weights, or float32 weights under autocast). rounds: each
    measurement repeated that many times, the two frameworks alternated; each reports its median round, and
    `ratio_per_round` the ratio within each round (this VM's speed drifts by 10-25% over minutes)."""
    if rounds < 1:
        raise ValueError(f"bench rounds must be >= 1, got {rounds}")
    import shutil
    import tempfile

    from engine.lm.train import model_dir

    unknown = [t for t in tasks if t not in SETTINGS]
    if unknown:
        raise ValueError(f"bench tasks {unknown} unknown; known: {', '.join(SETTINGS)}")
    tasks = sorted(tasks, key=lambda t: t != "gemm")  # gemm first: the roofline of score and train needs its rate
    if dtype not in ("float32", "bfloat16"):
        raise ValueError(f"bench dtype must be float32 or bfloat16, got {dtype!r}")
    out = {"model_dir": str(model_dir(config)), "steps": steps, "rounds": rounds, "results": {},
           "load_average_before": os.getloadavg(), "cpu_affinity": sorted(os.sched_getaffinity(0))}
    print(f"benchmark on CPUs {out['cpu_affinity']} (the workers inherit this affinity)", flush=True)
    from engine.lm.config import LMConfig

    cfg = LMConfig.from_dir(model_dir(config))
    shapes = {"gemm": {"k": cfg.hidden_size, "n": cfg.intermediate_size}}
    scratch = tempfile.mkdtemp(prefix="lm_bench_")
    for task in tasks:
        row = {"settings": {**SETTINGS[task], **shapes.get(task, {})},
               "dtype": dtype if task != "generate" else "float32"}
        runs = {"jax": [], "torch": []}
        for _ in range(rounds):  # alternated, so that both frameworks meet the same phases of the machine
            for framework, results in runs.items():
                args = _worker_args(config, row["settings"], row["dtype"], steps=steps, torch_bf16=torch_bf16,
                                    save=f"{scratch}/{framework}.npy" if task == "score" else "")
                results.append(_worker(f"{framework}-{task}", args))
        rate = "gflops" if task == "gemm" else "tokens_per_s"
        for framework, results in runs.items():  # each framework's median round (the lower middle of an even count)
            row[framework] = {**sorted(results, key=lambda r: r[rate])[(rounds - 1) // 2],
                              "rounds": [r[rate] for r in results]}
        row["ratio_per_round"] = [j[rate] / t[rate] for j, t in zip(runs["jax"], runs["torch"], strict=True)]
        if task == "gemm":
            row["jax_over_torch_gflops"] = row["jax"]["gflops"] / row["torch"]["gflops"]
            out["results"][task] = row
            print(f"gemm ({row['dtype']}, {SETTINGS['gemm']['m']}x{cfg.hidden_size}x{cfg.intermediate_size}): jax "
                  f"{row['jax']['gflops']:.1f} GFLOP/s, torch {row['torch']['gflops']:.1f} GFLOP/s", flush=True)
            continue
        if task in ("score", "train") and "gemm" in out["results"]:
            _roofline(row, step_flops(cfg, task, SETTINGS[task]), out["results"]["gemm"])
        if task == "score":  # the same batch in both: next-token log-probabilities agree
            row["max_abs_logprob_diff"] = float(np.abs(np.load(f"{scratch}/jax.npy") - np.load(f"{scratch}/torch.npy")).max())
        row["jax_over_torch_tokens_per_s"] = row["jax"]["tokens_per_s"] / row["torch"]["tokens_per_s"]
        if "peak_rss_mb" in row["jax"]:
            row["jax_over_torch_peak_rss"] = row["jax"]["peak_rss_mb"] / row["torch"]["peak_rss_mb"]
        out["results"][task] = row
        print(f"{task} ({row['dtype']}): jax {row['jax']['tokens_per_s']:.1f} tok/s, torch {row['torch']['tokens_per_s']:.1f} tok/s, "
              f"ratio {row['jax_over_torch_tokens_per_s']:.2f}"
              + (f" (rounds: {', '.join(f'{r:.2f}' for r in row['ratio_per_round'])})" if rounds > 1 else "")
              + (f", peak RSS jax {row['jax']['peak_rss_mb']:.0f} MB torch {row['torch']['peak_rss_mb']:.0f} MB"
                 if "peak_rss_mb" in row["jax"] else "")
              + (f"; at {row['jax']['gemm_efficiency']:.0%} / {row['torch']['gemm_efficiency']:.0%} of their GEMM "
                 f"bounds, ratio ceiling {row['ceiling_jax_over_torch']:.2f}"
                 + ("" if row["ceiling_jax_over_torch"] >= GOAL_RATIO else
                    f" (so {GOAL_RATIO}x is out of reach in this run)") if "ceiling_jax_over_torch" in row
                 else ""), flush=True)
    out["load_average_after"] = os.getloadavg()
    shutil.rmtree(scratch, ignore_errors=True)
    return out


def _roofline(row: dict, flops: float, gemm: dict) -> None:
    """Each framework's time if its step were only its matrix products at its measured GEMM rate, its efficiency
    (that bound over the measured time), and the ceiling of the ratio: transformers' time over JAX's bound."""
    row["matmul_gflop"] = flops / 1e9
    for framework in ("jax", "torch"):
        bound = flops / (gemm[framework]["gflops"] * 1e9)
        row[framework]["gemm_bound_s"] = bound
        row[framework]["gemm_efficiency"] = bound / row[framework]["seconds"]
    row["ceiling_jax_over_torch"] = row["torch"]["seconds"] / row["jax"]["gemm_bound_s"]


if __name__ == "__main__":
    worker, raw = sys.argv[1], json.loads(sys.argv[2])
    framework, task = worker.split("-", 1)
    result = {"jax": jax_worker, "torch": torch_worker, "profile": profile_worker}[framework](task, raw)
    print(json.dumps(result))
