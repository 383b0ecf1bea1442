"""GRU4Rec (Hidasi et al., ICLR 2016), with an item embedding layer as in the LLM-sequential
recommendation study (so the layer can be initialised from text embeddings).

item embedding → stacked GRU → projection to the embedding width → dot product with the same item
embeddings (tied output), trained with next-item prediction at every position (the trainer's
default objective). The GRU state stays unchanged on padding steps, so left padding of any length
leaves the hidden states of the real items untouched."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
from flax import nnx

from engine.models.base import SequentialModel


def masked_gru(cell: nnx.GRUCell, x: jax.Array, valid: jax.Array) -> jax.Array:
    """Run `cell` over x [batch, length, features]; on steps where valid [batch, length] is False the
    state is carried over unchanged. Returns the state after every step [batch, length, hidden]."""
    carry = jnp.zeros(x.shape[:1] + (cell.hidden_features,), x.dtype)

    def step(h, inputs):
        x_t, valid_t = inputs
        new_h, _ = cell(h, x_t)
        h = jnp.where(valid_t[:, None], new_h, h)
        return h, h

    _, states = jax.lax.scan(step, carry, (jnp.swapaxes(x, 0, 1), jnp.swapaxes(valid, 0, 1)))
    return jnp.swapaxes(states, 0, 1)


class GRU4Rec(SequentialModel):
    def __init__(self, *, num_items: int, max_len: int, hidden_dim: int = 64, num_blocks: int = 1,
                 rnn_dim: int = 100, dropout: float = 0.2, rngs: nnx.Rngs):
        """hidden_dim: item embedding width; rnn_dim: GRU state size; num_blocks: stacked GRU layers.
        max_len only sets the training window (the recurrence has no length limit)."""
        self.num_items = num_items
        self.max_len = max_len
        init = nnx.initializers.truncated_normal(stddev=0.02)
        self.item_embedding = nnx.Embed(num_items + 1, hidden_dim, embedding_init=init, rngs=rngs)
        self.dropout = nnx.Dropout(dropout)
        sizes = [hidden_dim] + [rnn_dim] * num_blocks
        self.cells = nnx.List([nnx.GRUCell(a, b, rngs=rngs) for a, b in itertools.pairwise(sizes)])
        self.projection = nnx.Linear(rnn_dim, hidden_dim, rngs=rngs)

    def __call__(self, items: jax.Array, *, rngs: nnx.Rngs | None = None) -> jax.Array:
        """items: int [batch, length], left-padded. Returns hidden states [batch, length, hidden_dim]."""
        valid = items > 0
        x = self.dropout(self.item_embedding(items), rngs=rngs, deterministic=rngs is None)
        for cell in self.cells:
            x = self.dropout(masked_gru(cell, x, valid), rngs=rngs, deterministic=rngs is None)
        return self.projection(x)

    @property
    def output_table(self) -> jax.Array:
        return self.item_embedding.embedding[...]
