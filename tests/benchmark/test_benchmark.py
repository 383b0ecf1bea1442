"""engine.benchmark (behind launch.benchmark): the measurements run and their figures are consistent (no timing
assertions)."""

import json

import numpy as np
import pytest

from configs.sasrec import get_config
from engine import benchmark


@pytest.fixture(scope="module")
def data_cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("datasets"))


def test_spread_catalogue_keeps_sequences_and_maps_items_one_to_one(data_cache):
    from engine.data.sources import load_dataset
    config = get_config("tiny")
    config.data.cache_dir = data_cache
    dataset = load_dataset(config.data)
    spread = benchmark.spread_catalogue(dataset, 50_000)
    assert spread.num_items == 50_000
    np.testing.assert_array_equal(spread.offsets, dataset.offsets)
    # Same item -> same new id, different items -> different ids.
    pairs = set(zip(dataset.items.tolist(), spread.items.tolist()))
    assert len(pairs) == len(set(dataset.items.tolist())) == len({b for _, b in pairs})
    with pytest.raises(ValueError, match="smaller than"):
        benchmark.spread_catalogue(dataset, 10)


@pytest.mark.parametrize("loss", ["ce", "ce_fused"])
def test_step_measurement_reports_throughput_memory_and_flops(data_cache, loss):
    config = get_config("tiny")
    config.data.cache_dir = data_cache
    config.train.loss = loss
    row = benchmark.measure_step(config, 5000, steps=2, repeats=1)
    assert row["status"] == "ok" and row["num_items"] == 5000 and row["loss"] == loss
    assert row["steps_per_s"] > 0 and row["tokens_per_s"] >= row["sequences_per_s"] > 0
    assert row["temp_bytes_widest_bucket"] > 0 and row["model_flops_per_step"] > 0
    assert row["compile_seconds"] > 0 and set(row["bucket_lengths"]) <= {10, 20}


def _write_run(workdir, values):
    lines = [{"step": 100 * (i + 1), "split": "valid", "NDCG@10": v, "train_seconds": 60.0 * (i + 1)}
             for i, v in enumerate(values)]
    workdir.mkdir()
    (workdir / "metrics.jsonl").write_text("".join(json.dumps(l) + "\n" for l in lines))


def test_time_to_quality_is_the_first_validation_reaching_the_threshold(tmp_path):
    _write_run(tmp_path / "run", [0.10, 0.17, 0.181, 0.179, 0.19])
    row = benchmark.time_to_quality(tmp_path / "run", "NDCG@10", 0.18)
    assert row["reached"] and row["step"] == 300 and row["train_seconds"] == 180.0
    assert row["best_value"] == 0.19 and row["best_step"] == 500
    missed = benchmark.time_to_quality(tmp_path / "run", "NDCG@10", 0.2)
    assert not missed["reached"] and missed["step"] is None
    with pytest.raises(KeyError, match="HR@50"):
        benchmark.time_to_quality(tmp_path / "run", "HR@50", 0.1)
    with pytest.raises(FileNotFoundError, match="launch.train"):
        benchmark.time_to_quality(tmp_path / "missing", "NDCG@10", 0.1)


def test_a_failed_case_is_reported_by_its_exception_line():
    # The shape of stderr when XLA could not allocate while compiling a 10^6-item full-softmax step on a GPU.
    stderr = ('Traceback (most recent call last):\n  File "x/_src/compiler.py", line 395, in backend_compile_and_load\n'
              '    return backend.compile_and_load(\n'
              'jax.errors.JaxRuntimeError: RESOURCE_EXHAUSTED: Out of memory while trying to allocate 47.70GiB\n'
              'run directory: /tmp/x\n')
    assert benchmark.failure_reason(stderr).startswith("jax.errors.JaxRuntimeError: RESOURCE_EXHAUSTED")
    assert benchmark.failure_reason("no traceback\nlast words\n") == "no traceback last words"


def test_device_peak_measures_a_matmul_and_knows_no_nominal_rate_for_a_cpu():
    peak = benchmark.device_peak("float32")
    assert peak["matmul_flops_per_s"] > 0 and peak["nominal_flops_per_s"] is None
