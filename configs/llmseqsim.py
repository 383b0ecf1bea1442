"""LLMSeqSim (LLM-Sequential-Recommendation, Section 3): items most similar to the pooled text embedding
of the prompt session (engine.embedding_recs.llmseqsim). Nothing is trained.

Usage: python -m launch.train --config configs/llmseqsim.py:beauty --workdir runs/llmseqsim-beauty \
           [--config.model.embeddings=runs/emb-beauty --config.model.pooling=harmonic]
Presets: those of configs/common.py (only their dataset part applies)."""

import ml_collections

from configs.common import apply_data_preset, base_config
from configs.text_embeddings import add_llmseqsim_keys


def get_config(preset: str = "ml-1m") -> ml_collections.ConfigDict:
    config = base_config()
    config.model = ml_collections.ConfigDict()
    config.model.name = "llmseqsim"
    add_llmseqsim_keys(config.model, preset)
    return apply_data_preset(config, preset)
