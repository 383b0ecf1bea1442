"""A LoRA run as the config describes it: the task's data built when asked, and sequential stages.

With config.stages = ({"name": "s1", "data.train": ...}, {"name": "s2", ...}), stage k trains in
<workdir>/<name> with the overrides of its dict, starting from stage k-1's best adapter (lora.init_from).
A finished stage (results.json present) is not trained again, so re-running the command resumes the sequence.
"""

from __future__ import annotations

import json
import pathlib

import ml_collections

from engine.data.sources import resolve_data_root
from engine.lm.tasks import build_task
from engine.lm.train import train
from engine.run_dir import set_key


def data_root(config) -> pathlib.Path:
    if config.data.root:
        return pathlib.Path(config.data.root)
    return resolve_data_root() / "ml-100k"  # $SEQREC_DATA, else ../shared/data beside the checkout


def run(config: ml_collections.ConfigDict, workdir) -> dict:
    """Train one run, or every stage in order; returns the (last stage's) results."""
    workdir = pathlib.Path(workdir)
    if not config.stages:
        return _single(config, workdir)
    previous, results = None, {}
    for i, stage in enumerate(config.stages):
        stage = dict(stage)
        name = stage.pop("name", f"stage{i + 1}")
        stage_config = ml_collections.ConfigDict(config.to_dict())
        stage_config.stages = ()
        for key, value in stage.items():
            try:  # a list from a config file is a tuple in every other config value
                set_key(stage_config, key, tuple(value) if isinstance(value, list) else value)
            except (KeyError, ValueError) as error:
                raise type(error)(f"stages[{i}] ({name}): {error.args[0]}") from None
        if previous is not None and "lora.init_from" not in stage:
            stage_config.lora.init_from = str(previous)
        stage_dir = workdir / name
        if (stage_dir / "results.json").is_file():
            results = json.loads((stage_dir / "results.json").read_text())
        else:
            results = _single(stage_config, stage_dir)
        previous = stage_dir
    return results


def _single(config, workdir: pathlib.Path) -> dict:
    if config.data.task:
        config = ml_collections.ConfigDict(config.to_dict())
        config.data.root = str(data_root(config))
        paths = build_task(config, workdir / "data")
        for name, path in paths.items():
            config.data[name] = str(path)
    return train(config, workdir)
