"""Runs of any model to the standard run directory: the model registry (engine.runner.registry) and the one
run driver (engine.runner.driver) that launch.train, launch.evaluate, launch.sweep and launch.tune call."""

from engine.runner.driver import evaluate_run, run_experiment

__all__ = ["evaluate_run", "run_experiment"]
