"""FMLP-Rec (Zhou et al., WWW 2022): an all-MLP model whose token mixing is a learnable filter in
the frequency domain: rfft over the sequence axis, multiplication by a learnable complex filter
per (frequency, channel), irfft; then a position-wise FFN; residuals, layer norm and dropout.

Causality. The filter is a circular convolution over the whole window, so the output at position t
sees the items after t; next-item targets at every position would leak the answer. The authors'
code trains on the last position only, with every prefix of a training sequence as its own
example (datasets.py builds all prefixes, trainers.py reads seq_out[:, -1]). `training_pairs`
follows that as a stochastic equivalent: each step draws `prefixes_per_sequence` prefixes per
training window (uniformly among the positions that have a target), moves each to the end of its
window and keeps the target of its last position only. Over the epochs every prefix is drawn.
(All prefixes at once would cost L forward passes and L x L logits per sequence with the trainer's
loss, which scores every position.)

Length. The filter has one weight per frequency of a max_len-long sequence, and the frequencies of
a shorter window are different ones, so every input is left-padded to max_len inside the model;
this also makes the output independent of the window length. Padding positions are zeroed before
every filter (the paper lets position embeddings of padding into the FFT; zeroing them makes the
filter mix only real items)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from engine.models.base import SequentialModel
from engine.models.lrurec import PostNormFeedForward


class FilterLayer(nnx.Module):
    def __init__(self, max_len: int, dim: int, dropout: float, rngs: nnx.Rngs):
        self.max_len = max_len
        # Real and imaginary parts of the filter, one per rfft frequency and channel.
        self.filter = nnx.Param(0.02 * jax.random.normal(rngs.params(), (max_len // 2 + 1, dim, 2)))
        self.dropout = nnx.Dropout(dropout)
        self.norm = nnx.LayerNorm(dim, rngs=rngs)

    def __call__(self, x, *, rngs):
        """x: [batch, max_len, dim]."""
        weight = self.filter[...].astype(jnp.float32)
        spectrum = jnp.fft.rfft(x.astype(jnp.float32), axis=1, norm="ortho")
        spectrum = spectrum * jax.lax.complex(weight[..., 0], weight[..., 1])
        y = jnp.fft.irfft(spectrum, n=self.max_len, axis=1, norm="ortho").astype(x.dtype)
        return self.norm(x + self.dropout(y, rngs=rngs, deterministic=rngs is None))


class FMLPBlock(nnx.Module):
    def __init__(self, max_len: int, dim: int, dropout: float, rngs: nnx.Rngs):
        self.filter = FilterLayer(max_len, dim, dropout, rngs)
        self.ffn = PostNormFeedForward(dim, dropout, rngs)

    def __call__(self, x, *, rngs):
        return self.ffn(self.filter(x, rngs=rngs), rngs=rngs)


class FMLPRec(SequentialModel):
    def __init__(self, *, num_items: int, max_len: int, hidden_dim: int = 64, num_blocks: int = 2,
                 dropout: float = 0.5, prefixes_per_sequence: int = 1, rngs: nnx.Rngs):
        if prefixes_per_sequence < 1:
            raise ValueError(f"model.prefixes_per_sequence={prefixes_per_sequence} must be >= 1")
        self.num_items = num_items
        self.max_len = max_len
        self.prefixes_per_sequence = prefixes_per_sequence
        init = nnx.initializers.truncated_normal(stddev=0.02)
        self.item_embedding = nnx.Embed(num_items + 1, hidden_dim, embedding_init=init, rngs=rngs)
        self.position_embedding = nnx.Embed(max_len, hidden_dim, embedding_init=init, rngs=rngs)
        self.embed_norm = nnx.LayerNorm(hidden_dim, rngs=rngs)
        self.dropout = nnx.Dropout(dropout)
        self.blocks = nnx.List([FMLPBlock(max_len, hidden_dim, dropout, rngs) for _ in range(num_blocks)])

    def __call__(self, items: jax.Array, *, rngs: nnx.Rngs | None = None) -> jax.Array:
        """items: int [batch, length <= max_len], left-padded. Returns hidden states [batch, length, dim]."""
        length = items.shape[1]
        if length > self.max_len:
            raise ValueError(f"FMLP-Rec's filters cover model.max_len={self.max_len} positions; got a window of "
                             f"{length}")
        items = jnp.pad(items, ((0, 0), (self.max_len - length, 0)))
        valid = (items > 0)[..., None]
        positions = jnp.arange(self.max_len)[::-1]  # distance from the end, as in SASRec
        x = self.embed_norm(self.item_embedding(items) + self.position_embedding(positions)[None])
        x = self.dropout(x, rngs=rngs, deterministic=rngs is None) * valid
        for block in self.blocks:
            x = block(x, rngs=rngs) * valid
        return x[:, self.max_len - length:]

    def training_pairs(self, inputs: jax.Array, targets: jax.Array, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        """[B * prefixes_per_sequence, L] prefix windows, each with one target at its last position."""
        batch, length = inputs.shape
        count = self.prefixes_per_sequence
        # Prefix ends drawn uniformly among positions with an item and a target (rows without any keep
        # target 0); a prefix of padding alone predicts nothing.
        inputs, targets = super().training_pairs(inputs, targets, key)
        draws = jax.random.uniform(key, (batch, count, length))
        ends = jnp.argmax(jnp.where(targets[:, None] > 0, draws, -1.0), axis=-1)  # [B, count]
        source = jnp.arange(length)[None, None] - (length - 1 - ends)[..., None]  # shift to the end
        prefixes = jnp.take_along_axis(jnp.broadcast_to(inputs[:, None], (batch, count, length)),
                                       jnp.maximum(source, 0), axis=-1)
        prefixes = jnp.where(source >= 0, prefixes, 0)
        last = jnp.take_along_axis(targets, ends, axis=1)
        prefix_targets = jnp.zeros_like(prefixes).at[..., -1].set(last)
        return prefixes.reshape(batch * count, length), prefix_targets.reshape(batch * count, length)

    @property
    def output_table(self) -> jax.Array:
        return self.item_embedding.embedding[...]
