"""GRU4Rec (Hidasi et al. 2016) with an item embedding layer and tied output, full-softmax CE.

Usage: python -m launch.train --config configs/gru4rec.py:ml-1m --workdir runs/gru4rec-ml-1m
Presets: ml-1m, ml-1m-raw, beauty, yelp, tiny. model.num_blocks is the number of stacked GRU layers."""

import ml_collections

from configs.common import apply_preset, base_config


def get_config(preset: str = "ml-1m") -> ml_collections.ConfigDict:
    config = base_config()
    config.model = ml_collections.ConfigDict()
    config.model.name = "gru4rec"
    config.model.max_len = 200
    config.model.hidden_dim = 64   # item embedding width (the width text embeddings are reduced to)
    config.model.num_blocks = 1    # one GRU layer, as in the paper
    config.model.rnn_dim = 100     # GRU state size: the paper's 100 units
    config.model.dropout = 0.2
    return apply_preset(config, preset)
