"""Stage `retrain` (§3.4, last step): the backbone trained from scratch on the certain + corrected instances
(LLM4RSR) against the same backbone on the uncorrected instances (Plain), same seeds, same budget, both evaluated
on the unchanged loo_full validation and test prompts.

The runs live in <workdir>/runs/{plain,llm4rsr}-<table sha256[:10]>-s<seed> (the trainer resumes them; the plain
run of seed `seed` is the confidence stage's backbone). The stage writes table.json / table.md: test NDCG and HR at 10 and 20 per
side (mean ± sample std over seeds) and the paired test per metric (engine.eval.significance, the test that
launch.compare runs; launch.compare itself refuses the pair, whose data sections differ in data.instances_path).
"""

from __future__ import annotations

import json
import pathlib

import numpy as np

from engine.data.sources import file_sha256
from engine.run_dir import write_json_atomic, write_text_atomic
from llm.stages.llm4rsr.common import dataset_key, load_data
from llm.stages.stage import run_stage

NAME = "retrain"
OUTPUTS = ("table.json", "table.md")
METRICS = ("NDCG@10", "HR@10", "NDCG@20", "HR@20")


def _ranks(path: pathlib.Path) -> np.ndarray:
    found = path / "ranks_test.npy"
    if not found.exists():
        raise FileNotFoundError(f"{found}: the run wrote no test ranks, so no paired test is possible")
    return np.load(found)


def run(config, workdir, instances_result, correction_result, confidence_result, llm=None):
    from engine.eval.significance import paired_comparison
    from llm.stages.llm4rsr.confidence import backbone_dir, ensure_run

    dataset, _ = load_data(config)
    workdir = pathlib.Path(workdir)
    seeds = [int(s) for s in config.retrain.seeds]
    tables = {"plain": instances_result.path("instances.npz").resolve(),
              "llm4rsr": correction_result.path("instances.npz").resolve()}

    digests = {side: file_sha256(path)[:10] for side, path in tables.items()}

    def run_dir(side: str, seed: int) -> pathlib.Path:
        if side == "plain" and seed == int(config.seed):
            return backbone_dir(config, workdir)
        # Named by the table's content: a re-made correction with other answers trains new runs, never reuses
        # runs of the old table (their data.instances_path would be the same file name).
        return workdir / "runs" / f"{side}-{digests[side]}-s{seed}"

    def compute(ctx):
        runs = {side: [ensure_run(config, run_dir(side, s), tables[side], s) for s in seeds] for side in tables}
        results = {side: [json.loads((p / "results.json").read_text()) for p in paths] for side, paths in runs.items()}
        # The metrics every run reports (a run with other eval.ks lacks some of the defaults).
        metrics = [m for m in METRICS if all(m in r["test"] for rs in results.values() for r in rs)]
        table = {"seeds": seeds, "runs": {side: [str(p) for p in paths] for side, paths in runs.items()},
                 "metrics": metrics, "sides": {}, "tests": {}}
        for side in tables:
            values = {m: [r["test"][m] for r in results[side]] for m in metrics}
            table["sides"][side] = {m: {"mean": float(np.mean(v)), "std": float(np.std(v, ddof=1)) if len(v) > 1
                                        else 0.0, "values": v} for m, v in values.items()}
        ranks = {side: [_ranks(p) for p in paths] for side, paths in runs.items()}
        for m in metrics:
            table["tests"][m] = paired_comparison(ranks["plain"], ranks["llm4rsr"], m)
        write_json_atomic(ctx.dir / "table.json", table)
        write_text_atomic(ctx.dir / "table.md", render(table, config))
        return {m: table["tests"][m]["relative_gain"] for m in metrics}

    inputs = {"dataset": dataset_key(dataset), "instances": instances_result.meta["inputs_digest"],
              "correction": correction_result.meta["inputs_digest"],
              "backbone": confidence_result.meta["inputs"]["backbone_config"],
              "backbone_spec": [config.backbone.config, list(config.backbone.overrides)], "seeds": seeds,
              "corrected_table": file_sha256(tables["llm4rsr"]), "version": 2}
    return run_stage(workdir, NAME, inputs, compute, OUTPUTS, llm)


def render(table: dict, config) -> str:
    metrics = table["metrics"]
    header = "| setting | " + " | ".join(f"test {m}" for m in metrics) + " |"
    lines = [(f"Backbone {config.backbone.config} {' '.join(config.backbone.overrides)}, seeds "
             f"{', '.join(map(str, table['seeds']))} (mean ± sample std)"), "", header,
             "|---|" + "---|" * len(metrics)]
    for side, label in (("plain", "Plain"), ("llm4rsr", "LLM4RSR")):
        cells = [f"{s['mean']:.4f} ± {s['std']:.4f}" for s in (table["sides"][side][m] for m in metrics)]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    tests = [table["tests"][m] for m in metrics]
    lines.append("| gain (paired t p) | " + " | ".join(f"{t['relative_gain']:+.2%} (p = {t['paired_t_p']:.2g})"
                                                        for t in tests) + " |")
    return "\n".join(lines) + "\n"
