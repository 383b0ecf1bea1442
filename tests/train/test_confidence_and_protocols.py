"""Protocol and evaluation config keys on neural and non-neural runs, the validation hook, and the
per-instance confidence artifact (launch.confidence), on the `tiny` preset."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from configs import popularity, sasrec, sknn
from engine.data.errors import DataError
from engine.runner import run_experiment
from engine.train.confidence import instance_confidence, training_instances
from engine.train.restore import restore_best_params

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("datasets"))


def tiny(module, cache, **eval_keys):
    config = module.get_config("tiny")
    config.data.cache_dir = cache
    config.eval.update(eval_keys)
    return config


@pytest.fixture(scope="module")
def trained(tmp_path_factory, cache):
    config = tiny(sasrec, cache, num_negatives=30, beyond_accuracy=True, popularity_breakdown=True)
    config.train.update(max_steps=4, eval_every=2, log_every=2)
    workdir = tmp_path_factory.mktemp("run") / "sasrec"
    seen = []
    results = run_experiment(config, workdir, on_validate=lambda step, metrics: seen.append((step, metrics["NDCG@10"])))
    return config, workdir, results, seen


def test_neural_run_adds_the_requested_protocols_and_calls_the_validation_hook(trained):
    _, workdir, _, seen = trained
    assert [s for s, _ in seen] == [2, 4]
    valid = [json.loads(l) for l in (workdir / "metrics.jsonl").read_text().splitlines()]
    assert [v["NDCG@10"] for v in valid if v["split"] == "valid"] == [v for _, v in seen]
    saved = json.loads((workdir / "results.json").read_text())
    for split in ("valid", "test"):
        assert {"sampled_uniform30/NDCG@10", "Coverage@20", "Serendipity@10", "Novelty@5"} <= set(saved[split])
        # Sampled ranking among 31 candidates can only be easier than ranking the whole catalogue.
        assert saved[split]["sampled_uniform30/HR@10"] >= saved[split]["HR@10"]
        rows = saved["popularity_breakdown"][split]
        assert sum(r["num_prompts"] for r in rows) == 943  # every ML-100K user's prompt in one bucket
        assert np.average([r["HR@10"] for r in rows], weights=[r["num_prompts"] for r in rows]) == \
            pytest.approx(saved[split]["HR@10"])


def test_bad_protocol_settings_name_the_config_key_and_write_nothing(tmp_path, cache):
    config = tiny(sasrec, cache)
    config.split.protocol = "leave_two_out"
    with pytest.raises(ValueError, match="split.protocol"):
        run_experiment(config, tmp_path / "a")
    config = tiny(sasrec, cache, ks=(10, 5000))
    with pytest.raises(ValueError, match=r"eval.ks=\(10, 5000\).*1682"):
        run_experiment(config, tmp_path / "b")
    with pytest.raises(ValueError, match="eval.num_negatives=10 every K must be at most 11"):
        run_experiment(tiny(popularity, cache, num_negatives=10), tmp_path / "c")
    with pytest.raises(ValueError, match="eval.select_metric='NDCG@50'"):
        run_experiment(tiny(popularity, cache, select_metric="NDCG@50"), tmp_path / "d")
    config = tiny(sknn, cache)
    config.model.name, config.model.decay = "s_sknn", "linear"
    with pytest.raises(ValueError, match="takes no key.*model.decay"):
        run_experiment(config, tmp_path / "e")
    config.model.name = "sknn_typo"
    with pytest.raises(ValueError, match="unknown model 'sknn_typo'.*sasrec.*most_popular"):
        run_experiment(config, tmp_path / "f")
    # The SASRec-format MovieLens file has no timestamps: no temporal protocol on it.
    config = popularity.get_config("ml-1m")
    config.split.protocol = "temporal_sessions"
    with pytest.raises(DataError, match="split.protocol='temporal_sessions'.*no timestamps"):
        run_experiment(config, tmp_path / "g")
    assert not any(tmp_path.iterdir())


def test_temporal_sessions_from_the_config(tmp_path, cache):
    counts = {}
    for fraction in (0.2, 0.4):
        config = tiny(sknn, cache)
        config.split.update(protocol="temporal_sessions", test_fraction=fraction, num_folds=2)
        config.model.sampling = "recent"
        results = run_experiment(config, tmp_path / str(fraction))
        assert results["protocol"] == "temporal_sessions" and results["test"]["HR@20"] > 0
        counts[fraction] = json.loads((tmp_path / str(fraction) / "config.json").read_text())["split"]
    assert counts[0.4]["test_fraction"] == 0.4 and counts[0.4]["num_folds"] == 2


def test_confidence_is_the_max_softmax_probability_of_each_training_instance(trained):
    config, workdir, _, _ = trained
    exp, params, _ = restore_best_params(workdir)
    got = instance_confidence(exp, params, "prefix", batch_size=512)
    split, max_len = exp.split, config.model.max_len
    lengths = split.train_ends - split.train_starts
    assert len(got["confidence"]) == np.minimum(lengths - 1, max_len).clip(0).sum()
    np.testing.assert_array_equal(got["target"], split.items[got["position"]])
    # One instance by hand: the prompt is the (window-cut) items before the target.
    i = 12345
    u, p = got["user"][i], got["position"][i]
    _, _, window_start = training_instances(split, max_len)
    prompt = split.items[window_start[u]:p][-max_len:]
    inputs = np.zeros((1, max_len), np.int32)
    inputs[0, max_len - len(prompt):] = prompt
    scores = np.asarray(exp.scores(params, inputs))[0, 1:].astype(np.float64)
    probs = np.exp(scores - scores.max()) / np.exp(scores - scores.max()).sum()
    assert got["confidence"][i] == pytest.approx(probs.max(), rel=1e-4)
    assert got["target_prob"][i] == pytest.approx(probs[got["target"][i] - 1], rel=1e-4)
    assert got["top_item"][i] == np.argmax(probs) + 1
    # One pass per window: the same instances, in the same order, each a probability distribution's max.
    window = instance_confidence(exp, params, "window")
    np.testing.assert_array_equal(window["position"], got["position"])
    assert np.all((window["target_prob"] <= window["confidence"] + 1e-6) & (window["confidence"] <= 1))


def test_window_confidence_needs_a_next_item_model(cache):
    from configs import bert4rec
    from engine.train.experiment import Experiment
    config = bert4rec.get_config("tiny")
    config.data.cache_dir = cache
    exp = Experiment.create(config)
    with pytest.raises(ValueError, match="mode 'window' needs a next-item model.*bert4rec"):
        instance_confidence(exp, exp.init_params(), "window")


def test_confidence_cli_writes_the_artifact(trained):
    _, workdir, _, _ = trained
    proc = subprocess.run([sys.executable, "-m", "launch.confidence", "--workdir", str(workdir), "--mode", "window"],
                          cwd=ROOT, check=False, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    saved = np.load(workdir / "artifacts" / "confidence.npz")
    assert {"user", "position", "target", "confidence", "target_prob", "top_item", "user_id"} <= set(saved.files)
    assert not [p for p in (workdir / "artifacts").iterdir() if p.name.startswith(".")]  # no temporary left
    proc = subprocess.run([sys.executable, "-m", "launch.confidence", "--workdir", str(workdir / "none")],
                          cwd=ROOT, check=False, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 2 and "config.json not found" in proc.stderr
