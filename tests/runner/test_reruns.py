"""What a run directory accepts on a re-run (issue 41): a diverged run stops at the step of its first
non-finite loss and resumes from its last good checkpoint with a smaller learning rate, the change recorded
in config.json; a finished run refuses a changed hyperparameter; a workdir with no checkpoint is replaceable."""

import json
import math

import pytest

from engine.runner import run_experiment


def _run(config, workdir, **train):
    config = config.copy_and_resolve_references()
    config.train.update(train)
    return run_experiment(config, workdir)


def test_diverge_resume_refuse(tiny_config, tmp_path):
    workdir = tmp_path / "run"
    tiny_config.train.update(eval_every=10, log_every=5)

    # A first session that diverges before any checkpoint leaves a replaceable workdir.
    with pytest.raises(ValueError) as error:
        _run(tiny_config, workdir, learning_rate=1e30, max_steps=10)
    assert str(error.value) == (f"{workdir}: training diverged: the train loss is nan at step 3; no checkpoint was "
                                "written before it: re-run the same command with a smaller "
                                "--config.train.learning_rate (now 1e+30)")
    assert not (workdir / "results.json").exists()
    _run(tiny_config, workdir, learning_rate=3e-3, max_steps=10)  # replaced: no "different experiment"
    assert "changes" not in json.loads((workdir / "config.json").read_text())

    # Extended with a diverging rate: stops at the first NaN loss, the checkpoint of step 10 kept.
    with pytest.raises(ValueError) as error:
        _run(tiny_config, workdir, learning_rate=1e30, max_steps=40)
    assert str(error.value) == (f"{workdir}: training diverged: the train loss is nan at step 12; the last good "
                                "checkpoint is step 10: re-run the same command with a smaller "
                                "--config.train.learning_rate (now 1e+30) to resume from it (the change is recorded "
                                "in config.json)")
    results = _run(tiny_config, workdir, learning_rate=3e-3, max_steps=40)
    assert results["steps"] == 40 and 0 < results["test"]["NDCG@10"] < 1
    assert all(math.isfinite(v) for v in results["test"].values())
    saved = json.loads((workdir / "config.json").read_text())
    assert saved["train"]["learning_rate"] == 3e-3
    assert saved["changes"] == [
        {"step": 10, "key": "train.learning_rate", "from": 0.003, "to": 1e30},
        {"step": 10, "key": "train.learning_rate", "from": 1e30, "to": 0.003},
    ]

    # The finished run refuses a new rate (its weights were trained with the saved one); eval keys are free.
    with pytest.raises(ValueError) as error:
        _run(tiny_config, workdir, learning_rate=0.01, max_steps=40)
    assert str(error.value) == (f"{workdir / 'config.json'}: this run has finished training at step 40, so a change "
                                "would not apply to its weights (train.learning_rate: saved 0.003, now 0.01). Use a "
                                "new --workdir, or raise train.max_steps to continue training with the new value.")
    config = tiny_config.copy_and_resolve_references()
    config.train.update(learning_rate=3e-3, max_steps=40)
    config.eval.ks = (10,)
    assert set(run_experiment(config, workdir)["test"]) == {"HR@10", "NDCG@10", "MRR@10"}


def test_non_neural_rerun_with_other_eval_keys_is_evaluated_again(tmp_path, data_cache):
    from configs.popularity import get_config
    config = get_config("tiny")
    config.data.cache_dir = data_cache
    first = run_experiment(config, tmp_path / "pop")
    assert run_experiment(config, tmp_path / "pop") == first  # the same config: the finished run's results
    config.eval.ks = (10,)
    again = run_experiment(config, tmp_path / "pop")
    assert set(again["test"]) == {"HR@10", "NDCG@10", "MRR@10"}
    assert again["test"]["NDCG@10"] == first["test"]["NDCG@10"]
    assert json.loads((tmp_path / "pop" / "config.json").read_text())["eval"]["ks"] == [10]


def test_damaged_config_json_is_named(tmp_path, data_cache):
    from configs.popularity import get_config
    config = get_config("tiny")
    config.data.cache_dir = data_cache
    run_experiment(config, tmp_path / "pop")
    path = tmp_path / "pop" / "config.json"
    path.write_text(path.read_text()[:100])  # a truncated write
    with pytest.raises(ValueError) as error:
        run_experiment(config, tmp_path / "pop")
    assert str(error.value) == (f"{path}:5: this config is not valid JSON (Unterminated string starting at); it is "
                                "damaged: restore it from a copy, or use a new --workdir")
