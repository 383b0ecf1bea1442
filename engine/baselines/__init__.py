"""Non-neural recommenders with the shared fit(split) / scores(prompts) / recommend(prompts, k) shape.

    from engine.baselines import SKNN, evaluate
    model = SKNN(k=100, sample_size=500).fit(split)
    metrics, ranks = evaluate(model, split, split.test, ks=(10, 20))

RECOMMENDERS is the registry `launch.train` dispatches on (engine.baselines.run): a config whose
`model.name` is one of its keys is fitted and evaluated here instead of trained by engine.train.
Registering a recommender is one line, "name": "module:Class" (imported only when used). The contract:

- construction: `Class.from_config(config, dataset)` when the class defines it (for recommenders that
  need more than hyperparameters: item text, embedding files, the run seed); otherwise
  `Class(**model_keys)` with every `model.*` key except `name` as a keyword argument, plus `seed=config.seed`
  when the constructor takes a `seed` that the config does not set. Bad values raise ValueError naming
  the config key (`model.k=...`).
- `fit(split)` returns the fitted recommender; if it also accepts `session_times`, it gets the time of
  each training sequence's last item when the dataset has timestamps (SKNN's 'recent' sampling).
- `scores(prompts)` returns [B, num_items + 1] (column 0 = padding) and `recommend(prompts, k)` the
  top-k ids: subclass `Recommender` and implement `_scores` to get both.
"""

from engine.baselines.evaluate import evaluate, ranks_from_scores
from engine.baselines.popularity import MostPopular
from engine.baselines.sknn import DECAYS, SFSKNN, SKNN, SSKNN, VSKNN, SessionKNN
from engine.recommender import Ragged, Recommender, gather_ranges, prompt_items, train_item_counts

RECOMMENDERS = {
    "most_popular": "engine.baselines.popularity:MostPopular",
    "sknn": "engine.baselines.sknn:SKNN",
    "v_sknn": "engine.baselines.sknn:VSKNN",
    "s_sknn": "engine.baselines.sknn:SSKNN",
    "sf_sknn": "engine.baselines.sknn:SFSKNN",
    "llmseqsim": "engine.baselines.llmseqsim:LLMSeqSim",
    "sknn_emb": "engine.baselines.sknn_emb:SKNNEmb",
    "llmseqsim_sequential": "engine.baselines.hybrids:PopularitySwitch",
    "llmseqsim_popularity": "engine.baselines.hybrids:PopularityFloor",
}

BASELINES = {"most_popular": MostPopular, "sknn": SKNN, "v_sknn": VSKNN, "s_sknn": SSKNN, "sf_sknn": SFSKNN}


def recommender_class(name: str) -> type:
    """The registered class for model.name `name`; a clear error listing the known names otherwise."""
    import importlib

    if name not in RECOMMENDERS:
        raise ValueError(f"model.name={name!r} is not a registered non-neural recommender; known: "
                         f"{', '.join(sorted(RECOMMENDERS))}")
    entry = RECOMMENDERS[name]
    if isinstance(entry, str):
        module, _, attr = entry.partition(":")
        entry = getattr(importlib.import_module(module), attr)
    return entry


__all__ = [
    "BASELINES",
    "DECAYS",
    "RECOMMENDERS",
    "SFSKNN",
    "SKNN",
    "SSKNN",
    "VSKNN",
    "MostPopular",
    "Ragged",
    "Recommender",
    "SessionKNN",
    "evaluate",
    "gather_ranges",
    "prompt_items",
    "ranks_from_scores",
    "recommender_class",
    "train_item_counts",
]
