"""LLM2BERT4Rec (LLM-Sequential-Recommendation, Section 5.2): BERT4Rec whose item embedding table starts from
item text embeddings (rows 1..N; already reduced to model.hidden_dim), then trains as usual.

Usage: python -m launch.train --config configs/llm2bert4rec.py:beauty --workdir runs/llm2bert4rec-beauty \
           [--config.model.item_init=runs/emb-beauty/random_projection-64 --config.model.item_init_scale=0.692]
Presets: those of configs/bert4rec.py."""

import ml_collections

from configs.bert4rec import get_config as base_get_config
from configs.text_embeddings import add_item_init


def get_config(preset: str = "ml-1m") -> ml_collections.ConfigDict:
    return add_item_init(base_get_config(preset), preset)
