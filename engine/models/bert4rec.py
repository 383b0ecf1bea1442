"""BERT4Rec (Sun et al., CIKM 2019): a bidirectional transformer trained with the cloze task.

Every item of a training window is replaced by a mask token with probability `mask_prob` and the
model predicts the original items from both sides; at evaluation a mask token appended after the
history asks for the next item. The mask token has id num_items + 1 and lives in the input table
only: scores are over ids 0..num_items (tied item embeddings plus a learned output bias).

Positions are counted from the end of the window (as in SASRec) and padding keys are masked, so a
sequence gets the same representation whatever the amount of left padding."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from engine.models.base import SequentialModel
from engine.models.sasrec import CausalSelfAttention, FeedForward


class PostNormBlock(nnx.Module):
    """BERT's block: x = LN(x + attn(x)), then x = LN(x + ffn(x)) (the paper's eq. 4-5)."""

    def __init__(self, dim: int, num_heads: int, dropout: float, rngs: nnx.Rngs):
        # SASRec's attention layer applies whatever mask it is given; here the mask is bidirectional.
        self.attn = CausalSelfAttention(dim, num_heads, dropout, rngs)
        self.attn_norm = nnx.LayerNorm(dim, rngs=rngs)
        self.ffn = FeedForward(dim, 4 * dim, dropout, rngs)
        self.ffn_norm = nnx.LayerNorm(dim, rngs=rngs)

    def __call__(self, x, mask, *, rngs):
        x = self.attn_norm(x + self.attn(x, mask, rngs=rngs))
        return self.ffn_norm(x + self.ffn(x, rngs=rngs))


class BERT4Rec(SequentialModel):
    def __init__(self, *, num_items: int, max_len: int, hidden_dim: int = 64, num_blocks: int = 2,
                 num_heads: int = 2, dropout: float = 0.1, mask_prob: float = 0.2, rngs: nnx.Rngs):
        if not 0.0 < mask_prob <= 1.0:
            raise ValueError(f"model.mask_prob={mask_prob} must be in (0, 1]")
        self.num_items = num_items
        self.max_len = max_len
        self.mask_prob = mask_prob
        self.mask_token = num_items + 1
        init = nnx.initializers.truncated_normal(stddev=0.02)
        # Rows: padding, items 1..num_items, mask token.
        self.item_embedding = nnx.Embed(num_items + 2, hidden_dim, embedding_init=init, rngs=rngs)
        # Training windows hold max_len + 1 items (see training_pairs), so one more position slot.
        self.position_embedding = nnx.Embed(max_len + 1, hidden_dim, embedding_init=init, rngs=rngs)
        self.embed_norm = nnx.LayerNorm(hidden_dim, rngs=rngs)
        self.dropout = nnx.Dropout(dropout)
        self.blocks = nnx.List([PostNormBlock(hidden_dim, num_heads, dropout, rngs) for _ in range(num_blocks)])
        # Output head GELU(h W + b), layer-normed as in the authors' code, then tied embeddings + bias.
        self.head = nnx.Linear(hidden_dim, hidden_dim, kernel_init=init, rngs=rngs)
        self.head_norm = nnx.LayerNorm(hidden_dim, rngs=rngs)
        self.bias = nnx.Param(jnp.zeros((num_items + 1,), jnp.float32))

    def __call__(self, items: jax.Array, *, rngs: nnx.Rngs | None = None) -> jax.Array:
        """items: int [batch, length], left-padded, may contain the mask token. Returns [batch, length, dim]."""
        length = items.shape[1]
        valid = items > 0
        positions = jnp.minimum(jnp.arange(length)[::-1], self.position_embedding.num_embeddings - 1)
        x = self.item_embedding(items) + self.position_embedding(positions)[None]
        x = self.dropout(self.embed_norm(x), rngs=rngs, deterministic=rngs is None)
        # Bidirectional: every real key is visible; a padding query sees itself so no row is empty.
        mask = valid[:, None, :] | jnp.eye(length, dtype=bool)[None]
        for block in self.blocks:
            x = block(x, mask[:, None], rngs=rngs)
        return self.head_norm(jax.nn.gelu(self.head(x)))

    def training_pairs(self, inputs: jax.Array, targets: jax.Array, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Cloze examples over the whole training window.

        TrainBatches cuts a window of L + 1 items into inputs = window[:-1] and targets = window[1:];
        the window is therefore inputs followed by the last target, and every one of its items can be
        masked. Each real position is masked with probability mask_prob; a sequence that drew no mask
        gets one at a uniformly chosen real position, so no real sequence is wasted. Targets are the
        original items at masked positions and 0 elsewhere."""
        window = jnp.concatenate([inputs, targets[:, -1:]], axis=1)
        real = window > 0
        draw_key, fallback_key = jax.random.split(key)
        masked = real & (jax.random.uniform(draw_key, window.shape) < self.mask_prob)
        fallback = jnp.argmax(jnp.where(real, jax.random.uniform(fallback_key, window.shape), -1.0), axis=1)
        needs_one = real.any(axis=1) & ~masked.any(axis=1)
        masked |= needs_one[:, None] & (jnp.arange(window.shape[1])[None] == fallback[:, None])
        return jnp.where(masked, self.mask_token, window), jnp.where(masked, window, 0)

    def prompt(self, inputs: jax.Array) -> jax.Array:
        """The history without its oldest item, then the mask token: same shape, the last slot asks."""
        mask = jnp.full((inputs.shape[0], 1), self.mask_token, inputs.dtype)
        return jnp.concatenate([inputs[:, 1:], mask], axis=1)

    @property
    def output_table(self) -> jax.Array:
        return self.item_embedding.embedding[: self.num_items + 1]

    @property
    def output_bias(self) -> jax.Array:
        return self.bias[...]
