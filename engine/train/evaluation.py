"""Evaluation of a finished (or running) run directory from its best checkpoint."""

from __future__ import annotations

import pathlib

import jax
import jax.numpy as jnp

from engine.train.checkpoints import RunCheckpoints
from engine.train.experiment import Experiment
from engine.train.run_dir import load_config, write_json_atomic


def evaluate_run(workdir, split: str = "test") -> dict:
    workdir = pathlib.Path(workdir)
    config = load_config(workdir)
    exp = Experiment.create(config)
    params = exp.init_params()
    checkpoints = RunCheckpoints(workdir)
    # The best checkpoint holds the whole train state; restore it against a template of that shape.
    from engine.train.experiment import make_optimizer
    optimizer = make_optimizer(config.train, 1)
    template = jax.jit(lambda p: {"params": p, "opt_state": optimizer.init(p), "step": jnp.zeros((), jnp.int32)},
                       out_shardings=exp.replicated)(params)
    best = checkpoints.restore_best(template)
    checkpoints.close()
    if best is None:
        raise FileNotFoundError(f"{workdir / 'checkpoints' / 'best'}: no best checkpoint to evaluate")
    state, progress = best
    metrics, _ = exp.evaluate(state["params"], split)
    results = {split: metrics, "best_step": progress["best_step"], "protocol": config.split.protocol,
               "seed": config.seed, "model": config.model.name, "dataset": config.data.name}
    if jax.process_index() == 0:
        write_json_atomic(workdir / f"evaluate_{split}.json", results)
    return results
