import pytest
from flax import nnx

from engine.models import MODELS

NEW_MODELS = ("bert4rec", "gru4rec", "lrurec", "fmlprec")


@pytest.fixture(scope="session")
def data_cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("datasets"))


def make_model(name, *, num_items=30, max_len=8, seed=0, **overrides):
    """A small instance with dropout on, so that tests also see that evaluation disables it."""
    kwargs = {"num_items": num_items, "max_len": max_len, "hidden_dim": 16, "num_blocks": 2, "dropout": 0.3}
    if name == "bert4rec":
        kwargs["num_heads"] = 2
    kwargs.update(overrides)
    return MODELS[name](rngs=nnx.Rngs(seed), **kwargs)
