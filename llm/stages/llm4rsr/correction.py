"""Stage `correction` (§3.4): the α least confident instances, corrected by the LLM with the TGD-optimised prompt.

For each selected instance the LLM selects the relevant inputs (the optimised IP and memory of stage `tgd`):
- some but not all inputs relevant -> partial mismatch: the irrelevant inputs are dropped (order kept);
- every input relevant -> kept as it is;
- none relevant -> complete mismatch: the backbone's top-|C| candidates (stage `confidence`, never an input or
  the original target) are tried as new targets, in the backbone's rank order, and the LLM selects relevant
  inputs again. Our reading of "the updated input and the new target form a corrected instance": the first
  candidate with at least one relevant input replaces the target, with only its relevant inputs
  (correct.complete_mode='first', default); 'all' adds one corrected instance per such candidate instead. An
  instance for which no candidate gets a relevant input is removed (no reliable target is left);
- an answer that failed after its retries -> the instance is kept unchanged and the failure counted.

Artifacts: instances.npz (the corrected table: every instance in its original row, the corrected ones replaced in
place; the `instances` stage's layout, so the instance-table trainer reads it as it reads the original), changes.jsonl (one
record per selected instance: confidence, inputs, target, the decision, the LLM's selections and what changed),
summary.json (counts by decision, CM/PM ratios by uncertainty percentile set of the selected instances).

With correct.probe_per_set > 0 the stage also samples that many instances from each of correct.probe_sets
equal-size confidence sets (most uncertain first) and records how often the LLM finds a complete mismatch (no
input relevant) or a partial one (some inputs irrelevant): the paper's Fig. 4 c-d, as uncertainty_probe.json
and uncertainty_probe.png. Probed instances are not corrected.
"""

from __future__ import annotations

import json
import math

import numpy as np

from engine.data.instances import Instances, save_instances
from engine.run_dir import write_json_atomic, write_text_atomic
from llm.stages.llm4rsr.common import dataset_key, item_names, item_type, load_data, plot_two_lines
from llm.stages.llm4rsr.prompt import Items, select
from llm.stages.stage import run_stage

NAME = "correction"
OUTPUTS = ("instances.npz", "changes.jsonl", "summary.json")
MODES = ("first", "all")


def select_uncertain(confidence: np.ndarray, alpha: float, cap: int = 0) -> np.ndarray:
    """Rows of the ceil(alpha * n) lowest-confidence instances (ties by row), lowest first; cap > 0 keeps the
    lowest `cap` of them."""
    if not 0 < alpha <= 1:
        raise ValueError(f"correct.alpha must be in (0, 1], got {alpha}")
    count = math.ceil(alpha * len(confidence))
    if cap:
        count = min(count, cap)
    return np.lexsort((np.arange(len(confidence)), confidence))[:count]


def left_pad(items: list[int], width: int) -> list[int]:
    return [0] * (width - len(items)) + list(items)


def decide(inputs: list[int], relevant, candidates: list[int], candidate_answers: list, mode: str = "first") -> dict:
    """The correction of one instance from the LLM's answers (pure, so the rules are tested without a server).

    relevant: frozenset of 1-based positions, or None when the answer failed; candidate_answers[i]: the same for
    candidates[i] as the target (only consulted for a complete mismatch)."""
    if mode not in MODES:
        raise ValueError(f"correct.complete_mode must be one of {', '.join(MODES)}, got {mode!r}")
    if relevant is None:
        return {"decision": "failed", "new": [(inputs, None)]}
    if len(relevant) == len(inputs):
        return {"decision": "kept", "new": [(inputs, None)]}
    if relevant:
        return {"decision": "partial", "new": [([v for i, v in enumerate(inputs, 1) if i in relevant], None)]}
    new = []
    for cand, answer in zip(candidates, candidate_answers):
        if answer:  # a non-empty selection (None = failed, empty = still unrelated)
            new.append(([v for i, v in enumerate(inputs, 1) if i in answer], int(cand)))
            if mode == "first":
                break
    return {"decision": "complete_replaced" if new else "complete_dropped", "new": new}


def apply_corrections(table: Instances, rows: np.ndarray, decisions: list[dict]) -> Instances:
    """The table with each corrected row replaced, in place, by its corrected instances (none if dropped, several
    with complete_mode 'all'). Keeping every other row where it was keeps the trainer's seeded shuffle the same for
    Plain and LLM4RSR when no row is dropped or added, so the two runs differ only in the corrected rows."""
    by_row = dict(zip((int(r) for r in rows), decisions))
    width = table.max_inputs
    parts: list[tuple[np.ndarray, ...]] = []
    previous = 0
    for row in sorted(by_row):
        parts.append(tuple(getattr(table, a)[previous:row] for a in ("user", "position", "target", "inputs")))
        new = by_row[row]["new"]
        parts.append((np.full(len(new), table.user[row], np.int64), np.full(len(new), table.position[row], np.int64),
                      np.array([table.target[row] if t is None else t for _, t in new], np.int32),
                      np.array([left_pad(x, width) for x, _ in new], np.int32).reshape(-1, width)))
        previous = row + 1
    parts.append(tuple(getattr(table, a)[previous:] for a in ("user", "position", "target", "inputs")))
    return Instances(*(np.concatenate([p[i] for p in parts]) for i in range(4)))


def correct_rows(ctx, ip, items, table: Instances, conf: dict, rows: np.ndarray, dataset, config, mode: str
                 ) -> tuple[list[dict], list[dict]]:
    """(decisions, records) of the instances at `rows`, in that order: the LLM's first selection for every row in
    one batch, then every candidate of the complete mismatches as the new target in a second batch. A row's
    decision depends only on its own answers, so the corrections of a prefix of `rows` are a prefix of these."""
    questions = [([int(v) for v in table.inputs[r] if v], int(table.target[r])) for r in rows]
    first = select(ctx, ip, questions, items, config)
    relevant = [o.value if o.ok else None for o in first]
    # Complete mismatches: every candidate as the new target, asked in one batch.
    cm = [i for i, rel in enumerate(relevant) if rel is not None and not rel]
    cands = {i: [int(v) for v in conf["candidates"][rows[i]]] for i in cm}
    pairs = [(i, v) for i in cm for v in cands[i]]
    second = select(ctx, ip, [(questions[i][0], v) for i, v in pairs], items, config)
    by_candidate = {(i, v): (o.value if o.ok else None) for (i, v), o in zip(pairs, second)}
    decisions, records = [], []
    for i, row in enumerate(rows):
        inputs, target = questions[i]
        answers = [by_candidate[(i, v)] for v in cands.get(i, [])]
        d = decide(inputs, relevant[i], cands.get(i, []), answers, mode)
        decisions.append(d)
        records.append({"row": int(row), "user_id": str(dataset.user_ids[table.user[row]]),
                        "position": int(table.position[row]), "confidence": float(conf["confidence"][row]),
                        "rank": i, "inputs": inputs, "target": target, "decision": d["decision"],
                        "relevant": sorted(relevant[i]) if relevant[i] is not None else None,
                        "failure": None if first[i].ok else first[i].failure,
                        "candidates": [{"target": v, "relevant": sorted(a) if a is not None else None}
                                       for v, a in zip(cands.get(i, []), answers)],
                        "new": [{"inputs": x, "target": target if t is None else t} for x, t in d["new"]]})
    return decisions, records


DECISIONS = ("kept", "partial", "complete_replaced", "complete_dropped", "failed")


def count_decisions(decisions: list[dict]) -> dict[str, int]:
    return {k: sum(d["decision"] == k for d in decisions) for k in DECISIONS}


def probe_rows(confidence: np.ndarray, sets: int, per_set: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Rows sampled from each of `sets` equal-size sets of instances by increasing confidence."""
    order = np.lexsort((np.arange(len(confidence)), confidence))
    return [rng.choice(part, min(per_set, len(part)), replace=False) for part in np.array_split(order, sets)]


def uncertainty_probe(ctx, ip, items, table, confidence, config) -> dict:
    c = config.correct
    sets = probe_rows(confidence, int(c.probe_sets), int(c.probe_per_set), np.random.default_rng([int(config.seed), 4]))
    flat = np.concatenate(sets)
    got = select(ctx, ip, [([int(v) for v in table.inputs[r] if v], int(table.target[r])) for r in flat], items,
                 config)
    out, at = [], 0
    for index, rows in enumerate(sets):
        part = got[at:at + len(rows)]
        at += len(rows)
        n_inputs = [int((table.inputs[r] != 0).sum()) for r in rows]
        answered = [(o.value, n) for o, n in zip(part, n_inputs) if o.ok]
        cm = sum(not v for v, _ in answered)
        pm = sum(0 < len(v) < n for v, n in answered)
        out.append({"set": index, "probed": len(rows), "answered": len(answered), "failed": len(rows) - len(answered),
                    "cm_ratio": cm / len(answered) if answered else None,
                    "pm_ratio": pm / len(answered) if answered else None,
                    "mean_confidence": float(confidence[rows].mean())})
    return {"sets": int(c.probe_sets), "per_set": int(c.probe_per_set), "by_set": out}


def plot_probe(probe: dict, path) -> None:
    rows = [r for r in probe["by_set"] if r["answered"]]
    plot_two_lines(path, [r["set"] + 1 for r in rows], ([r["cm_ratio"] for r in rows], "complete mismatch (CM)"),
                   ([r["pm_ratio"] for r in rows], "partial mismatch (PM)"),
                   f"confidence set (1 = most uncertain of {probe['sets']})", "share of probed instances")


def run(config, workdir, llm, instances_result, confidence_result, tgd_result, label: str | None = None):
    """The correction chosen by the `backbone` config's confidence (stage `correction`, with the uncertainty probe
    when correct.probe_per_set > 0), or with `label` by that backbone's (stage `correction-<label>`: its own least
    confident instances and its own candidates, the same prompt; answers to instances both pick are cache hits)."""
    from llm.stages.llm4rsr import confidence as confidence_stage
    from llm.stages.llm4rsr import instances as instances_stage
    from llm.stages.llm4rsr import tgd as tgd_stage

    dataset, _ = load_data(config)
    c = config.correct
    mode = str(c.get("complete_mode", "first"))
    probe_per_set = int(c.get("probe_per_set", 0)) if label is None else 0

    def compute(ctx):
        table, _ = instances_stage.load(instances_result)
        conf = confidence_stage.load(confidence_result, len(table))
        ip, memory = tgd_stage.load(tgd_result)
        items = Items(item_names(dataset), memory, item_type(config, dataset))
        rows = select_uncertain(conf["confidence"], float(c.alpha), int(c.max_instances))
        decisions, records = correct_rows(ctx, ip, items, table, conf, rows, dataset, config, mode)
        corrected = apply_corrections(table, rows, decisions)
        save_instances(ctx.dir / "instances.npz", corrected,
                       user_id=np.asarray(dataset.user_ids)[corrected.user].astype(str))
        write_text_atomic(ctx.dir / "changes.jsonl", "".join(json.dumps(r) + "\n" for r in records))
        counts = count_decisions(decisions)
        # CM / PM share per uncertainty percentile set (the paper's Fig. 4 c-d x-axis: 100 sets, most uncertain first).
        order = np.lexsort((np.arange(len(table)), conf["confidence"]))
        percentile = np.empty(len(table), np.int64)
        percentile[order] = np.arange(len(table)) * 100 // len(table)
        by_set: dict[int, dict] = {}
        for row, d in zip(rows, decisions):
            s = by_set.setdefault(int(percentile[row]), {"n": 0, "cm": 0, "pm": 0})
            s["n"] += 1
            s["cm"] += d["decision"].startswith("complete")
            s["pm"] += d["decision"] == "partial"
        summary = {"num_instances": len(table), "selected": len(rows), "corrected_table": len(corrected),
                   "alpha": float(c.alpha), "complete_mode": mode, "decisions": counts,
                   "by_uncertainty_set": {str(k): v for k, v in sorted(by_set.items())},
                   "prompt_key": ip.key, "instances_digest": corrected.digest()}
        if probe_per_set > 0:
            probe = uncertainty_probe(ctx, ip, items, table, conf["confidence"], config)
            write_json_atomic(ctx.dir / "uncertainty_probe.json", probe)
            plot_probe(probe, ctx.dir / "uncertainty_probe.png")
            summary["uncertainty_probe"] = probe["by_set"]
        write_json_atomic(ctx.dir / "summary.json", summary)
        ctx.notes.update(selected=len(rows), **counts)
        return summary

    inputs = {"dataset": dataset_key(dataset), "instances": instances_result.meta["inputs_digest"],
              "confidence": confidence_result.meta["inputs_digest"], "tgd": tgd_result.meta["inputs_digest"],
              "alpha": float(c.alpha), "max_instances": int(c.max_instances), "num_candidates": int(c.num_candidates),
              "complete_mode": mode, "table_order": "in_place", "probe": [int(c.get("probe_sets", 10)), probe_per_set],
              "select_max_tokens": int(config.tgd.select_max_tokens),
              "max_attempts": int(config.llm.max_attempts), "version": 1}
    return run_stage(workdir, confidence_stage.stage_name(NAME, label), inputs, compute, OUTPUTS, llm)
