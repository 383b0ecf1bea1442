"""SASRec (Kang & McAuley 2018), trained with full-softmax cross-entropy by default.

Usage: python -m launch.train --config configs/sasrec.py:ml-1m --workdir runs/sasrec-ml-1m
Presets: ml-1m, ml-1m-raw, beauty, yelp, tiny."""

import ml_collections

from configs.common import apply_preset, base_config


def get_config(preset: str = "ml-1m") -> ml_collections.ConfigDict:
    config = base_config()
    config.model = ml_collections.ConfigDict()
    config.model.name = "sasrec"
    config.model.max_len = 200
    config.model.hidden_dim = 64
    config.model.num_blocks = 2
    config.model.num_heads = 1
    config.model.dropout = 0.2
    # from_end: the last item has position 0; from_start: the window's first item has (README, ml-1m).
    config.model.positions = "from_end"
    # pre_norm, or sasrec: the original code's block (only the queries normed), as the SASRec+ reference uses.
    config.model.block = "pre_norm"
    config.model.ffn_dim = 0           # 0 -> 4 x hidden_dim; the SASRec+ reference uses hidden_dim (64)
    config.model.activation = "gelu"   # or relu (the original code)
    return apply_preset(config, preset)
