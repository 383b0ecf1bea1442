"""Stage `retrain` (§3.4, last step): the backbone trained from scratch on the certain + corrected instances
(LLM4RSR) against the same backbone on the uncorrected instances (Plain), same seeds, same budget, both evaluated
on the unchanged loo_full validation and test prompts.

The backbones are the `backbone` config and the config specs in retrain.backbones (the main table's other rows).
With retrain.correction = 'per_backbone' (the paper: each RSR's own uncertainty picks the instances it learns
from) each backbone trains on the correction its own confidence chose (stages confidence-<label> and
correction-<label>); with 'shared' every backbone trains on the `backbone` config's correction.

The runs live in <workdir>/runs/[<label>-]{plain,llm4rsr}-<table sha256[:10]>-s<seed> (the trainer resumes them;
the main backbone's plain run of seed `seed` is the confidence stage's backbone). The stage writes table.json /
table.md: per backbone, test NDCG and HR at 10 and 20 per side (mean ± sample std over seeds) and the paired test
per metric (engine.eval.significance, the test that launch.compare runs; launch.compare itself refuses the pair,
whose data sections differ in data.instances_path).
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


def backbones(config) -> list[tuple[str, str | None]]:
    """(label, spec) of every backbone of the main table: the `backbone` config first (spec None), then
    retrain.backbones. Labels name the run directories, so they must differ."""
    from engine.runner.config_spec import load_config_spec

    out = [(load_config_spec(config.backbone.config)[1], None)]
    for spec in config.retrain.get("backbones", ()):
        out.append((load_config_spec(spec)[1], str(spec)))
    labels = [label for label, _ in out]
    if len(set(labels)) != len(labels):
        raise ValueError(f"retrain.backbones: labels {labels} repeat; give each spec its own label=NAME")
    return out


def run_dir(config, workdir, side: str, digest: str, seed: int, label: str | None = None) -> pathlib.Path:
    """A retrained run's directory. Named by the table's content: a re-made correction with other answers trains
    new runs, never reuses runs of the old table (their data.instances_path would be the same file name); two
    stages that build the same table (the correction and an equal alpha-sweep point) share the runs."""
    from llm.stages.llm4rsr.confidence import backbone_dir

    if label is None and side == "plain" and seed == int(config.seed):
        return backbone_dir(config, workdir)
    return pathlib.Path(workdir) / "runs" / f"{label + '-' if label else ''}{side}-{digest}-s{seed}"


def compare(paths: dict[str, list[pathlib.Path]], metrics=METRICS) -> dict:
    """Mean ± sample std per side and metric (test, and validation NDCG@10 / HR@10: the numbers a choice may be
    made on), and the paired test of llm4rsr against plain per test metric."""
    from engine.eval.significance import paired_comparison
    from engine.report.tables import mean_std

    results = {side: [json.loads((p / "results.json").read_text()) for p in ps] for side, ps in paths.items()}
    # The metrics every run reports (a run with other eval.ks lacks some of the defaults).
    metrics = [m for m in metrics if all(m in r["test"] for rs in results.values() for r in rs)]
    out = {"runs": {side: [str(p) for p in ps] for side, ps in paths.items()}, "metrics": metrics, "sides": {},
           "valid": {}, "tests": {}}

    def stats(v):
        mean, std = mean_std(v)
        return {"mean": mean, "std": std, "values": v}

    for side, rs in results.items():
        out["sides"][side] = {m: stats([r["test"][m] for r in rs]) for m in metrics}
        out["valid"][side] = {m: stats([r["valid"][m] for r in rs]) for m in ("NDCG@10", "HR@10")
                              if all(m in r.get("valid", {}) for r in rs)}
    ranks = {side: [_ranks(p) for p in ps] for side, ps in paths.items()}
    for m in metrics:
        out["tests"][m] = paired_comparison(ranks["plain"], ranks["llm4rsr"], m)
    return out


CORRECTION_MODES = ("per_backbone", "shared")


def correction_mode(config) -> str:
    mode = str(config.retrain.get("correction", "shared"))
    if mode not in CORRECTION_MODES:
        raise ValueError(f"retrain.correction must be one of {', '.join(CORRECTION_MODES)}, got {mode!r}")
    return mode


def run(config, workdir, instances_result, corrections: list, confidence_result, llm=None):
    """corrections: the correction stage result each row of backbones(config) trains on, in that order."""
    from llm.stages.llm4rsr.confidence import ensure_run

    dataset, _ = load_data(config)
    workdir = pathlib.Path(workdir)
    seeds = [int(s) for s in config.retrain.seeds]
    rows = backbones(config)
    if len(corrections) != len(rows):
        raise ValueError(f"retrain: {len(corrections)} corrections for {len(rows)} backbones")
    plain = instances_result.path("instances.npz").resolve()
    fixed = [c.path("instances.npz").resolve() for c in corrections]
    digests = {path: file_sha256(path)[:10] for path in [plain, *fixed]}

    def compute(ctx):
        table = {"seeds": seeds, "correction": correction_mode(config), "backbones": []}
        for index, ((label, spec), corrected) in enumerate(zip(rows, fixed)):
            prefix = None if index == 0 else label  # the main backbone keeps the unprefixed run names
            tables = {"plain": plain, "llm4rsr": corrected}
            paths = {side: [ensure_run(config, run_dir(config, workdir, side, digests[path], s, prefix), path, s, spec)
                            for s in seeds] for side, path in tables.items()}
            table["backbones"].append({"label": label, "spec": spec or " ".join(
                [config.backbone.config, *config.backbone.overrides]), "corrected_by": corrections[index].name,
                **compare(paths)})
        # The main backbone's row at the top level, as before there were several.
        main = table["backbones"][0]
        table.update(runs=main["runs"], metrics=main["metrics"], sides=main["sides"], tests=main["tests"])
        write_json_atomic(ctx.dir / "table.json", table)
        write_text_atomic(ctx.dir / "table.md", render(table))
        return {b["label"]: {m: b["tests"][m]["relative_gain"] for m in b["metrics"]} for b in table["backbones"]}

    inputs = {"dataset": dataset_key(dataset), "instances": instances_result.meta["inputs_digest"],
              "correction": corrections[0].meta["inputs_digest"],
              "backbone": confidence_result.meta["inputs"]["backbone_config"],
              "backbone_spec": [config.backbone.config, list(config.backbone.overrides)], "seeds": seeds,
              "backbones": [spec for _, spec in rows[1:]],
              "corrected_table": file_sha256(fixed[0]), "version": 3}
    if correction_mode(config) == "per_backbone" and len(rows) > 1:
        inputs["corrected_tables"] = [file_sha256(path) for path in fixed[1:]]
    return run_stage(workdir, NAME, inputs, compute, OUTPUTS, llm)


def cell(stat: dict) -> str:
    return f"{stat['mean']:.4f} ± {stat['std']:.4f}"


def render(table: dict) -> str:
    metrics = table["metrics"]
    per = table.get("correction") == "per_backbone"
    lines = [(f"Seeds {', '.join(map(str, table['seeds']))} (test, mean ± sample std; paired t-test over the test "
              f"prompts of every seed). LLM4RSR: "
              + ("each backbone's own correction (its least confident instances)" if per else
                 "the correction chosen by the first backbone's confidence, for every backbone")), "",
             "| backbone | setting | " + " | ".join(metrics) + " |", "|---|---|" + "---|" * len(metrics)]
    for b in table["backbones"]:
        for side, label in (("plain", "Plain"), ("llm4rsr", "LLM4RSR")):
            lines.append(f"| {b['label']} | {label} | " + " | ".join(cell(b["sides"][side][m]) for m in metrics)
                         + " |")
        lines.append("| | gain (p) | " + " | ".join(
            f"{b['tests'][m]['relative_gain']:+.2%} (p = {b['tests'][m]['paired_t_p']:.2g})" for m in metrics) + " |")
    lines += ["", "Specs: " + "; ".join(f"{b['label']}: `{b['spec']}`" for b in table["backbones"])]
    return "\n".join(lines) + "\n"
