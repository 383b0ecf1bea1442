"""launch.summarize: the seed table the measured results in docs/RESULTS.md are pasted from."""

import json
import subprocess
import sys

import pytest

from launch.summarize import summarize


def write_run(directory, seed, ndcg, *, model="sasrec", steps_per_second=None, wall_seconds=None):
    directory.mkdir()
    result = {"model": model, "dataset": "ml-1m-sasrec", "protocol": "loo_full", "seed": seed, "best_step": 100,
              "test": {"NDCG@10": ndcg, "HR@10": 2 * ndcg}, "valid": {"NDCG@10": ndcg + 0.01, "HR@10": 2 * ndcg}}
    if steps_per_second is not None:
        result["timing"] = {"train_wall_seconds": wall_seconds, "steady_steps_per_second": steps_per_second,
                            "platform": "cpu", "devices": 1}
    (directory / "results.json").write_text(json.dumps(result))
    return directory


def test_mean_and_sample_std_over_seeds(tmp_path):
    runs = [write_run(tmp_path / f"s{s}", s, v, steps_per_second=r, wall_seconds=w)
            for s, v, r, w in [(0, 0.10, 1.0, 600), (1, 0.12, 1.2, 720), (2, 0.14, 1.4, 840)]]
    table = summarize(runs, metrics=("NDCG@10", "HR@10"))
    # Sample std (ddof=1) of 0.10, 0.12, 0.14 is 0.02; of 0.20, 0.24, 0.28 it is 0.04.
    assert "| 0.1200 ± 0.0200 | 0.2400 ± 0.0400 |" in table
    assert "3 seeds (0, 1, 2)" in table and "protocol loo_full" in table
    # Wall time 10, 12, 14 minutes and 1.0, 1.2, 1.4 steps/s: the same ddof=1 spread.
    assert "training wall time 12.0 ± 2.0 min; steady state 1.20 ± 0.20 steps/s on cpu × 1" in table


def test_single_run_shows_the_mean_alone(tmp_path):
    table = summarize([write_run(tmp_path / "s0", 0, 0.1)], metrics=("NDCG@10",))
    assert "| 0.1000 |" in table and "±" not in table


def test_runs_of_different_models_are_refused(tmp_path):
    runs = [write_run(tmp_path / "a", 0, 0.1), write_run(tmp_path / "b", 1, 0.1, model="bert4rec")]
    with pytest.raises(ValueError, match="disagree on model"):
        summarize(runs)


def test_text_initialised_runs_do_not_pass_for_their_backbone(tmp_path):
    # An LLM2SASRec run records model "sasrec"; its config's item_init is what tells it apart.
    plain = write_run(tmp_path / "sasrec", 0, 0.1)
    llm2 = write_run(tmp_path / "llm2sasrec", 0, 0.2)
    (llm2 / "config.json").write_text(json.dumps({"model": {"name": "sasrec", "item_init": "runs/emb/pca-64"}}))
    with pytest.raises(ValueError, match=r"disagree on model: \['sasrec', 'sasrec \(item table from runs/emb/pca-64\)'\]"):
        summarize([plain, llm2])
    assert summarize([llm2], metrics=("NDCG@10",)).startswith("sasrec (item table from runs/emb/pca-64) on ml-1m")


def test_unfinished_run_is_named(tmp_path):
    (tmp_path / "running").mkdir()
    with pytest.raises(FileNotFoundError, match="running"):
        summarize([tmp_path / "running"])


def test_command_line_summarizes_the_chosen_split(tmp_path):
    runs = [str(write_run(tmp_path / f"s{s}", s, v)) for s, v in [(0, 0.10), (1, 0.12)]]
    command = [sys.executable, "-m", "launch.summarize", *runs, "--split", "valid"]

    def run(*extra):
        return subprocess.run([*command, *extra], capture_output=True, text=True, check=False)

    out = run("--metrics", "NDCG@10,HR@10")
    assert out.returncode == 0, out.stderr
    assert "valid, 2 seeds (0, 1)" in out.stdout and "| 0.1200 ± 0.0141 | 0.2200 ± 0.0283 |" in out.stdout
    # The default metrics include MRR@10, which these runs lack: the file is named, no traceback.
    out = run()
    assert out.returncode != 0 and f"{runs[0]}/results.json: no valid MRR@10, NDCG@20, HR@20" in out.stderr
    out = subprocess.run([*command[:-1], "vald"], capture_output=True, text=True, check=False)
    assert out.returncode != 0 and "invalid choice: 'vald'" in out.stderr
