"""Session-based kNN and its sequence-aware variants (engine.neighbors.sknn), fitted without training.

Usage: python -m launch.train --config configs/sknn.py:ml-1m --workdir runs/sknn-ml-1m \
           [--config.model.name=v_sknn --config.model.k=50 ...]
Presets: those of configs/common.py (only their dataset part applies).

model.name picks the variant: 'sknn' (cosine of binary sessions), 'v_sknn' (position-decayed prompt),
's_sknn' (sequence weighting), 'sf_sknn' (transition filter). Every other model.* key is an argument of
engine.neighbors.sknn.SessionKNN; keys left unset (None) take the variant's default, and setting a key
the variant does not take (model.decay for 's_sknn') is an error. 'recent' sampling needs timestamps; the
presets whose files have none (ml-1m: the SASRec file, beauty) sample at random."""

import ml_collections
from ml_collections.config_dict import placeholder

from configs.common import apply_data_preset, base_config

NO_TIMESTAMPS = ("ml-1m", "beauty")


def get_config(preset: str = "ml-1m") -> ml_collections.ConfigDict:
    config = base_config()
    config.model = ml_collections.ConfigDict()
    config.model.name = "sknn"
    config.model.k = 100              # neighbours per prompt
    config.model.sample_size = 500    # candidate sessions per prompt
    config.model.sampling = "random" if preset in NO_TIMESTAMPS else "recent"
    config.model.similarity = placeholder(str)  # 'cosine' or 'dot'; None: the variant's default
    config.model.decay = placeholder(str)       # 'sknn' / 'v_sknn': same, linear, log, div, quadratic
    return apply_data_preset(config, preset)
