"""The JAX causal LM: LoRA tuning, scoring, generation, export, benchmark.

    python -m launch.lm --mode=train --config configs/lm.py:ml100k-yesno --workdir runs/lm-yesno [--config.seed=1]
    python -m launch.lm --mode=score --config configs/lm.py --adapter runs/lm-yesno --input x.jsonl --output s.jsonl
    python -m launch.lm --mode=generate --config configs/lm.py [--adapter DIR] --input x.jsonl --output g.jsonl \
        [--max_new_tokens=64 --temperature=0 --top_p=1 --stop='\n']
    python -m launch.lm --mode=export --config configs/lm.py --adapter runs/lm-yesno --out runs/lm-yesno/export \
        [--merged] [--gguf]
    python -m launch.lm --mode=bench --config configs/lm.py [--bench_steps=5] [--bench_dtype=bfloat16] \
        [--bench_tasks=gemm,score,train] [--bench_rounds=3] [--bench_profile=train]
    python -m launch.lm --mode=report --runs runs/a,runs/b,runs/c --out docs/lm/curve.png
    python -m launch.lm --mode=serve --config configs/lm.py --out runs/lm-yesno/export --input x.jsonl --output a.jsonl
        (the exported GGUF served by the embedded llama.cpp server, asked through llm.LLMClient)

--adapter is a PEFT adapter directory or a LoRA run directory (its adapter/). Inputs are JSONL examples
({"instruction", "input"[, "output"]} or {"prompt"[, "answer"]}) rendered with config.data.template.
score writes, per example, the verbalizer distribution (config.data.verbalizer) and, when the example has an
answer, its log-probability. Re-running train on the same --workdir resumes.
"""

from __future__ import annotations

import json
import pathlib

from absl import app, flags
from ml_collections import config_flags

MODES = ("train", "score", "generate", "export", "bench", "report", "serve")
config_flags.DEFINE_config_file("config", "configs/lm.py", "Config file and preset, e.g. configs/lm.py:ml100k-yesno.",
                                lock_config=True)
flags.DEFINE_enum("mode", None, MODES, "What to do.")
flags.DEFINE_string("workdir", None, "train: the run directory (created; resumed).")
flags.DEFINE_string("adapter", None, "score/generate/export: PEFT adapter dir or LoRA run dir.")
flags.DEFINE_string("input", None, "score/generate: JSONL examples.")
flags.DEFINE_string("output", None, "score/generate: JSONL results (written atomically).")
flags.DEFINE_string("out", None, "export: output directory (serve: where export wrote); report: the PNG.")
flags.DEFINE_bool("merged", False, "export: also merged full weights as a Hugging Face directory (out/merged).")
flags.DEFINE_bool("gguf", False, "export: also a merged GGUF for llama.cpp (out/model-f16.gguf).")
flags.DEFINE_integer("max_new_tokens", 64, "generate: tokens per answer at most.")
flags.DEFINE_float("temperature", 0.0, "generate: 0 = greedy.")
flags.DEFINE_float("top_p", 1.0, "generate: nucleus mass.")
flags.DEFINE_multi_string("stop", [], "generate: stop strings.")
flags.DEFINE_integer("bench_steps", 5, "bench: timed repetitions per measurement.")
flags.DEFINE_enum("bench_dtype", "float32", ["float32", "bfloat16"],
                  "bench: compute dtype of scoring and training in both frameworks (generation stays float32).")
flags.DEFINE_list("bench_tasks", ["gemm", "score", "train", "generate"],
                  "bench: measurements to run, of gemm, score, train, generate (with gemm, score and train get the "
                  "roofline).")
flags.DEFINE_integer("bench_rounds", 1, "bench: repeat each measurement this many times, the two frameworks "
                     "alternated; each reports its median round and the output lists each round's ratio.")
flags.DEFINE_enum("bench_profile", "", ["", "score", "train"],
                  "bench: instead of the comparison, trace JAX's scoring call or training step once and print where "
                  "its time goes (engine.lm.bench.profile_worker).")
flags.DEFINE_enum("bench_torch_bf16", "weights", ["weights", "autocast"],
                  "bench with bfloat16: torch loads bfloat16 weights, or keeps float32 weights under autocast.")
flags.DEFINE_list("runs", [], "report: LoRA run directories (one per seed).")
flags.mark_flags_as_required(["mode"])


def _need(*names):
    missing = [f"--{n}" for n in names if not getattr(flags.FLAGS, n)]
    if missing:
        raise ValueError(f"--mode={flags.FLAGS.mode} needs {', '.join(missing)}")


def _load(config, adapter):
    """(lm, tokenizer, mesh): the base weights (and the adapter) placed on the config's mesh."""
    from engine.lm.adapters import read_adapter, read_adapter_spec, resolve_adapter_dir
    from engine.lm.batching import LMMesh
    from engine.lm.tokenizer import LMTokenizer
    from engine.lm.train import model_dir
    from engine.lm.weights import load_lm

    mdir, mesh = model_dir(config), LMMesh.create(config.mesh.model)
    if not adapter:
        return load_lm(mdir, dtype=config.model.dtype, mesh=mesh), LMTokenizer(mdir), mesh
    adapter = resolve_adapter_dir(adapter)
    lm = load_lm(mdir, lora=read_adapter_spec(adapter), dtype=config.model.dtype, mesh=mesh)
    lm.lora = mesh.place_weights(read_adapter(adapter, lm, lm.lora))
    return lm, LMTokenizer(mdir), mesh


def _examples(config, tokenizer):
    from engine.lm.data import read_jsonl
    from engine.lm.templates import example_parts, prompt_ids

    rows = read_jsonl(flags.FLAGS.input)
    prompts = []
    for row in rows:
        instruction, input_text, _ = example_parts(row, row["_where"])
        prompts.append(prompt_ids(tokenizer, config.data.template, instruction, input_text))
    return rows, prompts


def _write_jsonl(path, rows):
    from engine.run_dir import write_text_atomic
    write_text_atomic(pathlib.Path(path), "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def score(config):
    from engine.lm.score import Scorer

    _need("input", "output")
    lm, tokenizer, mesh = _load(config, flags.FLAGS.adapter)
    rows, prompts = _examples(config, tokenizer)
    scorer = Scorer(lm, tokenizer, batch_size=config.eval.batch_size, buckets=tuple(config.train.length_buckets),
                    mesh=mesh)
    out = [{"where": r["_where"]} for r in rows]
    if config.data.verbalizer:
        v = scorer.verbalizer(prompts, tuple(config.data.verbalizer))
        for o, p in zip(out, v.probs, strict=True):
            o["probs"] = dict(zip(v.options, map(float, p), strict=True))
    answered = [i for i, r in enumerate(rows) if (r.get("output") or r.get("answer"))]
    if answered:
        conts = [tokenizer.encode(rows[i].get("output") or rows[i].get("answer")) for i in answered]
        logp = scorer.continuation_logprobs([prompts[i] for i in answered], conts)
        for i, lp in zip(answered, logp, strict=True):
            out[i]["answer_logprob"] = float(lp)
    _write_jsonl(flags.FLAGS.output, out)
    summary = {"scored": len(out), "output": flags.FLAGS.output}
    answers = [r.get("output") or r.get("answer") for r in rows]
    options = tuple(config.data.verbalizer)
    if options and all(a in options for a in answers):  # labelled with the verbalizer: the validation metrics
        import numpy as np

        from engine.lm.train import verbalizer_metrics

        summary.update(verbalizer_metrics(v.probs, np.array([options.index(a) for a in answers])))
    return summary


def generate(config):
    from engine.lm.generate import Generator

    _need("input", "output")
    lm, tokenizer, mesh = _load(config, flags.FLAGS.adapter)
    rows, prompts = _examples(config, tokenizer)
    gen = Generator(lm, tokenizer, batch_size=config.eval.batch_size, buckets=tuple(config.train.length_buckets),
                    mesh=mesh)
    results = gen.generate(prompts, max_new_tokens=flags.FLAGS.max_new_tokens, temperature=flags.FLAGS.temperature,
                           top_p=flags.FLAGS.top_p, stop=flags.FLAGS.stop, seed=config.seed)
    _write_jsonl(flags.FLAGS.output, [{"where": r["_where"], "text": g.text, "finish_reason": g.finish_reason}
                                      for r, g in zip(rows, results, strict=True)])
    return {"generated": len(results), "output": flags.FLAGS.output}


def export(config):
    from engine.lm.adapters import resolve_adapter_dir, write_adapter
    from engine.lm.export import merged_params, write_gguf, write_hf_dir

    _need("adapter", "out")
    lm, _, _ = _load(config, flags.FLAGS.adapter)
    out = pathlib.Path(flags.FLAGS.out)
    written = {"adapter": str(write_adapter(out / "adapter", lm, lm.lora, lm.lora_spec))}
    if flags.FLAGS.merged or flags.FLAGS.gguf:
        params = merged_params(lm, lm.lora)
        if flags.FLAGS.merged:
            written["merged"] = str(write_hf_dir(lm, params, out / "merged"))
        if flags.FLAGS.gguf:
            written["gguf"] = str(write_gguf(lm, params, out / "model-f16.gguf"))
    written["from"] = str(resolve_adapter_dir(flags.FLAGS.adapter))
    return written


def serve(config):
    """Ask the exported GGUF, served by the embedded llama.cpp server, through llm.LLMClient (as a stage would)."""
    import math

    from engine.lm.data import read_jsonl
    from engine.lm.templates import example_parts
    from llm.server import LlamaCppServer

    _need("out", "input", "output")
    gguf_path = pathlib.Path(flags.FLAGS.out) / "model-f16.gguf"
    if not gguf_path.is_file():
        raise FileNotFoundError(f"{gguf_path}: not found (run --mode=export --gguf first)")
    rows = read_jsonl(flags.FLAGS.input)
    out = []
    with LlamaCppServer(model_path=gguf_path, n_ctx=2048) as server:
        client = server.endpoint.client(timeout=120)
        for row in rows:
            instruction, input_text, _ = example_parts(row, row["_where"])
            content = f"{instruction}\n\n{input_text}" if input_text else instruction
            answer = client.chat([{"role": "user", "content": content}], max_tokens=flags.FLAGS.max_new_tokens,
                                 temperature=0.0, top_logprobs=5)
            result = {"where": row["_where"], "text": answer.text}
            if config.data.verbalizer and answer.logprobs:
                top = answer.logprobs[0].top
                result["top_logprobs"] = top
                result["probs"] = {o: math.exp(top[o]) for o in config.data.verbalizer if o in top}
            out.append(result)
    _write_jsonl(flags.FLAGS.output, out)
    return {"answered": len(out), "output": flags.FLAGS.output, "served": str(gguf_path)}


def main(argv):
    from launch.common import run_guarded, start
    start(argv)
    config, mode = flags.FLAGS.config, flags.FLAGS.mode

    def run():
        if mode == "train":
            from engine.lm.stages import run as run_stages
            _need("workdir")
            return run_stages(config, flags.FLAGS.workdir)
        if mode == "report":
            from engine.lm.report import plot, summarize
            _need("runs", "out")
            return {**summarize(flags.FLAGS.runs, config.eval.metric),
                    "png": str(plot(flags.FLAGS.runs, flags.FLAGS.out, config.eval.metric))}
        if mode == "bench":
            from engine.lm.bench import run_bench, run_profile
            if flags.FLAGS.bench_profile:
                return run_profile(config, flags.FLAGS.bench_profile, flags.FLAGS.bench_dtype)
            return run_bench(config, steps=flags.FLAGS.bench_steps, dtype=flags.FLAGS.bench_dtype,
                             torch_bf16=flags.FLAGS.bench_torch_bf16, tasks=tuple(flags.FLAGS.bench_tasks),
                             rounds=flags.FLAGS.bench_rounds)
        return {"score": score, "generate": generate, "export": export, "serve": serve}[mode](config)

    print(json.dumps(run_guarded(run), indent=2, default=str))


if __name__ == "__main__":
    app.run(main)
