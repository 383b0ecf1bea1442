"""temporal_sessions and the baselines on the real MovieLens-1M ratings (skipped only when the data is absent)."""

import numpy as np
import pytest

from configs.common import base_config
from engine.data import DataError, load_dataset, resolve_data_root
from engine.data.splits import make_split
from engine.data.temporal import session_last_times
from engine.eval.beyond_accuracy import beyond_accuracy
from engine.eval.host_ranking import evaluate
from engine.neighbors import SKNN, MostPopular
from engine.recommender import prompt_items, train_item_counts


@pytest.fixture(scope="module")
def ml1m(tmp_path_factory):
    try:
        resolve_data_root()
    except DataError as e:
        pytest.skip(f"real datasets not available: {e}")
    cfg = base_config().data
    cfg.name = "ml-1m"
    cfg.cache_dir = str(tmp_path_factory.mktemp("cache"))
    dataset = load_dataset(cfg)
    return dataset, make_split(dataset, "temporal_sessions")


def test_temporal_sessions_sizes_on_ml1m(ml1m):
    dataset, split = ml1m
    assert dataset.timestamps is not None and dataset.num_users == 6_040
    # One session per user (each has at least 20 ratings): 1,208 test sessions, 4,832 training sessions
    # in four bins of 1,208.
    trained = np.flatnonzero(split.train_ends > split.train_starts)
    assert len(trained) == 4_832
    assert 1_150 <= len(split.test) <= 1_208 and 1_150 <= len(split.valid) <= 1_208
    assert [int((f.train_ends > f.train_starts).sum()) for f in split.folds] == [1_208, 2_416, 3_624]
    assert all(1_150 <= len(f.valid) <= 1_208 for f in split.folds)
    # Every test session ends no earlier than every training session.
    last = session_last_times(dataset)
    assert last[split.test.users].min() >= last[trained].max()
    # Test prompts and targets use training items only, and prompts are long (ML-1M users rate a lot).
    counts = train_item_counts(split)
    rows = prompt_items(split, split.test)
    assert counts[rows.items].min() > 0 and counts[split.test.targets].min() > 0
    assert np.median(rows.lengths) > 50
    # The third fold's training sessions all end before its validation sessions.
    f3 = split.folds[2]
    assert last[f3.valid.users].min() >= last[np.flatnonzero(f3.train_ends > f3.train_starts)].max()


def test_sknn_beats_most_popular_on_ml1m(ml1m):
    _, split = ml1m
    popular = MostPopular().fit(split)
    sknn = SKNN(k=100, sample_size=500).fit(split)
    pop_metrics, _ = evaluate(popular, split, split.test, ks=(20,))
    knn_metrics, _ = evaluate(sknn, split, split.test, ks=(20,))
    assert 0.0 < pop_metrics["NDCG@20"] < knn_metrics["NDCG@20"] < 0.5
    rows = prompt_items(split, split.test)
    popular_lists = popular.recommend(rows, 20)
    counts = train_item_counts(split)
    extra = beyond_accuracy(sknn.recommend(rows, 20), split.test.targets, popular_lists, counts,
                            split.num_items, ks=(20,))
    baseline = beyond_accuracy(popular_lists, split.test.targets, popular_lists, counts, split.num_items, ks=(20,))
    # Personalised lists cover more of the catalogue and recommend less popular items than MostPopular
    # (whose lists already vary a lot: long ML-1M prompts exclude many popular movies), which by
    # definition has no serendipitous hits.
    assert extra["Coverage@20"] > baseline["Coverage@20"] and extra["Novelty@20"] > baseline["Novelty@20"]
    assert baseline["Serendipity@20"] == 0.0 < extra["Serendipity@20"] <= knn_metrics["HR@20"]
