"""LRURec (Yue et al., 2024; the retriever of LlamaRec): stacked linear recurrent units.

Each LRU layer runs the diagonal complex recurrence h_t = λ ⊙ h_{t-1} + γ ⊙ (B x_t) over a state of
twice the embedding width and reads out Re(C h_t) (Orvieto et al., 2023). λ = exp(-ν + iθ) is
initialised uniformly on a ring r_min ≤ |λ| ≤ r_max and γ = sqrt(1 - |λ|²) keeps the state's scale
independent of how close |λ| is to 1. Because the recurrence is linear it is computed for all steps
at once with `jax.lax.associative_scan` (O(log L) depth) instead of a sequential loop.

Block: x = LN(x + dropout(Re(C h))), then x = LN(x + FFN(x)) (post-norm, as in the authors' code);
embedding → dropout → layer norm; no position embeddings (the recurrence is ordered by itself);
tied output embeddings plus a learned output bias.

Padding: the input term γ ⊙ (B x_t) is zeroed on padding steps, so with left padding the state is
exactly zero up to the first real item and the real positions do not depend on the padding.
All parameters are real (complex weights are stored as real and imaginary parts) so optimisers,
mixed precision and checkpoints treat them like any other parameter."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import nnx

from engine.models.base import SequentialModel


def linear_recurrence(a: jax.Array, b: jax.Array, axis: int = 1) -> jax.Array:
    """h_t = a_t * h_{t-1} + b_t with h_{-1} = 0, for every t along `axis`, as a parallel scan.

    Composing two steps (a1, b1) then (a2, b2) gives (a1 a2, a2 b1 + b2), an associative operator."""
    def combine(first, second):
        a1, b1 = first
        a2, b2 = second
        return a1 * a2, a2 * b1 + b2

    a = jnp.broadcast_to(a, b.shape)
    return jax.lax.associative_scan(combine, (a, b), axis=axis)[1]


class LRULayer(nnx.Module):
    def __init__(self, dim: int, dropout: float, rngs: nnx.Rngs, r_min: float = 0.8, r_max: float = 0.99,
                 max_phase: float = 2 * math.pi):
        state = 2 * dim
        init = nnx.initializers.truncated_normal(stddev=0.02)
        # Ring initialisation: |λ|² uniform in [r_min², r_max²], phase uniform in [0, max_phase].
        u1 = jax.random.uniform(rngs.params(), (state,))
        u2 = jax.random.uniform(rngs.params(), (state,), minval=1e-6)  # θ > 0: it is stored as log θ
        nu = -0.5 * jnp.log(u1 * (r_max ** 2 - r_min ** 2) + r_min ** 2)
        theta = u2 * max_phase
        # Stored as logs so that ν > 0 (|λ| < 1, a stable recurrence) and γ > 0 whatever the updates.
        self.nu_log = nnx.Param(jnp.log(nu))
        self.theta_log = nnx.Param(jnp.log(theta))
        self.gamma_log = nnx.Param(0.5 * jnp.log(1 - jnp.exp(-2 * nu)))  # log sqrt(1 - |λ|²)
        # B (complex, with bias) as real and imaginary parts; C's real readout needs Re(C), Im(C).
        self.in_real = nnx.Linear(dim, state, kernel_init=init, bias_init=init, rngs=rngs)
        self.in_imag = nnx.Linear(dim, state, kernel_init=init, bias_init=init, rngs=rngs)
        self.out_real = nnx.Linear(state, dim, kernel_init=init, bias_init=init, rngs=rngs)
        self.out_imag = nnx.Linear(state, dim, use_bias=False, kernel_init=init, rngs=rngs)
        self.dropout = nnx.Dropout(dropout)
        self.norm = nnx.LayerNorm(dim, rngs=rngs)

    def eigenvalues(self) -> jax.Array:
        nu, theta = (jnp.exp(p[...].astype(jnp.float32)) for p in (self.nu_log, self.theta_log))
        return jnp.exp(jax.lax.complex(-nu, theta))

    def __call__(self, x, valid, *, rngs):
        # The scan runs in complex64 whatever the compute dtype: bf16 has no complex counterpart.
        f32 = lambda v: v.astype(jnp.float32)
        gamma = jnp.exp(f32(self.gamma_log[...]))
        b = jax.lax.complex(f32(self.in_real(x)), f32(self.in_imag(x))) * gamma
        b = jnp.where(valid[..., None], b, 0)
        h = linear_recurrence(self.eigenvalues()[None, None], b)
        # Re(C h) = Re(C) Re(h) - Im(C) Im(h).
        y = self.out_real(h.real.astype(x.dtype)) - self.out_imag(h.imag.astype(x.dtype))
        return self.norm(x + self.dropout(y, rngs=rngs, deterministic=rngs is None))


class PostNormFeedForward(nnx.Module):
    def __init__(self, dim: int, dropout: float, rngs: nnx.Rngs):
        init = nnx.initializers.truncated_normal(stddev=0.02)
        self.up = nnx.Linear(dim, 4 * dim, kernel_init=init, rngs=rngs)
        self.down = nnx.Linear(4 * dim, dim, kernel_init=init, rngs=rngs)
        self.dropout = nnx.Dropout(dropout)
        self.norm = nnx.LayerNorm(dim, rngs=rngs)

    def __call__(self, x, *, rngs):
        deterministic = rngs is None
        h = self.dropout(jax.nn.gelu(self.up(x)), rngs=rngs, deterministic=deterministic)
        return self.norm(x + self.dropout(self.down(h), rngs=rngs, deterministic=deterministic))


class LRUBlock(nnx.Module):
    def __init__(self, dim: int, dropout: float, lru_dropout: float, rngs: nnx.Rngs):
        self.lru = LRULayer(dim, lru_dropout, rngs)
        self.ffn = PostNormFeedForward(dim, dropout, rngs)

    def __call__(self, x, valid, *, rngs):
        return self.ffn(self.lru(x, valid, rngs=rngs), rngs=rngs)


class LRURec(SequentialModel):
    def __init__(self, *, num_items: int, max_len: int, hidden_dim: int = 64, num_blocks: int = 2,
                 dropout: float = 0.2, lru_dropout: float = 0.2, rngs: nnx.Rngs):
        """max_len only sets the training window (the recurrence has no length limit)."""
        self.num_items = num_items
        self.max_len = max_len
        init = nnx.initializers.truncated_normal(stddev=0.02)
        self.item_embedding = nnx.Embed(num_items + 1, hidden_dim, embedding_init=init, rngs=rngs)
        self.embed_norm = nnx.LayerNorm(hidden_dim, rngs=rngs)
        self.dropout = nnx.Dropout(dropout)
        self.blocks = nnx.List([LRUBlock(hidden_dim, dropout, lru_dropout, rngs) for _ in range(num_blocks)])
        self.bias = nnx.Param(jnp.zeros((num_items + 1,), jnp.float32))

    def __call__(self, items: jax.Array, *, rngs: nnx.Rngs | None = None) -> jax.Array:
        """items: int [batch, length], left-padded. Returns hidden states [batch, length, hidden_dim]."""
        valid = items > 0
        x = self.dropout(self.item_embedding(items), rngs=rngs, deterministic=rngs is None)
        x = self.embed_norm(x)
        for block in self.blocks:
            x = block(x, valid, rngs=rngs)
        return x

    @property
    def output_table(self) -> jax.Array:
        return self.item_embedding.embedding[...]

    @property
    def output_bias(self) -> jax.Array:
        return self.bias[...]
