"""LLM4RSR end to end (Sun et al., AAAI 2025), one stage per directory of the run directory:

instances -> item_memory -> tgd_data -> tgd -> confidence (backbone trained if needed) -> correction
[-> confidence-<label> -> correction-<label> per backbone of retrain.backbones, with retrain.correction
'per_backbone'] [-> alpha_correction] -> retrain [-> alpha_sweep]   (the alpha sweep when sweep.alphas is set)

`run(config, workdir)` runs every stage in order; a finished stage with the same inputs is skipped, and a stage
killed half-way replays its answers from <workdir>/llm_cache.jsonl, so re-running the command resumes.
"""

from __future__ import annotations

import json
import pathlib

STAGES = ("instances", "item_memory", "tgd_data", "tgd", "confidence", "correction", "alpha_correction", "retrain",
          "alpha_sweep")  # plus confidence-<label> / correction-<label> per extra backbone (retrain.correction)


def run(config, workdir, log=print) -> dict:
    from engine.run_dir import write_json_atomic
    from llm.stages.llm4rsr import confidence, correction, instances, memory, retrain, sweep, tgd, tgd_data
    from llm.stages.stage import LLMSession

    workdir = pathlib.Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(workdir / "config.json", json.loads(config.to_json()))
    server = {"n_ctx": int(config.llm.n_ctx)}
    with LLMSession(workdir, config.llm.url, config.llm.model, config.llm.dialect, server_kwargs=server,
                    max_concurrency=int(config.llm.max_concurrency), timeout=float(config.llm.timeout)) as llm:
        results = {"instances": instances.run(config, workdir)}
        results["item_memory"] = memory.run(config, workdir, llm)
        results["tgd_data"] = tgd_data.run(config, workdir, results["instances"])
        results["tgd"] = tgd.run(config, workdir, llm, results["tgd_data"], results["item_memory"])
        results["confidence"] = confidence.run(config, workdir, results["instances"])
        results["correction"] = correction.run(config, workdir, llm, results["instances"], results["confidence"],
                                               results["tgd"])
        corrections = [results["correction"]]
        shared = retrain.correction_mode(config) == "shared"
        for label, spec in retrain.backbones(config)[1:]:
            if shared:
                corrections.append(results["correction"])
                continue
            # Each backbone's own uncertainty (its Plain run of seed `seed`, shared with retrain) picks its instances.
            conf = confidence.run(config, workdir, results["instances"], label=label, spec=spec)
            own = correction.run(config, workdir, llm, results["instances"], conf, results["tgd"], label=label)
            results.update({conf.name: conf, own.name: own})
            corrections.append(own)
        if sweep.alphas(config):
            results["alpha_correction"] = sweep.correct(config, workdir, llm, results["instances"],
                                                        results["confidence"], results["tgd"])
    # No LLM from here on: the server is stopped before the backbones train.
    results["retrain"] = retrain.run(config, workdir, results["instances"], corrections, results["confidence"])
    if "alpha_correction" in results:
        results["alpha_sweep"] = sweep.retrain(config, workdir, results["instances"], results["alpha_correction"],
                                               results["confidence"])
    costs = {name: r.cost for name, r in results.items()}
    write_json_atomic(workdir / "cost.json", costs)
    from engine.run_dir import write_text_atomic
    write_text_atomic(workdir / "cost.md", cost_table(costs))
    log(f"LLM4RSR stages done in {workdir}: " + ", ".join(
        f"{n} ({'skipped' if r.skipped else 'ran'})" for n, r in results.items()))
    return results


def cost_table(costs: dict) -> str:
    """Markdown table of the stages' cost.json (what each stage's last computing run spent; a stage resumed
    after a kill counts the answers its killed run got as cache hits, and not that run's time)."""
    lines = ["| stage | LLM requests | HTTP calls | cache hits | prompt tokens | completion tokens | failures | wall s |",
             "|---|---|---|---|---|---|---|---|"]
    for name, c in costs.items():
        failures = ", ".join(f"{k} {v}" for k, v in c.get("failures", {}).items()) or "0"
        lines.append(f"| {name} | {c.get('requests', 0)} | {c.get('calls', 0)} | {c.get('cache_hits', 0)} | "
                     f"{c.get('prompt_tokens', 0):,} | {c.get('completion_tokens', 0):,} | {failures} | "
                     f"{c.get('wall_seconds', 0):.0f} |")
    return "\n".join(lines) + "\n"
