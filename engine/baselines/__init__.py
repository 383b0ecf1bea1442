"""Non-neural recommenders with the shared fit(split) / scores(prompts) / recommend(prompts, k) shape.

    from engine.baselines import SKNN, evaluate
    model = SKNN(k=100, sample_size=500).fit(split)
    metrics, ranks = evaluate(model, split, split.test, ks=(10, 20))
"""

from engine.baselines.base import Ragged, Recommender, gather_ranges, prompt_items, train_item_counts
from engine.baselines.evaluate import evaluate, ranks_from_scores
from engine.baselines.popularity import MostPopular
from engine.baselines.sknn import DECAYS, SFSKNN, SKNN, SSKNN, VSKNN, SessionKNN

BASELINES = {"most_popular": MostPopular, "sknn": SKNN, "v_sknn": VSKNN, "s_sknn": SSKNN, "sf_sknn": SFSKNN}

__all__ = [
    "BASELINES",
    "DECAYS",
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
    "train_item_counts",
]
