"""The model registry: every registered name resolves, and the options a recommender declares are exactly
what its constructor takes, so that a config key is never silently dropped or refused by mistake."""

import inspect

import pytest

from configs.popularity import get_config as popularity_config
from configs.sknn import get_config as sknn_config
from engine.models import MODELS
from engine.recommender import Recommender
from engine.runner.registry import NON_NEURAL, build_recommender, is_neural, recommender_class


@pytest.mark.parametrize("name", sorted(NON_NEURAL))
def test_declared_options_are_the_constructor_arguments(name):
    cls = recommender_class(name)
    assert issubclass(cls, Recommender) and not is_neural(name)
    if cls.from_config.__func__ is not Recommender.from_config.__func__:
        return  # builds itself from the config (item text, embedding files)
    assert set(cls.options) == set(inspect.signature(cls).parameters), name


def test_names_are_neural_or_not_and_unknown_names_are_refused():
    assert all(is_neural(name) for name in MODELS)
    assert not set(MODELS) & set(NON_NEURAL)
    with pytest.raises(ValueError, match="unknown model 'nope'.*neural: .*sasrec.*non-neural: .*sknn"):
        is_neural("nope")


def test_build_from_a_preset_passes_declared_keys_and_the_seed():
    config = sknn_config("tiny")
    config.model.name, config.seed = "s_sknn", 3
    model = build_recommender(config, None)
    assert (type(model).__name__, model.k, model.sampling, model.seed) == ("SSKNN", 100, "recent", 3)
    config.model.decay = "linear"
    with pytest.raises(ValueError, match=r"'s_sknn' takes no key\(s\) model.decay; it takes model.k"):
        build_recommender(config, None)
    assert type(build_recommender(popularity_config("tiny"), None)).__name__ == "MostPopular"
