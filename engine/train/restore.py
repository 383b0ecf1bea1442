"""Restoring the best validation checkpoint of a run directory: what evaluation, confidence and the neural
recommender adapter start from."""

from __future__ import annotations

import pathlib

from engine.run_dir import apply_override, load_config
from engine.train.checkpoints import RunCheckpoints
from engine.train.experiment import Experiment, make_optimizer


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
    checkpoints = RunCheckpoints(workdir)
    # The best checkpoint holds the whole train state; restore it against a template of that shape.
    # Its shape does not depend on the schedule: any step count the schedule accepts will do ('wsd' needs
    # room for its warm-up and decay).
    optimizer = make_optimizer(config.train, config.train.get("decay_steps", 0) + config.train.warmup_steps + 1)
    best = checkpoints.restore_best(exp.train_state(optimizer, exp.init_params()))
    checkpoints.close()
    if best is None:
        raise FileNotFoundError(f"{workdir / 'checkpoints' / 'best'}: no best checkpoint to restore")
    state, progress = best
    return exp, state["params"], progress
