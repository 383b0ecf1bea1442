"""train.loss_weighting: 'batch' (mean over each batch's targets) or 'token' (every target position of an
epoch weighs the same, whatever length bucket its batch came from)."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from configs import sasrec
from engine.data.pipeline import TrainBatches
from engine.data.splits import leave_one_out
from engine.runner import run_experiment
from engine.train.experiment import Experiment
from engine.train.losses import full_softmax_cross_entropy
from engine.train.trainer import make_train_step
from tests.data.test_pipeline import SEQS, dataset


def test_targets_per_step_by_hand():
    # Training sequences [1 2 3], [6], [9 1 2 3 4 5] give 2, 0 and 5 (input, target) pairs; a window of
    # max_len=4 keeps at most 4 of them. Buckets (2, 4) put the two trainable users in separate batches.
    split = leave_one_out(dataset(SEQS))
    batches = TrainBatches(split, batch_size=2, max_len=4, buckets=(2, 4), seed=0)
    assert batches.steps_per_epoch == 2
    assert batches.targets_per_step == pytest.approx((2 + 4) / 2)
    # ...and it is what the batches of an epoch hold.
    held = [int(np.sum(batches.batch(step)["targets"] > 0)) for step in range(batches.steps_per_epoch)]
    assert sorted(held) == [2, 4]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    config = sasrec.get_config("tiny")
    config.data.cache_dir = str(tmp_path_factory.mktemp("datasets"))
    config.model.dropout = 0.0
    return config


def _sgd_update(exp, weighting, batch):
    """Parameter change after one plain SGD step (rate 1), i.e. minus the gradient."""
    optimizer = optax.sgd(1.0)
    params = exp.init_params()
    state = {"params": params, "opt_state": optimizer.init(params), "step": jnp.zeros((), jnp.int32)}
    before = jax.tree.map(np.asarray, params)
    step = make_train_step(exp, optimizer, full_softmax_cross_entropy, "float32", weighting)
    new_state, logged = step(state, batch)
    return jax.tree.map(lambda a, b: np.asarray(b) - a, before, new_state["params"]), logged


def test_token_weighting_scales_each_batch_by_its_share_of_targets(tiny):
    exp = Experiment.create(tiny)
    tc = tiny.train
    batches = TrainBatches(exp.split, tc.batch_size, tiny.model.max_len, tuple(tc.length_buckets), tiny.seed)
    # A batch with a quarter of its rows (a short-sequence bucket's batch has as few targets).
    batch = {k: v.copy() for k, v in batches.batch(0).items()}
    for v in batch.values():
        v[tc.batch_size // 4:] = 0
    batch = {k: jnp.asarray(v) for k, v in batch.items()}
    count = int(np.sum(batch["targets"] > 0))
    per_step = batches.targets_per_step
    assert 0 < count < 0.5 * per_step

    by_batch, logged_batch = _sgd_update(exp, None, batch)
    by_token, logged_token = _sgd_update(exp, per_step, batch)
    # The gradient of sum/constant is the gradient of sum/count times count/constant.
    for a, b in zip(jax.tree.leaves(by_batch), jax.tree.leaves(by_token)):
        np.testing.assert_allclose(b, a * count / per_step, rtol=2e-4, atol=1e-7)
    # The logged loss stays the batch mean under both, so curves remain comparable.
    assert float(logged_token["loss"]) == pytest.approx(float(logged_batch["loss"]), rel=1e-6)
    assert int(logged_token["targets"]) == count


def test_unknown_weighting_names_the_key_and_writes_nothing(tiny, tmp_path):
    config = tiny.copy_and_resolve_references()
    config.train.loss_weighting = "sequence"
    with pytest.raises(ValueError, match="train.loss_weighting"):
        run_experiment(config, tmp_path / "run")
    assert not (tmp_path / "run").exists()
