"""SASRec (Kang & McAuley, ICDM 2018): causal self-attention over the item sequence.

Inputs are left-padded item ids (0 = padding). Positions are counted, by default, from the end of the
sequence (the last item has position 0); `positions="from_start"` counts them from the first item of the
window instead, as a right-padded implementation does (the SASRec+ reference, Klenitskiy & Vasilev 2023):
the last item's position then tells the model how long the history is. Either way a sequence gets the
same representation whatever the amount of left padding: this is what makes padding invariance hold.

`block="pre_norm"` (default) is the usual pre-norm transformer block. `block="sasrec"` is the block of the
original TensorFlow code and of its PyTorch port (pmixer), which the SASRec+ reference uses: only the queries
are layer-normed, keys and values come from the unnormalised input, and both residuals are added to normalised
inputs. With `ffn_dim=64, activation="relu"` it matches that reference's block.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from engine.models.base import SequentialModel

POSITIONS = ("from_end", "from_start")
BLOCKS = ("pre_norm", "sasrec")
ACTIVATIONS = {"gelu": jax.nn.gelu, "relu": jax.nn.relu}


class FeedForward(nnx.Module):
    def __init__(self, dim: int, hidden: int, dropout: float, rngs: nnx.Rngs, activation: str = "gelu"):
        self.up = nnx.Linear(dim, hidden, rngs=rngs)
        self.down = nnx.Linear(hidden, dim, rngs=rngs)
        self.dropout = nnx.Dropout(dropout)
        self.activation = activation

    def __call__(self, x, *, rngs: nnx.Rngs | None):
        h = self.dropout(ACTIVATIONS[self.activation](self.up(x)), rngs=rngs, deterministic=rngs is None)
        return self.dropout(self.down(h), rngs=rngs, deterministic=rngs is None)


class CausalSelfAttention(nnx.Module):
    def __init__(self, dim: int, num_heads: int, dropout: float, rngs: nnx.Rngs):
        if dim % num_heads:
            raise ValueError(f"model.hidden_dim={dim} is not divisible by model.num_heads={num_heads}")
        self.num_heads = num_heads
        self.qkv = nnx.Linear(dim, 3 * dim, rngs=rngs)
        self.out = nnx.Linear(dim, dim, rngs=rngs)
        self.dropout = nnx.Dropout(dropout)

    def __call__(self, x, mask, *, rngs: nnx.Rngs | None, keys_values=None):
        """keys_values: the input keys and values are projected from, when it is not x (the original block)."""
        b, t, d = x.shape
        if keys_values is None:
            qkv = self.qkv(x)
        else:  # the same weights, applied to two inputs: the query third to x, the rest to keys_values
            kernel, bias = self.qkv.kernel[...], self.qkv.bias[...]
            qkv = jnp.concatenate([x @ kernel[:, :d] + bias[:d], keys_values @ kernel[:, d:] + bias[d:]], -1)
        q, k, v = jnp.split(qkv.reshape(b, t, 3 * self.num_heads, d // self.num_heads), 3, axis=2)
        h = jax.nn.dot_product_attention(q, k, v, mask=mask).reshape(b, t, d)
        return self.dropout(self.out(h), rngs=rngs, deterministic=rngs is None)


class Block(nnx.Module):
    """pre_norm: x + attn(norm(x)), then x + ffn(norm(x)).
    sasrec: q = norm(x); x = q + attn(q, keys and values from x); then h = norm(x) and h + ffn(h): both
    residuals start from the normalised input, as in the original code."""

    def __init__(self, dim: int, num_heads: int, dropout: float, rngs: nnx.Rngs, *, ffn_dim: int,
                 activation: str, kind: str):
        self.kind = kind
        self.attn_norm = nnx.LayerNorm(dim, rngs=rngs)
        self.attn = CausalSelfAttention(dim, num_heads, dropout, rngs)
        self.ffn_norm = nnx.LayerNorm(dim, rngs=rngs)
        self.ffn = FeedForward(dim, ffn_dim, dropout, rngs, activation)

    def __call__(self, x, mask, *, rngs):
        q = self.attn_norm(x)
        if self.kind == "pre_norm":
            x = x + self.attn(q, mask, rngs=rngs)
            return x + self.ffn(self.ffn_norm(x), rngs=rngs)
        x = self.ffn_norm(q + self.attn(q, mask, rngs=rngs, keys_values=x))
        return x + self.ffn(x, rngs=rngs)


class SASRec(SequentialModel):
    """Returns hidden states; `item_scores` ties the output layer to the item embeddings."""

    def __init__(self, *, num_items: int, max_len: int, hidden_dim: int = 64, num_blocks: int = 2,
                 num_heads: int = 1, dropout: float = 0.2, positions: str = "from_end", block: str = "pre_norm",
                 ffn_dim: int = 0, activation: str = "gelu", rngs: nnx.Rngs):
        for key, value, known in (("positions", positions, POSITIONS), ("block", block, BLOCKS),
                                  ("activation", activation, tuple(ACTIVATIONS))):
            if value not in known:
                raise ValueError(f"unknown model.{key} {value!r}; known: {', '.join(known)}")
        if ffn_dim < 0:
            raise ValueError(f"model.ffn_dim={ffn_dim} must be positive (0: 4 x model.hidden_dim)")
        self.num_items = num_items
        self.positions = positions
        self.max_len = max_len
        init = nnx.initializers.truncated_normal(stddev=0.02)
        self.item_embedding = nnx.Embed(num_items + 1, hidden_dim, embedding_init=init, rngs=rngs)
        self.position_embedding = nnx.Embed(max_len, hidden_dim, embedding_init=init, rngs=rngs)
        self.dropout = nnx.Dropout(dropout)
        self.blocks = nnx.List([Block(hidden_dim, num_heads, dropout, rngs, ffn_dim=ffn_dim or 4 * hidden_dim,
                                      activation=activation, kind=block) for _ in range(num_blocks)])
        self.final_norm = nnx.LayerNorm(hidden_dim, rngs=rngs)

    def __call__(self, items: jax.Array, *, rngs: nnx.Rngs | None = None) -> jax.Array:
        """items: int [batch, length], left-padded. Returns hidden states [batch, length, dim].

        `rngs=None` means evaluation (no dropout)."""
        length = items.shape[1]
        valid = items > 0
        if self.positions == "from_end":
            positions = jnp.arange(length)[::-1][None]
        else:  # count the real items so far, so left padding does not shift them
            positions = jnp.maximum(jnp.cumsum(valid, axis=1) - 1, 0)
        # Clipped so that a window longer than max_len reuses the last slot.
        positions = jnp.minimum(positions, self.max_len - 1)
        x = self.item_embedding(items) * jnp.sqrt(self.item_embedding.features).astype(jnp.float32)
        x = x + self.position_embedding(positions)
        x = self.dropout(x, rngs=rngs, deterministic=rngs is None) * valid[..., None]
        causal = jnp.tril(jnp.ones((length, length), bool))
        # Padding keys are masked; every query may see itself so no attention row is empty.
        mask = (causal[None] & valid[:, None, :]) | jnp.eye(length, dtype=bool)[None]
        for block in self.blocks:
            x = block(x, mask[:, None], rngs=rngs) * valid[..., None]
        return self.final_norm(x)

    def item_scores(self, hidden: jax.Array) -> jax.Array:
        """Dot product with every item embedding; column 0 (padding) is never a valid answer."""
        table = self.item_embedding.embedding[...]
        scores = hidden @ table.T.astype(hidden.dtype)
        return scores.at[..., 0].set(-jnp.inf)

    @property
    def output_table(self) -> jax.Array:
        return self.item_embedding.embedding[...]
