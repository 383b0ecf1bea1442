"""LLM4RSR (Sun et al., AAAI 2025): uncertain training instances corrected by an LLM with a TGD-optimised prompt.

Usage: python -m launch.llm4rsr --config configs/llm4rsr.py:ml-100k-cpu --workdir runs/llm4rsr-ml-100k
Presets:
- ml-100k-cpu: MovieLens-100K against the embedded SmolLM2-135M server on a 2-core CPU (small TGD budget).
- ml-1m-paper / beauty-paper: the paper's settings (T=10, E=16, L=5, n=4, alpha=5%, |C|=3, K=100 on ML-1M and
  10 otherwise) for an SGLang server given by URL: --config.llm.url=http://HOST:30000/v1 --config.llm.model=NAME.
- tiny: a few items of ML-100K, for tests.
"""

import ml_collections

from configs.common import PRESETS as DATA_PRESETS
from configs.common import apply_settings, base_config


def get_config(preset: str = "ml-100k-cpu") -> ml_collections.ConfigDict:
    base = base_config()
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.data = base.data
    c.split = base.split
    c.item_type = ""  # '' -> from the dataset (movie, beauty product, business)

    c.llm = ml_collections.ConfigDict()
    c.llm.url = ""             # '' -> start the embedded llama.cpp server (SmolLM2-135M-Instruct)
    c.llm.model = ""           # '' -> the server's first model
    c.llm.dialect = "openai"   # the embedded server is always driven in its own dialect
    c.llm.n_ctx = 4096         # embedded server's context window
    c.llm.max_concurrency = 4
    c.llm.timeout = 120.0
    c.llm.max_attempts = 3     # per structured answer: 1 greedy + retries sampled at retry_temperature
    c.llm.retry_temperature = 0.7

    c.instances = ml_collections.ConfigDict()
    c.instances.max_inputs = 5  # L

    c.memory = ml_collections.ConfigDict()
    c.memory.max_words = 40
    c.memory.max_tokens = 96

    c.tgd_data = ml_collections.ConfigDict()
    c.tgd_data.k = 10              # co > K: relevant (the paper: 100 on ML-1M, 10 otherwise)
    c.tgd_data.num_test = 100      # |D_te|
    c.tgd_data.max_partial = 0     # 0 -> until every item is covered (the paper); > 0 caps the PM samples
    c.tgd_data.max_complete = 0    # same for CM samples
    c.tgd_data.min_complete = 0    # CM samples built even after PM samples cover every item
    c.tgd_data.max_tries = 50      # random draws per sample before giving up on a target / chain

    c.tgd = ml_collections.ConfigDict()
    c.tgd.iterations = 10          # T
    c.tgd.epochs = 16              # E (UCB rounds per iteration)
    c.tgd.beam = 4                 # n
    c.tgd.batch_size = 16          # N: samples per forward batch and per UCB payoff
    c.tgd.exploration = 1.0        # c of Algorithm 1
    c.tgd.num_paraphrases = 1      # paraphrases of each original and refined profile / plan
    c.tgd.max_errors = 6           # error cases shown to the backward prompts
    c.tgd.max_flaws = 3
    c.tgd.memory_edits = 4         # error cases per iteration whose items' descriptions are edited (0: none)
    c.tgd.max_words = 120          # refined profile / plan length
    c.tgd.max_tokens = 256         # backward answers
    c.tgd.select_max_tokens = 24   # the selection answer {"relevant": [...]}
    c.tgd.ablation = True          # also score w/o profile / plan / memory and the static modules on D_te

    c.backbone = ml_collections.ConfigDict()
    c.backbone.config = "configs/sasrec.py:tiny"  # the data-driven RSR whose confidence picks the instances
    c.backbone.overrides = ()      # ("train.max_steps=200", ...)
    c.backbone.workdir = ""        # '' -> <workdir>/backbone (trained there if it has no results.json)

    c.correct = ml_collections.ConfigDict()
    c.correct.alpha = 0.05         # fraction of instances with the lowest confidence
    c.correct.num_candidates = 3   # |C|
    c.correct.max_instances = 0    # 0 -> all alpha*n; > 0 caps them (CPU budgets)
    c.correct.complete_mode = "first"  # complete mismatch: 'first' candidate the LLM relates to, or 'all' of them
    c.correct.probe_sets = 10      # Fig. 4 c-d: CM / PM shares per confidence set (deciles) ...
    c.correct.probe_per_set = 0    # ... from this many sampled instances per set (0: no probe)

    c.retrain = ml_collections.ConfigDict()
    c.retrain.seeds = (0,)         # Plain and LLM4RSR backbones trained per seed (the paper's table: 3 seeds)
    # More backbones of the main table, each Plain vs LLM4RSR: config specs 'file.py:preset key=value ... label=NAME'.
    c.retrain.backbones = ()
    # 'per_backbone' (the paper): each backbone's own confidence (its Plain run of seed `seed`) picks the instances
    # corrected for it; 'shared': all train on the `backbone` config's correction. The prompt is the same, so an
    # instance two backbones pick is asked once (the answer cache).
    c.retrain.correction = "per_backbone"

    # The alpha sweep (the paper's Fig. 4 a-b): the nested sets of the ceil(alpha * n) least confident instances
    # corrected once (the largest; a smaller alpha's set and answers are a prefix of it), the `backbone` retrained
    # per alpha and seed, compared with Plain. () -> no sweep. correct.max_instances does not cap it.
    c.sweep = ml_collections.ConfigDict()
    c.sweep.alphas = ()
    return apply_settings(c, PRESETS[preset], f"LLM4RSR preset {preset!r}") if preset in PRESETS else _unknown(preset)


def _unknown(preset):
    raise ValueError(f"unknown preset {preset!r}; known: {', '.join(PRESETS)}")


# The paper's Fig. 4 a-b points (alpha = 1, 5, 10, 15% of the training instances).
PAPER_ALPHAS = (0.01, 0.05, 0.10, 0.15)

PRESETS = {
    # Every stage on 2 CPU cores with SmolLM2-135M: MovieLens-100K's 603 items with at least 50 ratings (all 943
    # users, 83,715 ratings), one description per item, a 1-iteration TGD on small batches with a 30-sample D_te
    # and the Table 4 ablation on it, the 60 least confident instances corrected (alpha = 5% of the 80,886
    # instances is 4,045) and a probe of 5 instances per confidence decile; Plain and LLM4RSR SASRec over three
    # seeds. Its measured cost is in docs/llm4rsr.md.
    "ml-100k-cpu": dict(data=dict(**DATA_PRESETS["tiny"]["data"], item_core=50, user_core=5),
                        memory=dict(max_words=30, max_tokens=64),
                        tgd_data=dict(k=10, num_test=30, max_partial=300, max_complete=60, min_complete=40),
                        tgd=dict(iterations=1, epochs=3, beam=2, batch_size=6, num_paraphrases=1, memory_edits=2,
                                 ablation=True),
                        # About 8 epochs of the 80,886 instances (batch 128), validated every 400 steps.
                        backbone=dict(config="configs/sasrec.py:tiny", overrides=(
                            "train.max_steps=5000", "train.eval_every=400", "train.batch_size=128")),
                        correct=dict(alpha=0.05, max_instances=60, probe_per_set=5),
                        # The alpha sweep at the points one core affords: a correction call took 4.3 s here (about
                        # 600 prompt tokens, SmolLM2 on one core), so 0.5% (405 instances, 345 beyond the 60
                        # above) is about 25 minutes of calls; the paper's 1-15% would be 800-12,000 calls.
                        sweep=dict(alphas=(0.001, 0.002, 0.003, 0.005)),
                        # LRURec and FMLP-Rec with SASRec's tiny-based settings and budget, on the same tables.
                        retrain=dict(seeds=(0, 1, 2), backbones=tuple(
                            f"configs/{m}.py:tiny train.max_steps=5000 train.eval_every=400 train.batch_size=128"
                            for m in ("lrurec", "fmlprec")))),
    "ml-1m-paper": dict(data=DATA_PRESETS["ml-1m-raw"]["data"], tgd_data=dict(k=100),
                        backbone=dict(config="configs/sasrec.py:ml-1m-raw"),
                        llm=dict(max_concurrency=64), sweep=dict(alphas=PAPER_ALPHAS),
                        retrain=dict(seeds=(0, 1, 2), backbones=(
                            "configs/lrurec.py:ml-1m-raw", "configs/fmlprec.py:ml-1m-raw"))),
    "beauty-paper": dict(data=DATA_PRESETS["beauty"]["data"], tgd_data=dict(k=10),
                         backbone=dict(config="configs/sasrec.py:beauty"), llm=dict(max_concurrency=64),
                         sweep=dict(alphas=PAPER_ALPHAS),
                         retrain=dict(seeds=(0, 1, 2), backbones=(
                             "configs/lrurec.py:beauty", "configs/fmlprec.py:beauty"))),
    "tiny": dict(data=DATA_PRESETS["tiny"]["data"], instances=dict(max_inputs=3),
                 tgd_data=dict(k=3, num_test=3, max_partial=12, max_complete=4, min_complete=2),
                 tgd=dict(iterations=1, epochs=2, beam=2, batch_size=3, num_paraphrases=1, memory_edits=1,
                          max_errors=3, ablation=False),
                 backbone=dict(config="configs/sasrec.py:tiny"),
                 correct=dict(alpha=0.01, max_instances=4, probe_per_set=1, probe_sets=2)),
}
