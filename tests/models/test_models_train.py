"""The `tiny` preset end to end for each new model: the trainer's hooks (training_pairs, prompt,
output_bias) work with it, and training beats a random ranking."""

import importlib
import json

import pytest

from engine.train.trainer import train
from tests.models.conftest import NEW_MODELS


@pytest.mark.parametrize("name", NEW_MODELS)
def test_tiny_training_run(name, data_cache, tmp_path):
    config = importlib.import_module(f"configs.{name}").get_config("tiny")
    config.data.cache_dir = data_cache
    results = train(config, tmp_path / name)
    saved = json.loads((tmp_path / name / "results.json").read_text())
    assert saved["model"] == name and saved["best_step"] > 0
    # A random ranking of ML-100K's 1,682 items has NDCG@10 ~ 0.003.
    assert results["valid"]["NDCG@10"] > 0.01, results["valid"]
    assert results["test"]["NDCG@10"] > 0.005, results["test"]
