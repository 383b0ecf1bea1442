"""Paired significance tests between two models' per-prompt ranks (engine.eval.significance, launch.compare)."""

import json
import math

import numpy as np
import pytest
from scipy import stats

from engine.eval.metrics import metric_values
from engine.eval.significance import paired_comparison, seed_mean_values
from launch.compare import compare, main, to_markdown


def test_metric_values_per_prompt_hand_computed():
    ranks = np.array([0, 1, 4, 12])
    np.testing.assert_allclose(metric_values(ranks, "HR@5"), [1, 1, 1, 0])
    np.testing.assert_allclose(metric_values(ranks, "NDCG@5"), [1, 1 / math.log2(3), 1 / math.log2(6), 0])
    np.testing.assert_allclose(metric_values(ranks, "MRR@10"), [1, 1 / 2, 1 / 5, 0])
    for bad in ("ndcg@10", "NDCG", "NDCG@0", "AUC@5"):
        with pytest.raises(ValueError, match="unknown metric"):
            metric_values(ranks, bad)


def test_seeds_are_averaged_per_prompt():
    # Prompt 0 is a hit at rank 0 in one seed of two, prompt 1 in both.
    values = seed_mean_values([np.array([0, 0]), np.array([50, 0])], "HR@10")
    np.testing.assert_allclose(values, [0.5, 1.0])
    with pytest.raises(ValueError, match="different numbers of prompts"):
        seed_mean_values([np.array([0, 0]), np.array([0])], "HR@10")


def test_identical_systems_show_no_difference():
    ranks = np.arange(100) % 30
    row = paired_comparison([ranks], [ranks.copy()], "NDCG@10")
    assert row["difference"] == 0 and row["paired_t_p"] == 1.0 and row["wilcoxon_p"] == 1.0
    assert row["ci95"] == [0.0, 0.0]


def test_differences_match_scipy_and_hand_computation():
    rng = np.random.default_rng(0)
    base = rng.integers(0, 40, size=500)
    better = np.maximum(base - rng.integers(0, 6, size=500), 0)  # never worse, often better
    row = paired_comparison([base], [better], "NDCG@20")
    a, b = metric_values(base, "NDCG@20"), metric_values(better, "NDCG@20")
    assert row["baseline"] == pytest.approx(a.mean()) and row["candidate"] == pytest.approx(b.mean())
    assert row["relative_gain"] == pytest.approx(b.mean() / a.mean() - 1)
    assert row["paired_t_p"] == pytest.approx(stats.ttest_rel(b, a).pvalue)
    assert row["wilcoxon_p"] == pytest.approx(stats.wilcoxon(b - a).pvalue)
    assert row["paired_t_p"] < 1e-6 and row["ci95"][0] > 0
    assert "seed_welch_p" not in row  # one seed per side: no spread between runs to test


def test_noise_alone_is_not_significant():
    rng = np.random.default_rng(1)
    a, b = rng.integers(0, 40, size=2000), rng.integers(0, 40, size=2000)  # the same distribution
    row = paired_comparison([a], [b], "HR@10")
    assert row["paired_t_p"] > 0.01 and row["ci95"][0] < 0 < row["ci95"][1]


def test_several_seeds_add_the_welch_test_over_seed_means():
    rng = np.random.default_rng(2)
    base = [rng.integers(0, 40, size=300) for _ in range(3)]
    cand = [np.maximum(r - 3, 0) for r in base]
    row = paired_comparison(base, cand, "HR@10")
    assert row["seeds"] == [3, 3]
    per_a = [metric_values(r, "HR@10").mean() for r in base]
    per_b = [metric_values(r, "HR@10").mean() for r in cand]
    assert row["seed_welch_p"] == pytest.approx(stats.ttest_ind(per_b, per_a, equal_var=False).pvalue)


def fake_run(path, model, ranks, split="test", data_name="beauty", item_init=""):
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps({"data": {"name": data_name}, "split": {"protocol": "loo_full"},
                                                  "model": {"name": model, "item_init": item_init}}))
    (path / "results.json").write_text(json.dumps({"model": model, "dataset": data_name, "protocol": "loo_full",
                                                   "seed": 0, split: {}}))
    np.save(path / f"ranks_{split}.npy", np.asarray(ranks, dtype=np.int32))
    return path


def test_compare_reads_run_directories_and_writes_a_report(tmp_path, capsys):
    rng = np.random.default_rng(3)
    base = rng.integers(0, 40, size=400)
    a = fake_run(tmp_path / "a", "sasrec", base)
    b = fake_run(tmp_path / "b", "sasrec+text", np.maximum(base - 4, 0))
    report = compare([a], [b], "test", ["NDCG@10", "HR@10"])
    assert [r["metric"] for r in report["rows"]] == ["NDCG@10", "HR@10"]
    assert report["baseline"]["model"] == "sasrec" and report["rows"][0]["relative_gain"] > 0
    assert "| NDCG@10 |" in to_markdown(report)
    main(["--baseline", str(a), "--candidate", str(b), "--metrics", "HR@10", "--labels", "ID", "Text",
          "--out", str(tmp_path / "r.json")])
    assert "| metric | ID | Text |" in capsys.readouterr().out
    assert json.loads((tmp_path / "r.json").read_text())["rows"][0]["metric"] == "HR@10"


def test_a_text_initialised_run_is_named_and_not_mixed_with_its_backbone(tmp_path):
    # LLM2SASRec records model "sasrec"; the item table it started from tells the two apart.
    plain = fake_run(tmp_path / "plain", "sasrec", [0, 1, 2])
    llm2 = fake_run(tmp_path / "llm2", "sasrec", [0, 0, 1], item_init="runs/emb/pca-64")
    report = compare([plain], [llm2], metrics=["HR@10"])
    assert report["candidate"]["model"] == "sasrec (item table from runs/emb/pca-64)"
    assert report["baseline"]["model"] == "sasrec"
    with pytest.raises(ValueError, match="baseline runs are of different models"):
        compare([plain, llm2], [llm2])


def test_compare_refuses_runs_on_other_data_or_without_ranks(tmp_path):
    a = fake_run(tmp_path / "a", "sasrec", [0, 1, 2])
    other = fake_run(tmp_path / "other", "sasrec", [0, 1, 2], data_name="ml-1m-sasrec")
    with pytest.raises(ValueError, match=r"not on the same dataset and split.*data.name"):
        compare([a], [other])
    with pytest.raises(FileNotFoundError, match=r"ranks_valid.npy not found.*launch.evaluate"):
        compare([a], [a], split="valid")
    with pytest.raises(SystemExit, match="error: .*not on the same dataset"):
        main(["--baseline", str(a), "--candidate", str(other)])
    assert not (tmp_path / "r.json").exists()
