import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from engine.models.gru4rec import masked_gru
from tests.models.conftest import make_model


def test_masked_gru_matches_the_cell_stepped_by_hand_and_skips_padding():
    cell = nnx.GRUCell(3, 5, rngs=nnx.Rngs(0))
    x = jax.random.normal(jax.random.key(1), (2, 6, 3))
    valid = jnp.array([[False, False, True, True, True, True], [True] * 6])
    states = masked_gru(cell, x, valid)
    for row in range(2):
        h = jnp.zeros((5,))
        for t in range(6):
            if valid[row, t]:
                h, _ = cell(h, x[row, t])
            np.testing.assert_allclose(states[row, t], h, atol=1e-6)
    np.testing.assert_array_equal(states[0, :2], 0.0)  # padding steps leave the zero state alone


def test_embedding_layer_is_kept_and_tied_to_the_output():
    model = make_model("gru4rec", num_items=30, hidden_dim=12, rnn_dim=20, num_blocks=1)
    assert model.item_embedding.embedding.shape == (31, 12)
    assert model.output_table is not None and model.output_table.shape == (31, 12)
    assert model(jnp.array([[0, 1, 2, 3]])).shape == (1, 4, 12)
    assert len(model.cells) == 1 and model.cells[0].hidden_features == 20
