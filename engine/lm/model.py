"""A decoder-only LM in Flax NNX for the Llama family and Qwen2, with optional LoRA adapters.

RMSNorm, rotary position embeddings (Hugging Face's rotate-half layout; default, linear and llama3 scaling),
grouped-query attention, SwiGLU MLP, tied or untied output embeddings, q/k/v biases for Qwen2.

The decoder blocks are one stacked module (nnx.vmap at creation, jax.lax.scan when applied): a 30-layer model
compiles one block instead of thirty, which matters with several bucket shapes and a decode loop on a CPU.

Base weights are nnx.Param and LoRA weights LoRAWeight, so `nnx.split(model, LoRAWeight, ...)` separates the
trainable adapter from the frozen base: only the former enters the optimiser.

Padding: every call takes `valid` [B, T] (False on padding). Positions count valid tokens only, so a left-padded
prompt sees the same positions as unpadded; padded keys are masked out.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math

import jax
import jax.numpy as jnp
from flax import nnx
from jax.ad_checkpoint import checkpoint_name
from jax.custom_derivatives import SymbolicZero

from engine.lm.config import LMConfig

PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
MASKED = -1e30  # added to masked attention scores (computed in float32)
# What a block keeps for the backward pass when hidden(..., remat=True): the projections' outputs and the residual
# after attention (the matmul results). Norms, RoPE, the attention scores and probabilities, SiLU and the gate
# product are recomputed from them. Saving every intermediate instead (the default) stacks ~120 MB a layer on
# SmolLM2-135M at 8 x 256 tokens (3.6 GB over 30 layers); on a CPU the per-step allocation and page faults of
# that cost more than the recomputation (measured: 21 s -> 15 s a step on one core, temp memory 3.6 -> 1.3 GB).
SAVED_FOR_BACKWARD = ("q", "k", "v", "attn", "mid", "gate", "up")


# Tensor parallelism over the mesh's `model` axis (Megatron's layout). The projections into the attention heads
# and into the MLP split their output features, the projections out of them (o_proj, down_proj) their input
# features, so each device computes its share of the heads and of the MLP, and a block needs one sum over
# `model` after o_proj and one after down_proj (the compiler inserts them). The embedding table splits the
# vocabulary (so do the logits). A LoRA pair follows its kernel: B splits where the kernel's output does, A where
# its input does. Norms and the remaining biases are replicated.
COLUMN_PARALLEL = ("q_proj", "k_proj", "v_proj", "gate_proj", "up_proj")


def weight_axes(path: tuple[str, ...], ndim: int) -> tuple[str | None, ...]:
    """The mesh axis (or None) of each dimension of the weight at `path`, e.g. ("layers", "q_proj", "kernel")
    [layers, in, out] -> (None, None, "model")."""
    if path == ("embed_tokens",):
        return ("model", None)
    if path == ("lm_head",):
        return (None, "model")
    if path[0] == "layers" and path[1] in PROJECTIONS:
        column, leaf = path[1] in COLUMN_PARALLEL, path[2]
        split_in = not column and leaf in ("kernel", "lora_a")
        split_out = column and leaf in ("kernel", "bias", "lora_b")
        axes = (None, "model" if split_in else None, "model" if split_out else None)
        return axes if leaf != "bias" else (None, axes[2])
    return (None,) * ndim


class LoRAWeight(nnx.Variable):
    """A trainable adapter matrix; everything that is an nnx.Param is the frozen base."""


@dataclasses.dataclass(frozen=True)
class LoRASpec:
    rank: int
    alpha: float
    dropout: float = 0.0
    targets: tuple[str, ...] = ("q_proj", "v_proj")

    def __post_init__(self):
        unknown = [t for t in self.targets if t not in PROJECTIONS]
        if unknown or not self.targets:
            raise ValueError(f"lora.targets {self.targets!r}: unknown {unknown}; known: {', '.join(PROJECTIONS)}")
        if self.rank < 1 or not 0 <= self.dropout < 1:
            raise ValueError(f"lora.rank must be >= 1 and lora.dropout in [0, 1), got {self.rank}, {self.dropout}")

    @property
    def scale(self) -> float:
        return self.alpha / self.rank


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def low_precision_matmul(x, w, out_dtype=None):
    """x @ w for bfloat16/float16 x [..., k] and w [k, n], accumulated in float32 and rounded to out_dtype
    (default x's dtype).

    XLA's CPU backend (jax 0.10) runs a bfloat16 dot with a bfloat16 result, or one with a transposed operand
    (jnp.matmul(g, w.T)), as a slow generic loop at about the float32 GEMM's speed, but a dot_general with a float32
    result uses the fast bf16 GEMM (avx512_bf16): [2048, 576] x [576, 1536] on one Zen 4 core, 40 ms against
    18-20 ms. Autodiff's transpose would feed the float32 cotangent into a mixed-dtype dot (the slow path again),
    so the backward products are written out as dot_generals in x's dtype."""
    return jax.lax.dot_general(x, w, (((x.ndim - 1,), (0,)), ((), ())),
                               preferred_element_type=jnp.float32).astype(out_dtype or x.dtype)


def _low_precision_matmul_fwd(x, w, out_dtype):
    # symbolic_zeros: x and w arrive as CustomVJPPrimal. A frozen w (the base under LoRA) has no gradient to
    # compute, and its product (as many FLOPs as the forward one) would otherwise run inside the layer scan: the
    # residuals keep only what the needed gradients use (None marks the other).
    y = low_precision_matmul(x.value, w.value, out_dtype)
    return y, (x.value if w.perturbed else None, w.value if x.perturbed else None)


def _low_precision_matmul_bwd(out_dtype, res, g):
    x, w = res
    if isinstance(g, SymbolicZero):
        return None, None
    lead = g.shape[:-1]  # x's leading dimensions
    g = g.astype((w if w is not None else x).dtype).reshape(-1, g.shape[-1])
    gx = gw = None
    if w is not None:
        gx = jax.lax.dot_general(g, w, (((1,), (1,)), ((), ())), preferred_element_type=jnp.float32)
        gx = gx.reshape(*lead, w.shape[0]).astype(w.dtype)
    if x is not None:
        gw = jax.lax.dot_general(x.reshape(-1, x.shape[-1]), g, (((0,), (0,)), ((), ())),
                                 preferred_element_type=jnp.float32).astype(x.dtype)
    return gx, gw


low_precision_matmul.defvjp(_low_precision_matmul_fwd, _low_precision_matmul_bwd, symbolic_zeros=True)


def matmul(x, w):
    """x @ w. With 16-bit weights (compute_dtype bfloat16) as torch's CPU autocast: the inputs rounded to the
    weights' dtype, the float32-accumulating product above, a float32 result. Activations, norms, softmax and the
    residual stream then stay float32, because XLA's CPU elementwise ops are slower in bfloat16 than in float32
    (silu(a) * b at [2048, 1536]: 6.4 against 1.7 ms on one core). float32 weights: the plain product."""
    if w.dtype in (jnp.bfloat16, jnp.float16):
        return low_precision_matmul(x.astype(w.dtype), w, jnp.float32)
    return x @ w


@functools.partial(jax.custom_vjp, nondiff_argnums=(3,))
def lora_delta(h, a, b, scale: float):
    """scale * (h @ a) @ b for h [..., in], a [in, r], b [r, out].

    The gradient is written out because autodiff's version transposes the whole input h [tokens, in] to form
    h^T @ g for a's gradient and runs that rank-r product as a slow generic dot; (g^T @ h)^T transposes the small
    [tokens, r] factor instead. Measured on one core at 8 x 256 tokens, a 576 -> 576 projection with its adapter,
    forward + backward: 22.9 -> 18.9 ms."""
    return (h @ a) @ b * scale


def _lora_delta_fwd(h, a, b, scale):
    u = h @ a
    return u @ b * scale, (h, u, a, b)


def _lora_delta_bwd(scale, residuals, g):
    h, u, a, b = residuals
    g = (g * scale).reshape(-1, g.shape[-1])
    gu = g @ b.T  # [tokens, r]
    return (gu @ a.T).reshape(h.shape), (gu.T @ h.reshape(-1, h.shape[-1])).T, u.reshape(-1, u.shape[-1]).T @ g


lora_delta.defvjp(_lora_delta_fwd, _lora_delta_bwd)


class Projection(nnx.Module):
    """x @ kernel [+ bias] [+ scale * dropout(x) @ lora_a @ lora_b]. kernel is [in, out] (HF stores [out, in]).

    LoRA init as PEFT: A Kaiming-uniform (bound 1/sqrt(in)), B zeros, so a fresh adapter changes nothing."""

    def __init__(self, d_in: int, d_out: int, *, bias: bool, lora: LoRASpec | None, rngs: nnx.Rngs):
        self.kernel = nnx.Param(nnx.initializers.normal(0.02)(rngs.params(), (d_in, d_out)))
        self.bias = nnx.Param(jnp.zeros((d_out,))) if bias else None
        if lora is None:
            self.lora_a = self.lora_b = None
        else:
            bound = 1.0 / math.sqrt(d_in)
            self.lora_a = LoRAWeight(jax.random.uniform(rngs.params(), (d_in, lora.rank), minval=-bound, maxval=bound))
            self.lora_b = LoRAWeight(jnp.zeros((lora.rank, d_out)))
            self.lora_scale, self.lora_dropout = lora.scale, lora.dropout

    def __call__(self, x, dropout_key=None):
        y = matmul(x, self.kernel[...])
        if self.bias is not None:
            y = y + self.bias[...]
        if self.lora_a is not None:
            h = x
            if dropout_key is not None and self.lora_dropout > 0:
                keep = jax.random.bernoulli(dropout_key, 1.0 - self.lora_dropout, h.shape)
                h = jnp.where(keep, h / (1.0 - self.lora_dropout), 0).astype(x.dtype)
            y = y + lora_delta(h, self.lora_a[...].astype(x.dtype), self.lora_b[...].astype(x.dtype), self.lora_scale)
        return y


class RMSNorm(nnx.Module):
    def __init__(self, dim: int, eps: float):
        self.weight = nnx.Param(jnp.ones((dim,)))
        self.eps = eps

    def __call__(self, x):
        # As transformers: normalise in float32, scale in the input dtype.
        x32 = x.astype(jnp.float32)
        x32 = x32 * jax.lax.rsqrt(jnp.mean(x32 * x32, axis=-1, keepdims=True) + self.eps)
        return self.weight[...].astype(x.dtype) * x32.astype(x.dtype)


def rope_inv_freq(c: LMConfig) -> jnp.ndarray:
    inv = 1.0 / (c.rope_theta ** (jnp.arange(0, c.head_dim, 2, dtype=jnp.float32) / c.head_dim))
    if c.rope_type == "linear":
        inv = inv / c.rope_factor
    elif c.rope_type == "llama3":  # transformers' _compute_llama3_parameters
        low_wavelen = c.rope_original_max_position / c.rope_low_freq_factor
        high_wavelen = c.rope_original_max_position / c.rope_high_freq_factor
        wavelen = 2 * math.pi / inv
        scaled = jnp.where(wavelen > low_wavelen, inv / c.rope_factor, inv)
        smooth = (c.rope_original_max_position / wavelen - c.rope_low_freq_factor) / (
            c.rope_high_freq_factor - c.rope_low_freq_factor)
        smoothed = (1 - smooth) * scaled / c.rope_factor + smooth * scaled
        medium = (wavelen >= high_wavelen) & (wavelen <= low_wavelen)
        inv = jnp.where(medium, smoothed, scaled)
    return inv


def rope_tables(c: LMConfig, positions):
    """cos, sin [B, T, head_dim] for integer positions [B, T]."""
    freqs = positions.astype(jnp.float32)[..., None] * rope_inv_freq(c)
    emb = jnp.concatenate([freqs, freqs], axis=-1)
    return jnp.cos(emb), jnp.sin(emb)


def apply_rope(x, cos, sin):
    """x [B, T, heads, d]; rotate-half layout (pairs (i, i + d/2))."""
    half = x.shape[-1] // 2
    rotated = jnp.concatenate([-x[..., half:], x[..., :half]], axis=-1)
    return (x * cos[:, :, None, :] + rotated * sin[:, :, None, :]).astype(x.dtype)


def causal_attention(q, k, v, key_valid, max_chunks: int = 4):
    """Causal grouped-query attention without a cache: q [B, T, kv, g, d], k/v [B, T, kv, d], key_valid [B, T]
    (False on padding) -> [B, T, kv, g, d].

    The queries are split into up to `max_chunks` consecutive blocks and each block attends only to the keys up to
    its last position, so most of the masked upper triangle is never computed (4 blocks: 62.5% of the full score
    matrix) and each block's scores are smaller (kinder to the cache). Queries are laid out [B, kv, T * g, d], so
    both products are plain batched matrix products over (B, kv) and a block of positions is a block of rows.
    Measured on one core, SmolLM2-135M's attention at 8 x 256 tokens, one layer: forward 69 -> 21 ms, forward +
    backward (recomputed under remat) 107-138 -> 72-75 ms. More blocks gained little and compile longer."""
    b, t, nkv, g, d = q.shape
    qh = q.transpose(0, 2, 1, 3, 4).reshape(b, nkv, t * g, d)
    kh, vh = k.transpose(0, 2, 1, 3), v.transpose(0, 2, 1, 3)
    n = max(1, min(max_chunks, t // 32))
    bounds = [round(i * t / n) for i in range(n + 1)]
    outs = []
    for start, end in itertools.pairwise(bounds):
        scores = jnp.einsum("bkqd,bksd->bkqs", qh[:, :, start * g:end * g], kh[:, :, :end],
                            preferred_element_type=jnp.float32) / math.sqrt(d)
        allowed = (jnp.arange(end)[None, :] <= jnp.arange(start, end)[:, None])[None] & key_valid[:, None, :end]
        scores = jnp.where(allowed[:, None, :, None, :], scores.reshape(b, nkv, end - start, g, end), MASKED)
        probs = jax.nn.softmax(scores.reshape(b, nkv, (end - start) * g, end), axis=-1).astype(q.dtype)
        outs.append(jnp.einsum("bkqs,bksd->bkqd", probs, vh[:, :, :end]))
    out = jnp.concatenate(outs, axis=2) if n > 1 else outs[0]
    return out.reshape(b, nkv, t, g, d).transpose(0, 2, 1, 3, 4)


class Block(nnx.Module):
    def __init__(self, c: LMConfig, lora: LoRASpec | None, rngs: nnx.Rngs):
        d, hd = c.hidden_size, c.head_dim
        proj = lambda name, i, o, bias: Projection(
            i, o, bias=bias, lora=lora if lora is not None and name in lora.targets else None, rngs=rngs)
        self.input_layernorm = RMSNorm(d, c.rms_norm_eps)
        self.q_proj = proj("q_proj", d, c.num_heads * hd, c.attention_bias)
        self.k_proj = proj("k_proj", d, c.num_kv_heads * hd, c.attention_bias)
        self.v_proj = proj("v_proj", d, c.num_kv_heads * hd, c.attention_bias)
        self.o_proj = proj("o_proj", c.num_heads * hd, d, c.output_bias)
        self.post_attention_layernorm = RMSNorm(d, c.rms_norm_eps)
        self.gate_proj = proj("gate_proj", d, c.intermediate_size, c.mlp_bias)
        self.up_proj = proj("up_proj", d, c.intermediate_size, c.mlp_bias)
        self.down_proj = proj("down_proj", c.intermediate_size, d, c.mlp_bias)
        self.num_heads, self.num_kv_heads, self.head_dim = c.num_heads, c.num_kv_heads, hd

    def __call__(self, x, cos, sin, mask, cache_k, cache_v, write_at, key):
        """x [B, T, D]; cache_k/v [B, S, kv, hd] and mask [B, T, S] (True = may attend), or no cache (None) and
        mask [B, T], the keys' validity (attention is then causal over this call's tokens).
        Returns (x, cache_k, cache_v) with this call's keys and values written at slots write_at.. of the cache."""
        keys = [None] * 7 if key is None else list(jax.random.split(key, 7))
        b, t, _ = x.shape
        h = self.input_layernorm(x)
        q = checkpoint_name(self.q_proj(h, keys[0]), "q").reshape(b, t, self.num_heads, self.head_dim)
        k = checkpoint_name(self.k_proj(h, keys[1]), "k").reshape(b, t, self.num_kv_heads, self.head_dim)
        v = checkpoint_name(self.v_proj(h, keys[2]), "v").reshape(b, t, self.num_kv_heads, self.head_dim)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if cache_k is not None:
            cache_k = jax.lax.dynamic_update_slice(cache_k, k.astype(cache_k.dtype), (0, write_at, 0, 0))
            cache_v = jax.lax.dynamic_update_slice(cache_v, v.astype(cache_v.dtype), (0, write_at, 0, 0))
            k, v = cache_k.astype(x.dtype), cache_v.astype(x.dtype)
        # Grouped-query attention without copying keys: query head h reads kv head h // group (transformers).
        group = self.num_heads // self.num_kv_heads
        q = q.reshape(b, t, self.num_kv_heads, group, self.head_dim)
        if cache_k is None:
            attn = causal_attention(q, k, v, mask)
        else:
            scores = jnp.einsum("btkgd,bskd->bkgts", q, k, preferred_element_type=jnp.float32) / math.sqrt(self.head_dim)
            scores = jnp.where(mask[:, None, None], scores, MASKED)
            probs = jax.nn.softmax(scores, axis=-1).astype(x.dtype)
            attn = jnp.einsum("bkgts,bskd->btkgd", probs, v)
        attn = attn.reshape(b, t, self.num_heads * self.head_dim)
        x = checkpoint_name(x + self.o_proj(checkpoint_name(attn, "attn"), keys[3]), "mid")
        h = self.post_attention_layernorm(x)
        gate = checkpoint_name(self.gate_proj(h, keys[4]), "gate")
        up = checkpoint_name(self.up_proj(h, keys[5]), "up")
        x = x + self.down_proj(jax.nn.silu(gate) * up, keys[6])
        return x, cache_k, cache_v


class CausalLM(nnx.Module):
    def __init__(self, config: LMConfig, lora: LoRASpec | None = None, *, rngs: nnx.Rngs):
        self.config = config
        self.embed_tokens = nnx.Param(nnx.initializers.normal(0.02)(rngs.params(), (config.vocab_size,
                                                                                    config.hidden_size)))

        @nnx.split_rngs(splits=config.num_layers)
        @nnx.vmap(in_axes=(0,), out_axes=0)
        def blocks(rngs):
            return Block(config, lora, rngs)

        self.layers = blocks(rngs)
        self.norm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.lm_head = None if config.tie_word_embeddings else nnx.Param(
            nnx.initializers.normal(0.02)(rngs.params(), (config.hidden_size, config.vocab_size)))

    def hidden(self, ids, valid, *, positions=None, cache=None, write_at=0, dropout_key=None, remat=False):
        """Final-norm hidden states [B, T, D] (and the updated cache, or None).

        remat=True (training): each block keeps only SAVED_FOR_BACKWARD for its gradient and recomputes the rest.

        Without a cache, attention is causal over this call's tokens. With cache {"k", "v": [L, B, S, kv, hd],
        "valid": [B, S]}, this call's tokens are written at slots write_at..write_at+T-1 and attend to every
        valid earlier slot; `positions` must then be given (the caller tracks each row's count of tokens)."""
        if positions is None:
            positions = jnp.maximum(jnp.cumsum(valid, axis=1) - 1, 0)
        t = ids.shape[1]
        if cache is None:
            mask = valid  # causal_attention builds the causal part per block of queries
            cache_k = cache_v = None
        else:
            slots_valid = jax.lax.dynamic_update_slice(cache["valid"], valid, (0, write_at))
            s = slots_valid.shape[1]
            causal = jnp.arange(s)[None, :] <= (write_at + jnp.arange(t))[:, None]
            mask = causal[None] & slots_valid[:, None, :]
            cache_k, cache_v = cache["k"], cache["v"]
        x = jnp.take(self.embed_tokens[...], ids, axis=0)
        if x.dtype in (jnp.bfloat16, jnp.float16):  # 16-bit weights: a float32 residual stream (see matmul)
            x = x.astype(jnp.float32)
        cos, sin = rope_tables(self.config, positions)
        graphdef, state = nnx.split(self.layers)
        keys = None if dropout_key is None else jax.random.split(dropout_key, self.config.num_layers)

        def body(x, xs):
            layer_state, ck, cv, key = xs
            x, ck, cv = nnx.merge(graphdef, layer_state)(x, cos, sin, mask, ck, cv, write_at, key)
            return x, (ck, cv)

        if remat:
            body = jax.checkpoint(body, policy=jax.checkpoint_policies.save_only_these_names(*SAVED_FOR_BACKWARD))
        x, (new_k, new_v) = jax.lax.scan(body, x, (state, cache_k, cache_v, keys))
        new_cache = None if cache is None else {"k": new_k, "v": new_v, "valid": slots_valid}
        return self.norm(x), new_cache

    def output_table(self):
        """[D, V]: the tied embedding table (transposed) or lm_head."""
        return self.embed_tokens[...].T if self.lm_head is None else self.lm_head[...]

    def logits(self, hidden):
        table = self.output_table()
        if table.dtype in (jnp.bfloat16, jnp.float16):  # 16-bit weights: as the projections (see matmul)
            return matmul(hidden, table)
        return jnp.einsum("...d,dv->...v", hidden, table.astype(hidden.dtype), preferred_element_type=jnp.float32)

    def __call__(self, ids, valid):
        """Logits [B, T, V] (float32) of a padded batch without a cache."""
        return self.logits(self.hidden(ids, valid)[0])


def init_cache(config: LMConfig, batch: int, slots: int, dtype=jnp.float32) -> dict:
    shape = (config.num_layers, batch, slots, config.num_kv_heads, config.head_dim)
    return {"k": jnp.zeros(shape, dtype), "v": jnp.zeros(shape, dtype), "valid": jnp.zeros((batch, slots), bool)}
