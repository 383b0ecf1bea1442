"""The `tiny` preset end to end: train, checkpoint, interrupt, resume, evaluate."""

import hashlib
import json
import pathlib

import jax
import numpy as np
import pytest

from engine.eval.metrics import metrics_from_ranks
from engine.runner import evaluate_run, run_experiment


class Interrupted(Exception):
    pass


def train_losses(workdir):
    lines = [json.loads(l) for l in (workdir / "metrics.jsonl").read_text().splitlines()]
    return [(l["step"], l["loss"]) for l in lines if l["split"] == "train"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, data_cache):
    from configs.sasrec import get_config
    config = get_config("tiny")
    config.data.cache_dir = data_cache
    workdir = tmp_path_factory.mktemp("run") / "straight"
    return config, workdir, run_experiment(config, workdir)


def test_run_writes_results_and_run_files(uninterrupted):
    _, workdir, _ = uninterrupted
    assert {"config.json", "metrics.jsonl", "results.json", "tensorboard", "checkpoints"} <= \
        {p.name for p in workdir.iterdir()}
    assert any((workdir / "tensorboard").iterdir())
    saved = json.loads((workdir / "results.json").read_text())
    assert saved["protocol"] == "loo_full" and saved["seed"] == 0
    assert set(saved["test"]) == {f"{m}@{k}" for m in ("HR", "NDCG", "MRR") for k in (5, 10, 20)}
    # The best step is the validation argmax among the evaluations logged.
    valid = [json.loads(l) for l in (workdir / "metrics.jsonl").read_text().splitlines()]
    valid = [l for l in valid if l["split"] == "valid"]
    assert saved["best_step"] == max(valid, key=lambda l: l["NDCG@10"])["step"]
    # Training did something: better than a random ranking of 1,682 items (NDCG@10 ~ 0.003).
    assert saved["valid"]["NDCG@10"] > 0.01


def test_interrupted_run_resumes_to_the_same_result(uninterrupted, tmp_path):
    config, straight_dir, straight = uninterrupted
    workdir = tmp_path / "resumed"

    def stop_at_25(step):
        if step == 25:
            raise Interrupted

    with pytest.raises(Interrupted):
        run_experiment(config, workdir, on_step=stop_at_25)
    assert not (workdir / "results.json").exists()
    resumed = run_experiment(config, workdir)
    assert resumed["timing"]["resumed_from_step"] == 20  # the last checkpoint before the interruption
    # Where and how the numbers were computed: a GPU's default float32 matmul is TF32, a CPU's is float32.
    assert resumed["timing"]["device_kind"] == jax.devices()[0].device_kind
    assert resumed["timing"]["matmul_precision"] == (jax.config.jax_default_matmul_precision or "default")
    assert resumed["best_step"] == straight["best_step"]
    for split in ("valid", "test"):
        for name, value in straight[split].items():
            assert resumed[split][name] == pytest.approx(value, abs=1e-6), (split, name)
    np.testing.assert_allclose([l for _, l in train_losses(workdir)], [l for _, l in train_losses(straight_dir)],
                               rtol=1e-5)
    # Rerun once training is complete: nothing to train, the same test numbers, and the throughput of the
    # earlier sessions is still reported (it was null when a run was resumed at its last step).
    again = run_experiment(config, workdir)
    assert again["timing"]["resumed_from_step"] == again["steps"]
    assert again["test"] == pytest.approx(resumed["test"], abs=1e-6)
    assert again["timing"]["steady_steps_per_second"] == resumed["timing"]["steady_steps_per_second"] > 0


def test_evaluate_restores_the_best_checkpoint(uninterrupted):
    _, workdir, results = uninterrupted
    trained_ranks = np.load(workdir / "ranks_test.npy")  # written by train, before evaluate replaces it
    evaluated = evaluate_run(workdir, "test")
    for name, value in results["test"].items():
        assert evaluated["test"][name] == pytest.approx(value, abs=1e-6)
    assert (workdir / "evaluate_test.json").exists()
    # The per-prompt ranks behind the metrics, for paired tests between runs (launch.compare).
    np.testing.assert_array_equal(np.load(workdir / "ranks_test.npy"), trained_ranks)
    assert metrics_from_ranks(trained_ranks, (5, 10, 20)) == pytest.approx(results["test"], abs=1e-6)


def test_evaluate_adds_eval_protocols_and_refuses_other_overrides(uninterrupted):
    _, workdir, results = uninterrupted
    config_before = (workdir / "config.json").read_text()
    evaluated = evaluate_run(workdir, "test", ["eval.beyond_accuracy=True", "eval.ks=(10,)"])
    # The full-ranking metrics are the trained run's, now at K = 10 only, with the beyond-accuracy ones beside.
    assert set(evaluated["test"]) == {"HR@10", "NDCG@10", "MRR@10", "Coverage@10", "Serendipity@10", "Novelty@10"}
    assert evaluated["test"]["NDCG@10"] == pytest.approx(results["test"]["NDCG@10"], abs=1e-6)
    assert 0 < evaluated["test"]["Coverage@10"] <= 1
    saved = json.loads((workdir / "evaluate_test.json").read_text())
    assert saved["eval_overrides"] == ["eval.beyond_accuracy=True", "eval.ks=(10,)"]
    assert (workdir / "config.json").read_text() == config_before  # the run's own config is not rewritten
    with pytest.raises(ValueError, match=r"model.hidden_dim=8.*only eval.\* keys.*config.json"):
        evaluate_run(workdir, "test", ["model.hidden_dim=8"])
    with pytest.raises(KeyError, match="eval.no_such_key"):
        evaluate_run(workdir, "test", ["eval.no_such_key=1"])


def test_workdir_of_another_experiment_is_refused(uninterrupted):
    config, workdir, _ = uninterrupted
    other = config.copy_and_resolve_references()
    other.model.hidden_dim = 32
    before = sorted(p.name for p in workdir.rglob("*"))
    with pytest.raises(ValueError, match=r"config.json.*model.hidden_dim: saved 16, now 32"):
        run_experiment(other, workdir)
    assert sorted(p.name for p in workdir.rglob("*")) == before  # nothing written


def test_bfloat16_compute_trains(tiny_config, tmp_path):
    tiny_config.train.compute_dtype = "bfloat16"
    tiny_config.train.max_steps = 10
    tiny_config.train.eval_every = 10
    results = run_experiment(tiny_config, tmp_path / "bf16")
    losses = [l for _, l in train_losses(tmp_path / "bf16")]
    assert all(np.isfinite(losses)) and losses[-1] < losses[0]
    assert results["valid"]["NDCG@10"] > 0.0


@pytest.mark.parametrize("schedule, stop_step", [("constant", 20), ("wsd", 50)])
def test_patience_counts_only_inside_the_wsd_decay(tiny_config, tmp_path, schedule, stop_step):
    # A zero learning rate leaves every validation equal to the first, i.e. never an improvement. With patience
    # 1 a constant schedule stops at the second validation; 'wsd' waits for the first one inside its decay
    # (steps 41-60).
    tiny_config.train.update(schedule=schedule, learning_rate=0.0, max_steps=60, decay_steps=20, eval_every=10,
                             patience=1)
    results = run_experiment(tiny_config, tmp_path / schedule, splits=("valid",))
    assert (results["steps"], results["stopped_early"], results["best_step"]) == (stop_step, True, 10)


def test_tiny_preset_reproduces_the_reference_run(uninterrupted):
    # The redesign of issue 40 (and any later refactor) must not change what a run computes: the tiny preset gives
    # bit-identical metrics and test ranks to a run of the code before it (tests/runner/golden, its origin inside).
    _, workdir, _ = uninterrupted
    golden = json.loads((pathlib.Path(__file__).parent / "golden" / "sasrec_tiny.json").read_text())
    saved = json.loads((workdir / "results.json").read_text())
    assert (saved["valid"], saved["test"], saved["best_step"]) == (golden["valid"], golden["test"], golden["best_step"])
    ranks = np.load(workdir / "ranks_test.npy").astype(np.int64)
    assert hashlib.sha256(ranks.tobytes()).hexdigest() == golden["ranks_test_sha256"]
