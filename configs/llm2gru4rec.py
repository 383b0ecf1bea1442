"""LLM2GRU4Rec (LLM-Sequential-Recommendation, Section 5.2): GRU4Rec whose item embedding table starts from
item text embeddings (rows 1..N; already reduced to model.hidden_dim), then trains as usual.

Usage: python -m launch.train --config configs/llm2gru4rec.py:beauty --workdir runs/llm2gru4rec-beauty \
           [--config.model.item_init=runs/emb-beauty/random_projection-64 --config.model.item_init_scale=0.692]
Presets: those of configs/gru4rec.py."""

import ml_collections

from configs.gru4rec import get_config as base_get_config
from configs.text_embeddings import add_item_init


def get_config(preset: str = "ml-1m") -> ml_collections.ConfigDict:
    return add_item_init(base_get_config(preset), preset)
