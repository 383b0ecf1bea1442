"""LLM4RSR stages end to end on a small real-text dataset against the real llama.cpp server (tiny budgets)."""

import json

import numpy as np

from engine.data.instances import load_instances
from llm.stages.llm4rsr import run
from tests.llm4rsr.conftest import use_server


def _jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_every_stage_writes_its_artifacts_and_a_rerun_makes_no_call(small_config, endpoint, tmp_path):
    config = use_server(small_config, endpoint)
    config.backbone.overrides = ("eval.ks=(5, 10)",)  # 12 items: K = 20 is refused
    work = tmp_path / "run"
    results = run(config, work)
    for name, result in results.items():
        assert (result.dir / "meta.json").exists() and (result.dir / "cost.json").exists(), name
    assert json.loads((work / "cost.json").read_text()).keys() == results.keys()
    assert (work / "cost.md").read_text().count("\n| ") == len(results)  # one row per stage

    # TGD: history with every kind of record, D_te F1 per iteration, final prompt among the candidates.
    history = _jsonl(work / "tgd" / "history.jsonl")
    kinds = {r["type"] for r in history}
    assert {"candidate", "forward", "backward", "ucb_pick", "beam", "dte"} <= kinds
    final = json.loads((work / "tgd" / "final_prompt.json").read_text())
    assert final["key"] in {r["key"] for r in history if r["type"] == "candidate"}
    dte = [r for r in history if r["type"] == "dte"]
    assert final["dte"]["f1"] == max(r["f1"] for r in dte) and {r["iteration"] for r in dte} == {0, 1}
    assert (work / "tgd" / "dte_f1.png").stat().st_size > 1000
    memory = {r["item"]: r["description"] for r in _jsonl(work / "tgd" / "memory.jsonl")}
    for edit in (r for r in history if r["type"] == "memory_edit" and r["applied"]):
        assert edit["ops"] and edit["iteration"] == 1
        if final["dte"]["iteration"] == 1:
            assert memory[edit["item"]] == edit["after"]

    # Correction: one record per selected instance; the table = certain rows + the corrected ones.
    original = load_instances(work / "instances" / "instances.npz")
    corrected = load_instances(work / "correction" / "instances.npz")
    changes = _jsonl(work / "correction" / "changes.jsonl")
    summary = json.loads((work / "correction" / "summary.json").read_text())
    assert len(changes) == summary["selected"] == 3  # alpha 1% of ~280 instances, capped at 4
    new_rows = sum(len(c["new"]) for c in changes)
    assert len(corrected) == len(original) - len(changes) + new_rows
    conf = np.load(work / "confidence" / "confidence.npz")["confidence"]
    assert [c["row"] for c in changes] == np.argsort(conf, kind="stable")[:3].tolist()
    for c in changes:
        assert c["decision"] in ("kept", "partial", "complete_replaced", "complete_dropped", "failed")
        if c["decision"] == "partial":
            assert c["new"][0]["inputs"] == [c["inputs"][p - 1] for p in c["relevant"]]

    probe = json.loads((work / "correction" / "uncertainty_probe.json").read_text())
    assert [r["probed"] for r in probe["by_set"]] == [1, 1] and (work / "correction" / "uncertainty_probe.png").exists()

    # Retrained: Plain (the confidence backbone, seed 0) against LLM4RSR, with the paired test.
    table = json.loads((work / "retrain" / "table.json").read_text())
    assert table["runs"]["plain"] == [str(work / "backbone")]
    assert set(table["tests"]) == {"NDCG@10", "HR@10"}  # the runs' eval.ks are (5, 10) here
    (run_dir,) = (work / "runs").glob("llm4rsr-*-s0")
    saved = json.loads((run_dir / "config.json").read_text())
    assert saved["data"]["instances_path"] == str((work / "correction" / "instances.npz").resolve())
    assert saved["model"]["max_len"] == 3 and saved["seed"] == 0

    # Everything up to date: skipped, and the server is not even asked.
    again = run(config, work)
    assert all(r.skipped for r in again.values())
    assert all(r.cost == results[n].cost for n, r in again.items())
