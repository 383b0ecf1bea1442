"""TGD data (§3.2) on real MovieLens-100K: the paper's properties hold for every generated sample."""

import numpy as np
import pytest

from engine.data.instances import co_occurrence, training_instances
from llm.stages.llm4rsr.tgd_data import build_tgd_samples, split_samples

K, L = 10, 5


@pytest.fixture(scope="module")
def ml100k():
    from configs.llm4rsr import get_config
    from llm.stages.llm4rsr.common import load_data

    try:
        dataset, split = load_data(get_config("ml-100k-cpu"))
    except Exception as error:  # noqa: BLE001 - the shared data is not on every machine
        pytest.skip(f"MovieLens-100K not available: {error}")
    instances = training_instances(split, L)
    return dataset, instances, co_occurrence(instances, dataset.num_items)


def _check(samples, instances, co, num_items):
    dense = co.toarray()
    both = dense + dense.T
    for s in samples:
        x, t = np.array(s.inputs), s.target
        assert len(x) == len(s.labels) and (x > 0).all() and (x <= num_items).all() and 1 <= t <= num_items
        assert len(set(x.tolist())) == len(x) and t not in x, s
        labels = np.array(s.labels, bool)
        if s.kind == "partial":
            assert labels.any() and not labels.all(), s
            assert (dense[x[labels], t] > K).all(), s                 # relevant: co > K with the target
            assert (both[x[~labels], t] == 0).all(), s                # irrelevant: never co-occurred
            original = instances.inputs[s.instance]
            original = original[original != 0]
            assert instances.target[s.instance] == t
            np.testing.assert_array_equal(x[labels], original[labels])  # kept in place, replaced elsewhere
        else:
            assert s.kind == "complete" and len(x) == L and not labels.any(), s
            assert (both[x, t] == 0).all(), s                         # every input unrelated to the target
            assert (dense[x[:-1], x[1:]] > K).all(), s                # each item strongly precedes the next


def test_every_sample_has_the_papers_properties_and_all_items_are_covered(ml100k):
    dataset, instances, co = ml100k
    samples, stats = build_tgd_samples(instances, co, dataset.num_items, k=K, length=L,
                                       rng=np.random.default_rng(0), min_complete=30)
    assert stats["items_covered"] == dataset.num_items
    kinds = [s.kind for s in samples]
    assert kinds.count("partial") > 100 and kinds.count("complete") >= 30
    _check(samples, instances, co, dataset.num_items)


def test_caps_seed_and_split(ml100k):
    dataset, instances, co = ml100k
    def build(seed):
        return build_tgd_samples(instances, co, dataset.num_items, k=K, length=L, rng=np.random.default_rng(seed),
                                 max_partial=50, max_complete=10, min_complete=10)[0]
    samples = build(1)
    assert [s.kind for s in samples].count("partial") == 50 and [s.kind for s in samples].count("complete") == 10
    assert [s.to_json() for s in build(1)] == [s.to_json() for s in samples]  # seeded: reproducible
    _check(samples, instances, co, dataset.num_items)
    train, test = split_samples(samples, 20, np.random.default_rng(0))
    assert len(test) == 20 and len(train) == 40 and not {s.id for s in train} & {s.id for s in test}
    with pytest.raises(ValueError, match="tgd_data.num_test=60"):
        split_samples(samples, 60, np.random.default_rng(0))
