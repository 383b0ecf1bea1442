"""LLMSeqSim & Popularity (LLM-Sequential-Recommendation, Section 6.2): LLMSeqSim with every item whose
training count is below the cut-off ranked after all others (engine.embedding_recs.hybrids).

Usage: python -m launch.train --config configs/hybrid_popularity.py:beauty --workdir runs/hybrid-pop-beauty
The cut-off is chosen on validation prompts among quantiles of item counts.
Presets: those of configs/common.py (only their dataset part applies)."""

import ml_collections

from configs.common import apply_data_preset, base_config
from configs.text_embeddings import add_cutoff_keys, add_llmseqsim_keys


def get_config(preset: str = "ml-1m") -> ml_collections.ConfigDict:
    config = base_config()
    config.model = ml_collections.ConfigDict()
    config.model.name = "llmseqsim_popularity"
    add_llmseqsim_keys(config.model, preset)
    add_cutoff_keys(config.model)
    return apply_data_preset(config, preset)
