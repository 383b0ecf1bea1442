"""FMLP-Rec (Zhou et al. 2022): learnable frequency-domain filters instead of attention.

Trained on the last position of sampled prefixes (see engine/models/fmlprec.py for why).
Usage: python -m launch.train --config configs/fmlprec.py:beauty --workdir runs/fmlprec-beauty
Presets: ml-1m, ml-1m-raw, beauty, yelp, tiny."""

import ml_collections

from configs.common import apply_preset, base_config


def get_config(preset: str = "ml-1m") -> ml_collections.ConfigDict:
    config = base_config()
    config.model = ml_collections.ConfigDict()
    config.model.name = "fmlprec"
    config.model.max_len = 200
    config.model.hidden_dim = 64
    config.model.num_blocks = 2
    config.model.dropout = 0.5
    # Prefixes drawn per training window and step; each costs one forward pass of the window.
    config.model.prefixes_per_sequence = 1
    return apply_preset(config, preset)
