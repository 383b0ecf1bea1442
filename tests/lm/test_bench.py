"""The benchmark's JAX workers on the tiny model: a timed scoring call and the profile's accounting."""

import pytest

from configs.lm import get_config
from engine.lm.bench import SETTINGS, _worker


def _args(task, model_dir):
    return {**SETTINGS[task], "model_dir": str(model_dir), "train_config": get_config().train.to_dict(),
            "dtype": "float32", "steps": 1}


def test_score_worker_reports_its_rate(tiny_model_dir):
    out = _worker("jax-score", _args("score", tiny_model_dir))
    assert out["tokens_per_s"] == pytest.approx(16 * 256 / out["seconds"])


def test_profile_splits_the_traced_call_by_products_in_flight(tiny_model_dir):
    out = _worker("profile-train", _args("train", tiny_model_dir))
    # The sweep covers the traced span exactly once, and that span lies inside the timed call.
    assert sum(out["gemm_concurrency_ms"].values()) == pytest.approx(out["traced_ops_ms"], rel=1e-6)
    assert 0 < out["traced_ops_ms"] <= out["wall_ms"] * 1.05
    assert out["op_ms_by_kind"]["ynnpack"] > 0  # XLA's CPU products are YNNPACK fusions
    assert any(row["op"].startswith("ynn_fusion") for row in out["top_ops"])


def test_rounds_alternate_the_frameworks_and_report_the_median_round(tiny_model_dir, torch_required):
    from engine.lm.bench import run_bench

    config = get_config()
    config.model.dir = str(tiny_model_dir)
    out = run_bench(config, steps=1, tasks=("score", "gemm"), rounds=3)
    for task, rate in (("gemm", "gflops"), ("score", "tokens_per_s")):
        row = out["results"][task]
        assert len(row["ratio_per_round"]) == 3
        for framework in ("jax", "torch"):
            assert len(row[framework]["rounds"]) == 3
            assert row[framework][rate] == sorted(row[framework]["rounds"])[1]
    assert out["results"]["score"]["max_abs_logprob_diff"] < 1e-3  # the same model in both frameworks
