"""Configs named by a spec string, as sweeps, tuning and LLM stages take them on the command line:

    config, label = load_config_spec("configs/sknn.py:tiny model.name=v_sknn label=V-SKNN", ["seed=1"])
"""

from __future__ import annotations

import importlib.util
import pathlib

from engine.run_dir import apply_override


def load_config_spec(spec: str, overrides=()):
    """'configs/sknn.py:tiny [key=value ...]' -> (config, label). A `label=NAME` token names the run
    group (default: model.name); other tokens and `overrides` (applied first) are config overrides."""
    path, _, arg = spec.split()[0].partition(":")
    file = pathlib.Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"config file {path} not found (spec {spec!r})")
    module_spec = importlib.util.spec_from_file_location(f"_config_{file.stem}", file)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    config = module.get_config(arg) if arg else module.get_config()
    config.lock()
    label = None
    for token in [*overrides, *spec.split()[1:]]:
        if token.startswith("label="):
            label = token.partition("=")[2]
        else:
            apply_override(config, token)
    return config, label or config.model.name
