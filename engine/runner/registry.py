"""Every model a config can name (config key model.name) and how its run starts.

- Neural sequential models (engine.models.MODELS: sasrec, bert4rec, ...) are trained by engine.train.trainer.
- Non-neural recommenders (NON_NEURAL below) are built by `build_recommender` and fitted. Registering one is
  one line, "name": "module:Class" (imported only when used). The contract (engine.recommender.Recommender):
  - construction: `Class.from_config(config, dataset)`; the default takes the class's declared `options`
    (model.* keys, `seed` defaulting to the run's seed); classes that need more (item text, embedding
    files) override it. Bad values raise ValueError naming the config key (`model.k=...`).
  - `fit(split)` returns the fitted recommender; a class with `uses_session_times` also gets the time of
    each training sequence's last item when the dataset has timestamps (SKNN's 'recent' sampling).
  - `scores(prompts)` returns [B, num_items + 1] (column 0 = padding) and `recommend(prompts, k)` the
    top-k ids: subclass `Recommender` and implement `_scores` to get both.

engine.runner.driver runs both kinds to the same run directory.
"""

from __future__ import annotations

import importlib

import ml_collections

from engine.models import MODELS

NON_NEURAL = {
    "most_popular": "engine.neighbors.popularity:MostPopular",
    "sknn": "engine.neighbors.sknn:SKNN",
    "v_sknn": "engine.neighbors.sknn:VSKNN",
    "s_sknn": "engine.neighbors.sknn:SSKNN",
    "sf_sknn": "engine.neighbors.sknn:SFSKNN",
    "llmseqsim": "engine.embedding_recs.llmseqsim:LLMSeqSim",
    "sknn_emb": "engine.embedding_recs.sknn_emb:SKNNEmb",
    "llmseqsim_sequential": "engine.embedding_recs.hybrids:PopularitySwitch",
    "llmseqsim_popularity": "engine.embedding_recs.hybrids:PopularityFloor",
}


def is_neural(name: str) -> bool:
    """True for a trained model, False for a fitted recommender; a clear error for an unknown name."""
    if name in MODELS:
        return True
    if name in NON_NEURAL:
        return False
    raise ValueError(f"unknown model {name!r} (config key model.name); neural: {', '.join(sorted(MODELS))}; "
                     f"non-neural: {', '.join(sorted(NON_NEURAL))}")


def recommender_class(name: str) -> type:
    """The registered class for model.name `name`; a clear error listing the known names otherwise."""
    if name not in NON_NEURAL:
        raise ValueError(f"model.name={name!r} is not a registered non-neural recommender; known: "
                         f"{', '.join(sorted(NON_NEURAL))}")
    module, _, attr = NON_NEURAL[name].partition(":")
    return getattr(importlib.import_module(module), attr)


def build_recommender(config: ml_collections.ConfigDict, dataset):
    """The unfitted recommender of config.model."""
    cls = recommender_class(config.model.name)
    if config.model.name == "llmseqsim_sequential" and config.model.sequential_run:
        # Its sequential component is a trained run directory, restored by the neural adapter.
        from engine.neural_recommender import NeuralRun
        return cls.from_config(config, dataset, sequential=NeuralRun(config.model.sequential_run))
    return cls.from_config(config, dataset)
