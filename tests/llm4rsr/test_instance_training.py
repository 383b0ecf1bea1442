"""The trainer's instance-table mode (data.instances_path): batches, and next-item backbones trained on a table
of varying-length inputs, evaluated on the unchanged loo_full prompts."""

import json

import numpy as np
import pytest

from engine.data.errors import DataError
from engine.data.instances import InstanceBatches, Instances, save_instances, training_instances
from tests.llm4rsr.test_instances import _split


def test_batches_hold_each_instance_once_per_epoch_with_its_target_last():
    split = _split([[1, 2, 3, 4, 5], [6, 7, 1], [2, 3]])
    table = training_instances(split, 3)
    batches = InstanceBatches(table, batch_size=4, window=5, seed=0)
    assert batches.steps_per_epoch == 2 and batches.targets_per_step == len(table) / 2
    seen = []
    for step in range(2):
        b = batches.batch(step)
        assert b["inputs"].shape == (4, 5) and (b["targets"][:, :-1] == 0).all()
        for x, t in zip(b["inputs"], b["targets"][:, -1]):
            if t:
                seen.append((tuple(x[x != 0]), int(t)))
    assert sorted(seen) == sorted((tuple(x[x != 0]), int(t)) for x, t in zip(table.inputs, table.target))
    assert not np.array_equal(batches.plan(0), batches.plan(1))  # reshuffled per epoch, reproducibly
    assert np.array_equal(batches.plan(1), InstanceBatches(table, 4, 5, 0).plan(1))


def test_bad_tables_are_refused_with_the_file(tmp_path):
    split = _split([[1, 2, 3], [3, 2]])
    bad = Instances(np.zeros(1, np.int64), np.zeros(1, np.int64), np.array([9], np.int32), np.array([[1, 2]], np.int32))
    save_instances(tmp_path / "t.npz", bad)
    with pytest.raises(DataError, match="t.npz: instance items outside"):
        InstanceBatches.from_file(tmp_path / "t.npz", split, 4, (5,), 0)
    gap = Instances(np.zeros(1, np.int64), np.zeros(1, np.int64), np.array([2], np.int32), np.array([[1, 0]], np.int32))
    save_instances(tmp_path / "g.npz", gap)
    with pytest.raises(DataError, match="no input item next to their target"):
        InstanceBatches.from_file(tmp_path / "g.npz", split, 4, (5,), 0)


@pytest.mark.parametrize("model", ["sasrec", "lrurec", "fmlprec"])
def test_backbones_train_on_an_instance_table_and_evaluate_on_loo_full(model, tmp_path):
    from configs.llm4rsr import get_config
    from engine.runner.config_spec import load_config_spec
    from llm.stages.llm4rsr.common import load_data

    try:
        _, split = load_data(get_config("ml-100k-cpu"))
    except DataError as error:
        pytest.skip(f"MovieLens-100K not available: {error}")
    table = training_instances(split, 5)
    # Varying input lengths: drop the oldest input of every other instance (as a correction would).
    table.inputs[::2, 0] = 0
    save_instances(tmp_path / "instances.npz", table)
    config, _ = load_config_spec(f"configs/{model}.py:tiny", (
        "data.item_core=50", "data.user_core=5", "train.max_steps=6", "train.eval_every=6", "model.max_len=5",
        "train.length_buckets=(5,)"))
    with config.unlocked():
        config.data.instances_path = str(tmp_path / "instances.npz")
    from engine.runner import run_experiment

    results = run_experiment(config, tmp_path / "run")
    saved = json.loads((tmp_path / "run" / "results.json").read_text())
    assert saved["protocol"] == "loo_full" and 0 <= results["test"]["NDCG@10"] <= 1
    assert json.loads((tmp_path / "run" / "config.json").read_text())["data"]["instances_path"].endswith(
        "instances.npz")
    ranks = np.load(tmp_path / "run" / "ranks_test.npy") if (tmp_path / "run" / "ranks_test.npy").exists() else None
    assert ranks is None or len(ranks) == len(split.test)


def test_the_trainer_reads_the_table_it_is_given(tmp_path):
    from configs.llm4rsr import get_config
    from engine.runner import run_experiment
    from engine.runner.config_spec import load_config_spec
    from llm.stages.llm4rsr.common import load_data

    try:
        dataset, _ = load_data(get_config("ml-100k-cpu"))
    except DataError as error:
        pytest.skip(f"MovieLens-100K not available: {error}")
    bad = Instances(np.zeros(1, np.int64), np.zeros(1, np.int64), np.array([dataset.num_items + 1], np.int32),
                    np.array([[1, 2]], np.int32))
    save_instances(tmp_path / "bad.npz", bad)
    config, _ = load_config_spec("configs/sasrec.py:tiny", ("data.item_core=50", "data.user_core=5"))
    with config.unlocked():
        config.data.instances_path = str(tmp_path / "bad.npz")
    with pytest.raises(DataError, match="bad.npz: instance items outside"):
        run_experiment(config, tmp_path / "run")
