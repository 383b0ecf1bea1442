"""engine.runner.sweep behind launch.sweep (tables and plots, skipping finished runs, refusing mixed datasets) and
engine.runner.tune (SQLite study resumed by a second invocation), on non-neural recommenders and hand-made run
directories."""

import csv
import json

import numpy as np
import pytest

from engine.runner.sweep import plan, run_sweep, write_report

SET = lambda cache: [f"data.cache_dir={cache}"]


@pytest.fixture(scope="module")
def data_cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("datasets"))


def fake_run(directory, model, seed, ndcg10, hr10, curve):
    directory.mkdir(parents=True)
    metrics = {"NDCG@10": ndcg10, "HR@10": hr10, "MRR@10": 0.1, "NDCG@20": 0.2, "HR@20": 0.3, "MRR@20": 0.1}
    results = {"model": model, "seed": seed, "dataset": "toy", "protocol": "loo_full", "best_step": 2,
               "valid": metrics, "test": metrics}
    (directory / "results.json").write_text(json.dumps(results))
    (directory / "config.json").write_text(json.dumps({"eval": {"select_metric": "NDCG@10"}}))
    (directory / "metrics.jsonl").write_text("".join(
        json.dumps({"step": s, "split": "valid", "NDCG@10": v}) + "\n" for s, v in curve))


def test_table_is_mean_and_sample_std_over_seeds(tmp_path):
    a = [tmp_path / "a" / f"s{s}" for s in range(3)]
    for d, seed, v in zip(a, range(3), (0.1, 0.2, 0.6)):
        fake_run(d, "sasrec", seed, v, 2 * v, [(1, v / 2), (2, v)])
    b = [tmp_path / "b" / "s0"]
    fake_run(b[0], "most_popular", 0, 0.05, 0.07, [(0, 0.05)])
    written = write_report({"sasrec": a, "most_popular": b}, tmp_path)
    # mean(0.1, 0.2, 0.6) = 0.3; sample std = sqrt(((-.2)^2 + (-.1)^2 + .3^2) / 2) = sqrt(0.07) = 0.264575
    md = written["table.md"].read_text()
    assert "protocol loo_full" in md
    assert "| sasrec | 3 | 0.3000 ± 0.2646 | 0.6000 ± 0.5292 |" in md
    assert "| most_popular | 1 | 0.0500 |" in md  # one run: no spread to show
    rows = list(csv.DictReader(written["table.csv"].open()))
    test = {r["model"]: r for r in rows if r["split"] == "test"}
    assert float(test["sasrec"]["NDCG@10 mean"]) == pytest.approx(0.3)
    assert float(test["sasrec"]["NDCG@10 std"]) == pytest.approx(np.sqrt(0.07), rel=1e-5)
    assert test["sasrec"]["seeds"] == "0 1 2" and test["sasrec"]["protocol"] == "loo_full"
    assert "Coverage@10 mean" not in rows[0]  # beyond-accuracy columns only when the runs have them
    assert written["valid_curves"].stat().st_size > 0 and "popularity_breakdown" not in written


def test_sweep_refuses_runs_on_different_datasets(tmp_path):
    with pytest.raises(ValueError, match="disagree on the dataset.*data.name"):
        plan(["configs/popularity.py:tiny", "configs/sknn.py:ml-1m"], [0], tmp_path)
    with pytest.raises(ValueError, match="label 'most_popular'"):
        plan(["configs/popularity.py:tiny", "configs/popularity.py:tiny"], [0], tmp_path)
    with pytest.raises(KeyError, match="model.kk"):
        plan(["configs/sknn.py:tiny model.kk=3"], [0], tmp_path)


def test_sweep_runs_baselines_writes_table_and_skips_finished_runs(tmp_path, data_cache):
    specs = ["configs/popularity.py:tiny", "configs/sknn.py:tiny model.name=sknn model.sampling=random label=sknn-rnd"]
    overrides = SET(data_cache) + ["eval.beyond_accuracy=True", "eval.popularity_breakdown=True",
                                   "eval.num_negatives=50", "eval.ks=(10, 20)", "eval.select_metric='NDCG@10'"]
    log = []
    groups = run_sweep(specs, [0, 1], tmp_path, overrides, log=log.append)
    assert sorted(groups) == ["most_popular", "sknn-rnd"] and sum(l.startswith("[run]") for l in log) == 4
    results = json.loads((tmp_path / "sknn-rnd" / "s1" / "results.json").read_text())
    assert results["model"] == "sknn" and results["seed"] == 1 and results["protocol"] == "loo_full"
    assert {"Coverage@10", "Serendipity@10", "Novelty@10", "sampled_uniform50/NDCG@10"} <= set(results["test"])
    assert results["popularity_breakdown"]["test"][0]["bucket"] == 0
    # MostPopular's hits are never serendipitous; random neighbour sampling differs between seeds.
    pop = json.loads((tmp_path / "most_popular" / "s0" / "results.json").read_text())
    assert pop["test"]["Serendipity@10"] == 0.0
    md = (tmp_path / "table.md").read_text()
    assert "Serendipity@10" in md and "| sknn-rnd | 2 |" in md
    assert (tmp_path / "plots" / "popularity_breakdown.png").exists()
    log.clear()
    run_sweep(specs, [0, 1], tmp_path, overrides, log=log.append)
    assert sum(l.startswith("[skip]") for l in log) == 4 and not any(l.startswith("[run]") for l in log)


def test_tune_resumes_from_its_sqlite_study(tmp_path, data_cache):
    import optuna

    from engine.runner.tune import run_tune

    args = ("configs/sknn.py:tiny", ["model.k=int:5:60", "model.similarity=choice:cosine:dot"], tmp_path)
    log = []
    best = run_tune(*args, n_trials=2, n_startup=1, overrides=SET(data_cache), log=log.append)
    assert sum(l.startswith("[trial") for l in log) == 2 and best["num_complete"] == 2
    # A process killed during a trial leaves it RUNNING: the next invocation runs it again, same params.
    study = optuna.load_study(study_name="tune", storage=f"sqlite:///{tmp_path / 'study.db'}")
    killed = study.ask({"model.k": optuna.distributions.IntDistribution(5, 60),
                        "model.similarity": optuna.distributions.CategoricalDistribution(["cosine", "dot"])})
    killed.set_user_attr("workdir", str(tmp_path / "trials" / "killed"))
    log.clear()
    best = run_tune(*args, n_trials=4, n_startup=1, overrides=SET(data_cache), log=log.append)
    assert log[0].startswith("2 trials finished, 2 to run")
    assert sum(l.startswith("[trial") for l in log) == 2
    assert f"{killed.params}" in log[1] and "trials/killed" in log[1]
    trials = json.loads((tmp_path / "best.json").read_text())
    assert trials["num_complete"] == 4 and trials["metric"] == "valid NDCG@10"
    assert trials["value"] == max(t.value for t in study.get_trials() if t.value is not None)
    # Trials never look at test.
    assert all("test" not in json.loads(p.read_text()) for p in tmp_path.glob("trials/*/results.json"))
    assert len((tmp_path / "trials.csv").read_text().splitlines()) == 1 + 5  # header, 4 complete, 1 failed
    log.clear()
    run_tune(*args, n_trials=4, n_startup=1, overrides=SET(data_cache), log=log.append)
    assert not any(l.startswith("[trial") for l in log)


def test_tune_rejects_a_bad_space(tmp_path):
    from engine.runner.tune import run_tune
    with pytest.raises(ValueError, match="KIND"):
        run_tune("configs/sknn.py:tiny", ["model.k=normal:1:2"], tmp_path, 1)
    with pytest.raises(KeyError, match="model.kk"):
        run_tune("configs/sknn.py:tiny", ["model.kk=int:1:2"], tmp_path, 1)
    assert not (tmp_path / "study.db").exists()
