"""LLMSeqSim & Sequential (LLM-Sequential-Recommendation, Section 6.1): LLMSeqSim answers prompts whose last
item has a training count below the cut-off, a sequential model the others (engine.embedding_recs.hybrids).

Usage: python -m launch.train --config configs/hybrid_sequential.py:beauty --workdir runs/hybrid-seq-beauty \
           --config.model.sequential_run=runs/llm2bert4rec-beauty
model.sequential_run: a trained neural run directory (its best checkpoint is restored); '' = SKNN_EMB on
the same embeddings. The cut-off is chosen on validation prompts among quantiles of item counts.
Presets: those of configs/common.py (only their dataset part applies)."""

import ml_collections

from configs.common import apply_data_preset, base_config
from configs.text_embeddings import add_cutoff_keys, add_llmseqsim_keys


def get_config(preset: str = "ml-1m") -> ml_collections.ConfigDict:
    config = base_config()
    config.model = ml_collections.ConfigDict()
    config.model.name = "llmseqsim_sequential"
    add_llmseqsim_keys(config.model, preset)
    config.model.sequential_run = ""
    add_cutoff_keys(config.model)
    return apply_data_preset(config, preset)
