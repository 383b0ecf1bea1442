"""What the configs built on item text embeddings share (LLM-Sequential-Recommendation).

The embeddings artifact of a preset defaults to runs/emb-<preset> (item_embeddings.npy + meta.json, made by
launch.embed; its reductions lie in runs/emb-<preset>/<method>-<dim>); override with
--config.model.embeddings=DIR (non-neural) or --config.model.item_init=DIR (LLM2*)."""

import ml_collections


def default_embeddings(preset: str) -> str:
    return f"runs/emb-{preset}"


def add_item_init(config: ml_collections.ConfigDict, preset: str) -> ml_collections.ConfigDict:
    """LLM2<Model>: the item table's rows 1..N start from the artifact's embeddings (width = model.hidden_dim).

    The keys live only in the LLM2* configs, not in the plain model configs: an existing run directory's
    saved config would otherwise differ in model.* and refuse to resume."""
    # The table needs width model.hidden_dim: by default the PCA reduction to that width.
    config.model.item_init = f"{default_embeddings(preset)}/pca-{config.model.hidden_dim}"
    # Multiplies the embeddings; 0 = rescale to the random init's std, which on Beauty loses the text init's
    # gain (docs/RESULTS.md, 'Which reduction ...'): keep other reductions at PCA's row std instead.
    config.model.item_init_scale = 1.0
    return config


def add_llmseqsim_keys(model: ml_collections.ConfigDict, preset: str) -> ml_collections.ConfigDict:
    model.embeddings = default_embeddings(preset)
    model.pooling = "mean"        # mean, last, constant_linear, scaling_linear, scaling_quadratic,
                                  # scaling_cubic, log, harmonic, squared_harmonic (paper Table 1)
    model.similarity = "cosine"   # cosine, dot, euclidean
    return model


def add_cutoff_keys(model: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """Hybrids: the popularity cut-off, chosen among quantiles of training item counts on validation."""
    from ml_collections.config_dict import placeholder

    model.quantiles = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)
    model.metric = ""                 # validation metric for the choice; '' = eval.select_metric
    model.cutoff = placeholder(float)  # a fixed cut-off (no selection); None = choose on validation
    return model
