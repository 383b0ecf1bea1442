"""The entry points as a user runs them: config overrides, bad keys, several devices."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run(args, env=None, check=True):
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run([sys.executable, "-m", *args], cwd=ROOT, env=full_env, check=False,
                          capture_output=True, text=True, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc


def tiny(workdir, cache, *extra):
    return ["launch.train", "--config", "configs/sasrec.py:tiny", "--workdir", str(workdir),
            f"--config.data.cache_dir={cache}", *extra]


def test_unknown_config_key_is_rejected_before_anything_is_written(tmp_path):
    proc = run(tiny(tmp_path / "run", tmp_path, "--config.train.batch_sise=32"), check=False)
    assert proc.returncode != 0
    assert "batch_sise" in proc.stderr
    assert not (tmp_path / "run").exists()


def test_mistyped_config_value_is_rejected(tmp_path):
    proc = run(tiny(tmp_path / "run", tmp_path, "--config.train.batch_size=many"), check=False)
    assert proc.returncode != 0 and "batch_size" in proc.stderr
    assert not (tmp_path / "run").exists()


def test_unknown_preset(tmp_path):
    proc = run(["launch.train", "--config", "configs/sasrec.py:ml-2m", "--workdir", str(tmp_path / "r")], check=False)
    assert proc.returncode != 0 and "unknown preset 'ml-2m'" in proc.stderr


def test_evaluate_without_a_run_directory(tmp_path):
    proc = run(["launch.evaluate", "--workdir", str(tmp_path / "nothing")], check=False)
    assert proc.returncode == 2 and "config.json not found" in proc.stderr


def losses(workdir):
    rows = [json.loads(l) for l in (workdir / "metrics.jsonl").read_text().splitlines()]
    return np.array([r["loss"] for r in rows if r["split"] == "train"])


def test_same_loss_on_one_and_four_devices(tmp_path):
    steps = ["--config.train.max_steps=12", "--config.train.log_every=1", "--config.train.eval_every=12"]
    run(tiny(tmp_path / "one", tmp_path, *steps), env={"XLA_FLAGS": "--xla_force_host_platform_device_count=1"})
    run(tiny(tmp_path / "four", tmp_path, *steps), env={"XLA_FLAGS": "--xla_force_host_platform_device_count=4"})
    one, four = losses(tmp_path / "one"), losses(tmp_path / "four")
    assert len(one) == 12
    np.testing.assert_allclose(four, one, rtol=2e-5)
    r1 = json.loads((tmp_path / "one" / "results.json").read_text())
    r4 = json.loads((tmp_path / "four" / "results.json").read_text())
    assert r4["timing"]["devices"] == 4
    assert r4["test"]["NDCG@10"] == pytest.approx(r1["test"]["NDCG@10"], abs=1e-4)
