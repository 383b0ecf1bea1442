"""model.item_init (LLM2SASRec / LLM2BERT4Rec / LLM2GRU4Rec): the item table starts from text embeddings."""

import jax
import ml_collections
import numpy as np
import pytest
from flax import nnx

from engine.data.errors import DataError
from engine.data.item_embeddings import write_item_embeddings
from engine.models import build_model

NUM_ITEMS, DIM = 30, 16


def model_config(name, path, scale=1.0, dim=DIM):
    c = ml_collections.ConfigDict({"name": name, "max_len": 8, "hidden_dim": dim, "num_blocks": 1, "dropout": 0.1,
                                   "item_init": str(path), "item_init_scale": scale})
    if name == "bert4rec":
        c.num_heads = 2
    return c


@pytest.fixture
def artifact(tmp_path):
    table = np.random.default_rng(0).normal(size=(NUM_ITEMS + 1, DIM)).astype(np.float32)
    table[0] = 0
    return write_item_embeddings(tmp_path / "emb", table, dataset="toy"), table


def item_tables(name, path, scale):
    """(random table, initialised table), built in one compiled call (eager building is slow on 2 cores)."""
    build = lambda p: build_model(model_config(name, p, scale), NUM_ITEMS, nnx.Rngs(0), dataset="toy")
    return map(np.asarray, jax.jit(lambda: (build("").item_embedding.embedding[...],
                                            build(path).item_embedding.embedding[...]))())


@pytest.mark.parametrize("name", ["sasrec", "bert4rec"])  # BERT4Rec: a mask-token row after the items
def test_item_init_sets_rows_1_to_n_and_keeps_the_rest(name, artifact):
    path, table = artifact
    random, got = item_tables(name, path, 0.5)
    np.testing.assert_allclose(got[1:NUM_ITEMS + 1], 0.5 * table[1:], rtol=1e-6)
    np.testing.assert_array_equal(got[0], random[0])  # padding row (and BERT4Rec's mask row) untouched
    np.testing.assert_array_equal(got[NUM_ITEMS + 1:], random[NUM_ITEMS + 1:])


def test_item_init_works_inside_jit_and_scale_zero_matches_the_random_std(artifact):
    path, _ = artifact
    random, got = item_tables("gru4rec", path, 0.0)
    assert np.std(got[1:]) == pytest.approx(np.std(random[1:]), rel=1e-4)


def test_item_init_shape_and_dataset_mismatches_name_the_file(artifact, tmp_path):
    path, _ = artifact
    with pytest.raises(DataError, match=r"emb/item_embeddings.npy: embedding width 16 but the model needs 8"):
        build_model(model_config("sasrec", path, dim=8), NUM_ITEMS, nnx.Rngs(0))
    with pytest.raises(DataError, match=r"emb/meta.json: embeddings are for 30 items but this dataset has 29"):
        build_model(model_config("sasrec", path), NUM_ITEMS - 1, nnx.Rngs(0))
    with pytest.raises(DataError, match=r"emb/meta.json: embeddings are for dataset 'toy', this run uses 'beauty'"):
        build_model(model_config("sasrec", path), NUM_ITEMS, nnx.Rngs(0), dataset="beauty")
    with pytest.raises(DataError, match="not found"):
        build_model(model_config("sasrec", tmp_path / "nowhere"), NUM_ITEMS, nnx.Rngs(0))
