"""MostPopular: every prompt gets the training items by interaction count (engine.neighbors.popularity).

Usage: python -m launch.train --config configs/popularity.py:ml-1m --workdir runs/pop-ml-1m
Presets: those of configs/common.py (only their dataset part applies)."""

import ml_collections

from configs.common import apply_data_preset, base_config


def get_config(preset: str = "ml-1m") -> ml_collections.ConfigDict:
    config = base_config()
    config.model = ml_collections.ConfigDict()
    config.model.name = "most_popular"
    return apply_data_preset(config, preset)
