"""The keys every run has, and the dataset presets shared by all model configs.

Every key exists here with its default so that a mistyped override is rejected by the locked
config instead of silently creating a new key. The range of each numeric key (learning rate >= 0 and
finite, dropout in [0, 1), batch sizes >= 1, ...) is in engine/runner/config_checks.py, checked before a
run loads anything; a key added here with a range needs its rule there."""

from __future__ import annotations

import ml_collections


def base_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.seed = 0

    c.data = ml_collections.ConfigDict()
    c.data.name = "ml-1m-sasrec"
    c.data.root = ""          # '' -> $SEQREC_DATA -> ../shared/data
    c.data.cache_dir = ""     # '' -> $SEQREC_CACHE -> <repo>/.cache/datasets
    c.data.min_rating = 0.0
    c.data.user_core = 0
    c.data.item_core = 0
    c.data.dedup = False
    c.data.path = ""          # 'custom' datasets: the interactions table
    c.data.item_text_path = ""
    c.data.user_col = "user"
    c.data.item_col = "item"
    c.data.time_col = "timestamp"
    c.data.rating_col = ""

    c.split = ml_collections.ConfigDict()
    c.split.protocol = "loo_full"     # 'loo_full' or 'temporal_sessions' (needs timestamps)
    c.split.test_fraction = 0.2       # temporal_sessions: the most recent sessions held out for test
    c.split.num_folds = 3             # temporal_sessions: forward-chaining tuning folds (split.folds)

    c.train = ml_collections.ConfigDict()
    c.train.loss = "ce"               # 'ce' (full softmax), 'ce_fused' (same loss, no logit matrix), 'bce'
                                      # (one sampled negative), 'sampled_softmax', 'gbce'
    c.train.item_chunk = 0            # ce_fused: items per tile (0 -> 4096)
    c.train.position_chunk = 0        # ce_fused: positions per tile (0 -> 4096)
    c.train.num_negatives = 0         # sampled_softmax / gbce negatives (0 -> 1024 / 256)
    c.train.gbce_t = 0.75             # gbce calibration t (gSASRec)
    c.train.batch_size = 128          # global batch, split over all devices
    c.train.length_buckets = (200,)   # window lengths; the last one must equal model.max_len
    # 'batch': the loss is the mean over each batch's targets, so with length buckets a target in a batch of
    # short sequences weighs more; 'token': the sum over the batch divided by the epoch's mean number of
    # window positions per batch, so every target weighs the same (as in one mixed batch). For cloze models
    # that constant counts all positions, not the masked ones: a constant factor, which Adam ignores.
    c.train.loss_weighting = "batch"
    c.train.window_end = "last"       # sequences longer than max_len: 'last' window, or a 'random' one per epoch
    c.train.num_epochs = 200
    c.train.max_steps = 0             # 0 -> num_epochs * steps per epoch
    c.train.learning_rate = 1e-3
    c.train.warmup_steps = 100
    c.train.schedule = "constant"     # after warm-up: 'constant', 'cosine' or 'wsd' (constant, then decay)
    c.train.decay_steps = 0           # 'wsd': the final steps over which the rate decays to zero
    c.train.weight_decay = 0.0
    c.train.adam_b2 = 0.98            # Adam's second-moment decay (0.999: torch's default, the SASRec+ reference)
    c.train.grad_clip = 1.0           # global-norm clipping; 0 disables
    c.train.compute_dtype = "float32" # 'bfloat16' for mixed precision (fp32 master weights)
    c.train.log_every = 20            # steps between host syncs for logging
    c.train.eval_every = 0            # steps between validations; 0 -> once per epoch
    c.train.patience = 10             # validations without improvement before stopping ('wsd': in the decay)
    c.train.keep_last = 2             # last-N checkpoints kept besides the best one
    c.train.prefetch = 4

    c.eval = ml_collections.ConfigDict()
    c.eval.batch_size = 256
    c.eval.ks = (5, 10, 20)
    c.eval.mask_history = True
    c.eval.chunk_size = 0             # >0: score items in chunks of this size (catalogues too large for [B, N])
    c.eval.select_metric = "NDCG@10"  # validation metric for checkpoint selection / early stopping
    # Evaluated on the selected model (engine.eval.extras), added to results.json next to the full ranking:
    c.eval.num_negatives = 0          # > 0: also the `sampled` protocol, 1 target among N negatives
    c.eval.negative_sampling = "uniform"  # 'uniform' or 'popularity' (sampled protocol)
    c.eval.beyond_accuracy = False    # Coverage@K, Serendipity@K, Novelty@K of the top-K lists
    c.eval.popularity_breakdown = False  # metrics by the popularity of the prompt's last item
    c.eval.popularity_buckets = 5     # quantile buckets of that breakdown
    return c


# MovieLens-1M training: 1,900 steps at the peak rate, then a cosine decay over the last 1,100 (about 64
# epochs of the SASRec file). (train.window_end=random was tried and gave no gain: docs/RESULTS.md.)
ML_1M_TRAIN = dict(length_buckets=(50, 100, 200), learning_rate=3e-3, warmup_steps=200,
                   schedule="wsd", max_steps=3000, decay_steps=1100, eval_every=100, patience=10)

# Dataset presets: data keys plus the model/train settings that belong to the dataset.
PRESETS = {
    # The SASRec benchmark file (6,040 users, 3,416 items), the reference setting for SASRec+CE.
    "ml-1m": dict(data=dict(name="ml-1m-sasrec"), model=dict(max_len=200, dropout=0.2), train=ML_1M_TRAIN),
    # Raw ratings.dat with 5-core filtering (the same users and items, with timestamps: temporal_sessions).
    "ml-1m-raw": dict(data=dict(name="ml-1m", user_core=5, item_core=5, dedup=True),
                      model=dict(max_len=200, dropout=0.2), train=ML_1M_TRAIN),
    # About 29 epochs of 175 steps: 3,300 at the peak rate, then a cosine decay over the last 1,700
    # (measured with SASRec and LLM2SASRec; docs/RESULTS.md).
    "beauty": dict(data=dict(name="beauty"), model=dict(max_len=50, dropout=0.5),
                   train=dict(length_buckets=(10, 20, 50), learning_rate=2e-3, warmup_steps=200, schedule="wsd",
                              max_steps=5000, decay_steps=1700, eval_every=500, patience=10)),
    "yelp": dict(data=dict(name="yelp"), model=dict(max_len=50, dropout=0.5),
                 train=dict(length_buckets=(10, 20, 50))),
    # Seconds on a CPU: MovieLens-100K, a small model, a few dozen steps. For tests and smoke runs.
    "tiny": dict(data=dict(name="ml-100k"),
                 model=dict(max_len=20, hidden_dim=16, num_blocks=1, dropout=0.1),
                 train=dict(batch_size=64, length_buckets=(10, 20), max_steps=40, eval_every=10,
                            warmup_steps=5, learning_rate=3e-3, log_every=5),
                 eval=dict(batch_size=128)),
}


def apply_preset(config: ml_collections.ConfigDict, preset: str) -> ml_collections.ConfigDict:
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; known: {', '.join(PRESETS)}")
    apply_settings(config, PRESETS[preset], f"preset {preset!r}")
    config.preset = preset
    return config


def apply_settings(config: ml_collections.ConfigDict, settings: dict, origin: str) -> ml_collections.ConfigDict:
    """Sets {section: {key: value}} on existing keys only, so a mistyped key in a preset or recipe fails."""
    for section, values in settings.items():
        for key, value in values.items():
            if key not in config[section]:
                raise KeyError(f"{origin} sets unknown key {section}.{key}")
            config[section][key] = value
    return config


def apply_data_preset(config: ml_collections.ConfigDict, preset: str) -> ml_collections.ConfigDict:
    """The dataset part of a preset (data and eval keys) for non-neural recommenders, which have none
    of the neural model and training settings."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; known: {', '.join(PRESETS)}")
    for section in ("data", "eval"):
        for key, value in PRESETS[preset].get(section, {}).items():
            config[section][key] = value
    config.preset = preset
    return config
