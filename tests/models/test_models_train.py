"""The `tiny` preset end to end for each new model: the trainer's hooks (training_pairs, prompt,
output_bias) work with it, and training beats a random ranking."""

import importlib
import json

import pytest

from engine.runner import run_experiment
from tests.models.conftest import NEW_MODELS


@pytest.mark.parametrize("name", NEW_MODELS)
def test_tiny_training_run(name, data_cache, tmp_path):
    config = importlib.import_module(f"configs.{name}").get_config("tiny")
    config.data.cache_dir = data_cache
    results = run_experiment(config, tmp_path / name)
    saved = json.loads((tmp_path / name / "results.json").read_text())
    assert saved["model"] == name and saved["best_step"] > 0
    # A random ranking of ML-100K's 1,682 items has NDCG@10 ~ 0.003.
    assert results["valid"]["NDCG@10"] > 0.01, results["valid"]
    assert results["test"]["NDCG@10"] > 0.005, results["test"]


def test_tiny_training_run_with_the_original_sasrec_block(data_cache, tmp_path):
    # The SASRec+ reference's architecture: the original block, a feed-forward as wide as the model, ReLU.
    from configs.sasrec import get_config
    config = get_config("tiny")
    config.data.cache_dir = data_cache
    config.model.update(block="sasrec", ffn_dim=config.model.hidden_dim, activation="relu", positions="from_start")
    results = run_experiment(config, tmp_path / "sasrec")
    assert json.loads((tmp_path / "sasrec" / "config.json").read_text())["model"]["block"] == "sasrec"
    assert results["valid"]["NDCG@10"] > 0.01, results["valid"]
    assert results["test"]["NDCG@10"] > 0.005, results["test"]
