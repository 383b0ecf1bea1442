"""The alpha sweep (nested corrections, one LLM answer per instance, retraining per alpha) and the main table's
extra backbones, on the tiny preset's small real-text dataset against the real llama.cpp server."""

import json

import numpy as np
import pytest

from engine.data.instances import load_instances
from llm.stages.llm4rsr import run
from llm.stages.llm4rsr.correction import apply_corrections, decide, select_uncertain
from llm.stages.llm4rsr.sweep import alpha_name, alphas, prefix_sizes
from tests.llm4rsr.conftest import use_server


def _jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_alphas_are_sorted_and_checked():
    from configs.llm4rsr import get_config

    config = get_config("tiny")
    assert alphas(config) == []
    config.sweep.alphas = (0.05, 0.01)
    assert alphas(config) == [0.01, 0.05]
    assert prefix_sizes([0.01, 0.05], 250) == [3, 13]
    config.sweep.alphas = (0.0, 0.1)
    with pytest.raises(ValueError, match="sweep.alphas"):
        alphas(config)
    assert get_config("ml-1m-paper").sweep.alphas == (0.01, 0.05, 0.10, 0.15)


def test_smaller_alpha_sets_are_prefixes_of_larger_ones():
    conf = np.random.default_rng(0).random(200).astype(np.float32)
    conf[[3, 7, 11]] = conf[5]  # ties
    big = select_uncertain(conf, 0.15)
    for alpha in (0.01, 0.05, 0.10):
        small = select_uncertain(conf, alpha)
        assert big[:len(small)].tolist() == small.tolist()


def test_sweep_and_extra_backbone_end_to_end(small_config, endpoint, tmp_path):
    config = use_server(small_config, endpoint)
    config.backbone.overrides = ("eval.ks=(5, 10)",)  # 12 items: K = 20 is refused
    config.sweep.alphas = (0.02, 0.01)
    config.retrain.backbones = ("configs/lrurec.py:tiny eval.ks=(5,10)",)
    work = tmp_path / "run"
    results = run(config, work)
    assert list(results) == ["instances", "item_memory", "tgd_data", "tgd", "confidence", "correction",
                             "confidence-lrurec", "correction-lrurec", "alpha_correction", "retrain", "alpha_sweep"]

    # One LLM answer per instance of the largest set; the smaller set's table is its prefix's correction.
    original = load_instances(work / "instances" / "instances.npz")
    summary = json.loads((work / "alpha_correction" / "summary.json").read_text())
    changes = _jsonl(work / "alpha_correction" / "changes.jsonl")
    sizes = prefix_sizes([0.01, 0.02], len(original))
    assert [p["selected"] for p in summary["points"]] == sizes and len(changes) == sizes[-1]
    conf = np.load(work / "confidence" / "confidence.npz")["confidence"]
    rows = np.array([c["row"] for c in changes])
    assert rows.tolist() == select_uncertain(conf, 0.02).tolist()
    for alpha, k in zip([0.01, 0.02], sizes):
        decisions = [decide(c["inputs"], None if c["failure"] else frozenset(c["relevant"]),
                            [x["target"] for x in c["candidates"]],
                            [None if x["relevant"] is None else frozenset(x["relevant"]) for x in c["candidates"]])
                     for c in changes[:k]]
        expected = apply_corrections(original, rows[:k], decisions)
        got = load_instances(work / "alpha_correction" / alpha_name(alpha) / "instances.npz")
        assert got.digest() == expected.digest()

    # The correction stage (alpha 1%, cap 4) asked the same questions first: the sweep's first answers agree.
    corrected = _jsonl(work / "correction" / "changes.jsonl")
    assert [(c["row"], c["relevant"]) for c in corrected] == [(c["row"], c["relevant"]) for c in changes[:len(corrected)]]

    # Retraining: the 1% point builds the correction stage's table, so it reuses the retrain stage's runs.
    sweep = json.loads((work / "alpha_sweep" / "sweep.json").read_text())
    retrain = json.loads((work / "retrain" / "table.json").read_text())
    assert [p["alpha"] for p in sweep["points"]] == [0.01, 0.02]
    assert sweep["points"][0]["runs"] == {"plain": retrain["runs"]["plain"], "llm4rsr": retrain["runs"]["llm4rsr"]}
    for p in sweep["points"]:
        assert set(p["tests"]) == {"NDCG@10", "HR@10"} and len(p["sides"]["llm4rsr"]["NDCG@10"]["values"]) == 1
    assert (work / "alpha_sweep" / "sweep.png").stat().st_size > 1000
    assert "| 0 (Plain) |" in (work / "alpha_sweep" / "sweep.md").read_text()

    # The main table: SASRec and LRURec, each Plain vs LLM4RSR on the correction its own confidence chose
    # (retrain.correction = 'per_backbone'): LRURec's least confident rows, scored by its Plain run of seed 0.
    assert [b["label"] for b in retrain["backbones"]] == ["sasrec", "lrurec"]
    lru = retrain["backbones"][1]
    assert lru["corrected_by"] == "correction-lrurec" and retrain["backbones"][0]["corrected_by"] == "correction"
    assert json.loads((work / "confidence-lrurec" / "meta.json").read_text())["backbone"] == lru["runs"]["plain"][0]
    lru_conf = np.load(work / "confidence-lrurec" / "confidence.npz")["confidence"]
    lru_changes = _jsonl(work / "correction-lrurec" / "changes.jsonl")
    assert [c["row"] for c in lru_changes] == np.argsort(lru_conf, kind="stable")[:len(lru_changes)].tolist()
    assert not (work / "correction-lrurec" / "uncertainty_probe.json").exists()  # the probe is the main backbone's
    # The same prompt for an instance both backbones picked: the same (cached, greedy) selection.
    sas = {c["row"]: c["relevant"] for c in corrected}
    assert all(sas[c["row"]] == c["relevant"] for c in lru_changes if c["row"] in sas)
    for side, table in (("plain", work / "instances"), ("llm4rsr", work / "correction-lrurec")):
        for path, seed in zip(lru["runs"][side], (0,), strict=True):
            saved = json.loads((work / path / "config.json").read_text())
            assert saved["model"]["name"] == "lrurec" and saved["seed"] == seed and saved["model"]["max_len"] == 3
            assert saved["data"]["instances_path"] == str((table / "instances.npz").resolve())
    assert "| lrurec | LLM4RSR |" in (work / "retrain" / "table.md").read_text()

    # Everything up to date: skipped, no call.
    again = run(config, work)
    assert all(r.skipped for r in again.values())
