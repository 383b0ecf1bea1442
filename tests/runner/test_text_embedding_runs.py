"""End to end on the `tiny` preset (MovieLens-100K) with a synthetic embeddings artifact: LLMSeqSim through
launch.train's non-neural path, an LLM2SASRec training run, that run restored as a scorer, and the
LLMSeqSim & Sequential hybrid on top of it."""

import json

import numpy as np
import pytest

from configs.hybrid_sequential import get_config as hybrid_config
from configs.llm2sasrec import get_config as llm2sasrec_config
from configs.llmseqsim import get_config as llmseqsim_config
from engine.data.item_embeddings import write_item_embeddings
from engine.data.sources import load_dataset
from engine.data.splits import make_split
from engine.embedding_recs.llmseqsim import LLMSeqSim
from engine.eval.host_ranking import evaluate
from engine.eval.metrics import metrics_from_ranks
from engine.neural_recommender import NeuralRun
from engine.runner import run_experiment
from engine.runner.registry import build_recommender


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """(data cache dir, dataset, split, artifact dir with 16-wide embeddings)."""
    root = tmp_path_factory.mktemp("text-emb")
    config = llmseqsim_config("tiny")
    config.data.cache_dir = str(root / "datasets")
    dataset = load_dataset(config.data)
    table = np.random.default_rng(0).normal(scale=0.05, size=(dataset.num_items + 1, 16)).astype(np.float32)
    table[0] = 0
    artifact = write_item_embeddings(root / "emb", table, dataset=dataset.name,
                                     dataset_cache_key=dataset.meta["cache_key"], model="synthetic")
    return str(root / "datasets"), dataset, make_split(dataset, "loo_full"), str(artifact)


def test_llmseqsim_run_writes_results(tiny, tmp_path):
    cache, _, _, artifact = tiny
    config = llmseqsim_config("tiny")
    config.data.cache_dir, config.model.embeddings, config.model.pooling = cache, artifact, "harmonic"
    results = run_experiment(config, tmp_path / "run")
    saved = json.loads((tmp_path / "run" / "results.json").read_text())
    assert saved["model"] == "llmseqsim" and 0 <= saved["test"]["NDCG@10"] <= 1
    assert results["valid"]["HR@20"] >= 0
    for split in ("valid", "test"):  # the per-prompt ranks behind the metrics (launch.compare reads them)
        ranks = np.load(tmp_path / "run" / f"ranks_{split}.npy")
        assert metrics_from_ranks(ranks, config.eval.ks) == pytest.approx(saved[split], abs=1e-9)


def test_llm2sasrec_run_restored_as_a_scorer_and_hybrid(tiny, tmp_path):

    cache, dataset, split, artifact = tiny
    config = llm2sasrec_config("tiny")
    config.data.cache_dir, config.model.item_init = cache, artifact
    config.train.max_steps, config.train.length_buckets, config.model.max_len = 20, (20,), 20
    results = run_experiment(config, tmp_path / "llm2sasrec")
    assert results["valid"]["NDCG@10"] > 0.005

    # The restored best checkpoint scores the validation prompts as the trainer's evaluation did.
    seq = NeuralRun(tmp_path / "llm2sasrec").fit(split)
    metrics, _ = evaluate(seq, split, split.valid, ks=(10,), ties="optimistic")
    assert metrics["NDCG@10"] == pytest.approx(results["valid"]["NDCG@10"], abs=1e-4)

    # The hybrid as launch.train builds it: the cut-off is chosen on validation and recorded.
    config = hybrid_config("tiny")
    config.data.cache_dir, config.model.embeddings = cache, artifact
    config.model.sequential_run = str(tmp_path / "llm2sasrec")
    config.model.quantiles = (0.0, 0.5, 0.9)
    hybrid = build_recommender(config, dataset)
    hybrid.sequential = seq  # the run restored above (the registry path restores it again: slow on 2 cores)
    hybrid.fit(split)
    chosen = hybrid.selection
    assert isinstance(hybrid.similarity, LLMSeqSim) and chosen["metric"] == "NDCG@10"
    assert chosen["cutoff"] in [c["cutoff"] for c in chosen["candidates"]]
    assert chosen["value"] == max(c["value"] for c in chosen["candidates"])
    assert chosen["value"] >= max(metrics["NDCG@10"] - 1e-9, 0)  # never worse than the sequential part alone


@pytest.mark.parametrize("module", ["sknn_emb", "hybrid_popularity"])
def test_other_text_embedding_configs_run(module, tiny, tmp_path):
    import importlib

    cache, _, _, artifact = tiny
    config = importlib.import_module(f"configs.{module}").get_config("tiny")
    config.data.cache_dir, config.model.embeddings = cache, artifact
    results = run_experiment(config, tmp_path / module)
    assert results["model"] == config.model.name and 0 <= results["test"]["NDCG@10"] <= 1
