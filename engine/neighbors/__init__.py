"""Non-neural recommenders that need no item text: MostPopular and the session-kNN family (SKNN, V-SKNN,
S-SKNN, SF-SKNN), with the Recommender shape of engine.recommender:

    from engine.neighbors import SKNN
    from engine.eval.host_ranking import evaluate
    model = SKNN(k=100, sample_size=500).fit(split)
    metrics, ranks = evaluate(model, split, split.test, ks=(10, 20))

The model names a config can give them are in engine.runner.registry."""

from engine.neighbors.popularity import MostPopular
from engine.neighbors.sknn import DECAYS, SFSKNN, SKNN, SSKNN, VSKNN, SessionKNN

__all__ = ["DECAYS", "SFSKNN", "SKNN", "SSKNN", "VSKNN", "MostPopular", "SessionKNN"]
