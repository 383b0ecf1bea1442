"""BERT4Rec (Sun et al. 2019): cloze training of a bidirectional transformer, full-softmax CE.

Usage: python -m launch.train --config configs/bert4rec.py:ml-1m --workdir runs/bert4rec-ml-1m
Presets: ml-1m, ml-1m-raw, beauty, yelp, tiny."""

import ml_collections

from configs.common import apply_preset, base_config

# The paper's settings where they differ from the shared dataset presets: dropout 0.1 everywhere,
# mask proportion 0.2 on MovieLens and 0.6 on Beauty (Yelp, not in the paper, takes Beauty's value
# as the other short-sequence dataset).
PAPER = {
    "ml-1m": dict(dropout=0.1, mask_prob=0.2),
    "ml-1m-raw": dict(dropout=0.1, mask_prob=0.2),
    "beauty": dict(dropout=0.1, mask_prob=0.6),
    "yelp": dict(dropout=0.1, mask_prob=0.6),
}


def get_config(preset: str = "ml-1m") -> ml_collections.ConfigDict:
    config = base_config()
    config.model = ml_collections.ConfigDict()
    config.model.name = "bert4rec"
    config.model.max_len = 200
    config.model.hidden_dim = 64
    config.model.num_blocks = 2
    config.model.num_heads = 2
    config.model.dropout = 0.1
    config.model.mask_prob = 0.2
    apply_preset(config, preset)
    config.model.update(PAPER.get(preset, {}))
    return config
