"""SKNN_EMB (LLM-Sequential-Recommendation, Section 5.2): session kNN with session similarity from pooled
item text embeddings (engine.embedding_recs.sknn_emb). Nothing is trained.

Usage: python -m launch.train --config configs/sknn_emb.py:beauty --workdir runs/sknn-emb-beauty \
           [--config.model.k=50 --config.model.prompt_pooling=last]
Presets: those of configs/common.py (only their dataset part applies)."""

import ml_collections

from configs.common import apply_data_preset, base_config
from configs.text_embeddings import default_embeddings


def get_config(preset: str = "ml-1m") -> ml_collections.ConfigDict:
    config = base_config()
    config.model = ml_collections.ConfigDict()
    config.model.name = "sknn_emb"
    config.model.embeddings = default_embeddings(preset)
    config.model.k = 100                  # neighbours per prompt
    config.model.sample_size = 0          # candidate sessions kept per prompt; 0 = all
    config.model.sampling = "random"      # 'random' or 'recent' (needs timestamps)
    config.model.candidates = "shared"    # 'shared': sessions sharing an item with the prompt; 'all'
    config.model.similarity = "cosine"    # cosine, dot, euclidean
    config.model.session_pooling = "mean"  # pooling of training sessions (LLMSeqSim's schemes)
    config.model.prompt_pooling = "mean"   # pooling of the prompt session
    return apply_data_preset(config, preset)
