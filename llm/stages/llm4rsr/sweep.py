"""The α sweep (the paper's Fig. 4 a-b), two stages in the same run directory as the pipeline they extend.

Stage `alpha_correction` (LLM): for the alphas of sweep.alphas, the sets of the ceil(α·n) least confident
instances are nested (lowest confidence first, ties by row), so the largest is corrected once by the correction
stage's rules (correction.correct_rows, the TGD-optimised prompt and memory) and every smaller α takes the prefix
of its decisions: one LLM call per instance of the largest set (plus the candidates of complete mismatches), and
the answers the `correction` stage already got are cache hits. correct.max_instances does not cap the sweep.
Artifacts: alpha-<α>/instances.npz per α (the corrected table, rows replaced in place as in `correction`),
changes.jsonl (one record per instance of the largest set, `rank` = its place in the confidence order),
summary.json (per α: instances corrected, decisions, table size and digest).

Stage `alpha_sweep` (no LLM): the `backbone` config retrained on each α's table for every seed of retrain.seeds,
and compared with Plain (the `retrain` stage's plain runs, shared), with the paired test per metric. Artifacts:
sweep.json, sweep.md (a row per α: test NDCG@10 / HR@10 mean ± std, gain and paired-t p against Plain, and the
validation NDCG@10, the only number an α may be chosen on), sweep.png (test NDCG@10 and HR@10 against α).
"""

from __future__ import annotations

import json
import math
import pathlib

import numpy as np

from engine.data.instances import save_instances
from engine.data.sources import file_sha256
from engine.run_dir import write_json_atomic, write_text_atomic
from llm.stages.llm4rsr.common import dataset_key, item_names, item_type, load_data
from llm.stages.stage import run_stage

CORRECTION = "alpha_correction"
SWEEP = "alpha_sweep"
METRICS = ("NDCG@10", "HR@10", "NDCG@20", "HR@20")


def alphas(config) -> list[float]:
    """sweep.alphas, ascending and checked; [] when there is no sweep."""
    values = sorted(float(a) for a in config.get("sweep", {}).get("alphas", ()))
    bad = [a for a in values if not 0 < a <= 1]
    if bad:
        raise ValueError(f"sweep.alphas must lie in (0, 1], got {bad}")
    if len(set(values)) != len(values):
        raise ValueError(f"sweep.alphas repeats a value: {values}")
    return values


def alpha_name(alpha: float) -> str:
    return f"alpha-{alpha:g}"


def prefix_sizes(values: list[float], n: int) -> list[int]:
    """How many of the n instances each α corrects: ceil(α·n), as correction.select_uncertain."""
    return [math.ceil(a * n) for a in values]


def correct(config, workdir, llm, instances_result, confidence_result, tgd_result):
    from llm.stages.llm4rsr import confidence as confidence_stage
    from llm.stages.llm4rsr import instances as instances_stage
    from llm.stages.llm4rsr import tgd as tgd_stage
    from llm.stages.llm4rsr.correction import apply_corrections, correct_rows, count_decisions, select_uncertain
    from llm.stages.llm4rsr.prompt import Items

    dataset, _ = load_data(config)
    values = alphas(config)
    mode = str(config.correct.get("complete_mode", "first"))
    outputs = ("summary.json", "changes.jsonl", *(f"{alpha_name(a)}/instances.npz" for a in values))

    def compute(ctx):
        table, _ = instances_stage.load(instances_result)
        conf = confidence_stage.load(confidence_result, len(table))
        ip, memory = tgd_stage.load(tgd_result)
        items = Items(item_names(dataset), memory, item_type(config, dataset))
        rows = select_uncertain(conf["confidence"], values[-1])
        decisions, records = correct_rows(ctx, ip, items, table, conf, rows, dataset, config, mode)
        write_text_atomic(ctx.dir / "changes.jsonl", "".join(json.dumps(r) + "\n" for r in records))
        points = []
        for alpha, k in zip(values, prefix_sizes(values, len(table))):
            corrected = apply_corrections(table, rows[:k], decisions[:k])
            (ctx.dir / alpha_name(alpha)).mkdir()
            save_instances(ctx.dir / alpha_name(alpha) / "instances.npz", corrected,
                           user_id=np.asarray(dataset.user_ids)[corrected.user].astype(str))
            points.append({"alpha": alpha, "selected": k, "decisions": count_decisions(decisions[:k]),
                           "corrected_table": len(corrected), "max_confidence": float(conf["confidence"][rows[k - 1]]),
                           "instances_digest": corrected.digest()})
        summary = {"num_instances": len(table), "complete_mode": mode, "prompt_key": ip.key, "points": points}
        write_json_atomic(ctx.dir / "summary.json", summary)
        ctx.notes.update(selected=len(rows), **count_decisions(decisions))
        return {"alphas": values, "selected": len(rows)}

    inputs = {"dataset": dataset_key(dataset), "instances": instances_result.meta["inputs_digest"],
              "confidence": confidence_result.meta["inputs_digest"], "tgd": tgd_result.meta["inputs_digest"],
              "alphas": values, "num_candidates": int(config.correct.num_candidates), "complete_mode": mode,
              "select_max_tokens": int(config.tgd.select_max_tokens), "max_attempts": int(config.llm.max_attempts),
              "version": 1}
    return run_stage(workdir, CORRECTION, inputs, compute, outputs, llm)


def retrain(config, workdir, instances_result, sweep_result, confidence_result, llm=None):
    from llm.stages.llm4rsr.confidence import ensure_run
    from llm.stages.llm4rsr.retrain import compare, run_dir

    dataset, _ = load_data(config)
    workdir = pathlib.Path(workdir)
    seeds = [int(s) for s in config.retrain.seeds]
    values = alphas(config)
    plain = instances_result.path("instances.npz").resolve()
    tables = {a: sweep_result.path(f"{alpha_name(a)}/instances.npz").resolve() for a in values}
    digests = {a: file_sha256(path) for a, path in tables.items()}
    plain_digest = file_sha256(plain)

    def compute(ctx):
        summary = json.loads(sweep_result.path("summary.json").read_text())
        by_alpha = {p["alpha"]: p for p in summary["points"]}
        plain_runs = [ensure_run(config, run_dir(config, workdir, "plain", plain_digest[:10], s), plain, s)
                      for s in seeds]
        points = []
        for a in values:
            runs = [ensure_run(config, run_dir(config, workdir, "llm4rsr", digests[a][:10], s), tables[a], s)
                    for s in seeds]
            points.append({**by_alpha[a], **compare({"plain": plain_runs, "llm4rsr": runs}, METRICS)})
        out = {"seeds": seeds, "backbone": " ".join([config.backbone.config, *config.backbone.overrides]),
               "num_instances": summary["num_instances"], "points": points}
        write_json_atomic(ctx.dir / "sweep.json", out)
        write_text_atomic(ctx.dir / "sweep.md", render(out))
        plot(out, ctx.dir / "sweep.png")
        return {str(p["alpha"]): p["tests"]["NDCG@10"]["relative_gain"] for p in points}

    inputs = {"dataset": dataset_key(dataset), "instances": instances_result.meta["inputs_digest"],
              "alpha_correction": sweep_result.meta["inputs_digest"], "tables": digests, "plain": plain_digest,
              "backbone": confidence_result.meta["inputs"]["backbone_config"],
              "backbone_spec": [config.backbone.config, list(config.backbone.overrides)], "seeds": seeds,
              "version": 1}
    return run_stage(workdir, SWEEP, inputs, compute, ("sweep.json", "sweep.md", "sweep.png"), llm)


def render(out: dict) -> str:
    from llm.stages.llm4rsr.retrain import cell

    lines = [(f"Backbone `{out['backbone']}`, seeds {', '.join(map(str, out['seeds']))}; test mean ± sample std, "
              f"gain and paired t-test p against Plain; validation NDCG@10 (mean) is the only column to choose α on."),
             "", ("| α | corrected | PM / kept / CM repl. / CM dropped / failed | test NDCG@10 | gain (p) | test HR@10 | "
                  "gain (p) | valid NDCG@10 |"), "|---|---|---|---|---|---|---|---|"]
    first = out["points"][0] if out["points"] else None
    if first is not None:
        valid = first["valid"]["plain"].get("NDCG@10", {}).get("mean", float("nan"))
        lines.append(f"| 0 (Plain) | 0 | - | {cell(first['sides']['plain']['NDCG@10'])} | - | "
                     f"{cell(first['sides']['plain']['HR@10'])} | - | {valid:.4f} |")
    for p in out["points"]:
        d = p["decisions"]
        t = p["tests"]
        valid = p["valid"]["llm4rsr"].get("NDCG@10", {}).get("mean", float("nan"))
        lines.append(f"| {p['alpha']:.2%} | {p['selected']:,} | {d['partial']} / {d['kept']} / "
                     f"{d['complete_replaced']} / {d['complete_dropped']} / {d['failed']} | "
                     f"{cell(p['sides']['llm4rsr']['NDCG@10'])} | {t['NDCG@10']['relative_gain']:+.2%} "
                     f"(p = {t['NDCG@10']['paired_t_p']:.2g}) | {cell(p['sides']['llm4rsr']['HR@10'])} | "
                     f"{t['HR@10']['relative_gain']:+.2%} (p = {t['HR@10']['paired_t_p']:.2g}) | {valid:.4f} |")
    return "\n".join(lines) + "\n"


def plot(out: dict, path) -> None:
    """Test NDCG@10 and HR@10 against α (evenly spaced points labelled by α), LLM4RSR mean ± std over seeds,
    Plain as a line with its ± std band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = out["points"]
    x = np.arange(len(points))
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.2))
    for ax, metric in zip(axes, ("NDCG@10", "HR@10")):
        plain = points[0]["sides"]["plain"][metric]
        ax.axhline(plain["mean"], color="gray", linestyle="--", label="Plain")
        ax.axhspan(plain["mean"] - plain["std"], plain["mean"] + plain["std"], color="gray", alpha=0.15)
        ax.errorbar(x, [p["sides"]["llm4rsr"][metric]["mean"] for p in points],
                    yerr=[p["sides"]["llm4rsr"][metric]["std"] for p in points], fmt="o-", capsize=3,
                    label="LLM4RSR")
        ax.set_xticks(x, [f"{p['alpha']:.2%}" for p in points])
        ax.set_xlabel("α (share of instances corrected)")
        ax.set_ylabel(f"test {metric}")
        ax.grid(alpha=0.3)
    axes[0].legend()
    fig.suptitle(f"{len(out['seeds'])} seeds, mean ± std", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
