"""Evaluation of a finished (or running) run directory from its best checkpoint, and the Recommender
view of a trained model that host-side protocols (sampled, beyond accuracy) share with the baselines."""

from __future__ import annotations

import pathlib

import jax
import jax.numpy as jnp
import numpy as np

from engine.data.pipeline import bucket_of, left_pad
from engine.eval.extras import add_extras, wants_extras
from engine.recommender import Ragged, Recommender
from engine.run_dir import apply_override, load_config, write_json_atomic, write_ranks
from engine.train.checkpoints import RunCheckpoints
from engine.train.experiment import Experiment, make_optimizer


class TrainedRecommender(Recommender):
    """A trained neural model as a Recommender: scores(prompts) -> [B, num_items + 1] on the host.

    Prompts are scored exactly as evaluation scores them: cut to their last model.max_len items, left-padded
    to the run's length buckets, in fixed-size batches (one compiled shape per bucket). Single-process:
    every row is scored by this process."""

    def __init__(self, exp: Experiment, params):
        if jax.process_count() > 1:
            raise ValueError("eval.num_negatives, eval.beyond_accuracy and eval.popularity_breakdown run in a "
                             "single process; evaluate the run with launch.evaluate on one host")
        self.name = exp.config.model.name
        self.exp, self.params, self.num_items = exp, params, exp.dataset.num_items
        self._score = jax.jit(exp.scores)

    def fit(self, split):
        if split.num_items != self.num_items:
            raise ValueError(f"the {self.name} run was trained on {self.num_items} items, the split has "
                             f"{split.num_items}")
        return self

    def _scores(self, rows: Ragged) -> np.ndarray:
        size = self.exp.config.eval.batch_size
        buckets = tuple(int(b) for b in self.exp.config.train.length_buckets)
        window = bucket_of(np.minimum(rows.lengths, self.exp.config.model.max_len), buckets)
        out = np.empty((len(rows), self.num_items + 1), dtype=np.float32)
        for length in buckets:
            members = np.flatnonzero(window == length)
            for i in range(0, len(members), size):
                chunk = members[i:i + size]
                starts, ends = np.zeros(size, np.int64), np.zeros(size, np.int64)
                starts[:len(chunk)], ends[:len(chunk)] = rows.offsets[chunk], rows.offsets[chunk + 1]
                inputs = left_pad(rows.items, starts, ends, length)
                out[chunk] = np.asarray(self._score(self.params, jnp.asarray(inputs)))[:len(chunk)]
        return out


def restore_best_params(workdir, eval_overrides=()):
    """(Experiment, params of checkpoints/best, progress) of a run directory made by launch.train.

    eval_overrides: `eval.key=value` assignments applied to the saved config; nothing else may change, since
    the checkpoint fixes the model and the data."""
    workdir = pathlib.Path(workdir)
    config = load_config(workdir)
    for assignment in eval_overrides:
        if not assignment.startswith("eval."):
            raise ValueError(f"override {assignment!r}: only eval.* keys can change when a trained run is evaluated "
                             f"(the model, data and split are those of {workdir / 'config.json'})")
        apply_override(config, assignment)
    if config.model.get("item_init"):
        config.model.item_init = ""  # the checkpoint holds the trained table; the text artifact is not needed
    exp = Experiment.create(config)
    params = exp.init_params()
    checkpoints = RunCheckpoints(workdir)
    # The best checkpoint holds the whole train state; restore it against a template of that shape.
    # Its shape does not depend on the schedule: any step count the schedule accepts will do ('wsd' needs
    # room for its warm-up and decay).
    optimizer = make_optimizer(config.train, config.train.get("decay_steps", 0) + config.train.warmup_steps + 1)
    template = jax.jit(lambda p: {"params": p, "opt_state": optimizer.init(p), "step": jnp.zeros((), jnp.int32)},
                       out_shardings=exp.replicated)(params)
    best = checkpoints.restore_best(template)
    checkpoints.close()
    if best is None:
        raise FileNotFoundError(f"{workdir / 'checkpoints' / 'best'}: no best checkpoint to restore")
    state, progress = best
    return exp, state["params"], progress


def evaluate_run(workdir, split: str = "test", eval_overrides=()) -> dict:
    """Scores `split` with the best checkpoint; writes ranks_<split>.npy and evaluate_<split>.json.

    eval_overrides (e.g. 'eval.beyond_accuracy=True') add protocols the run was not trained with."""
    workdir = pathlib.Path(workdir)
    exp, params, progress = restore_best_params(workdir, eval_overrides)
    config = exp.config
    metrics, ranks = exp.evaluate(params, split)
    results = {split: metrics, "best_step": progress["best_step"], "protocol": config.split.protocol,
               "seed": config.seed, "model": config.model.name, "dataset": config.data.name,
               "eval_overrides": list(eval_overrides)}
    if wants_extras(config.eval):
        add_extras(results, TrainedRecommender(exp, params), exp.split, config.eval, {split: ranks})
    write_ranks(workdir, split, ranks)
    if jax.process_index() == 0:
        write_json_atomic(workdir / f"evaluate_{split}.json", results)
    return results
